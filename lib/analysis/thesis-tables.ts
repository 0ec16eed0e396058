// Thesis tables as a small model rendered twice: LaTeX (booktabs) for the thesis and
// Markdown for notes and READMEs. EDR values are mean ± SD (n) over repeats, or the geometric
// mean with its 95 % Student-t interval on the log scale (never negative) — lib/metrics/stats.ts.
// Latency values come from the one statistics path (cells.ts latencyCells): percentiles of the
// raw samples pooled over repeats, the same numbers as figure (c) and the summary.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { datasetLabel, distinct, gradeOrder, rowsOf, STAGE_LABELS, stageOrder, type Frame } from "./frames.js";
import type { EdrMetric, EdrRow } from "./edr.js";
import { BOUNDARIES, WHERE_THRESHOLD, type ReductionRow } from "./reduction.js";
import type { LatencyCellRow } from "./cells.js";
import { LATENCY_STATS, OPERATION_LABELS } from "./latency.js";
import { inSeries, seriesId, systemSeries } from "./slices.js";
import { latexEscape } from "./latex.js";

export { latexEscape };

export type Interval = "sd" | "ci";

export interface HeadCell {
  text: string;
  span: number;
}

export interface ThesisTable {
  /** File stem, e.g. "edr_cluster-bulk_insert". */
  name: string;
  caption: string;
  /** LaTeX label (tab:…). */
  label: string;
  /** Header rows; the last one names every column (stub columns included). */
  head: HeadCell[][];
  /** Number of leading text columns (left-aligned). */
  stub: number;
  /** The largest LaTeX font size the table may use (default "small"); toLatex sets it smaller where its content needs (tableFit). */
  fontSize?: "small" | "footnotesize" | "scriptsize";
  /** Row groups, each with an optional title row (e.g. the workload). */
  groups: { title?: string; rows: string[][]; footer?: string[] }[];
}

/**
 * Decimals for a value of this magnitude: 3 significant digits (1.23, 12.3, 123, 0.0123);
 * values ≥ 1000 keep their integer digits (1234, never 1.23e3 in a table). An interval's ends and
 * an SD take the decimals of their centre, so a cell reads at one precision.
 */
function decimals(v: number): number {
  const a = Number(Math.abs(v).toPrecision(3)); // 9.999 → 10.0, not 10.00
  if (!Number.isFinite(a) || a === 0) return 2;
  return Math.min(6, Math.max(0, 2 - Math.floor(Math.log10(a) + 1e-9)));
}

/** A number as every table prints it (LaTeX, Markdown, notebooks): 3 significant digits. */
export function formatValue(v: number): string {
  return Number.isFinite(v) ? v.toFixed(decimals(v)) : "—";
}

/**
 * "[lo, hi]" at the centre's decimals, except that an end ≥ 1000 drops its decimals and one ≥ 10⁵
 * is written 1.5e11: with n = 2, t(0.975, 1) = 12.7 on the log scale can put an end at
 * 151339880917 (never "151339880917.09", which alone is wider than a table column).
 */
function intervalText(center: number, lo: number, hi: number): string {
  const d = decimals(center);
  const end = (v: number) => (Math.abs(v) >= 1e5 ? v.toExponential(1).replace("+", "") : v.toFixed(Math.min(d, decimals(v))));
  return `[${end(lo)}, ${end(hi)}]`;
}

export interface StatCell {
  n: number;
  mean: number;
  sd: number;
  ci95: number;
  /** From repeats.ts: the interval's centre and ends (log scale for positive quantities). */
  center?: number;
  lower?: number;
  upper?: number;
}

/**
 * "0.870 ± 0.012 (3)", "0.870 (1)", or with interval "ci": "0.869 [0.85, 0.89] (3)" — the
 * centre and [lower, upper] of the interval (geometric mean and log-scale interval for
 * positive quantities; the linear mean ± t·SD/√n when no interval is given); "—" when n = 0.
 */
export function formatStat(r: StatCell, interval: Interval = "sd", showN = true): string {
  if (!r.n || !Number.isFinite(r.mean)) return "—";
  const d = decimals(r.mean);
  const n = showN ? ` (${r.n})` : "";
  if (r.n < 2 || !Number.isFinite(r.sd)) return `${r.mean.toFixed(d)}${n}`;
  if (interval === "ci") {
    const [c, lo, hi] = r.center !== undefined && r.lower !== undefined && r.upper !== undefined ? [r.center, r.lower, r.upper] : [r.mean, r.mean - r.ci95, r.mean + r.ci95];
    return `${c.toFixed(d)} ${intervalText(c, lo, hi)}${n}`;
  }
  return `${r.mean.toFixed(d)} ± ${r.sd.toFixed(d)}${n}`;
}

