// Sealed broadcast notes: a stored message, encrypted and authenticated (AES-256-GCM) with a key only the server's role can read, in its `realtime:broadcast` notification.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { BroadcastNote } from './broadcast-note.js';
import { parseExactJson } from './exact-json-parse.js';
import type { Message } from './message-row.js';
import type { Queryable } from './queryable.js';

/** Notifications stay under this many bytes (NOTIFY refuses 8,000); a message whose sealed note would not is announced by its place alone. */
export const MAX_NOTE_BYTES = 7000;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** What a sealed note holds, besides what its clear part says. */
interface SealedContent {
  readonly event: string;
  readonly sender: string | null;
  /** The stored time as the log's reads parse it (milliseconds), in ISO 8601. */
  readonly sent_at: string;
  /** The payload's jsonb text as realtime.messages returns it; null for a binary-only message. */
  readonly payload: string | null;
  readonly payload_binary: string | null;
}

/** A stored message and its payload's jsonb text, as an append returns it. */
export interface SealableMessage {
  readonly message: Message;
  readonly payloadText: string | null;
}

/**
 * Seals messages into notes and opens them. The clear part of a note says where the message is (its
 * id, channel and offset, as realtime.message_note does); the rest is sealed with the clear part as
 * associated data, so a note copied to another offset or channel, or altered in any byte, does not open.
 */
export class NoteSeal {
  private readonly keys: ReadonlyMap<number, Buffer>;
  private readonly sealingKeyId: number;

  /** `keys`: key id → 32-byte secret; notes are sealed with the highest id and opened with any. */
  constructor(keys: ReadonlyMap<number, Buffer>) {
    if (keys.size === 0) throw new Error('a note seal needs at least one key');
    for (const [id, secret] of keys) {
      if (secret.length !== KEY_BYTES) throw new Error(`broadcast note key ${id} has ${secret.length} bytes; AES-256-GCM takes ${KEY_BYTES}`);
    }
    this.keys = keys;
    this.sealingKeyId = Math.max(...keys.keys());
  }

  /** The notification text of a stored message: sealed when it fits in MAX_NOTE_BYTES, else its place only. */
  note({ message, payloadText }: SealableMessage): string {
    const place = { id: message.id, channel_id: message.channelId, offset: message.offset };
    const content: SealedContent = {
      event: message.event,
      sender: message.sender,
      sent_at: message.sentAt.toISOString(),
      payload: payloadText,
      payload_binary: message.payloadBinary === null ? null : message.payloadBinary.toString('base64'),
    };
    const plain = Buffer.from(JSON.stringify(content));
    // Base64 of the sealed bytes plus the clear part's JSON: cheap enough to check before sealing.
    if (Math.ceil((plain.length + IV_BYTES + TAG_BYTES) / 3) * 4 + 200 > MAX_NOTE_BYTES) return JSON.stringify(place);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.sealingKeyId) as Buffer, iv);
    cipher.setAAD(associatedData(place.id, place.channel_id, place.offset, this.sealingKeyId));
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString('base64');
    return JSON.stringify({ ...place, key: this.sealingKeyId, sealed });
  }

  /**
   * The message a note carries, exactly as reading it from realtime.messages would give it; undefined
   * when the note carries none (`carried: false`) or one that does not open with a key of this seal
   * (`carried: true`: forged, altered, copied to another place, or sealed with a key unknown here).
   */
  open(note: BroadcastNote): { readonly carried: false } | { readonly carried: true; readonly message: Message | undefined } {
    if (note.sealed === undefined) return { carried: false };
    return { carried: true, message: this.unseal(note) };
  }

  private unseal(note: BroadcastNote): Message | undefined {
    const key = typeof note.key === 'number' ? this.keys.get(note.key) : undefined;
    const offset = Number(note.offset);
    if (!key || typeof note.sealed !== 'string' || typeof note.id !== 'string' || typeof note.channel_id !== 'string' || !Number.isSafeInteger(offset)) return undefined;
    const bytes = Buffer.from(note.sealed, 'base64');
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(associatedData(note.id, note.channel_id, offset, note.key as number));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
      const content = JSON.parse(plain.toString('utf8')) as SealedContent;
      return {
        id: note.id,
        channelId: note.channel_id,
        offset,
        event: content.event,
        payload: content.payload === null ? null : parseExactJson(content.payload),
        payloadBinary: content.payload_binary === null ? null : Buffer.from(content.payload_binary, 'base64'),
        sender: content.sender,
        sentAt: new Date(content.sent_at),
      };
    } catch {
      return undefined;
    }
  }
}

/** What a sealed note's tag covers besides the message: its whole clear part. */
function associatedData(id: string, channelId: string, offset: number, keyId: number): Buffer {
  return Buffer.from(`realtime:broadcast\n${id}\n${channelId}\n${offset}\n${keyId}`);
}

/**
 * The seal of this database's broadcast notes, from realtime.broadcast_note_keys, which only the
 * schema's owner can read; the first server to start makes the key (a random one of its own; servers
 * starting together keep whichever was stored first).
 */
export async function loadNoteSeal(db: Queryable): Promise<NoteSeal> {
  await db.query('INSERT INTO realtime.broadcast_note_keys (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [randomBytes(KEY_BYTES)]);
  const { rows } = await db.query<{ id: number; secret: Buffer }>('SELECT id, secret FROM realtime.broadcast_note_keys');
  return new NoteSeal(new Map(rows.map((row) => [row.id, row.secret])));
}
