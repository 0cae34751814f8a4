// The texts of resume errors: a resume point a join cannot accept, and the `system` notices of a resume that cannot start where asked.

/** Error texts of resumes (this server's extension, in Supabase's `Code: message` form). */
export const ResumeError = {
  /** The join's error reason when `field` (`broadcast.resume.offset`, `postgres_changes_resume.position`) is not a resume point. */
  invalidPoint: (field: string) => `InvalidResume: ${field} must be a whole number of 0 or more`,
  /** Retention deleted messages after the resume offset: delivery starts after `earliest`'s predecessor. */
  messagesNotRetained: (offset: number, earliest: number) => `ResumeUnavailable: messages after offset ${offset} are no longer retained; resuming from offset ${earliest}`,
  /** The resume position is beyond the change log (a log from another database): delivery starts from now. */
  changesAhead: (position: number, latest: number) =>
    `ResumeUnavailable: position ${position} is ahead of the change log, whose latest position is ${latest}; resuming from position ${latest}`,
  /** The replication slot was made again after `gap`: changes committed meanwhile may be missing from the log. */
  changesMayBeMissing: (gap: number, reason: string, position: number) =>
    `ResumeUnavailable: table changes committed after position ${gap} may be missing (${reason}); delivering what the log holds after position ${position}`,
  /** Changes after the resume position were deleted: delivery starts after `resumedAfter`. */
  changesNotRetained: (position: number, resumedAfter: number) =>
    `ResumeUnavailable: table changes after position ${position} are no longer retained; resuming from position ${resumedAfter}`,
} as const;
