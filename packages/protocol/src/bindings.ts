// Identifiers of postgres_changes bindings: the join reply echoes each binding with an `id` that later events repeat.

/** A `postgres_changes` binding as a client sends it in `config.postgres_changes`. */
export interface PostgresChangesBinding {
  readonly event: string;
  readonly schema: string;
  readonly table?: string;
  readonly filter?: string;
  readonly select?: readonly string[];
}

/**
 * A stable integer id for a binding (32-bit FNV-1a of its parameters), so the join reply and the
 * change events carry the same JSON number, as realtime-js compares them with `Array.includes`.
 */
export function bindingId(binding: PostgresChangesBinding): number {
  const key = JSON.stringify([binding.event, binding.schema, binding.table ?? null, binding.filter ?? null, binding.select ?? null]);
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
