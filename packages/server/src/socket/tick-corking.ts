// Gathers what each socket is sent within one tick of the event loop into as few system calls as possible, with one flush for all sockets.
import type { Duplex } from 'node:stream';

/** Bytes gathered on one socket beyond which they are handed to the system at once. */
const FLUSH_AT_BYTES = 64 * 1024;

/**
 * The writes of one connection. The first frame of a tick is written at once (one system call, as
 * without batching); from the second frame on, the connection is corked, and uncorked when the
 * tick's work is done, so a batch of table changes or broadcasts leaves in one more call.
 */
export class TickCorkedWriter {
  private lastTick = -1;
  private corked = false;
  /** Bytes written since the connection was corked (strings counted by their length). */
  private corkedBytes = 0;

  constructor(private readonly transport: Duplex) {}

  /** Bytes written in this tick that are still held back: they are on their way, not a backlog. */
  get held(): number {
    return this.corkedBytes;
  }

  /** Call before writing a frame to the connection (through `ws` or directly). */
  beforeWrite(): void {
    const tick = ticks.current();
    if (this.lastTick !== tick) {
      this.lastTick = tick;
      return;
    }
    if (this.corked) return;
    this.corked = true;
    this.transport.cork();
    ticks.uncorkAtEnd(this);
  }

  /** Call after writing a frame of `bytes`. */
  afterWrite(bytes: number): void {
    if (!this.corked) return;
    this.corkedBytes += bytes;
    if (this.corkedBytes >= FLUSH_AT_BYTES) this.uncork();
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.corkedBytes = 0;
    this.transport.uncork();
  }
}

/** The tick counter and the writers corked in the current tick, all uncorked by one `nextTick`. */
class Ticks {
  private tick = 0;
  private scheduled = false;
  private corked: TickCorkedWriter[] = [];

  current(): number {
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.end());
    }
    return this.tick;
  }

  uncorkAtEnd(writer: TickCorkedWriter): void {
    this.corked.push(writer);
  }

  private end(): void {
    const corked = this.corked;
    this.corked = [];
    this.tick += 1;
    this.scheduled = false;
    for (const writer of corked) writer.uncork();
  }
}

const ticks = new Ticks();