function intervalNote(interval: Interval): string {
  return interval === "ci"
    ? "geometric mean over n repeats with its two-sided 95 % Student-t confidence interval [lower, upper], computed on the log scale and back-transformed (never negative); (n) = repeats"
    : "mean ± sample standard deviation (n − 1 denominator) over n repeats; (n) = repeats";
}

/** " Left out as invalid: …." for a caption, or "". */
function leftOutCaption(note?: string): string {
  return note ? ` ${note.charAt(0).toUpperCase()}${note.slice(1)}.` : "";
}

const workloadKey = (r: { payload: string; granularity: string; placement: string }) => `${r.payload} · ${r.granularity} · ${r.placement}`;

// ---------------------------------------------------------------- EDR

export interface EdrTableOptions {
  metric: EdrMetric;
  stage: string;
  interval?: Interval;
  /** Rows left out as invalid, named in the caption (cells.ts leftOutNote). */
  leftOut?: string;
}

/**
 * Rows = systems (grouped by workload × dataset size), columns = grades. The dataset size heads a
 * group, not a column block: as columns, sizes × grades outgrew a text width at two sizes of three grades.
 * Null if the stage has no rows.
 */
export function edrThesisTable(edr: Frame, opts: EdrTableOptions): ThesisTable | null {
  const interval = opts.interval ?? "sd";
  const rows = rowsOf<EdrRow>(edr).filter((r) => r.metric === opts.metric && r.stage === opts.stage);
  if (!rows.length) return null;
  const grades = distinct<string>(edr, "grade", gradeOrder).filter((g) => rows.some((r) => r.grade === g));
  const bytesOf = (r: EdrRow) => r.n_units * Number(r.unit_size.split("..")[0]);
  // Workloads in first-seen order, each with its dataset sizes from small to large: a table must say what it measured.
  const key = (r: EdrRow) => `${workloadKey(r)} · ${datasetLabel(r.n_units, r.unit_size)}`;
  const groupRows = [...new Map(rows.map((r) => [key(r), r])).values()].sort(
    (a, b) => [...new Set(rows.map(workloadKey))].indexOf(workloadKey(a)) - [...new Set(rows.map(workloadKey))].indexOf(workloadKey(b)) || bytesOf(a) - bytesOf(b),
  );
  const series = systemSeries(edr);
  const metricName = opts.metric === "edr_cluster" ? "EDR_cluster" : "EDR_replica";
  const head: HeadCell[][] = [
    [{ text: "", span: 1 }, { text: "duplicate grade", span: grades.length }],
    [{ text: "System", span: 1 }, ...grades.map((g) => ({ text: g, span: 1 }))],
  ];
  const groups = groupRows.map((first) => {
    const w = key(first);
    const inW = rows.filter((r) => key(r) === w);
    const body = series
      .filter((s) => inW.some((r) => inSeries(r, s)))
      .map((s) => [
        s.label,
        ...grades.map((g) => {
          const r = inW.find((x) => inSeries(x, s) && x.grade === g);
          return r ? formatStat(r, interval) : "";
        }),
      ]);
    const ideal = grades.map((g) => {
      const r = inW.find((x) => x.grade === g);
      return r && Number.isFinite(r.ideal) ? r.ideal.toFixed(decimals(r.ideal)) : "";
    });
    return { title: w, rows: body, footer: ["ideal (logical / unique B)", ...ideal] };
  });
  const stage = STAGE_LABELS[opts.stage] ?? opts.stage;
  return {
    name: `${opts.metric}-${opts.stage}`,
    label: `tab:${opts.metric.replace("_", "-")}-${opts.stage.replace("_", "-")}`,
    caption:
      `${metricName} after the ${stage} stage per system, duplicate grade and dataset size. ` +
      (opts.metric === "edr_cluster"
        ? "EDR_cluster = logical bytes written / growth of storage-physical bytes (L3) summed over all storage replicas. "
        : "EDR_replica = EDR_cluster × R, R = application replicas × storage replicas. ") +
      `Values: ${intervalNote(interval)}; — = no valid measurement. Last row of each group: the ideal ratio, logical / unique bytes of the dataset (manifest).` +
      leftOutCaption(opts.leftOut),
    head, stub: 1, groups,
  };
}

// ---------------------------------------------------------------- reduction per layer boundary

export interface ReductionTableOptions {
  interval?: Interval;
  /** Rows left out as invalid, named in the caption (cells.ts leftOutNote). */
  leftOut?: string;
}

/**
 * Where did the reduction happen? Rows = system × grade (grouped by workload and stage); columns:
 * the ideal ratio, n (repeats), the reduction factor at L0→L1, L1→L2, L2→L3 and the total L0→L3
 * (reduction.ts reductionTable: per-repeat factors over repeats, log scale), and the boundary the
 * where-rule names. Null if there are no stored_bytes rows.
 */
