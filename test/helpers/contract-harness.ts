// Drives one LabSystem through every stage of a small cell, the way the runner does,
// and returns what it saw. Integration tests of each connector share it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import type { LabSystem, SizeReading, Unit } from "../../lib/systems/contract.js";
import { LabNamespace } from "../../lib/systems/namespace.js";

export interface HarnessResult {
  sizes: Record<"prepared" | "bulk" | "reset" | "perfile" | "deleted" | "maintained", SizeReading[]>;
  snapshots: unknown[];
  dataset: Dataset;
}

export function smallDataset(over: Partial<Record<string, unknown>> = {}): Dataset {
  return new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 20, size: { min: 4096, max: 4096 }, fraction: 0.5, ...over }));
}

async function* batches(ds: Dataset, maxBytes = 16 * 1024): AsyncGenerator<Unit[]> {
  for (const b of ds.batches(maxBytes)) yield b;
}

export async function runCellThrough(system: LabSystem, opts: { variant?: string; maintenance?: string; dataset?: Dataset; cellKey?: string; lab?: LabNamespace } = {}): Promise<HarnessResult> {
  const ds = opts.dataset ?? smallDataset();
  const lab = opts.lab ?? new LabNamespace();
  const cell = {
    lab,
    cellKey: opts.cellKey ?? "t" + Math.random().toString(36).slice(2, 8),
    variant: opts.variant ?? Object.keys(system.capabilities.variants)[0]!,
    containers: ds.containers,
    workDir: mkdtempSync(join(tmpdir(), "dedup-lab-harness-")),
    log: () => {},
  };
  const sizes = {} as HarnessResult["sizes"];
  const snapshots: unknown[] = [];
  await system.connect();
  try {
    await system.prepare(cell);
    sizes.prepared = await system.sizes();
    snapshots.push(await system.snapshot());
    await system.bulkInsert(batches(ds));
    sizes.bulk = await system.sizes();
    await system.reset();
    sizes.reset = await system.sizes();
    for (const u of ds.units()) await system.insert(u);
    sizes.perfile = await system.sizes();
    for (const u of ds.units()) await system.delete(u);
    sizes.deleted = await system.sizes();
    await system.maintenance(opts.maintenance ?? Object.keys(system.capabilities.maintenance)[0]!);
    sizes.maintained = await system.sizes();
    snapshots.push(await system.snapshot());
    await system.cleanup();
  } finally {
    await system.close();
  }
  return { sizes, snapshots, dataset: ds };
}

export function primary(readings: SizeReading[], layer: "L1" | "L2"): number | null {
  const r = readings.find((x) => x.layer === layer && x.primary);
  if (!r) throw new Error(`no primary ${layer} reading in ${JSON.stringify(readings)}`);
  return r.bytes;
}
