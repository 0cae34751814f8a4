// Decodes the messages of PostgreSQL's built-in logical decoding plugin, pgoutput (protocol version 1).

/** A WAL position (log sequence number). */
export type Lsn = bigint;

/** `lsn` as PostgreSQL prints it: 'X/Y', upper-case hexadecimal halves. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The position that `text` ('X/Y', as PostgreSQL prints it) names. */
export function parseLsn(text: string): Lsn {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) throw new Error(`not a WAL position (expected 'X/Y' in hexadecimal): ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Stands for a TOASTed value that the change left unchanged, which pgoutput does not send ('u'). */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged TOAST value');

/** A column value in text form, null for SQL NULL, or UNCHANGED_TOAST. */
export type TupleValue = string | null | typeof UNCHANGED_TOAST;

export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
  readonly typeModifier: number;
  /** Part of the replica identity (the key an UPDATE or DELETE names its row by). */
  readonly isKey: boolean;
}

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: Lsn; commitTime: Date; xid: number }
  | { tag: 'commit'; commitLsn: Lsn; endLsn: Lsn; commitTime: Date }
  | { tag: 'relation'; relationId: number; schema: string; name: string; replicaIdentity: 'd' | 'n' | 'f' | 'i'; columns: RelationColumn[] }
  | { tag: 'type'; typeOid: number; schema: string; name: string }
  | { tag: 'origin'; originLsn: Lsn; name: string }
  | { tag: 'insert'; relationId: number; new: TupleValue[] }
  /** `key` with REPLICA IDENTITY DEFAULT or INDEX when the key changed, `old` with FULL; both null otherwise. */
  | { tag: 'update'; relationId: number; key: TupleValue[] | null; old: TupleValue[] | null; new: TupleValue[] }
  | { tag: 'delete'; relationId: number; key: TupleValue[] | null; old: TupleValue[] | null }
  | { tag: 'truncate'; relationIds: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'message'; transactional: boolean; lsn: Lsn; prefix: string; content: Buffer };

/** 2000-01-01 UTC, from which the protocol counts its timestamps in microseconds. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** Decodes one pgoutput message (the payload of an XLogData). Throws an Error naming the tag when it is unknown or malformed. */
export function decodePgOutput(data: Buffer): PgOutputMessage {
  if (data.length === 0) throw new Error('empty pgoutput message');
  const tag = String.fromCharCode(data[0]!);
  const reader = new Reader(data);
  try {
    const message = decodeBody(tag, reader);
    if (reader.offset !== data.length) throw new Error(`${data.length - reader.offset} bytes left over`);
    return message;
  } catch (error) {
    const reason = error instanceof RangeError ? `truncated (${data.length} bytes)` : (error as Error).message;
    // eslint-disable-next-line preserve-caught-error -- the message carries the reason; a cause would repeat it in the logged message
    throw new Error(`pgoutput message '${printable(tag)}': ${reason}`);
  }
}

function decodeBody(tag: string, r: Reader): PgOutputMessage {
  switch (tag) {
    case 'B':
      return { tag: 'begin', finalLsn: r.int64(), commitTime: r.timestamp(), xid: r.uint32() };
    case 'C':
      r.uint8(); // flags, unused
      return { tag: 'commit', commitLsn: r.int64(), endLsn: r.int64(), commitTime: r.timestamp() };
    case 'O':
      return { tag: 'origin', originLsn: r.int64(), name: r.cstring() };
    case 'R': {
      const relationId = r.uint32();
      const schema = r.schema();
      const name = r.cstring();
      const replicaIdentity = String.fromCharCode(r.uint8());
      if (!isReplicaIdentity(replicaIdentity)) throw new Error(`unknown replica identity '${printable(replicaIdentity)}'`);
      const columns: RelationColumn[] = [];
      for (let count = r.uint16(); count > 0; count--) {
        const isKey = (r.uint8() & 1) === 1;
        columns.push({ name: r.cstring(), typeOid: r.uint32(), typeModifier: r.int32(), isKey });
      }
      return { tag: 'relation', relationId, schema, name, replicaIdentity, columns };
    }
    case 'Y':
      return { tag: 'type', typeOid: r.uint32(), schema: r.schema(), name: r.cstring() };
    case 'I': {
      const relationId = r.uint32();
      r.expect('N');
      return { tag: 'insert', relationId, new: r.tuple() };
    }
    case 'U': {
      const relationId = r.uint32();
      const kind = r.char();
      const before = kind === 'K' || kind === 'O' ? r.tuple() : null;
      if (before) r.expect('N');
      else if (kind !== 'N') throw new Error(`expected 'K', 'O' or 'N', found '${printable(kind)}'`);
      return { tag: 'update', relationId, key: kind === 'K' ? before : null, old: kind === 'O' ? before : null, new: r.tuple() };
    }
    case 'D': {
      const relationId = r.uint32();
      const kind = r.char();
      if (kind !== 'K' && kind !== 'O') throw new Error(`expected 'K' or 'O', found '${printable(kind)}'`);
      const tuple = r.tuple();
      return { tag: 'delete', relationId, key: kind === 'K' ? tuple : null, old: kind === 'O' ? tuple : null };
    }
    case 'T': {
      const count = r.uint32();
      const flags = r.uint8();
      const relationIds: number[] = [];
      for (let i = 0; i < count; i++) relationIds.push(r.uint32());
      return { tag: 'truncate', relationIds, cascade: (flags & 1) !== 0, restartIdentity: (flags & 2) !== 0 };
    }
    case 'M': {
      const transactional = (r.uint8() & 1) === 1;
      const lsn = r.int64();
      const prefix = r.cstring();
      return { tag: 'message', transactional, lsn, prefix, content: Buffer.from(r.bytes(r.uint32())) };
    }
    default:
      throw new Error('unknown message tag');
  }
}

function isReplicaIdentity(value: string): value is 'd' | 'n' | 'f' | 'i' {
  return value === 'd' || value === 'n' || value === 'f' || value === 'i';
}

/** A tag byte as text for an error message: the character when printable, else its code. */
function printable(tag: string): string {
  return /^[\x21-\x7e]$/.test(tag) ? tag : `\\x${tag.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** Reads big-endian fields in order; reading past the end throws a RangeError. */
class Reader {
  offset = 1; // past the message tag

  constructor(private readonly data: Buffer) {}

  uint8(): number {
    return this.data.readUInt8(this.advance(1));
  }

  uint16(): number {
    return this.data.readUInt16BE(this.advance(2));
  }

  int32(): number {
    return this.data.readInt32BE(this.advance(4));
  }

  uint32(): number {
    return this.data.readUInt32BE(this.advance(4));
  }

  int64(): bigint {
    return this.data.readBigUInt64BE(this.advance(8));
  }

  timestamp(): Date {
    return new Date(PG_EPOCH_MS + Number(this.data.readBigInt64BE(this.advance(8)) / 1000n));
  }

  char(): string {
    return String.fromCharCode(this.uint8());
  }

  expect(char: string): void {
    const found = this.char();
    if (found !== char) throw new Error(`expected '${char}', found '${printable(found)}'`);
  }

  bytes(length: number): Buffer {
    return this.data.subarray(this.advance(length), this.offset);
  }

  cstring(): string {
    const end = this.data.indexOf(0, this.offset);
    if (end < 0) throw new Error('string without its terminating zero byte');
    const text = this.data.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  /** A namespace, which pgoutput sends empty for pg_catalog. */
  schema(): string {
    return this.cstring() || 'pg_catalog';
  }

  tuple(): TupleValue[] {
    const values: TupleValue[] = [];
    for (let count = this.uint16(); count > 0; count--) {
      const kind = this.char();
      if (kind === 'n') values.push(null);
      else if (kind === 'u') values.push(UNCHANGED_TOAST);
      else if (kind === 't') values.push(this.bytes(this.uint32()).toString('utf8'));
      else if (kind === 'b') throw new Error('binary column value (pgoutput was not asked for binary values)');
      else throw new Error(`unknown column value kind '${printable(kind)}'`);
    }
    return values;
  }

  private advance(length: number): number {
    const start = this.offset;
    if (start + length > this.data.length) throw new RangeError('past the end');
    this.offset += length;
    return start;
  }
}