export function reductionThesisTable(red: Frame, opts: ReductionTableOptions = {}): ThesisTable | null {
  const interval = opts.interval ?? "sd";
  const rows = rowsOf<ReductionRow>(red);
  if (!rows.length) return null;
  const grades = distinct<string>(red, "grade", gradeOrder);
  const stages = distinct<string>(red, "stage", stageOrder);
  const series = systemSeries(red);
  // An "L3 volume" column only where volumes differ; one volume for every row is named in the group titles.
  const profiles = new Set(rows.map((r) => r.storage_profile ?? "")).size > 1;
  const wkey = (r: ReductionRow) => `${workloadKey(r)} · ${datasetLabel(r.n_units, r.unit_size)}${!profiles && r.storage_profile ? ` · L3 volume ${r.storage_profile}` : ""}`;
  const workloads = [...new Set(rows.map(wkey))];
  const stub = profiles ? 3 : 2;
  // Repeats per row (the most any boundary had); one n for every row goes into the group titles, not a column of "2".
  const rowKey = (r: ReductionRow) => `${wkey(r)}\u0000${r.stage}\u0000${seriesId(r)}\u0000${r.grade}`;
  const rowN = new Map<string, number>();
  for (const r of rows) rowN.set(rowKey(r), Math.max(rowN.get(rowKey(r)) ?? 0, r.n));
  const ns = new Set(rowN.values());
  const nColumn = ns.size > 1;
  const nTitle = nColumn ? "" : ` · n = ${[...ns][0]}`;
  const head: HeadCell[][] = [
    [{ text: "", span: stub + (nColumn ? 2 : 1) }, { text: "reduction factor at the layer boundary", span: BOUNDARIES.length }, { text: "", span: 1 }],
    [
      { text: "System", span: 1 }, ...(profiles ? [{ text: "L3 volume", span: 1 }] : []), { text: "Grade", span: 1 }, { text: "ideal", span: 1 }, ...(nColumn ? [{ text: "n", span: 1 }] : []),
      ...BOUNDARIES.map((b) => ({ text: b, span: 1 })), { text: "where", span: 1 },
    ],
  ];
  const groups: ThesisTable["groups"] = [];
  for (const w of workloads) {
    for (const stage of stages) {
      const inG = rows.filter((r) => wkey(r) === w && r.stage === stage);
      if (!inG.length) continue;
      const body: string[][] = [];
      for (const s of series) {
        let named = false; // the system is named once per block of its grades (booktabs style)
        for (const g of grades) {
          const cells = inG.filter((r) => inSeries(r, s) && r.grade === g);
          if (!cells.length) continue;
          const n = Math.max(...cells.map((r) => r.n));
          const ideal = cells.find((r) => Number.isFinite(r.ideal))?.ideal ?? NaN;
          const factor = (b: string) => {
            const r = cells.find((x) => x.boundary === b);
            // (n) only where a boundary has fewer repeats than the row's n.
            return r ? formatStat(r, interval, r.n > 0 && r.n !== n) : "";
          };
          body.push([
            named ? "" : s.label, ...(profiles ? [named ? "" : cells[0]!.storage_profile || "—"] : []), g, formatValue(ideal), ...(nColumn ? [String(n)] : []),
            ...BOUNDARIES.map(factor), cells[0]!.where ?? "—",
          ]);
          named = true;
        }
      }
      groups.push({ title: `${w} — ${STAGE_LABELS[stage] ?? stage}${nTitle}`, rows: body });
    }
  }
  const reasons = [...new Set(rows.filter((r) => r.excluded > 0 && r.boundary !== "L0→L3").map((r) => r.reason))];
  return {
    name: "reduction",
    label: "tab:reduction",
    caption:
      "Where the reduction happened: reduction factor at each layer boundary from the bytes the stored dataset occupies at each layer at the end of the stage, net of the empty cell — " +
      "L0→L1 = logical bytes written / DB-logical, L1→L2 = DB-logical / DB-physical, L2→L3 = DB-physical / storage-physical per storage replica, L0→L3 = the total (EDR per replica). " +
      "Factor > 1: reduction, < 1: inflation (overhead). ideal = logical / unique bytes of the dataset (manifest). " +
      `Factors are computed per repeat; values: ${intervalNote(interval)}; (n) in a cell: fewer repeats had a factor at that boundary; — = no factor. ` +
      `where = the boundary with the largest factor if it is ≥ ${WHERE_THRESHOLD} (else "nowhere").` +
      (reasons.length ? ` No factor: ${reasons.slice(0, 3).join("; ")}${reasons.length > 3 ? `; … ${reasons.length - 3} more` : ""}.` : "") +
      leftOutCaption(opts.leftOut),
    head, stub, groups,
  };
}

// ---------------------------------------------------------------- latency

interface LatencyRowIn extends LatencyCellRow {
  system: string;
  variant: string;
  payload: string;
  granularity: string;
  placement: string;
  unit_size: string;
  n_units: number;
  stage: string;
}

