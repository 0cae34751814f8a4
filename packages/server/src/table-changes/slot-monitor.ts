// Watches the replication slot from every server process: its gauges on /metrics, read when scraped, and a loud error for a slot nobody reads.
import { readSlotHealth, staleSlotWarning, type Pool, type SlotHealth, type SlotState } from '@nself/db';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/** A scrape or a check waits this long for the database, then goes without the slot's figures. */
const READ_TIMEOUT_MS = 1_000;
/** How often each process looks for a stale slot (more often when REALTIME_SLOT_STALE_SECONDS is shorter). */
const CHECK_EVERY_MS = 60_000;

/** The slot's state, or undefined when the database fails or does not answer within READ_TIMEOUT_MS. */
async function readWithin(pool: Pool): Promise<SlotHealth | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), READ_TIMEOUT_MS);
  });
  try {
    return await Promise.race([readSlotHealth(pool).catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Adds the slot's gauges to `registry`, labelled with the slot's name and read from the database on
 * each scrape (one read for all of them). Without a slot (the trigger path), or when the database
 * does not answer, they have no value.
 */
export function registerSlotGauges(registry: Registry, pool: Pool): void {
  let reading: Promise<SlotHealth | undefined> | undefined;
  const read = (): Promise<SlotHealth | undefined> => {
    reading ??= readWithin(pool).finally(() => {
      reading = undefined;
    });
    return reading;
  };
  const gauge = (name: string, help: string, value: (slot: SlotState) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['slot'],
      registers: [registry],
      async collect() {
        const health = await read();
        this.reset();
        const figure = health?.slot.exists ? value(health.slot) : null;
        if (health && figure !== null) this.set({ slot: health.slot.name }, figure);
      },
    });
  };
  gauge('realtime_wal_slot_lag_bytes', 'WAL written since the consumer last confirmed the replication slot, in bytes', (slot) => slot.lagBytes);
  gauge('realtime_wal_slot_retained_bytes', 'WAL the replication slot keeps PostgreSQL from removing, in bytes', (slot) => slot.retainedBytes);
  gauge('realtime_wal_slot_seconds_since_read', 'Seconds since a consumer last confirmed the replication slot (or since it was made)', (slot) => slot.secondsSinceRead);
}

/** A running stale-slot check; `stop` ends it. */
export interface SlotWatch {
  stop(): void;
}

/**
 * Every minute (or every `staleSeconds`, when shorter), logs an error naming the slot, the WAL it
 * keeps and the command that drops it, when no consumer has read it for longer than `staleSeconds`;
 * only while `leading()`, so that a server of several processes logs it once.
 */
export function startSlotWatch(pool: Pool, logger: Logger, staleSeconds: number, leading: () => boolean): SlotWatch {
  const check = async (): Promise<void> => {
    if (!leading()) return;
    const health = await readWithin(pool);
    const warning = health && staleSlotWarning(health, staleSeconds);
    if (!health || !warning) return;
    const { name, retainedBytes, secondsSinceRead } = health.slot;
    logger.error({ code: LogCode.walSlotStale, slot: name, retainedBytes, secondsSinceRead }, `STALE REPLICATION SLOT: ${warning}`);
  };
  const timer = setInterval(() => void check(), Math.min(CHECK_EVERY_MS, staleSeconds * 1000));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
