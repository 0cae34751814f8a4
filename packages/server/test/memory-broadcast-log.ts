// A memory of channel logs for unit tests of the broadcast feed: offsets as PostgreSQL gives them, retention, and reads held at their snapshot.
import { randomUUID } from 'node:crypto';
import type { BroadcastLog, IdentifiedMessage, LogPage, LogPageQuery, Message } from '@nself/db';

export class MemoryBroadcastLog implements BroadcastLog {
  private readonly logs = new Map<string, Message[]>();
  private readonly lastOffsets = new Map<string, number>();
  /** While set, a read takes its snapshot at once and answers only when the reads are released. */
  private held: Array<() => void> | undefined;
  /** How many statements stored messages, and how many reads ran. */
  appends = 0;
  reads = 0;

  append(channelId: string, messages: ReadonlyArray<Omit<IdentifiedMessage, 'channelId'>>): Promise<Message[]> {
    this.appends += 1;
    return Promise.resolve(messages.map((message) => this.store({ ...message, channelId })));
  }

  appendAcrossChannels(messages: readonly IdentifiedMessage[]): Promise<Message[]> {
    this.appends += 1;
    return Promise.resolve(messages.map((message) => this.store(message)));
  }

  readPage(channelId: string, query: LogPageQuery): Promise<LogPage> {
    this.reads += 1;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const messages = (this.logs.get(channelId) ?? []).filter((message) => message.offset > (query.afterOffset ?? 0)).slice(0, limit);
    const page = { messages, full: messages.length === limit };
    if (!this.held) return Promise.resolve(page);
    const held = this.held;
    return new Promise((resolve) => held.push(() => resolve(page)));
  }

  /** Stores a message as another server process would: this feed learns of it only from a notification or a read. */
  appendElsewhere(channelId: string, event = 'note'): Message {
    return this.store({ id: randomUUID(), channelId, event, payload: { event } });
  }

  /** Deletes a channel's messages up to `offset`, as retention does; offsets go on from where they were. */
  trim(channelId: string, throughOffset: number): void {
    this.logs.set(
      channelId,
      (this.logs.get(channelId) ?? []).filter((message) => message.offset > throughOffset),
    );
  }

  /** From now on reads wait, each with the snapshot it took when it began. */
  holdReads(): void {
    this.held = [];
  }

  /** Answers the reads held so far and lets later ones answer at once. */
  releaseReads(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const answer of held) answer();
  }

  private store(message: IdentifiedMessage): Message {
    const offset = (this.lastOffsets.get(message.channelId) ?? 0) + 1;
    this.lastOffsets.set(message.channelId, offset);
    const stored: Message = {
      id: message.id,
      channelId: message.channelId,
      offset,
      event: message.event,
      payload: message.payload ?? null,
      payloadBinary: message.payloadBinary ?? null,
      sender: message.sender ?? null,
      sentAt: new Date(),
    };
    this.logs.set(message.channelId, [...(this.logs.get(message.channelId) ?? []), stored]);
    return stored;
  }
}
