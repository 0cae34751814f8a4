// The database handle every data operation takes: a pool, one client of it inside a transaction, or a connection of its own.
import type pg from 'pg';

/** A pool, a checked-out client or a client of its own; data operations accept any so callers can wrap them in a transaction. */
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;
