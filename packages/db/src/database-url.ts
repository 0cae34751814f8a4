// Connection strings said in messages and output: the password masked, or only host, port and database.

/** A connection string for display: its password replaced by `***`. */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured DATABASE_URL (not a valid URL)';
  }
}

/** Describes a connection string for messages: host, port and database, never the password. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || parsed.username || 'postgres';
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}, database "${database}"`;
  } catch {
    return 'the configured DATABASE_URL';
  }
}
