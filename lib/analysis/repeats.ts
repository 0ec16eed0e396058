// Aggregation over repeats, with the one definition of mean ± SD and the 95 % t interval
// (lib/metrics/stats.ts). A "repeat" is one (run_id, repeat) pair, so bundles of the same
// configuration from several runs pool into one sample. Intervals of positive quantities
// (EDR, throughput, sizes) are computed on the log scale around the geometric mean, so they
// never go negative; `scale` says how each interval was computed.
import * as aq from "arquero";
import { aggregate, type IntervalScale } from "../metrics/stats.js";
import type { Frame } from "./frames.js";

export interface RepeatStats {
  /** Number of repeats that gave a valid value. */
  n: number;
  mean: number;
  /** Sample SD (n − 1); NaN for n < 2. */
  sd: number;
  /** Half-width of the linear two-sided 95 % Student-t interval; NaN for n < 2. */
  ci95: number;
  /** Centre of [lower, upper]: the geometric mean on the log scale, else the mean. */
  center: number;
  /** The two-sided 95 % Student-t interval (NaN for n < 2), on `scale`. */
  lower: number;
  upper: number;
  scale: IntervalScale;
}

export const REPEAT_COLUMNS = ["n", "mean", "sd", "ci95", "center", "lower", "upper", "scale"] as const;

export interface OverRepeatsOptions {
  /** The value is positive by nature (EDR, throughput, sizes): log-scale intervals (default true). */
  positive?: boolean | ((group: Record<string, unknown>) => boolean);
}

/**
 * Mean ± SD (n) and 95 % CI of `value` per group of `keys`. Rows whose value is null or
 * not finite are left out (they carry a reason in the bundle), so n counts valid repeats.
 * Callers pass rows already filtered by the one validity rule (cells.ts usableRows).
 */
export function overRepeats(f: Frame, keys: string[], value = "value", opts: OverRepeatsOptions = {}): Frame {
  if (f.numRows() === 0) return aq.table(Object.fromEntries([...keys, ...REPEAT_COLUMNS].map((k) => [k, []])));
  const grouped = f.groupby(...keys).rollup({ values: aq.op.array_agg(value) });
  const rows = (grouped.objects() as Record<string, unknown>[]).map((r) => {
    const values = (r.values as (number | null)[]).filter((v): v is number => v !== null && Number.isFinite(v));
    const { values: _drop, ...dims } = r;
    const positive = typeof opts.positive === "function" ? opts.positive(dims) : opts.positive ?? true;
    return { ...dims, ...aggregate(values, { positive }) };
  });
  return aq.from(rows);
}
