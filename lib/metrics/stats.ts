// The one definition of percentiles and confidence intervals used everywhere
// (results, CLI summary, notebooks, figures, thesis tables).
//
// Percentile: linear interpolation between order statistics on raw samples,
// Hyndman–Fan type 7 (R's default, numpy's "linear", arquero op.quantile, DuckDB
// quantile_cont): h = (n − 1)·p, q = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
// Across repeats: mean ± sample SD (n − 1), and a two-sided 95 % Student-t interval with
// the exact t(0.975, n − 1) — for positive quantities on the log scale (geometric mean,
// never negative). Percentiles are never averaged across runs: raw samples are pooled
// (histograms merged) instead — lib/analysis/cells.ts is the one path.

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

// ---------------------------------------------------------------- Student t, exact for any df
//
// P(T > t) = ½·I_x(ν/2, ½) with x = ν/(ν + t²) (regularized incomplete beta, continued fraction
// of Numerical Recipes §6.4 evaluated with the modified Lentz method; ln Γ by Lanczos, g = 7).
// The quantile inverts that tail by safeguarded Newton steps (bisection fallback) to
// |Δt| ≤ 4·ε·t; from df = 1000 on, the Cornish–Fisher series around the normal quantile.
// Checked against mpmath at 40 digits (test/unit/stats.test.ts). df = ∞ gives the normal
// quantile (tail ½·erfc(z/√2) through the regularized incomplete gamma Q(½, z²/2)).

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ≈ 1e-15). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 2.220446049250313e-16;
const TINY = 1e-300;