/** The per-repeat p99 column: geometric mean [95 % CI on the log scale] over repeats. */
function perRepeatP99(r: LatencyRowIn): string {
  if (!r.p99_rep_n || !Number.isFinite(r.p99_rep_center)) return "—";
  const d = decimals(r.p99_rep_center);
  if (r.p99_rep_n < 2 || !Number.isFinite(r.p99_rep_lower)) return r.p99_rep_center.toFixed(d);
  return `${r.p99_rep_center.toFixed(d)} ${intervalText(r.p99_rep_center, r.p99_rep_lower, r.p99_rep_upper)}`;
}

/** " Samples of N cell × stages left out: …" for a latency caption, or "". */
function excludedCaption(rows: LatencyRowIn[]): string {
  const excluded = rows.reduce((a, r) => a + (r.excluded ?? 0), 0);
  return excluded ? ` Samples of ${excluded} cell × stage${excluded === 1 ? "" : "s"} left out: latency rows marked invalid.` : "";
}

/** The rows of a latency table: one per system × operation, grouped by workload, the system named once per block. */
function latencyGroups(lat: Frame, cells: (r: LatencyRowIn) => string[]): { title: string; rows: string[][] }[] {
  const rows = rowsOf<LatencyRowIn>(lat);
  const series = systemSeries(lat);
  const stages = distinct<string>(lat, "stage", (s) => ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"].indexOf(s));
  const wkey = (r: LatencyRowIn) => `${workloadKey(r)} · ${datasetLabel(r.n_units, r.unit_size)}`;
  return [...new Set(rows.map(wkey))].map((w) => {
    const inW = rows.filter((r) => wkey(r) === w);
    const body: string[][] = [];
    for (const s of series) {
      let named = false; // booktabs style
      for (const st of stages) {
        const r = inW.find((x) => inSeries(x, s) && x.stage === st);
        if (!r) continue;
        body.push([named ? "" : s.label, OPERATION_LABELS[st] ?? st, String(r.repeats), ...cells(r)]);
        named = true;
      }
    }
    return { title: w, rows: body };
  });
}

/**
 * Rows = system × operation (grouped by workload); columns: n (repeats), ops, then p50, p90, p95,
 * p99, max, mean in ms of the raw samples POOLED over repeats (latencyPercentiles — the numbers
 * of figure (c) and the summary). The per-repeat p99 is a table of its own (latencyRepeatsThesisTable):
 * as a twelfth column it made this table wider than a text width whenever latencies had 4 decimals.
 */
export function latencyThesisTable(lat: Frame, opts: { interval?: Interval; leftOut?: string } = {}): ThesisTable | null {
  const rows = rowsOf<LatencyRowIn>(lat);
  if (!rows.length) return null;
  const head: HeadCell[][] = [
    [{ text: "", span: 4 }, { text: "latency (ms), pooled over repeats", span: LATENCY_STATS.length }],
    [{ text: "System", span: 1 }, { text: "Operation", span: 1 }, { text: "n", span: 1 }, { text: "ops", span: 1 }, ...LATENCY_STATS.map((s) => ({ text: s, span: 1 }))],
  ];
  const groups = latencyGroups(lat, (r) => [String(r.count), ...LATENCY_STATS.map((stat) => formatValue(r[stat]))]);
  const histograms = rows.some((r) => r.source === "histograms");
  return {
    name: "latency",
    label: "tab:latency",
    caption:
      "Latency per system and operation in milliseconds. p50, p90, p95, p99: type-7 quantiles (linear interpolation between order statistics, " +
      "Hyndman & Fan 1996; R's default, numpy \"linear\") of the raw per-operation samples pooled over all n repeats and the duplicate grades; max and mean of the same samples " +
      "(the same numbers as the latency figure and the run summary; percentiles are never averaged over repeats). " +
      (histograms ? "Where a bundle has no raw samples, the merged HdrHistograms (3 significant digits) stand in. " : "") +
      "n = repeats, ops = operations measured over all repeats; the spread of the p99 over repeats is in the p99 latency table (latency_p99_repeats)." +
      excludedCaption(rows) +
      leftOutCaption(opts.leftOut),
    head, stub: 2, groups,
  };
}

/**
 * The only per-repeat latency statistic, labelled as such: the p99 of each repeat as geometric mean
 * [95 % CI, log scale] over repeats, next to the pooled p99 of the latency table for comparison.
 */
export function latencyRepeatsThesisTable(lat: Frame, opts: { leftOut?: string } = {}): ThesisTable | null {
  if (!rowsOf<LatencyRowIn>(lat).some((r) => r.p99_rep_n > 0)) return null;
  const head: HeadCell[][] = [
    [{ text: "", span: 3 }, { text: "p99 latency (ms)", span: 2 }],
    [{ text: "System", span: 1 }, { text: "Operation", span: 1 }, { text: "n", span: 1 }, { text: "pooled", span: 1 }, { text: "per repeat: GM [95 % CI]", span: 1 }],
  ];
  return {
    name: "latency_p99_repeats",
    label: "tab:latency-p99-repeats",
    caption:
      "p99 latency per system and operation in milliseconds. Pooled: the type-7 p99 of the raw samples pooled over all n repeats (the latency table's p99). " +
      "Per repeat: the p99 of each repeat, as geometric mean over repeats with its two-sided 95 % Student-t interval computed on the log scale " +
      "(back-transformed, never negative)." + excludedCaption(rowsOf<LatencyRowIn>(lat)) + leftOutCaption(opts.leftOut),
    head, stub: 2, groups: latencyGroups(lat, (r) => [formatValue(r.p99), perRepeatP99(r)]),
  };
}

// ---------------------------------------------------------------- rendering


/**
 * Lines stacked in one cell (a nested tabular: no package needed); [t] hangs below the row's
 * baseline, [b] rises above it. Each line is braced: "\\ [0.85, 0.89]" would read the interval as
 * the line break's optional skip.
 */
function stack(lines: string[], align: "l" | "r" | "c", pos: "t" | "b" = "t"): string {
  return lines.length < 2 ? lines.join("") : `\\begin{tabular}[${pos}]{@{}${align}@{}}${lines.map((l) => `{${l}}`).join(" \\\\ ")}\\end{tabular}`;
}

/**
 * The lines of a cell as LaTeX prints it (plain text, before escaping). A value's interval or SD
 * goes on a second line under it, so a column is as wide as "[0.85, 0.89]" rather than
 * "0.869 [0.85, 0.89] (3)"; a row label's parenthetical too ("insert" / "(per unit)"); a value
 * column's header breaks at its middle space ("fixed 4 KiB" → fixed / 4 KiB). Markdown keeps one line.
 */
function cellLines(cell: string, kind: "value" | "stub" | "head"): string[] {
  if (kind === "value") {
    const m = /^(\S+) (\[[^\]]*\]|± \S+)( \(\d+\))?$/.exec(cell);
    return m ? [`${m[1]}${m[3] ?? ""}`, m[2]!] : [cell];
  }
  if (kind === "stub") {
    const m = /^(.+) (\(.+\))$/.exec(cell);
    return m ? [m[1]!, m[2]!] : [cell];
  }
  const spaces = [...cell.matchAll(/ /g)].map((m) => m.index!);
  if (cell.length < 8 || !spaces.length) return [cell];
  const at = spaces.reduce((a, b) => (Math.abs(b - cell.length / 2) < Math.abs(a - cell.length / 2) ? b : a));
  return [cell.slice(0, at), cell.slice(at + 1)];
}

