// L0 rows of a cell's deduplication and compression potential (lib/metrics/potential.ts): the
// dataset's bytes analysed once per dataset id in this process (every cell of the same dataset
// shares it), outside every clock — the runner calls this before the system is even connected.
// Units are regenerated from their seeds (or read from the staged real data) like the manifest.
import { Dataset, type DatasetSpec } from "../generators/dataset.js";
import { analyzePotential, potentialMetrics, sampleFractionFor, type PotentialReport } from "../metrics/potential.js";
import type { CellRows } from "./rows.js";

/**
 * At most this much distinct data is compressed per codec (32 evenly spread 128 KiB segments; the
 * rest extrapolated): zstd-19 and DEFLATE run at 2–20 MB/s in WebAssembly/JavaScript, so 16 MiB
 * made the analysis 40 % of a small run.
 */
export const POTENTIAL_COMPRESSION_BUDGET = 4 << 20;

const cache = new Map<string, Promise<PotentialReport>>();

/** The potential report of a dataset, computed once per dataset id. */
export function datasetPotential(spec: DatasetSpec): Promise<PotentialReport> {
  const ds = new Dataset(spec);
  let p = cache.get(ds.id);
  if (!p) {
    const sample = sampleFractionFor(ds.totals.unique_bytes, POTENTIAL_COMPRESSION_BUDGET);
    p = analyzePotential(ds.units(), { compressionSample: sample }).finally(() => ds.close());
    cache.set(ds.id, p);
    p.catch(() => cache.delete(ds.id));
  } else {
    ds.close();
  }
  return p;
}

/** Add the potential rows (stage "dataset", layer L0) of the cell's dataset; a failure is a row's reason, never a failed cell. */
export async function recordPotential(out: CellRows, spec: DatasetSpec): Promise<void> {
  // Opt-out for very large datasets (the analysis reads every byte once more): DEDUP_LAB_POTENTIAL=0.
  if (process.env.DEDUP_LAB_POTENTIAL === "0") return;
  try {
    const r = await datasetPotential(spec);
    for (const m of potentialMetrics(r)) out.add("dataset", m.metric, m.value, m.unit, { layer: "L0" });
  } catch (e) {
    out.add("dataset", "potential_s", null, "s", { layer: "L0", reason: `potential analysis failed: ${e instanceof Error ? e.message : String(e)}` });
  }
}
