// The one statistics path from a bundle to every number the summary, the thesis tables, the
// figures and notebooks 20/30 show:
//
// * Validity, in one place: a result row is used iff `valid` is true and its value is finite
//   (`isUsable`). Rows that carry a value but are marked invalid are *left out* and named
//   (`leftOut`, `leftOutNote`) wherever a summary, table or figure is drawn from them.
// * Latency across repeats: percentiles of the POOLED raw samples (latencies.arrow) of every
//   cell × stage in a group, type 7 (lib/metrics/stats.ts); where a group has no raw samples,
//   of the merged HdrHistograms (histograms.arrow, 3 significant digits). Never an average of
//   per-repeat percentiles. Samples of a cell × stage whose latency rows are invalid are left out.
// * Per-repeat statistics appear only as "the per-repeat p99: geometric mean and 95 % t interval
//   on the log scale" (columns p99_rep_*), for tables that say so.
import { isStageRow } from "../results/schema.js";
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { mergeHistograms } from "../metrics/histogram.js";
import { aggregate, quantileSorted, summarize, type IntervalScale, type LatencySummary } from "../metrics/stats.js";
import { CONFIG_DIMS, frame, type Frame } from "./frames.js";

// ---------------------------------------------------------------- validity

/** The one validity rule of the analysis: `valid` is true and the value is a finite number. */
export function isUsable(d: { valid: boolean | null; value: number | null }): boolean {
  return d.valid === true && d.value !== null && Number.isFinite(d.value);
}

/** Result rows the analysis may use (see isUsable). */
export function usableRows(results: Table | Frame): Frame {
  return frame(results).filter(aq.escape(isUsable));
}

/** A row that holds a measured value but is marked invalid: left out, and said so. */
export function isLeftOut(d: { valid: boolean | null; value: number | null }): boolean {
  return d.valid !== true && d.value !== null && Number.isFinite(d.value);
}

/** Rows left out as invalid (a value is there, `valid` is false), with their reasons. */
export function leftOut(results: Table | Frame): Frame {
  return frame(results).filter(aq.escape((d: { valid: boolean | null; value: number | null; stage: string }) => isStageRow(d.stage) && isLeftOut(d)));
}