function latexCell(cell: string, kind: "value" | "stub" | "head"): string {
  const lines = cellLines(cell, kind).map(latexEscape);
  return kind === "head" ? stack(lines, "c", "b") : stack(lines, kind === "value" ? "r" : "l");
}

// ---------------------------------------------------------------- fitting a text width

/** Font sizes a table may use, largest first, in pt at an 11 pt class (\small 10, \footnotesize 9, \scriptsize 8). */
const FONT_PT = { small: 10, footnotesize: 9, scriptsize: 8 } as const;
type FontSize = keyof typeof FONT_PT;

/** Text width and height of an 11 pt A4 article in pt: the page a table must fit, upright or turned (landscape). */
export const TEXT_WIDTH_PT = 360;
export const TEXT_HEIGHT_PT = 592;

// Advance widths of Computer Modern / EC Roman in em (cmr10 metrics; the T1 underscore is 0.77 em), for estimating a column's width.
const EM: Record<string, number> = {
  ".": 0.278, ",": 0.278, ":": 0.278, ";": 0.278, " ": 0.333, "[": 0.278, "]": 0.278, "(": 0.389, ")": 0.389, "-": 0.333, "–": 0.5, "—": 1,
  "±": 0.778, "×": 0.778, "→": 1, "·": 0.278, "%": 0.833, "_": 0.77, "/": 0.5, "'": 0.278, "\"": 0.5, "≥": 0.778, "≤": 0.778, "<": 0.778, ">": 0.778,
  a: 0.5, b: 0.556, c: 0.444, d: 0.556, e: 0.444, f: 0.306, g: 0.5, h: 0.556, i: 0.278, j: 0.306, k: 0.528, l: 0.278, m: 0.833, n: 0.556,
  o: 0.5, p: 0.556, q: 0.528, r: 0.392, s: 0.394, t: 0.389, u: 0.556, v: 0.528, w: 0.722, x: 0.528, y: 0.528, z: 0.444, I: 0.361, M: 0.917, W: 1.028,
};

