// One live postgres_changes subscriber of a table's INSERTs on the nself server: counts what it receives, by row id.
import { PhoenixSocket } from './phoenix.js';
import type { Target } from './services.js';
import { postgresChangesReady, nselfUrl } from './subscriber-clients.js';

/** What a change frame's payload holds that the counter reads. */
interface ChangePayload {
  readonly data?: { readonly type?: string; readonly record?: { readonly id?: unknown } };
}

/**
 * Joins `realtime:<topic>` with a postgres_changes binding on INSERTs of `public.<table>` and counts
 * every change frame: distinct row ids (what was received), duplicates, and the time of the last one.
 */
export class ChangeCounter {
  private ids = new Set<string>();
  private duplicateCount = 0;
  private lastAt = 0;

  private constructor(private readonly socket: PhoenixSocket) {
    socket.onFrame = (frame) => {
      if (frame[3] !== 'postgres_changes') return;
      const data = (frame[4] as ChangePayload).data;
      if (data?.type !== 'INSERT') return;
      const id = String(data.record?.id);
      if (this.ids.has(id)) this.duplicateCount += 1;
      else this.ids.add(id);
      this.lastAt = Date.now();
    };
  }

  /** Connects with `token` and joins; resolves once the server says the changes flow ("Subscribed to PostgreSQL"). */
  static async open(target: Target, token: string, table: string): Promise<ChangeCounter> {
    const socket = await PhoenixSocket.connect(nselfUrl(target, token));
    try {
      const ready = postgresChangesReady(socket);
      ready.catch(() => undefined); // Awaited after the join; a refused join must not leave it unhandled.
      await socket.join(`realtime:${table}`, { config: { broadcast: { self: false }, postgres_changes: [{ event: 'INSERT', schema: 'public', table }] } });
      await ready;
    } catch (error) {
      socket.close();
      throw error;
    }
    return new ChangeCounter(socket);
  }

  /** Distinct rows received since the last reset. */
  get received(): number {
    return this.ids.size;
  }

  /** Rows received more than once since the last reset. */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /** When the last change arrived (ms since the epoch; 0 before any). */
  get lastReceivedAt(): number {
    return this.lastAt;
  }

  reset(): void {
    this.ids = new Set();
    this.duplicateCount = 0;
    this.lastAt = 0;
  }

  /** Waits until `count` distinct rows arrived, or `timeoutMs` passed, or none arrived for `quietMs`. */
  async waitFor(count: number, quietMs: number, timeoutMs = 120_000): Promise<void> {
    const started = Date.now();
    let seen = this.received;
    let since = Date.now();
    while (this.received < count && Date.now() - since < quietMs && Date.now() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (this.received !== seen) {
        seen = this.received;
        since = Date.now();
      }
    }
  }

  close(): void {
    this.socket.close();
  }
}
