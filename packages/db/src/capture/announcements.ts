// What `realtime:changes` notifications announce: positioned changes a feed may deliver without reading the log.
import type { CaptureEvent } from './names.js';

/** The channel on which transactions that position their changes at commit announce them (migration 0006). */
export const ANNOUNCE_CHANNEL = 'realtime:changes';

/** A change as an announcement or the log gives it. */
export interface ChangeRow {
  position: string | number;
  changed_at: Date;
  operation: CaptureEvent;
  schema_name: string;
  table_name: string;
  new_record: Record<string, unknown> | null;
  old_record: Record<string, unknown> | null;
  writer_pid: number;
  subscription_id: string;
  access_version?: string | null;
}

/** A change in an announcement; its position is the announcement's first plus its index. */
interface AnnouncedChange {
  at: string; op: CaptureEvent; schema: string; table: string; sub: string; pid: number;
  new: Record<string, unknown> | null; old: Record<string, unknown> | null; version: string;
}

/** One notification: the transaction's positions, and its changes when they fitted. */
interface Announcement {
  readonly first: number;
  readonly last: number;
  readonly rows?: readonly ChangeRow[];
}

/** Announcements held at most; past it the feed forgets them and reads the log. */
const MAX_HELD = 10_000;

/**
 * Holds announcements until the feed reaches them. A feed takes an announcement only when it starts
 * right after the feed's position and carries its changes; anything else (a gap, a transaction too
 * large to announce, a commit that was not positioned) sends the feed to the log, so an announcement
 * can only save a read, never hide a change.
 */
export class Announcements {
  private readonly byFirst = new Map<number, Announcement>();
  private logNeeded = false;

  /** Takes one notification's payload; one that is not understood only means the log must be read. */
  add(payload: string): void {
    const announcement = parseAnnouncement(payload);
    if (!announcement || this.byFirst.size >= MAX_HELD) {
      this.byFirst.clear();
      this.logNeeded = true;
      return;
    }
    this.byFirst.set(announcement.first, announcement);
  }

  /** Something committed that only the log has (a table announced on its own channel, a lost connection). */
  needLog(): void {
    this.logNeeded = true;
  }

  /**
   * The announced changes that continue without a gap after `position`, at most `limit` of them
   * (whole transactions; at least one), and the last position they cover; undefined when the log
   * must be read instead (then announcements up to what the read delivers are dropped with `through`).
   */
  takeAfter(position: number, limit: number): { rows: ChangeRow[]; last: number } | undefined {
    if (this.logNeeded) return undefined;
    const rows: ChangeRow[] = [];
    let last = position;
    for (let next = this.byFirst.get(last + 1); next?.rows; next = this.byFirst.get(last + 1)) {
      if (rows.length > 0 && rows.length + next.rows.length > limit) break;
      this.byFirst.delete(next.first);
      rows.push(...next.rows);
      last = next.last;
    }
    return last > position ? { rows, last } : undefined;
  }

  /** Drops what a read of the log up to `position` has delivered, and the need to read. */
  through(position: number): void {
    this.logNeeded = false;
    for (const [first, announcement] of this.byFirst) if (announcement.last <= position || first <= position) this.byFirst.delete(first);
  }

  /** Forgets everything (the LISTEN connection was lost: what it missed is in the log). */
  clear(): void {
    this.byFirst.clear();
    this.logNeeded = true;
  }
}

function parseAnnouncement(payload: string): Announcement | undefined {
  let value: { first?: unknown; last?: unknown; changes?: unknown };
  try {
    value = JSON.parse(payload) as typeof value;
  } catch {
    return undefined;
  }
  const { first, last, changes } = value;
  if (typeof first !== 'number' || typeof last !== 'number' || last < first) return undefined;
  if (!Array.isArray(changes)) return { first, last };
  if (changes.length !== last - first + 1) return { first, last };
  const rows = (changes as AnnouncedChange[]).map((change, index): ChangeRow => ({
    position: first + index, changed_at: new Date(change.at), operation: change.op, schema_name: change.schema,
    table_name: change.table, new_record: change.new, old_record: change.old, writer_pid: change.pid,
    subscription_id: change.sub, access_version: change.version,
  }));
  return { first, last, rows };
}