// Computer Modern's smaller design sizes are relatively wider (cmr8 digits 0.531 em, cmr9 0.514 em,
// cmr10 0.5 em); its italic (group titles) about 6 % wider than its roman.
const DESIGN_SIZE_FACTOR: Record<number, number> = { 10: 1, 9: 1.028, 8: 1.062 };
const ITALIC_FACTOR = 1.06;

/** Estimated printed width of one line of text at a font size, in pt (digits 0.5 em, capitals 0.75 em). */
function textWidthPt(text: string, pt: number, italic = false): number {
  let em = 0;
  for (const c of text) em += EM[c] ?? (/\d/.test(c) ? 0.5 : /[A-Z]/.test(c) ? 0.75 : 0.6);
  return em * pt * (DESIGN_SIZE_FACTOR[pt] ?? 1) * (italic ? ITALIC_FACTOR : 1);
}

/** Column gap (each side) at a font size: narrow below \small, so that the wide tables fit. */
function tabcolsep(size: FontSize): number {
  return size === "small" ? 3 : 2;
}

/**
 * The estimated natural width of a table set at a font size, in pt: its columns, and headers that
 * span columns. Group titles do not count: a title wider than the columns wraps (titleLines).
 */
export function estimatedWidthPt(t: ThesisTable, size: FontSize): number {
  const pt = FONT_PT[size];
  const gap = 2 * tabcolsep(size);
  const last = t.head[t.head.length - 1]!;
  const ncols = last.reduce((a, h) => a + h.span, 0);
  const width = new Array<number>(ncols).fill(0);
  const widen = (col: number, lines: string[]) => (width[col] = Math.max(width[col]!, ...lines.map((l) => textWidthPt(l, pt))));
  last.forEach((h, i) => widen(i, cellLines(h.text, i >= t.stub ? "head" : "stub")));
  for (const g of t.groups) {
    for (const r of g.rows) r.forEach((c, k) => widen(k, cellLines(c, k < t.stub ? "stub" : "value")));
    g.footer?.forEach((c, k) => widen(k, [c]));
  }
  const columns = width.reduce((a, w) => a + w + gap, 0);
  // A spanning header wider than its columns widens the table.
  const spans: number[] = [];
  for (const row of t.head.slice(0, -1)) {
    let col = 0;
    for (const h of row) {
      const under = width.slice(col, col + h.span).reduce((a, w) => a + w + gap, 0);
      spans.push(columns - under + textWidthPt(h.text, pt) + gap);
      col += h.span;
    }
  }
  return Math.max(columns, ...spans);
}

/** A group title in lines no wider than the table (broken after a " · " or before a " — "), each line ≥ one part. */
function titleLines(title: string, size: FontSize, widthPt: number): string[] {
  const parts = title.split(/(?<= ·) | (?=— )/);
  const lines: string[] = [];
  for (const p of parts) {
    const cur = lines.length ? `${lines[lines.length - 1]} ${p}` : p;
    if (lines.length && textWidthPt(cur, FONT_PT[size], true) * 1.04 > widthPt) lines.push(p);
    else if (lines.length) lines[lines.length - 1] = cur;
    else lines.push(p);
  }
  return lines;
}

/**
 * Where and how large a table is set: the largest font size not above its own that fits the text
 * width upright; else turned (landscape) at the largest size that fits the text height. The estimate
 * keeps a 4 % margin for the metrics it rounds.
 */
export function tableFit(t: ThesisTable): { size: FontSize; landscape: boolean } {
  const sizes = (Object.keys(FONT_PT) as FontSize[]).filter((s) => FONT_PT[s] <= FONT_PT[t.fontSize ?? "small"]);
  const fits = (s: FontSize, room: number) => estimatedWidthPt(t, s) * 1.04 <= room;
  const upright = sizes.find((s) => fits(s, TEXT_WIDTH_PT));
  if (upright) return { size: upright, landscape: false };
  return { size: sizes.find((s) => fits(s, TEXT_HEIGHT_PT)) ?? "scriptsize", landscape: true };
}

