// Latency per system × operation. Percentiles follow the one definition (type-7 on raw
// samples, lib/metrics/stats.ts); the distribution curves of figure (c) come from the
// bundle's HdrHistograms merged over cells and repeats (3 significant digits).
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { mergeHistograms } from "../metrics/histogram.js";
import { quantileSorted, summarize, type LatencySummary } from "../metrics/stats.js";
import { cellsOf, frame, type Frame } from "./frames.js";
import { overRepeats } from "./repeats.js";

/** Default grouping: pooled over grades (and repeats), split by everything else that defines the workload. */
export const LATENCY_BY = ["system", "variant", "payload", "granularity", "placement", "unit_size", "n_units", "stage"];

/** The statistics the thesis tables show, in order. */
export const LATENCY_STATS = ["p50", "p90", "p95", "p99", "max", "mean"] as const;
export type LatencyStat = (typeof LATENCY_STATS)[number];

export const OPERATION_LABELS: Record<string, string> = {
  bulk_insert: "bulk insert (batch)",
  perfile_insert: "insert (per unit)",
  perfile_delete: "delete (per unit)",
  maintenance: "maintenance",
};

/** Raw latency samples joined with their cell's dimensions (latency_ms added). */
export function latencySamples(latencies: Table | Frame, results: Table | Frame): Frame {
  return frame(latencies)
    .join(cellsOf(results), [["run_id", "cell_id"]])
    .derive({ latency_ms: (d: { latency_ns: number }) => d.latency_ns / 1e6 });
}

function grouped(samples: Frame, keys: string[]): { key: Record<string, unknown>; values: number[] }[] {
  return (samples.groupby(...keys).rollup({ values: aq.op.array_agg("latency_ms") }).objects() as Record<string, unknown>[]).map((r) => {
    const { values, ...key } = r;
    return { key, values: values as number[] };
  });
}

export type LatencyPercentileRow = Record<string, unknown> & LatencySummary;

/** Pooled percentiles (all repeats' raw samples together) per group: count, min, mean, p50…p999, max in ms. */
export function latencyPercentiles(latencies: Table | Frame, results: Table | Frame, by: string[] = LATENCY_BY): Frame {
  const rows = grouped(latencySamples(latencies, results), by).map(({ key, values }) => ({ ...key, ...summarize(values) }));
  return rows.length ? aq.from(rows) : aq.table(Object.fromEntries([...by, "count", "min", "mean", "p50", "p90", "p95", "p99", "p999", "max"].map((k) => [k, []])));
}

export interface LatencyTableRow {
  statistic: LatencyStat;
  n: number;
  mean: number;
  sd: number;
  ci95: number;
  /** Operations measured, over all repeats. */
  ops: number;
}

/**
 * Each statistic (p50, p90, p95, p99, max, mean) computed per repeat from that repeat's raw
 * samples, then mean ± SD (n repeats) and the 95 % t interval across repeats.
 */
export function latencyTable(latencies: Table | Frame, results: Table | Frame, by: string[] = LATENCY_BY): Frame {
  const perRepeat = grouped(latencySamples(latencies, results), [...by, "run_id", "repeat"]);
  const rows = perRepeat.flatMap(({ key, values }) => {
    const s = summarize(values);
    const { run_id: _r, repeat: _p, ...dims } = key;
    return LATENCY_STATS.map((statistic) => ({ ...dims, statistic, value: s[statistic], ops: s.count }));
  });
  if (!rows.length) return aq.table(Object.fromEntries([...by, "statistic", "n", "mean", "sd", "ci95", "ops"].map((k) => [k, []])));
  const f = aq.from(rows);
  const ops = f.groupby(...by, "statistic").rollup({ ops: aq.op.sum("ops") });
  return overRepeats(f, [...by, "statistic"]).join(ops, [[...by, "statistic"]]);
}

/** Percentile grid for a distribution of `count` values: dense toward the tail, ends at 100 (max). */
export function percentileGrid(count: number): number[] {
  const grid: number[] = [];
  const decades = Math.log10(Math.max(count, 2));
  for (let k = 0; k <= Math.ceil(decades * 10); k++) {
    const p = 100 * (1 - 10 ** (-k / 10));
    if (p < 100 * (1 - 1 / count) + 1e-9) grid.push(p);
  }
  grid.push(100);
  return grid;
}

/**
 * Latency distribution curves per group from the raw samples: the type-7 quantile function
 * (the same definition as every marker and table) on a grid that includes p50/p90/p95/p99.
 */
export function latencyCurve(latencies: Table | Frame, results: Table | Frame, by: string[] = LATENCY_BY): Frame {
  const rows = grouped(latencySamples(latencies, results), by).flatMap(({ key, values }) => {
    const sorted = Float64Array.from(values).sort();
    const grid = [...new Set([...percentileGrid(sorted.length), 50, 90, 95, 99].filter((p) => p <= 100))].sort((a, b) => a - b);
    return grid.map((p) => ({ ...key, percentile: p, latency_ms: quantileSorted(sorted, p / 100), count: sorted.length }));
  });
  return rows.length ? aq.from(rows) : aq.table(Object.fromEntries([...by, "percentile", "latency_ms", "count"].map((k) => [k, []])));
}

/**
 * Latency distribution curves per group from the merged HdrHistograms (3 significant digits):
 * for bundles without raw samples. percentile (0–100) → latency_ms.
 */
export function latencySpectrum(histograms: Table | Frame, by: string[] = LATENCY_BY): Frame {
  const groups = frame(histograms).groupby(...by).rollup({ hdrs: aq.op.array_agg("hdr") }).objects() as Record<string, unknown>[];
  const rows = groups.flatMap((g) => {
    const { hdrs, ...key } = g;
    const h = mergeHistograms(hdrs as string[]);
    const count = h.totalCount;
    const points = count > 0 ? percentileGrid(count).map((p) => ({ ...key, percentile: p, latency_ms: h.getValueAtPercentile(p) / 1e6, count })) : [];
    h.destroy();
    return points;
  });
  return rows.length ? aq.from(rows) : aq.table(Object.fromEntries([...by, "percentile", "latency_ms", "count"].map((k) => [k, []])));
}
