// The keys that sign `realtime:broadcast` notifications, the check of a note against them, and the message a signed note carries.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import type { BroadcastNote } from './broadcast-note.js';
import type { Message } from './message-row.js';
import type { Queryable } from './queryable.js';

const KEY_BYTES = 32;
const HMAC_BLOCK_BYTES = 64;
const TIMESTAMPTZ_OID = 1184;
const parseTimestamp = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date;

/** A signed note's text begins with its MAC: `{"mac":"<64 hex digits>",`, then the rest of the note. */
const MAC_PREFIX = '{"mac":"';
const MAC_HEX_DIGITS = 64;
const BODY_START = MAC_PREFIX.length + MAC_HEX_DIGITS + 2;

/** What a note's MAC covers: its text without the MAC, as realtime.carried_note signs it (`{` and all after the MAC's comma). */
export function signedBody(noteText: string): string | undefined {
  if (!noteText.startsWith(MAC_PREFIX) || noteText.slice(BODY_START - 2, BODY_START) !== '",') return undefined;
  return `{${noteText.slice(BODY_START)}`;
}

/** HMAC-SHA256 of `text` under `secret`, in hex. */
function noteMac(secret: Buffer, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/**
 * The database's note keys, to check notifications: a note is taken as a server's only when its MAC
 * verifies under the key it names, over the whole rest of the note (its place: id, channel, offset,
 * key; and the message it may carry), so a note altered, copied to another offset or channel, or made
 * up by a login without the key is not.
 */
export class NoteKeys {
  constructor(private readonly secrets: ReadonlyMap<number, Buffer>) {}

  /** Whether a note's MAC verifies under the key it names: a note made by a server's or the schema owner's SQL, whether it says where a message is or carries it. */
  verifies(text: string, note: BroadcastNote): boolean {
    const secret = typeof note.key === 'number' ? this.secrets.get(note.key) : undefined;
    const body = signedBody(text);
    if (!secret || body === undefined || typeof note.mac !== 'string') return false;
    const expected = Buffer.from(noteMac(secret, body));
    const given = Buffer.from(note.mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/**
 * The message a note carries, exactly as reading it from realtime.messages would give it (`note` parsed
 * with parseExactJson, so the payload's numbers are exact); undefined when it carries none or anything
 * in it is not what realtime.carried_note writes. Take it only from a note that `NoteKeys.verifies`.
 */
export function carriedMessage(note: BroadcastNote): Message | undefined {
  const offset = Number(note.offset);
  const carried: unknown = note.message;
  if (typeof carried !== 'object' || carried === null || typeof note.id !== 'string' || typeof note.channel_id !== 'string' || !Number.isSafeInteger(offset)) return undefined;
  const { event, sender, sent_at: sentAt, payload, payload_binary: binary } = carried as Record<string, unknown>;
  if (typeof event !== 'string' || typeof sentAt !== 'string' || !isTextOrNull(sender) || !isTextOrNull(binary)) return undefined;
  const sentAtDate = parseTimestamp(sentAt);
  if (!(sentAtDate instanceof Date) || Number.isNaN(sentAtDate.getTime())) return undefined;
  return {
    id: note.id,
    channelId: note.channel_id,
    offset,
    event,
    payload: payload ?? null,
    payloadBinary: binary === null ? null : Buffer.from(binary, 'base64'),
    sender,
    sentAt: sentAtDate,
  };
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
