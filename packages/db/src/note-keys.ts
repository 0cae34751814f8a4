// The keys that sign the messages broadcast notifications carry (realtime.carried_note), and the check of a carried message against them.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import type { BroadcastNote, CarriedMessage } from './broadcast-note.js';
import { parseExactJson } from './exact-json-parse.js';
import type { Message } from './message-row.js';
import type { Queryable } from './queryable.js';

const KEY_BYTES = 32;
const HMAC_BLOCK_BYTES = 64;
const TIMESTAMPTZ_OID = 1184;
const parseTimestamp = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date;

/** What a note's signature covers, as realtime.carried_note and realtime.note_mac_field build it. */
export function signedText(place: Pick<BroadcastNote, 'id' | 'channel_id' | 'offset'>, keyId: number, message: CarriedMessage): string {
  const fields = [place.id, place.channel_id, String(place.offset), String(keyId), message.event, message.sender, message.sent_at, message.payload, message.payload_binary];
  return `realtime:broadcast${fields.map((field) => (field === null ? '-' : `${Buffer.byteLength(field)}:${field}`)).join('')}`;
}

/** HMAC-SHA256 of `text` under `secret`, in hex, as realtime.carried_note computes it. */
export function noteMac(secret: Buffer, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/**
 * The database's note keys, to check the messages notifications carry: a carried message is taken only
 * when its signature verifies under the key it names, over its place (id, channel, offset) and every
 * field, so a note altered, copied to another offset or channel, or made up by a login without the
 * key is refused.
 */
export class NoteKeys {
  constructor(private readonly secrets: ReadonlyMap<number, Buffer>) {}

  /**
   * The message a note carries, exactly as reading it from realtime.messages would give it;
   * `carried: false` for a note that carries none, `message: undefined` for one that does not verify.
   */
  open(note: BroadcastNote): { readonly carried: false } | { readonly carried: true; readonly message: Message | undefined } {
    if (note.message === undefined && note.mac === undefined) return { carried: false };
    return { carried: true, message: this.verified(note) };
  }

  private verified(note: BroadcastNote): Message | undefined {
    const { key, mac, message: carried } = note;
    const secret = typeof key === 'number' ? this.secrets.get(key) : undefined;
    const offset = Number(note.offset);
    if (!secret || typeof mac !== 'string' || typeof carried !== 'object' || carried === null) return undefined;
    if (typeof note.id !== 'string' || typeof note.channel_id !== 'string' || !Number.isSafeInteger(offset)) return undefined;
    const { event, sender, sent_at: sentAt, payload, payload_binary: binary } = carried as unknown as Record<string, unknown>;
    if (typeof event !== 'string' || typeof sentAt !== 'string' || !isTextOrNull(sender) || !isTextOrNull(payload) || !isTextOrNull(binary)) return undefined;
    const expected = Buffer.from(noteMac(secret, signedText(note, key as number, { event, sender, sent_at: sentAt, payload, payload_binary: binary })), 'hex');
    const given = Buffer.from(mac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const sentAtDate = parseTimestamp(sentAt);
    if (!(sentAtDate instanceof Date) || Number.isNaN(sentAtDate.getTime())) return undefined;
    try {
      return {
        id: note.id,
        channelId: note.channel_id,
        offset,
        event,
        payload: payload === null ? null : parseExactJson(payload),
        payloadBinary: binary === null ? null : Buffer.from(binary, 'base64'),
        sender,
        sentAt: sentAtDate,
      };
    } catch {
      return undefined;
    }
  }
}

function isTextOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

/** HMAC's padded key (RFC 2104): the secret, zero-filled to a block, each byte XORed with `pad`. */
function paddedKey(secret: Buffer, pad: number): Buffer {
  const block = Buffer.alloc(HMAC_BLOCK_BYTES);
  secret.copy(block);
  for (let index = 0; index < block.length; index++) block[index] = (block[index] as number) ^ pad;
  return block;
}

/**
 * The note keys of realtime.broadcast_note_keys, which only the schema's owner can read. The first
 * server to start makes the key (a random one of its own; servers starting together keep whichever
 * was stored first), with the padded keys realtime.carried_note signs with.
 */
export async function loadNoteKeys(db: Queryable): Promise<NoteKeys> {
  const secret = randomBytes(KEY_BYTES);
  await db.query('INSERT INTO realtime.broadcast_note_keys (id, secret, inner_pad, outer_pad) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING', [
    secret,
    paddedKey(secret, 0x36),
    paddedKey(secret, 0x5c),
  ]);
  const { rows } = await db.query<{ id: number; secret: Buffer }>('SELECT id, secret FROM realtime.broadcast_note_keys');
  return new NoteKeys(new Map(rows.map((row) => [row.id, row.secret])));
}
