// The one definition of percentiles and confidence intervals used everywhere
// (results, CLI summary, notebooks, figures, thesis tables).
//
// Percentile: linear interpolation between order statistics on raw samples,
// Hyndman–Fan type 7 (R's default, numpy's "linear", arquero op.quantile, DuckDB
// quantile_cont): h = (n − 1)·p, q = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
// Across repeats: mean ± sample SD (n − 1), and a two-sided 95 % Student-t interval
// mean ± t(0.975, n − 1)·SD/√n. Percentiles are never averaged across runs: merge
// histograms (or raw samples) instead.

/** Type-7 quantile of ascending-sorted samples. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 1) return sorted[n - 1]!;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function quantile(values: ArrayLike<number>, p: number): number {
  return quantileSorted(Float64Array.from(values).sort(), p);
}

export const PERCENTILES = [
  ["p50", 0.5],
  ["p90", 0.9],
  ["p95", 0.95],
  ["p99", 0.99],
  ["p999", 0.999],
] as const;

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const out = { count: n, min: sorted[0] ?? Number.NaN, mean: n ? sum / n : Number.NaN, max: sorted[n - 1] ?? Number.NaN } as LatencySummary;
  for (const [name, p] of PERCENTILES) out[name] = quantileSorted(sorted, p);
  return out;
}

export function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

/** Sample standard deviation (n − 1); NaN for fewer than two values. */
export function sd(values: number[]): number {
  if (values.length < 2) return Number.NaN;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

// Two-sided 97.5 % quantiles of Student's t for df = 1..30; beyond, the normal 1.96 is within 1 %.
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(df: number): number {
  return df >= 1 && df <= 30 ? T975[df - 1]! : 1.96;
}

export interface Aggregate {
  n: number;
  mean: number;
  sd: number;
  /** Half-width of the 95 % t interval (NaN for n < 2). */
  ci95: number;
}

export function aggregate(values: number[]): Aggregate {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  const s = sd(finite);
  return { n, mean: mean(finite), sd: s, ci95: n >= 2 ? (tQuantile975(n - 1) * s) / Math.sqrt(n) : Number.NaN };
}