/** "3 rows left out as invalid: reason A (2); reason B (1)" or "" when none. */
export function leftOutNote(rows: Frame, max = 3): string {
  const n = rows.numRows();
  if (!n) return "";
  const counts = new Map<string, number>();
  for (const r of rows.objects() as { metric: string; reason: string }[]) {
    const k = `${r.metric}: ${r.reason || "no reason given"}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const top = [...counts].sort((a, b) => b[1] - a[1]);
  const shown = top.slice(0, max).map(([k, c]) => `${k} (${c})`).join("; ");
  return `${n} row${n === 1 ? "" : "s"} left out as invalid: ${shown}${top.length > max ? `; … ${top.length - max} more reasons` : ""}`;
}

// ---------------------------------------------------------------- latency

/** What latency statistics are computed from: a bundle's results plus its raw samples and/or histograms. */
export interface LatencySource {
  results: Table | Frame;
  latencies?: Table | Frame;
  histograms?: Table | Frame;
}

/** Default grouping: pooled over grades (and repeats), split by everything else that defines the workload. */
export const LATENCY_BY = ["system", "variant", "payload", "granularity", "placement", "insertion", "keys", "unit_size", "n_units", "stage"];

export type LatencyDataSource = "samples" | "histograms";

export interface LatencyCellRow extends LatencySummary {
  [dim: string]: unknown;
  /** Where the percentiles come from: pooled raw samples, or merged HdrHistograms (3 significant digits). */
  source: LatencyDataSource;
  /** Repeats pooled: distinct (run_id, repeat) pairs. */
  repeats: number;
  /** Cell × stages whose samples were left out because their latency rows are invalid. */
  excluded: number;
  /** The per-repeat p99 over repeats (for tables that say so): n, geometric mean, 95 % t interval on the log scale. */
  p99_rep_n: number;
  p99_rep_center: number;
  p99_rep_lower: number;
  p99_rep_upper: number;
  p99_rep_scale: IntervalScale;
}

interface CellStage {
  run: string;
  cell: string;
  stage: string;
  repeat: number;
  dims: Record<string, unknown>;
  samples: number[];
  hdrs: string[];
}

const CELL_COLUMNS = ["run_id", "cell_id", "repeat", ...CONFIG_DIMS] as const;

function column<T>(f: Frame, name: string): T[] {
  return f.columnNames().includes(name) ? (Array.from(f.array(name) as ArrayLike<T>) as T[]) : [];
}

/** Every cell × stage with timed operations, its samples and histograms, and whether it is usable. */
function cellStages(src: LatencySource): { usable: CellStage[]; excluded: CellStage[] } {
  const results = frame(src.results);
  const dims = new Map<string, Record<string, unknown>>();
  const cols = Object.fromEntries(CELL_COLUMNS.map((c) => [c, column<unknown>(results, c)]));
  const n = results.numRows();
  // Latency rows of a cell × stage: usable iff every one of them is (the one validity rule).
  const latencyOk = new Map<string, boolean>();
  const metric = column<string>(results, "metric");
  const stage = column<string>(results, "stage");
  const valid = column<boolean | null>(results, "valid");
  const value = column<number | null>(results, "value");
  for (let i = 0; i < n; i++) {
    const cellKey = `${cols.run_id![i]}\u0000${cols.cell_id![i]}`;
    if (!dims.has(cellKey)) dims.set(cellKey, Object.fromEntries(CELL_COLUMNS.map((c) => [c, cols[c]![i]])));
    if (metric[i]!.startsWith("latency_")) {
      const k = `${cellKey}\u0000${stage[i]}`;
      latencyOk.set(k, (latencyOk.get(k) ?? true) && isUsable({ valid: valid[i]!, value: value[i]! }));
    }
  }
  const all = new Map<string, CellStage>();
  const get = (run: string, cell: string, st: string, fallbackDims?: Record<string, unknown>) => {
    const k = `${run}\u0000${cell}\u0000${st}`;
    let cs = all.get(k);
    if (!cs) {
      const d = dims.get(`${run}\u0000${cell}`) ?? fallbackDims;
      if (!d) return undefined; // samples of a cell the results do not know: nothing to group them by
      cs = { run, cell, stage: st, repeat: Number(d.repeat), dims: d, samples: [], hdrs: [] };
      all.set(k, cs);
    }
    return cs;
  };
  if (src.latencies) {
    const l = frame(src.latencies);
    const [run, cell, st, ns] = [column<string>(l, "run_id"), column<string>(l, "cell_id"), column<string>(l, "stage"), column<number>(l, "latency_ns")];
    for (let i = 0; i < ns.length; i++) get(run[i]!, cell[i]!, st[i]!)?.samples.push(ns[i]! / 1e6);
  }
  if (src.histograms) {
    const h = frame(src.histograms);
    for (const r of h.objects() as Record<string, unknown>[]) {
      get(String(r.run_id), String(r.cell_id), String(r.stage), Object.fromEntries(CELL_COLUMNS.map((c) => [c, r[c]])))?.hdrs.push(String(r.hdr));
    }
  }
  const usable: CellStage[] = [];
  const excluded: CellStage[] = [];
  for (const [k, cs] of all) {
    if (!cs.samples.length && !cs.hdrs.length) continue;
    // A cell × stage without any latency row (e.g. from an older bundle) cannot be judged invalid.
    (latencyOk.get(k) === false ? excluded : usable).push(cs);
  }
  return { usable, excluded };
}

/** Summary of a set of cell × stages: pooled raw samples when all have them, else merged histograms. */
function pooled(css: CellStage[]): { source: LatencyDataSource; summary: LatencySummary; sorted?: Float64Array; hdrs?: string[] } | undefined {
  if (css.length && css.every((c) => c.samples.length)) {
    const sorted = Float64Array.from(css.flatMap((c) => c.samples)).sort();
    return { source: "samples", summary: summarize(sorted), sorted };
  }
  const hdrs = css.flatMap((c) => c.hdrs);
  if (!hdrs.length) return undefined;
  const h = mergeHistograms(hdrs);
  try {
    if (h.totalCount === 0) return undefined;
    const summary = {
      count: h.totalCount, min: h.minNonZeroValue / 1e6, mean: h.mean / 1e6, max: h.maxValue / 1e6,
      p50: h.getValueAtPercentile(50) / 1e6, p90: h.getValueAtPercentile(90) / 1e6, p95: h.getValueAtPercentile(95) / 1e6,
      p99: h.getValueAtPercentile(99) / 1e6, p999: h.getValueAtPercentile(99.9) / 1e6,
    };
    return { source: "histograms", summary, hdrs };
  } finally {
    h.destroy();
  }
}

function groupBy(css: CellStage[], by: string[]): Map<string, { key: Record<string, unknown>; css: CellStage[] }> {
  const groups = new Map<string, { key: Record<string, unknown>; css: CellStage[] }>();
  for (const cs of css) {
    const row = { ...cs.dims, stage: cs.stage, run_id: cs.run, cell_id: cs.cell };
    const key = Object.fromEntries(by.map((b) => [b, (row as Record<string, unknown>)[b]]));
    const id = JSON.stringify(by.map((b) => key[b]));
    (groups.get(id) ?? groups.set(id, { key, css: [] }).get(id)!).css.push(cs);
  }
  return groups;
}

const PERCENTILE_COLUMNS = ["count", "min", "mean", "p50", "p90", "p95", "p99", "p999", "max"];
const CELL_ROW_COLUMNS = ["source", "repeats", ...PERCENTILE_COLUMNS, "excluded", "p99_rep_n", "p99_rep_center", "p99_rep_lower", "p99_rep_upper", "p99_rep_scale"];

/**
 * THE latency statistics per group of `by` (default: pooled over grades and repeats): count,
 * min, mean, p50 … p99.9, max (ms) of the pooled raw samples — or of the merged HdrHistograms
 * where a group has no raw samples (`source` says which) — plus the per-repeat p99 over repeats
 * (p99_rep_*: geometric mean and 95 % Student-t interval on the log scale). Samples of cell ×
 * stages whose latency rows are invalid are left out (`excluded` counts them).
 */
export function latencyCells(src: LatencySource, by: string[] = LATENCY_BY): Frame {
  const { usable, excluded } = cellStages(src);
  const excludedBy = groupBy(excluded, by);
  const rows: Record<string, unknown>[] = [];
  for (const [id, g] of groupBy(usable, by)) {
    const p = pooled(g.css);
    if (!p) continue;
    const repeats = new Map<string, CellStage[]>();
    for (const cs of g.css) {
      const k = `${cs.run}\u0000${cs.repeat}`;
      (repeats.get(k) ?? repeats.set(k, []).get(k)!).push(cs);
    }
    const perRepeat = [...repeats.values()].map((css) => pooled(css)?.summary.p99 ?? Number.NaN);
    const a = aggregate(perRepeat, { positive: true });
    rows.push({
      ...g.key, source: p.source, repeats: repeats.size, ...p.summary, excluded: excludedBy.get(id)?.css.length ?? 0,
      p99_rep_n: a.n, p99_rep_center: a.center, p99_rep_lower: a.lower, p99_rep_upper: a.upper, p99_rep_scale: a.scale,
    });
  }
  return rows.length ? aq.from(rows) : aq.table(Object.fromEntries([...by, ...CELL_ROW_COLUMNS].map((k) => [k, []])));
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
 * The distribution curve of each group of latencyCells, from the same pooled data: the type-7
 * quantile function of the raw samples on a grid that includes p50/p90/p95/p99 (so the curve
 * passes through the markers), or the merged HdrHistograms' percentiles. percentile (0–100) → ms.
 */
export function latencyCellCurves(src: LatencySource, by: string[] = LATENCY_BY): Frame {
  const rows: Record<string, unknown>[] = [];
  for (const g of groupBy(cellStages(src).usable, by).values()) {
    const p = pooled(g.css);
    if (!p) continue;
    const count = p.summary.count;
    if (p.sorted) {
      const grid = [...new Set([...percentileGrid(count), 50, 90, 95, 99])].sort((a, b) => a - b);
      for (const q of grid) rows.push({ ...g.key, source: p.source, percentile: q, latency_ms: quantileSorted(p.sorted, q / 100), count });
    } else {
      const h = mergeHistograms(p.hdrs!);
      const grid = [...new Set([...percentileGrid(count), 50, 90, 95, 99])].sort((a, b) => a - b);
      for (const q of grid) rows.push({ ...g.key, source: p.source, percentile: q, latency_ms: (q >= 100 ? h.maxValue : h.getValueAtPercentile(q)) / 1e6, count });
      h.destroy();
    }
  }
  return rows.length ? aq.from(rows) : aq.table(Object.fromEntries([...by, "source", "percentile", "latency_ms", "count"].map((k) => [k, []])));
}