/** A booktabs longtable (needs \usepackage{booktabs,longtable}); numeric columns right-aligned. */
export function toLatex(t: ThesisTable): string {
  const ncols = t.head[t.head.length - 1]!.reduce((a, h) => a + h.span, 0);
  const align = "l".repeat(t.stub) + "r".repeat(ncols - t.stub);
  // A longtable, not a float: the main job's latency, reduction and potential tables (five payloads) are taller
  // than a page, and a table float that is taller stops at the page's bottom edge ("Float too large for page").
  // The header repeats on every page; the caption sits at the table's own size (one group sets both).
  // The size is chosen from the table's own content (tableFit): what a run measured decides how wide its numbers are.
  const fit = tableFit(t);
  const lines: string[] = [
    "% generated by dedup-lab; needs \\usepackage{booktabs,longtable,pdflscape}",
    ...(fit.landscape ? ["% wider than an 11 pt A4 text width even in \\scriptsize: set on turned pages"] : []),
    fit.landscape ? "\\begin{landscape}" : "\\begingroup",
    `\\${fit.size}`,
    `\\setlength{\\tabcolsep}{${tabcolsep(fit.size)}pt}`,
    "\\setlength{\\LTcapwidth}{\\linewidth}",
    `\\begin{longtable}{${align}}`,
    `  \\caption{${latexEscape(t.caption)}}\\label{${t.label}} \\\\`,
  ];
  const head: string[] = ["    \\toprule"];
  t.head.forEach((row, i) => {
    let col = 0;
    const cells = row.map((h) => {
      const value = col >= t.stub && i === t.head.length - 1;
      col += h.span;
      return h.span > 1 ? `\\multicolumn{${h.span}}{c}{${latexEscape(h.text)}}` : latexCell(h.text, value ? "head" : "stub");
    });
    head.push(`    ${cells.join(" & ")} \\\\`);
    if (i < t.head.length - 1) {
      let col = 1;
      const rules: string[] = [];
      for (const h of row) {
        if (h.text && h.span >= 1) rules.push(`\\cmidrule(lr){${col}-${col + h.span - 1}}`);
        col += h.span;
      }
      if (rules.length) head.push(`    ${rules.join(" ")}`);
    }
  });
  head.push("    \\midrule");
  lines.push(
    ...head,
    "  \\endfirsthead",
    `  \\multicolumn{${ncols}}{l}{\\textit{Table \\thetable, continued}} \\\\`,
    ...head,
    "  \\endhead",
    "    \\bottomrule",
    "  \\endlastfoot",
    `    \\midrule \\multicolumn{${ncols}}{r}{\\textit{continued on the next page}} \\\\`,
    "  \\endfoot",
  );
  t.groups.forEach((g, gi) => {
    if (gi > 0) lines.push("    \\midrule");
    if (g.title) {
      // A long title (workload · dataset · volume — stage) wraps instead of widening the last column.
      const title = titleLines(g.title, fit.size, estimatedWidthPt(t, fit.size) - 2 * tabcolsep(fit.size)).map((l) => `\\textit{${latexEscape(l)}}`);
      lines.push(`    \\multicolumn{${ncols}}{l}{${title.length > 1 ? `\\begin{tabular}[t]{@{}l@{}}${title.join(" \\\\ ")}\\end{tabular}` : title[0]}} \\\\`);
    }
    for (const r of g.rows) lines.push(`    ${r.map((c, k) => latexCell(c, k < t.stub ? "stub" : "value")).join(" & ")} \\\\`);
    if (g.footer) {
      lines.push("    \\addlinespace");
      lines.push(`    ${g.footer.map((c) => `\\textit{${latexEscape(c)}}`).join(" & ")} \\\\`);
    }
  });
  lines.push("\\end{longtable}", fit.landscape ? "\\end{landscape}" : "\\endgroup", "");
  return lines.join("\n");
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|");
}

/** A GitHub-flavoured Markdown table, caption above; multi-row headers are flattened. */
export function toMarkdown(t: ThesisTable): string {
  const last = t.head[t.head.length - 1]!;
  const names = last.map((h) => h.text);
  // Prefix column names with the spanning header above them (e.g. "dataset 20 × 4 KiB U50").
  for (const row of t.head.slice(0, -1)) {
    let col = 0;
    for (const h of row) {
      for (let k = 0; k < h.span; k++) if (h.text && col + k < names.length) names[col + k] = `${h.text}: ${names[col + k]}`;
      col += h.span;
    }
  }
  const out = [`**${mdEscape(t.caption)}**`, "", `| ${names.map(mdEscape).join(" | ")} |`, `| ${names.map((_, i) => (i < t.stub ? ":--" : "--:")).join(" | ")} |`];
  for (const g of t.groups) {
    if (g.title) out.push(`| *${mdEscape(g.title)}* |${" |".repeat(names.length - 1)}`);
    for (const r of g.rows) out.push(`| ${r.map(mdEscape).join(" | ")} |`);
    if (g.footer) out.push(`| ${g.footer.map((c) => (c ? `*${mdEscape(c)}*` : "")).join(" | ")} |`);
  }
  return out.join("\n") + "\n";
}

/** Write `<dir>/<name>.tex` and `<dir>/<name>.md` per table; returns the paths written. */
export async function writeTables(tables: ThesisTable[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const t of tables) {
    for (const [ext, text] of [["tex", toLatex(t)], ["md", toMarkdown(t)]] as const) {
      const path = join(dir, `${t.name}.${ext}`);
      await writeFile(path, text);
      paths.push(path);
    }
  }
  return paths;
}

// ---------------------------------------------------------------- measured vs potential
// (imports of this section kept here: the shared file is only appended to)
import { FIGURE_POTENTIALS, POTENTIAL_QUANTITIES, type PotentialRow } from "./potential.js";

