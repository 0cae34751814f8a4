// The database handle every data operation takes: a pool, or one client of it inside a transaction.
import type pg from 'pg';

/** A pool or a checked-out client; data operations accept either so callers can wrap them in a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;
