// The tables and target checks of a writer-cost measurement (bench/lib/writer-cost.ts): TPS and ratios, delivery to the live subscribers, CPU by process role.
import { fmt, ratio, type Table, type TargetCheck } from './report.js';
import { median } from './stats.js';
import { VARIANT_LABELS, VARIANTS, WRITER_COUNTS, type Run, type RunCpu, type Variant, type WriterCost } from './writer-cost.js';

const SERVER_VARIANTS: readonly Variant[] = ['wal', 'trigger'];

/** The median TPS of a variant at a writer count. */
function tpsOf(cost: WriterCost, variant: Variant, writers: number): number {
  return median(cost.runs(variant, writers).map((run) => run.tps));
}

/** Rows written, distinct rows received and duplicates over every run of a variant at a writer count. */
function deliveryOf(runs: readonly Run[]): { written: number; received: number; duplicates: number } {
  return runs.reduce(
    (sum, run) => ({
      written: sum.written + run.written,
      received: sum.received + (run.delivery?.received ?? 0),
      duplicates: sum.duplicates + (run.delivery?.duplicates ?? 0),
    }),
    { written: 0, received: 0, duplicates: 0 },
  );
}

/** TPS with its ratios to no capture and to the bare pg_notify trigger, and what the live subscribers received. */
export function tpsTable(cost: WriterCost, title: string): Table {
  return {
    title,
    columns: ['variant', 'writers', 'TPS', '÷ no capture', '÷ bare pg_notify', 'changes received / rows written', 'duplicates', 'last change after the writers stopped, s'],
    rows: VARIANTS.flatMap((variant) =>
      WRITER_COUNTS.map((writers) => {
        const runs = cost.runs(variant, writers);
        const tps = tpsOf(cost, variant, writers);
        const served = SERVER_VARIANTS.includes(variant);
        const delivery = deliveryOf(runs);
        return [
          VARIANT_LABELS[variant],
          writers,
          fmt(tps, 0),
          ratio(tps, tpsOf(cost, 'none', writers)),
          ratio(tps, tpsOf(cost, 'notify', writers)),
          served ? `${delivery.received} / ${delivery.written}` : '–',
          served ? delivery.duplicates : '–',
          served ? fmt(median(runs.map((run) => run.delivery?.catchUpS ?? Number.NaN)), 1) : '–',
        ];
      }),
    ),
  };
}

const CPU_ROLES: ReadonlyArray<readonly [keyof RunCpu, string]> = [
  ['writers', "writers' backends"],
  ['walsenders', 'walsender'],
  ['otherBackends', "server's backends"],
  ['server', 'server process'],
  ['subscriber', 'subscriber'],
  ['background', 'PostgreSQL background'],
];

/** CPU while the writers ran: cores busy in all, and microseconds per row written by process role (medians over the runs). */
export function cpuTable(cost: WriterCost, title: string): Table | undefined {
  if (!VARIANTS.some((variant) => cost.runs(variant, WRITER_COUNTS[0]).some((run) => run.cpu))) return undefined;
  return {
    title,
    columns: ['variant', 'writers', 'cores busy', ...CPU_ROLES.map(([, label]) => `${label}, µs/row`)],
    rows: VARIANTS.flatMap((variant) =>
      WRITER_COUNTS.map((writers) => {
        const runs = cost.runs(variant, writers).filter((run): run is Run & { cpu: RunCpu } => run.cpu !== undefined);
        const total = (cpu: RunCpu) => CPU_ROLES.reduce((sum, [role]) => sum + cpu[role], 0);
        return [
          VARIANT_LABELS[variant],
          writers,
          fmt(median(runs.map((run) => total(run.cpu) / run.seconds)), 2),
          ...CPU_ROLES.map(([role]) => fmt(median(runs.map((run) => (run.cpu[role] * 1e6) / Math.max(1, run.written))), 0)),
        ];
      }),
    ),
  };
}

/** Issue 17's targets for this machine, and every change delivered to the live subscribers. */
export function writerCostTargets(cost: WriterCost): TargetCheck[] {
  const walTarget = (writers: number, share: number): TargetCheck => {
    const wal = tpsOf(cost, 'wal', writers);
    const none = tpsOf(cost, 'none', writers);
    return { target: `WAL path with a live subscriber ≥ ${share}× no capture at ${writers} writer(s)`, measured: ratio(wal, none), met: wal >= share * none };
  };
  const seedTarget = (writers: number): TargetCheck => {
    const seed = tpsOf(cost, 'seed', writers);
    const bare = tpsOf(cost, 'notify', writers);
    return { target: `seed subscribe trigger in WAL mode ≥ 0.95× bare pg_notify trigger at ${writers} writer(s)`, measured: ratio(seed, bare), met: seed >= 0.95 * bare };
  };
  const delivery = deliveryOf(SERVER_VARIANTS.flatMap((variant) => WRITER_COUNTS.flatMap((writers) => cost.runs(variant, writers))));
  return [
    walTarget(1, 0.8),
    walTarget(8, 0.65),
    seedTarget(1),
    seedTarget(8),
    {
      target: 'every row written reaches the live subscriber once (WAL and trigger paths)',
      measured: `${delivery.received} of ${delivery.written} received, ${delivery.duplicates} duplicates`,
      met: delivery.received === delivery.written && delivery.duplicates === 0,
    },
  ];
}

/** Rows the live subscribers missed or received twice, over every run. */
export function deliveryProblems(cost: WriterCost): number {
  const delivery = deliveryOf(SERVER_VARIANTS.flatMap((variant) => WRITER_COUNTS.flatMap((writers) => cost.runs(variant, writers))));
  return Math.max(0, delivery.written - delivery.received) + delivery.duplicates;
}
