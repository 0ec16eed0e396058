// Shared by the bulk benches: the one median (lib/metrics/stats.ts), a timed bulk load and a peak-RSS probe.
import type { Dataset } from "../lib/generators/dataset.js";
import { quantile } from "../lib/metrics/stats.js";
import type { CellContext, LabSystem, Unit } from "../lib/systems/contract.js";

export const median = (xs: number[]): number => quantile(xs, 0.5);

/** Growth of this process's RSS (MiB) while `work` runs, sampled every 20 ms: bulk paths must stay flat. */
export async function peakRssGrowthMiB(work: () => Promise<void>): Promise<number> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return (Math.max(peak, process.memoryUsage().rss) - base) / 2 ** 20;
}

/** Seconds the system takes to bulk-load batches held in memory (generation outside the clock), into a fresh cell. */
export async function timedBulkSeconds(system: LabSystem, cell: CellContext, batches: Unit[][]): Promise<number> {
  await system.prepare(cell);
  async function* replay(): AsyncGenerator<Unit[]> {
    yield* batches;
  }
  const t0 = process.hrtime.bigint();
  await system.bulkInsert(replay());
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** RSS growth while streaming straight from the generator (as the runner does): memory must stay flat. */
export async function streamingPeakRssMiB(system: LabSystem, cell: CellContext, ds: Dataset): Promise<number> {
  await system.prepare(cell);
  async function* generated(): AsyncGenerator<Unit[]> {
    yield* ds.batches(4 * 1024 * 1024);
  }
  return peakRssGrowthMiB(() => system.bulkInsert(generated()));
}
