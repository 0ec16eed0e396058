// Shared by the benches: the one median (lib/metrics/stats.ts), a timed bulk load, a peak-RSS
// probe, and reportRatio(), which hands each bench's headline ratio to bench/run-all.ts.
import { appendFileSync } from "node:fs";
import type { Dataset } from "../lib/generators/dataset.js";
import { quantile } from "../lib/metrics/stats.js";
import type { CellContext, LabSystem, OpStatus, Unit } from "../lib/systems/contract.js";
import type { LabNamespace } from "../lib/systems/namespace.js";
import { loadSystems, systemDefinition } from "../lib/systems/registry.js";

export const median = (xs: number[]): number => quantile(xs, 0.5);

/**
 * A connector created through the registry, as the runner creates it (so a bench does not
 * depend on which file of the system's folder holds its definition). `O` is the shape of the
 * parsed options the bench reads back (e.g. a default it did not set).
 */
export async function registrySystem<O = Record<string, unknown>>(name: string, raw: Record<string, unknown>, lab: LabNamespace): Promise<{ system: LabSystem; options: O }> {
  await loadSystems([name]);
  const def = systemDefinition(name);
  const options = def.options.parse(raw);
  return { system: def.create(options, lab), options: options as O };
}

/** One headline ratio of a bench: ours / a baseline measured in the same run (or a time / its budget). */
export interface BenchRatio {
  bench: string;
  /** What is compared, e.g. "binary COPY vs psql \\copy (MB/s)". */
  compared: string;
  ratio: number;
  /** The goal as text ("≥ 0.9", "≤ 1.0", or "—" when there is none). */
  goal: string;
  /** Whether the goal is met (null: no numeric goal). */
  met: boolean | null;
}

/** Env var naming the JSON-lines file bench/run-all.ts collects ratios from. */
export const RESULTS_ENV = "DEDUP_LAB_BENCH_RESULTS";

/** Record a headline ratio: appended to $DEDUP_LAB_BENCH_RESULTS when run-all set it (the bench prints its own lines too). */
export function reportRatio(bench: string, compared: string, ratio: number, goal: { atLeast?: number; atMost?: number; text?: string } = {}): void {
  const met = goal.atLeast !== undefined ? ratio >= goal.atLeast : goal.atMost !== undefined ? ratio <= goal.atMost : null;
  const text = goal.text ?? (goal.atLeast !== undefined ? `≥ ${goal.atLeast}` : goal.atMost !== undefined ? `≤ ${goal.atMost}` : "—");
  const row: BenchRatio = { bench, compared, ratio, goal: text, met };
  const file = process.env[RESULTS_ENV];
  if (file) appendFileSync(file, JSON.stringify(row) + "\n");
}

/** A bulk operation must have run: a "not implemented" status would time nothing. */
export function mustBeOk(status: OpStatus, what: string): void {
  if (status.code !== "ok") throw new Error(`${what}: ${status.code}${"note" in status ? ` (${status.note})` : ""}`);
}

/** Batches held in memory, replayed as the async stream bulkInsert takes. */
export async function* replay(batches: Unit[][]): AsyncGenerator<Unit[], void, undefined> {
  for (const batch of batches) yield batch;
}

/** Growth of this process's RSS (MiB) while `work` runs, sampled every 20 ms: bulk paths must stay flat. */
export async function peakRssGrowthMiB(work: () => Promise<unknown>): Promise<number> {
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
  const t0 = process.hrtime.bigint();
  const status = await system.bulkInsert(replay(batches));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  mustBeOk(status, "bulkInsert");
  return seconds;
}

/** RSS growth while streaming straight from the generator (as the runner does): memory must stay flat. */
export async function streamingPeakRssMiB(system: LabSystem, cell: CellContext, ds: Dataset): Promise<number> {
  await system.prepare(cell);
  async function* generated(): AsyncGenerator<Unit[], void, undefined> {
    for (const batch of ds.batches(4 * 1024 * 1024)) yield batch;
  }
  return peakRssGrowthMiB(async () => mustBeOk(await system.bulkInsert(generated()), "bulkInsert"));
}