export interface PotentialTableOptions {
  interval?: Interval;
  leftOut?: string;
}

/**
 * Measured vs potential: rows = system × grade (grouped by workload and stage); columns: n, the
 * measured reduction factor at L0→L1, L1→L2, L2→L3 and the total L0→L3 (reduction.ts), then the
 * dataset's potentials (potential.ts): unit ideal, fixed 4 KiB, FastCDC 8 KiB, zstd-3 of the
 * distinct data, dedup+zstd-3. Null when the bundles have no potential rows.
 */
export function potentialThesisTable(pf: Frame, opts: PotentialTableOptions = {}): ThesisTable | null {
  const interval = opts.interval ?? "sd";
  const rows = rowsOf<PotentialRow>(pf);
  const measured = rows.filter((r) => r.kind === "measured");
  if (!measured.length || !rows.some((r) => r.kind === "potential")) return null;
  const grades = distinct<string>(pf, "grade", gradeOrder);
  const stages = [...new Set(measured.map((r) => r.stage))].sort((a, b) => stageOrder(a) - stageOrder(b));
  const series = systemSeries(pf);
  const volumes = new Set(measured.map((r) => r.storage_profile ?? ""));
  const profiles = volumes.size > 1;
  const oneVolume = !profiles && [...volumes][0] ? ` · L3 volume ${[...volumes][0]}` : "";
  const labelOf = (m: string) => POTENTIAL_QUANTITIES.find((q) => q.metric === m)?.label ?? m;
  const wkey = (r: PotentialRow) => `${workloadKey(r as unknown as ReductionRow)} · ${datasetLabel(r.n_units, r.unit_size)}`;
  const workloads = [...new Set(measured.map(wkey))];
  const stub = profiles ? 3 : 2;
  const head: HeadCell[][] = [
    // The measured total only: the factor per boundary is the reduction table's (13 columns did not fit a page).
    [{ text: "", span: stub + 1 }, { text: "measured", span: 1 }, { text: "potential of the dataset", span: FIGURE_POTENTIALS.length }],
    [
      { text: "System", span: 1 }, ...(profiles ? [{ text: "L3 volume", span: 1 }] : []), { text: "Grade", span: 1 }, { text: "n", span: 1 },
      { text: "L0→L3", span: 1 }, ...FIGURE_POTENTIALS.map((m) => ({ text: labelOf(m), span: 1 })),
    ],
  ];
  const groups: ThesisTable["groups"] = [];
  for (const w of workloads) {
    for (const stage of stages) {
      const inG = rows.filter((r) => wkey(r) === w && r.stage === stage);
      if (!inG.some((r) => r.kind === "measured")) continue;
      const body: string[][] = [];
      for (const s of series) {
        let named = false;
        for (const g of grades) {
          const cells = inG.filter((r) => inSeries(r, s) && r.grade === g);
          const meas = cells.filter((r) => r.kind === "measured");
          if (!meas.length) continue;
          const n = Math.max(...meas.map((r) => r.n));
          const factor = (b: string) => {
            const r = meas.find((x) => x.quantity === b);
            return r ? formatStat(r, interval, r.n > 0 && r.n !== n) : "";
          };
          const pot = (m: string) => {
            const r = cells.find((x) => x.kind === "potential" && x.quantity === m);
            return r ? formatValue(r.center) : "—";
          };
          body.push([
            named ? "" : s.label, ...(profiles ? [named ? "" : meas[0]!.storage_profile || "—"] : []), g, String(n),
            factor("L0→L3"), ...FIGURE_POTENTIALS.map(pot),
          ]);
          named = true;
        }
      }
      if (body.length) groups.push({ title: `${w}${oneVolume} — ${STAGE_LABELS[stage] ?? stage}`, rows: body });
    }
  }
  return {
    name: "potential",
    label: "tab:potential",
    caption:
      "Measured reduction vs the dataset's potential. Measured: the total reduction factor L0→L3 (logical bytes written / storage-physical bytes per replica of the stored dataset; " +
      "the factor at each layer boundary is in the reduction table), per repeat; values: " + intervalNote(interval) + ". " +
      "Potential (from the dataset's bytes, once per dataset, outside every clock): unit = logical / distinct units (the ideal ratio); fixed 4 KiB = logical / distinct 4 KiB blocks; " +
      "CDC 8 KiB = logical / distinct FastCDC 2020 chunks (average 8 KiB, min 2 KiB, max 32 KiB, normalization 1), each unit chunked on its own; zstd-3 = distinct data / its zstd level-3 size in independent 128 KiB segments; " +
      "dedup+zstd-3 = logical / zstd-3 size of the distinct units. — = no value." + leftOutCaption(opts.leftOut),
    head, stub, groups,
  };
}