/** Continued fraction of the incomplete beta (modified Lentz). */
function betaCf(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta: no convergence for a=${a}, b=${b}, x=${x}`);
}

/** Regularized incomplete beta I_x(a, b), a, b > 0, 0 ≤ x ≤ 1. */
export function betaInc(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaCf(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaCf(b, a, 1 - x)) / b;
}

/** Regularized upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnFront = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    for (let n = 1; n < 100_000; n++) {
      del *= x / (a + n);
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * EPS) break;
    }
    return 1 - sum * Math.exp(lnFront);
  }
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(lnFront) * h;
}

/** Upper tail P(T > t) of Student's t with `df` degrees of freedom (df = ∞: standard normal). */
export function tUpperTail(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return Number.NaN;
  if (t < 0) return 1 - tUpperTail(-t, df);
  if (df === Number.POSITIVE_INFINITY) return 0.5 * gammaQ(0.5, (t * t) / 2);
  return 0.5 * betaInc(df / (df + t * t), df / 2, 0.5);
}

/** Density of Student's t (df = ∞: standard normal). */
function tDensity(t: number, df: number): number {
  if (df === Number.POSITIVE_INFINITY) return Math.exp(-(t * t) / 2) / Math.sqrt(2 * Math.PI);
  return Math.exp(lnGamma((df + 1) / 2) - lnGamma(df / 2) - 0.5 * Math.log(df * Math.PI) - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/**
 * Quantile of Student's t: the t with P(T ≤ t) = p, for any real df > 0 (df = ∞: the normal
 * quantile). Exact to about 1e-14 relative — no table, no switch to 1.96.
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return p === 0.5 && df > 0 ? 0 : Number.NaN;
  if (p < 0.5) return -tQuantile(1 - p, df);
  if (p === 0.5) return 0;
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df >= 1000 && df !== Number.POSITIVE_INFINITY) {
    // ln Γ(ν/2) loses digits for huge ν; the Cornish–Fisher expansion around the normal
    // quantile (Abramowitz & Stegun 26.7.5, four terms) is exact to O(ν⁻⁵) there.
    const z = tQuantile(p, Number.POSITIVE_INFINITY);
    const z2 = z * z;
    const g1 = (z * (z2 + 1)) / 4;
    const g2 = (z * ((5 * z2 + 16) * z2 + 3)) / 96;
    const g3 = (z * (((3 * z2 + 19) * z2 + 17) * z2 - 15)) / 384;
    const g4 = (z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945)) / 92160;
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4;
  }
  const q = 1 - p; // target upper tail
  // Bracket [lo, hi] with tail(lo) ≥ q ≥ tail(hi), then Newton steps kept inside it.
  let lo = 0;
  let hi = 1;
  while (tUpperTail(hi, df) > q) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Number.POSITIVE_INFINITY;
  }
  let t = (lo + hi) / 2;
  for (let i = 0; i < 400; i++) {
    const f = tUpperTail(t, df) - q; // decreasing in t
    if (f > 0) lo = t;
    else hi = t;
    const step = f / tDensity(t, df);
    let next = t + step;
    if (!(next > lo && next < hi) || !Number.isFinite(next)) next = (lo + hi) / 2;
    if (Math.abs(next - t) <= 4 * EPS * Math.abs(next) || hi - lo <= 4 * EPS * hi) return next;
    t = next;
  }
  return t;
}

/** The 97.5 % quantile of Student's t (two-sided 95 % intervals), exact for any df: t(0.975, 31) = 2.0395. */
export function tQuantile975(df: number): number {
  return tQuantile(0.975, df);
}

/**
 * How an interval over repeats is computed. "linear": mean ± t·SD/√n. "log": for strictly
 * positive quantities (latency, throughput, EDR, sizes): on the log scale — geometric mean
 * exp(m) with m, s the mean and SD of ln x, interval exp(m ± t·s/√n) — so it never goes
 * below 0. "clamped": a non-negative quantity with a zero among its values (no logarithm):
 * the linear interval with its lower end clamped at 0.
 */
export type IntervalScale = "linear" | "log" | "clamped";

export interface Aggregate {
  n: number;
  /** Arithmetic mean. */
  mean: number;
  /** Sample SD (n − 1); NaN for n < 2. */
  sd: number;
  /** Half-width of the linear 95 % t interval (NaN for n < 2). For positive quantities use lower/upper. */
  ci95: number;
  /** The centre of the interval: the geometric mean on the log scale, else the arithmetic mean. */
  center: number;
  /** The two-sided 95 % Student-t interval [lower, upper] on `scale` (NaN for n < 2). */
  lower: number;
  upper: number;
  scale: IntervalScale;
}

export interface AggregateOptions {
  /** The quantity is positive by nature (latency, throughput, EDR, sizes): its interval never goes negative. */
  positive?: boolean;
}

export function aggregate(values: number[], opts: AggregateOptions = {}): Aggregate {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  const m = mean(finite);
  const s = sd(finite);
  const t = n >= 2 ? tQuantile975(n - 1) : Number.NaN;
  const ci95 = n >= 2 ? (t * s) / Math.sqrt(n) : Number.NaN;
  if (opts.positive && n > 0 && finite.every((v) => v > 0)) {
    const logs = finite.map(Math.log);
    const ml = mean(logs);
    const hl = n >= 2 ? (t * sd(logs)) / Math.sqrt(n) : Number.NaN;
    return { n, mean: m, sd: s, ci95, center: Math.exp(ml), lower: Math.exp(ml - hl), upper: Math.exp(ml + hl), scale: "log" };
  }
  if (opts.positive && n > 0 && finite.every((v) => v >= 0)) {
    return { n, mean: m, sd: s, ci95, center: m, lower: Math.max(0, m - ci95), upper: m + ci95, scale: "clamped" };
  }
  return { n, mean: m, sd: s, ci95, center: m, lower: m - ci95, upper: m + ci95, scale: "linear" };
}

/** How a table or caption names an interval scale. */
export const INTERVAL_SCALE_NOTES: Record<IntervalScale, string> = {
  log: "95 % Student-t interval computed on the log scale around the geometric mean (back-transformed, never negative)",
  clamped: "95 % Student-t interval of the mean, lower end clamped at 0 (a zero value rules out the log scale)",
  linear: "95 % Student-t interval of the mean",
};
