// Aggregation over repeats, with the one definition of mean ± SD and the 95 % t interval
// (lib/metrics/stats.ts). A "repeat" is one (run_id, repeat) pair, so bundles of the same
// configuration from several runs pool into one sample.
import * as aq from "arquero";
import { aggregate } from "../metrics/stats.js";
import type { Frame } from "./frames.js";

export interface RepeatStats {
  /** Number of repeats that gave a valid value. */
  n: number;
  mean: number;
  /** Sample SD (n − 1); NaN for n < 2. */
  sd: number;
  /** Half-width of the two-sided 95 % Student-t interval; NaN for n < 2. */
  ci95: number;
}

/**
 * Mean ± SD (n) and 95 % CI of `value` per group of `keys`. Rows whose value is null or
 * not finite are left out (they carry a reason in the bundle), so n counts valid repeats.
 */
export function overRepeats(f: Frame, keys: string[], value = "value"): Frame {
  if (f.numRows() === 0) return aq.table(Object.fromEntries([...keys, "n", "mean", "sd", "ci95"].map((k) => [k, []])));
  const grouped = f.groupby(...keys).rollup({ values: aq.op.array_agg(value) });
  const rows = (grouped.objects() as Record<string, unknown>[]).map((r) => {
    const values = (r.values as (number | null)[]).filter((v): v is number => v !== null && Number.isFinite(v));
    const { values: _drop, ...dims } = r;
    return { ...dims, ...aggregate(values) };
  });
  return aq.from(rows);
}
