// The server-wide bound on WebSocket connections: one count for Supabase-protocol and GraphQL sockets, taken at the upgrade.
import type { Duplex } from 'node:stream';

/** Counts the raw sockets of upgrades in progress and open WebSockets; each slot is given back when its socket closes. */
export class ConnectionSlots {
  private taken = 0;

  constructor(private readonly limit: number) {}

  /**
   * Takes a slot for the upgrade on `socket`; false when every slot is taken. The slot is held from
   * the upgrade request on (so upgrades still verifying a token count too) until the socket closes,
   * however it ends: refused, failed, or opened and later closed.
   */
  take(socket: Duplex): boolean {
    if (this.taken >= this.limit) return false;
    this.taken++;
    socket.once('close', () => this.taken--);
    return true;
  }
}
