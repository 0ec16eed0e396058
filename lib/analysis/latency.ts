// Latency per system × operation. Every statistic comes from ONE function, latencyCells
// (lib/analysis/cells.ts): type-7 percentiles of the raw samples pooled over repeats (merged
// HdrHistograms where a bundle has no raw samples). The summary, the thesis tables, figure (c)
// and notebooks 20/30 all call it; the helpers here are its entry points.
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { mergeHistograms } from "../metrics/histogram.js";
import { latencyCellCurves, latencyCells, LATENCY_BY, percentileGrid, type LatencySource } from "./cells.js";
import { cellsOf, frame, type Frame } from "./frames.js";

export { LATENCY_BY, percentileGrid, type LatencySource };

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

/** A bundle's frames, or the legacy positional form (latencies, results). */
function sourceOf(a: LatencySource | Table | Frame, results?: Table | Frame): LatencySource {
  if (results !== undefined) return { latencies: a as Table | Frame, results };
  return a as LatencySource;
}

/**
 * Latency statistics per group (default LATENCY_BY: pooled over grades and repeats): count, min,
 * mean, p50…p999, max in ms, `source` (samples | histograms), `repeats`, and the per-repeat p99
 * over repeats (p99_rep_*). = latencyCells: the one statistics path.
 * Call with a bundle's frames (`{ results, latencies, histograms }`, e.g. from loadFrames), or
 * positionally (latencies, results[, by]).
 */
export function latencyPercentiles(src: LatencySource, by?: string[]): Frame;
export function latencyPercentiles(latencies: Table | Frame, results: Table | Frame, by?: string[]): Frame;
export function latencyPercentiles(a: LatencySource | Table | Frame, b?: Table | Frame | string[], c?: string[]): Frame {
  return Array.isArray(b) || b === undefined ? latencyCells(sourceOf(a), (b as string[] | undefined) ?? LATENCY_BY) : latencyCells(sourceOf(a, b), c ?? LATENCY_BY);
}

/** The rows the latency thesis table shows: the same as latencyPercentiles (pooled, not averaged). */
export const latencyTable = latencyPercentiles;

/**
 * Latency distribution curves per group from the same pooled data as latencyPercentiles: the
 * type-7 quantile function of the raw samples (through every marker), or the merged
 * HdrHistograms where a group has no raw samples. percentile (0–100) → latency_ms.
 */
export function latencyCurve(src: LatencySource, by?: string[]): Frame;
export function latencyCurve(latencies: Table | Frame, results: Table | Frame, by?: string[]): Frame;
export function latencyCurve(a: LatencySource | Table | Frame, b?: Table | Frame | string[], c?: string[]): Frame {
  return Array.isArray(b) || b === undefined ? latencyCellCurves(sourceOf(a), (b as string[] | undefined) ?? LATENCY_BY) : latencyCellCurves(sourceOf(a, b), c ?? LATENCY_BY);
}

/**
 * Latency distribution curves per group from the merged HdrHistograms alone (3 significant
 * digits), without the validity filter of latencyCells: for looking at histograms on their own.
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
