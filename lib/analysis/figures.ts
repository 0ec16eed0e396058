// The thesis figures (a)–(e) as Plotly specs. Each builder takes frames of ONE workload
// slice (see slices.ts) and returns plain JSON: shown interactively in notebooks,
// exported to SVG/PDF/PNG by render.ts. Bars of EDR, sizes and throughput are the geometric
// mean over repeats and their error bars the 95 % Student-t interval on the log scale
// (lib/metrics/stats.ts aggregate, positive quantities: never negative), drawn only where
// n ≥ 2. Latency comes from the one statistics path (cells.ts latencyCells). Rows marked
// invalid are left out upstream (cells.ts) and named in the caption (`leftOut`).
import { UsageError } from "../errors.js";
import { EDR_METRICS, INSERT_STAGES, type EdrMetric, type EdrRow } from "./edr.js";
import {
  axisIds, axisStyle, baseLayout, byteUnit, figureHeight, fmt3, FONT_SIZE, gridDomains, gridTop, legendHeight, MARGIN, PANEL_TITLE_PX, panelColumns, panelTitle, printSize,
  SMALL_SIZE, spansDecades, textPx, TICK_SIZE, valueAxis, type FigureSpec, type PrintSize,
} from "./figure-style.js";
import { distinct, gradeOrder, rowsOf, STAGE_LABELS, stageOrder, type Frame } from "./frames.js";
import { LATENCY_STATS, OPERATION_LABELS } from "./latency.js";
import { LAYER_STYLE, LAYER_SYMBOLS, outlineFor, PERCENTILE_SYMBOLS, systemColor, VARIANT_DASHES, VARIANT_PATTERNS } from "./palette.js";
import { seriesId, slicesOf, systemRank, systemSeries, type Slice, type SystemSeries } from "./slices.js";
import { BOUNDARIES, WHERE_THRESHOLD, type ReductionRow } from "./reduction.js";
import { LAYER_LABELS, LAYERS, type SizeRow } from "./sizes.js";
import { THROUGHPUT_METRICS, type ThroughputRow } from "./throughput.js";
import type { TimeseriesPoint } from "./timeseries.js";

type Trace = Record<string, unknown>;

type Margin = { l: number; r: number; t: number; b: number };
const marginOf = (layout: Record<string, unknown>) => layout.margin as Margin;

/** Vertical gap between panel rows as a paper fraction: `px` of the plot area's height. */
const gapFrac = (px: number, height: number, m: Margin) => px / Math.max(height - m.t - m.b, 100);

function oneSlice(f: Frame, what: string, given?: Slice): Slice {
  if (given) return given;
  const slices = slicesOf(f);
  if (slices.length !== 1) {
    throw new UsageError(`${what} needs the rows of one workload slice, got ${slices.length}`, "filter with inSlice(frame, slice) or use thesisFigures()");
  }
  return slices[0]!;
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);
const seriesKey = seriesId;

function barStyle(s: SystemSeries): Record<string, unknown> {
  const color = systemColor(s.system);
  const shape = VARIANT_PATTERNS[s.variantIndex % VARIANT_PATTERNS.length];
  // Patterns only where a system appears with several variants (they cost PDF size).
  return { color, line: { color: outlineFor(color), width: 1 }, ...(shape ? { pattern: { shape, fillmode: "overlay", fgcolor: "#ffffff", size: 8, solidity: 0.3 } } : {}) };
}

/** A value over repeats: the centre of its interval and the interval (repeats.ts). */
interface RepeatPoint { n: number; center: number; lower: number; upper: number; scale?: string }

const EMPTY_POINT = { n: 0, mean: NaN, sd: NaN, ci95: NaN, center: NaN, lower: NaN, upper: NaN, scale: "" };

const hasInterval = (r: RepeatPoint) => r.n >= 2 && Number.isFinite(r.lower) && Number.isFinite(r.upper) && Number.isFinite(r.center);

/** Asymmetric error bars from [lower, upper] around the centre (÷ div for the axis unit). */
function errorBars(rows: RepeatPoint[], div = 1): Record<string, unknown> {
  const any = rows.some(hasInterval);
  return {
    type: "data", symmetric: false, visible: any, color: "#222", thickness: 1.3, width: 4,
    array: rows.map((r) => (hasInterval(r) ? (r.upper - r.center) / div : 0)),
    arrayminus: rows.map((r) => (hasInterval(r) ? (r.center - r.lower) / div : 0)),
  };
}

function repeatsNote(rows: { n: number; scale?: string }[]): string {
  const valid = rows.map((r) => r.n).filter((n) => n > 0);
  if (!valid.length) return "no valid repeats";
  const lo = Math.min(...valid);
  const hi = Math.max(...valid);
  const n = lo === hi ? `n = ${lo}` : `n = ${lo}–${hi}`;
  if (hi < 2) return `${n} repeat (no error bars)`;
  const scales = new Set(rows.filter((r) => r.n >= 2).map((r) => r.scale));
  const how = [
    ...(scales.has("log") ? ["on the log scale around the geometric mean (back-transformed, never negative)"] : []),
    ...(scales.has("clamped") ? ["clamped at 0 where a value is 0"] : []),
    ...(scales.has("linear") ? ["linear where values can be negative"] : []),
  ].join("; ");
  return `geometric mean over ${n} repeats; error bars: 95 % Student-t CI ${how}`;
}

/** " Left out as invalid: …." for a caption, or "". */
function leftOutCaption(note?: string): string {
  return note ? ` ${note.charAt(0).toUpperCase()}${note.slice(1)}.` : "";
}

/**
 * " No factor — reason A: place 1, place 2, … 5 more; reason B: place 3." (with the leading space) or
 * "" when none: grouped by reason, so a reason shared by many cells (an instance-wide layer) is said
 * once and a caption stays within its page.
 */
export function noFactorNote(items: { where: string; reason: string }[], maxReasons = 3, maxPlaces = 4): string {
  if (!items.length) return "";
  const byReason = new Map<string, Set<string>>();
  for (const { where, reason } of items) {
    const r = reason || "no valid value";
    byReason.set(r, (byReason.get(r) ?? new Set<string>()).add(where));
  }
  const groups = [...byReason].sort((a, b) => b[1].size - a[1].size);
  const shown = groups.slice(0, maxReasons).map(([reason, places]) => {
    const p = [...places];
    return `${reason}: ${p.slice(0, maxPlaces).join(", ")}${p.length > maxPlaces ? `, … ${p.length - maxPlaces} more` : ""}`;
  });
  return ` No factor — ${shown.join("; ")}${groups.length > maxReasons ? `; … ${groups.length - maxReasons} more reasons` : ""}.`;
}

// ---------------------------------------------------------------- (a) EDR

/** Every builder accepts the slice it draws (for names and captions); by default it is read from the rows. */
export interface SliceOption {
  slice?: Slice;
  /** The printed size (printSize(): text width by default); fonts are pt at that size. */
  size?: PrintSize;
  /** Rows left out as invalid, named in the caption (cells.ts leftOutNote). */
  leftOut?: string;
}

export interface EdrFigureOptions extends SliceOption {
  metric?: EdrMetric;
}

/** (a) EDR by system × grade, grouped bars, ideal ratio marked, error bars over repeats. */
export function edrFigure(edr: Frame, opts: EdrFigureOptions = {}): FigureSpec {
  const metric = opts.metric ?? "edr_cluster";
  if (!(EDR_METRICS as readonly string[]).includes(metric)) throw new UsageError(`unknown EDR metric "${metric}"`, `use ${EDR_METRICS.join(" or ")}`);
  const slice = oneSlice(edr, "edrFigure", opts.slice);
  const rows = rowsOf<EdrRow>(edr).filter((r) => r.metric === metric);
  const stages = INSERT_STAGES.filter((s) => rows.some((r) => r.stage === s));
  const grades = distinct<string>(edr, "grade", gradeOrder);
  const series = systemSeries(edr);
  const size = opts.size ?? printSize();
  const width = size.width;
  const cols = panelColumns(stages.length, size, 200);
  const panelRows = Math.ceil(Math.max(stages.length, 1) / cols);
  const layout = baseLayout(
    `Effective data reduction by system and duplicate grade`,
    slice.label,
    legendHeight([...series.map((s) => s.label), "ideal ratio (logical / unique B)"], size),
    size.width,
  );
  const m = marginOf(layout);
  const height = figureHeight(size, m.t + m.b + panelRows * 200 + (panelRows - 1) * 50);
  const domains = gridDomains({ rows: panelRows, cols, xgap: 0.08, ygap: gapFrac(50, height, m), top: gridTop(height, m) });
  const data: Trace[] = [];
  const annotations: Record<string, unknown>[] = [];
  const shapes: Record<string, unknown>[] = [];
  const allValues: number[] = [];
  const measured: number[] = [];
  const idealsByStage: number[][] = [];
  const missing: string[] = [];
  let naShown = false;
  stages.forEach((stage, i) => {
    const ax = axisIds(i);
    const d = domains[i]!;
    for (const s of series) {
      const byGrade = grades.map((g) => rows.find((r) => r.stage === stage && r.grade === g && seriesKey(r) === seriesKey(s)));
      const present = byGrade.map((r) => r ?? { ...EMPTY_POINT, reason: "" });
      present.forEach((r, gi) => {
        if (r.n === 0 && byGrade[gi]) missing.push(`${s.label} ${grades[gi]} ${STAGE_LABELS[stage]}: ${r.reason || "no valid value"}`);
        if (Number.isFinite(r.center)) measured.push(hasInterval(r) ? r.upper : r.center);
      });
      // A cell that was measured but has no valid value gets "n/a" where its bar would stand: an absent bar
      // must not read as an EDR too small to see.
      const na = present.map((r, gi) => byGrade[gi] !== undefined && !Number.isFinite(r.center));
      if (na.some(Boolean)) naShown = true;
      data.push({
        type: "bar", name: s.label, legendgroup: s.label, showlegend: i === 0, xaxis: ax.x, yaxis: ax.y,
        x: grades, y: present.map((r, gi) => (na[gi] ? 0 : finite(r.center))), marker: barStyle(s), error_y: errorBars(present),
        text: na.map((v) => (v ? "n/a" : "")), textposition: "outside", textangle: -90, cliponaxis: false, textfont: { size: SMALL_SIZE, color: "#000" },
        customdata: present.map((r) => [r.n, fmt3(r.sd), fmt3(r.lower), fmt3(r.upper)]),
        hovertemplate: na.map((v) => (v ? `${s.label} %{x}<br>no valid value<extra></extra>` : `${s.label} %{x}<br>geometric mean %{y:.3f}<br>n = %{customdata[0]}, SD %{customdata[1]}, 95 % CI [%{customdata[2]}, %{customdata[3]}]<extra></extra>`)),
      });
    }
    const ideal = grades.map((g) => rows.find((r) => r.stage === stage && r.grade === g)?.ideal ?? NaN);
    idealsByStage.push(ideal);
    const groupPx = ((d.x[1] - d.x[0]) * (width - m.l - m.r)) / Math.max(grades.length, 1);
    data.push({
      type: "scatter", mode: "markers", name: "ideal ratio (logical / unique B)", legendgroup: "ideal", showlegend: i === 0,
      xaxis: ax.x, yaxis: ax.y, x: grades, y: ideal.map(finite), cliponaxis: false, meta: "ideal",
      marker: { symbol: "line-ew", size: Math.max(10, Math.round(groupPx * 0.7)), color: "#000", line: { color: "#000", width: 2 } },
      hovertemplate: "ideal ratio %{y:.3f}<extra></extra>",
    });
    // EDR = 1: no reduction (below: the system stores more than was written).
    shapes.push({ type: "line", xref: `${ax.x} domain`, yref: ax.y, x0: 0, x1: 1, y0: 1, y1: 1, line: { color: "#777", width: 1.2, dash: "dot" }, layer: "below" });
    layout[ax.xaxis] = axisStyle({ type: "category", categoryorder: "array", categoryarray: grades, domain: d.x, anchor: ax.y, title: { text: "duplicate grade", standoff: 6 } });
    annotations.push(panelTitle(STAGE_LABELS[stage] ?? stage, d));
  });
  const label = metric === "edr_cluster" ? "EDR<sub>cluster</sub>" : "EDR<sub>replica</sub>";
  // The axis is scaled to the measured values. An ideal ratio far above them (e.g. 10× over
  // measured ≈ 1×) would squash every bar to the bottom: it is then written above its grade as a
  // labelled arrow instead of a marker off the scale.
  const ideals = idealsByStage.flat().filter(Number.isFinite);
  const dataTop = Math.max(1, ...measured.filter(Number.isFinite));
  const idealTop = Math.max(0, ...ideals);
  const top = idealTop > 2.5 * dataTop ? dataTop * 1.3 : Math.max(dataTop, idealTop) * 1.1;
  allValues.push(...measured, ...ideals.filter((v) => v <= top));
  let offScale = false;
  stages.forEach((stage, i) => {
    const ax = axisIds(i);
    const trace = data.find((t) => t.meta === "ideal" && t.xaxis === ax.x);
    if (trace) trace.y = idealsByStage[i]!.map((v) => (Number.isFinite(v) && v <= top ? v : null));
    idealsByStage[i]!.forEach((v, gi) => {
      if (!Number.isFinite(v) || v <= top) return;
      offScale = true;
      annotations.push({ xref: ax.x, yref: ax.y, x: grades[gi], y: top, yanchor: "top", showarrow: false, text: `ideal ${fmt3(v)}× ↑`, font: { size: SMALL_SIZE, color: "#000" } });
    });
    void stage;
    // Linear from 0: bars on a log axis would exaggerate small EDRs.
    layout[ax.yaxis] = valueAxis(allValues, i % cols === 0 ? `${label} (logical / ΔL3)` : "", { log: false, extra: { domain: domains[i]!.y, anchor: ax.x, matches: i === 0 ? undefined : "y", range: [0, top], autorange: false } });
  });
  Object.assign(layout, { annotations, shapes });
  return {
    name: `${metric.replace("_", "-")}${slice.suffix ? `-${slice.suffix}` : ""}`,
    title: `${metric === "edr_cluster" ? "EDR_cluster" : "EDR_replica"} by system and grade`,
    caption:
      `${metric === "edr_cluster" ? "EDR_cluster = logical bytes written / growth of storage-physical bytes (L3, summed over storage replicas)" : "EDR_replica = EDR_cluster × R (application × storage replicas)"} ` +
      `per insert stage; bars: ${repeatsNote(rows)}; black bars: ideal ratio, logical / unique bytes of the dataset (manifest)${offScale ? "; an ideal far above the measured values is written at the top of the axis with ↑" : ""}; dotted line: EDR = 1 (no reduction). ` +
      `Workload: ${slice.label}.${missing.length ? ` No value${naShown ? " (n/a in the figure)" : ""}: ${missing.join("; ")}.` : ""}${leftOutCaption(opts.leftOut)}`,
    data, layout, width, height,
  };
}

// ---------------------------------------------------------------- (b) sizes

export interface DatasetSizeRow {
  grade: string;
  /** blob or typed (absent: blob). */
  insertion?: string;
  logical: number;
  unique: number;
}

/** (b) Size after each stage per layer (L1/L2/L3); panels: grade (rows) × system (columns). */
export function sizesFigure(sizes: Frame, dataset?: DatasetSizeRow[], opts: SliceOption = {}): FigureSpec {
  const slice = oneSlice(sizes, "sizesFigure", opts.slice);
  const rows = rowsOf<SizeRow>(sizes).filter((r) => r.phase === "after");
  const grades = distinct<string>(sizes, "grade", gradeOrder);
  const stages = distinct<string>(sizes, "stage", stageOrder);
  const series = systemSeries(sizes);
  const max = Math.max(...rows.map((r) => (hasInterval(r) ? r.upper : r.center)).filter(Number.isFinite), ...(dataset ?? []).map((d) => d.logical), 1);
  const unit = byteUnit(max);
  const nr = grades.length;
  const nc = series.length;
  const size = opts.size ?? printSize();
  // Systems side by side while panels stay ≥ 110 px wide; more systems wrap into further rows per grade.
  const cols = panelColumns(nc, size, 110);
  const blocks = Math.ceil(nc / cols);
  const layout = baseLayout("Size after each stage, per layer", slice.label, legendHeight([...LAYERS.map((l) => LAYER_LABELS[l] ?? l), "logical bytes (L0)", "unique bytes (ideal dedup)"], size), size.width);
  const m = marginOf(layout);
  const stageLabels = stages.map((s) => STAGE_LABELS[s] ?? s);
  const tickPx = Math.max(...stageLabels.map((l) => textPx(l, TICK_SIZE))) * 0.71 + 10; // labels at −45°
  const height = figureHeight(size, m.t + m.b + tickPx + nr * blocks * 125 + (nr * blocks - 1) * 28);
  const domains = gridDomains({ rows: nr * blocks, cols, xgap: 0.035, ygap: gapFrac(28, height, m), top: gridTop(height, m) });
  const data: Trace[] = [];
  const annotations: Record<string, unknown>[] = [];
  const shapes: Record<string, unknown>[] = [];
  // Layers at very different levels (a volume image's L3 is often 30× the L1 it holds) would leave
  // L1 and L2 as invisible slivers on a linear axis: then a log axis with points, not bars (a bar's
  // length means nothing there), intervals cut a decade beyond the values (▲/▼ as in (d)), and a
  // size of 0 B, which has no place on a log axis, drawn as ─ on the axis bottom.
  const positive = [...rows.map((p) => p.center), ...(dataset ?? []).flatMap((x) => [x.logical, x.unique])].filter((v) => Number.isFinite(v) && v > 0);
  const log = spansDecades(positive);
  const cut = { lo: Math.min(...positive) / 10, hi: Math.max(...positive) * 10 };
  const clamp = (v: number) => (log ? Math.min(cut.hi, Math.max(cut.lo, v)) : v);
  const axisValues = [...positive, ...rows.filter(hasInterval).flatMap((p) => [clamp(p.upper), ...(p.lower > 0 ? [clamp(p.lower)] : [])])].map((v) => v / unit.div);
  const logAxis = log ? valueAxis(axisValues, "", { log: true }) : undefined;
  const bottom = logAxis ? 10 ** (logAxis.range as number[])[0]! : 0;
  const onAxis = (v: number) => (log ? Math.log10(v) : v); // shapes on a log axis take log10 of the value
  let clipped = 0;
  grades.forEach((grade, r) => {
    series.forEach((s, c) => {
      const i = r * nc + c;
      const ax = axisIds(i);
      const d = domains[(r * blocks + Math.floor(c / cols)) * cols + (c % cols)]!;
      for (const layer of LAYERS) {
        const pts = stages.map((st) => rows.find((x) => x.grade === grade && x.stage === st && x.layer === layer && seriesKey(x) === seriesKey(s)) ?? EMPTY_POINT);
        if (pts.every((p) => p.n === 0)) continue;
        const st = LAYER_STYLE[layer]!;
        const shown = pts.map((p) => (hasInterval(p) ? { ...p, lower: clamp(p.lower), upper: clamp(p.upper) } : p));
        const mark = log
          ? {
            type: "scatter", mode: "markers", offsetgroup: layer, cliponaxis: false,
            y: pts.map((p) => (p.center > 0 ? p.center / unit.div : p.center === 0 ? bottom : null)),
            marker: { color: st.color, size: 7, symbol: pts.map((p) => (p.center === 0 ? "line-ew-open" : LAYER_SYMBOLS[layer])), line: { color: "#222", width: 1 } },
          }
          : { type: "bar", y: pts.map((p) => finite(p.center / unit.div)), marker: { color: st.color, line: { color: "#222", width: 0.8 } } };
        data.push({
          ...mark, name: LAYER_LABELS[layer], legendgroup: layer, showlegend: i === 0, xaxis: ax.x, yaxis: ax.y, x: stageLabels,
          error_y: errorBars(shown, unit.div), customdata: pts.map((p) => fmt3(p.center / unit.div)),
          hovertemplate: `${s.label} ${grade} %{x}<br>${layer}: %{customdata} ${unit.label}<extra></extra>`,
        });
        const ends = log ? pts.flatMap((p, k) => (hasInterval(p) ? [...(p.upper > cut.hi ? [{ x: stageLabels[k], y: cut.hi, sym: "triangle-up" }] : []), ...(p.lower < cut.lo ? [{ x: stageLabels[k], y: cut.lo, sym: "triangle-down" }] : [])] : [])) : [];
        if (ends.length) {
          clipped += ends.length;
          data.push({
            type: "scatter", mode: "markers", offsetgroup: layer, xaxis: ax.x, yaxis: ax.y, x: ends.map((e) => e.x), y: ends.map((e) => e.y / unit.div),
            marker: { symbol: ends.map((e) => e.sym), size: 6, color: "#222" }, showlegend: false, legendgroup: layer, hoverinfo: "skip", cliponaxis: false,
          });
        }
      }
      // Blob and typed cells of a payload are different datasets: the series' own (old bundles: blob).
      const ds = dataset?.find((x) => x.grade === grade && (x.insertion ?? "blob") === (s.insertion || "blob"));
      if (ds) {
        shapes.push({ type: "line", xref: `${ax.x} domain`, yref: ax.y, x0: 0, x1: 1, y0: onAxis(ds.logical / unit.div), y1: onAxis(ds.logical / unit.div), line: { color: "#000", width: 1.5, dash: "dot" }, name: "logical bytes (L0)", showlegend: i === 0, legendgroup: "l0" });
        shapes.push({ type: "line", xref: `${ax.x} domain`, yref: ax.y, x0: 0, x1: 1, y0: onAxis(ds.unique / unit.div), y1: onAxis(ds.unique / unit.div), line: { color: "#D55E00", width: 1.5, dash: "dash" }, name: "unique bytes (ideal dedup)", showlegend: i === 0, legendgroup: "unique" });
      }
      layout[ax.xaxis] = axisStyle({ type: "category", categoryorder: "array", categoryarray: stageLabels, domain: d.x, anchor: ax.y, tickangle: -45, showticklabels: r === nr - 1 });
      // Short on a log axis: the title runs along a panel ~3.4 cm tall.
      const title = c % cols === 0 ? { text: log ? `${grade}, ${unit.label} (log scale)` : `${grade}: size (${unit.label})`, standoff: 4 } : undefined;
      layout[ax.yaxis] = logAxis
        ? { ...logAxis, domain: d.y, anchor: ax.x, showticklabels: c % cols === 0, title }
        : axisStyle({ domain: d.y, anchor: ax.x, rangemode: "tozero", matches: i === 0 ? undefined : "y", showticklabels: c % cols === 0, title });
      annotations.push(panelTitle(r === 0 ? s.label : "", d));
    });
  });
  Object.assign(layout, { annotations: annotations.filter((a) => a.text !== "<b></b>"), shapes, bargap: 0.18, ...(log ? { scattermode: "group", scattergap: 0.3 } : {}) });
  return {
    name: `sizes${slice.suffix ? `-${slice.suffix}` : ""}`,
    title: "Size after each stage, per layer",
    caption:
      `Size after each stage: L1 DB-logical, L2 DB-physical (primary reading of the system), L3 storage-physical (sum over storage replicas); ` +
      `rows: duplicate grade, columns: system; ${repeatsNote(rows)}. Dotted: logical bytes of the dataset (L0); dashed: unique bytes (what perfect deduplication stores). ` +
      (log ? `The layers span more than a decade: log axis, each size a point (○ L1, □ L2, ◇ L3), a size of 0 B as ─ on the axis bottom${clipped ? "; ▲/▼: the interval runs beyond the axis (cut a decade beyond the values)" : ""}. ` : "") +
      `The stored data is reset between bulk insert and per-unit insert. Workload: ${slice.label}.${leftOutCaption(opts.leftOut)}`,
    data, layout, width: size.width, height,
  };
}

// ---------------------------------------------------------------- (c) latency

/** x position of percentile p (0–100) on a "nines" axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3. */
export function ninesX(p: number): number {
  return -Math.log10(Math.max(1 - p / 100, 1e-9));
}

interface SpectrumRow { system: string; variant: string; stage: string; percentile: number; latency_ms: number; count: number }
interface PercentileRow { system: string; variant: string; stage: string; count: number; p50: number; p90: number; p95: number; p99: number; max: number; mean: number; source?: string; repeats?: number; excluded?: number }

/**
 * (c) Latency distribution per system and operation, p50/p90/p95/p99/max marked. Both inputs come
 * from the one statistics path: `percentiles` = latencyPercentiles / latencyCells (pooled raw
 * samples, merged HdrHistograms where there are none; its `source` column says which) and
 * `spectrum` = latencyCurve on the same data. `opts.source` overrides the caption's source.
 */
export function latencyFigure(spectrum: Frame, percentiles: Frame, opts: SliceOption & { minOps?: number; source?: "samples" | "histograms" } = {}): FigureSpec {
  const slice = oneSlice(spectrum, "latencyFigure", opts.slice);
  const minOps = opts.minOps ?? 10;
  const curve = rowsOf<SpectrumRow>(spectrum);
  const marks = rowsOf<PercentileRow>(percentiles);
  const stages = distinct<string>(spectrum, "stage", stageOrder).filter((st) => marks.some((m) => m.stage === st && m.count >= minOps));
  const shown = marks.filter((m) => stages.includes(m.stage));
  const sources = new Set(opts.source ? [opts.source] : shown.map((m) => m.source ?? "samples"));
  const excluded = shown.reduce((a, m) => a + (m.excluded ?? 0), 0);
  const series = systemSeries(spectrum);
  const size = opts.size ?? printSize();
  const cols = panelColumns(stages.length, size, 220);
  const panelRows = Math.ceil(Math.max(stages.length, 1) / cols);
  const layout = baseLayout("Latency distribution per operation", `${slice.label} · pooled over grades and repeats`, legendHeight([...series.map((s) => s.label), "p50", "p90", "p95", "p99", "max"], size), size.width);
  const m = marginOf(layout);
  const height = figureHeight(size, m.t + m.b + panelRows * 190 + (panelRows - 1) * 60);
  const domains = gridDomains({ rows: panelRows, cols, xgap: 0.1, ygap: gapFrac(60, height, m), top: gridTop(height, m) });
  const data: Trace[] = [];
  const annotations: Record<string, unknown>[] = [];
  const allY = [...curve.filter((c) => stages.includes(c.stage)).map((c) => c.latency_ms)];
  const maxCount = Math.max(...marks.filter((m) => stages.includes(m.stage)).map((m) => m.count), 2);
  // Shown percentile ticks: those below the rank of the last sample of the largest group.
  const ticks = [50, 90, 95, 99, 99.9, 99.99, 99.999].filter((p) => p <= 100 * (1 - 1 / maxCount) || p <= 99);
  // The maximum sits right of the highest percentile tick (on a nines axis p = 100 is at infinity).
  const xMaxMark = Math.max(Math.log10(maxCount), ninesX(ticks[ticks.length - 1]!) + 0.35);
  stages.forEach((stage, i) => {
    const ax = axisIds(i);
    const d = domains[i]!;
    for (const s of series) {
      const pts = curve.filter((c) => c.stage === stage && seriesKey(c) === seriesKey(s)).sort((a, b) => a.percentile - b.percentile);
      const m = marks.find((x) => x.stage === stage && seriesKey(x) === seriesKey(s));
      if (!pts.length || !m) continue;
      const color = systemColor(s.system);
      const xs = pts.map((p) => (p.percentile >= 100 ? xMaxMark : Math.min(ninesX(p.percentile), xMaxMark)));
      data.push({
        type: "scatter", mode: "lines", name: s.label, legendgroup: s.label, showlegend: i === 0, xaxis: ax.x, yaxis: ax.y,
        x: xs, y: pts.map((p) => p.latency_ms), line: { color, width: 1.5, dash: VARIANT_DASHES[s.variantIndex % VARIANT_DASHES.length] },
        hovertemplate: `${s.label}: %{y:.3f} ms<extra></extra>`,
      });
      const names = ["p50", "p90", "p95", "p99", "max"] as const;
      const mx = names.map((n) => (n === "max" ? xMaxMark : ninesX(Number(n.slice(1)))));
      data.push({
        type: "scatter", mode: "markers", name: `${s.label} percentiles`, legendgroup: s.label, showlegend: false, xaxis: ax.x, yaxis: ax.y,
        x: mx, y: names.map((n) => m[n]), cliponaxis: false,
        marker: { color, size: 7, symbol: names.map((n) => PERCENTILE_SYMBOLS[n]), line: { color: "#000", width: 1 } },
        text: names.map((n) => `${s.label} ${n} = ${fmt3(m[n])} ms (n = ${m.count})`), hovertemplate: "%{text}<extra></extra>",
      });
    }
    layout[ax.xaxis] = axisStyle({
      domain: d.x, anchor: ax.y, range: [-0.05, xMaxMark + 0.12], tickvals: [0, ...ticks.map(ninesX), xMaxMark], ticktext: ["0", ...ticks.map(String), "max"],
      // Not linear: 0, 90, 99, 99.9 … are equally spaced (log of 1/(1 − p)); the title says so.
      title: { text: "percentile (%), nines scale", standoff: 4 },
    });
    layout[ax.yaxis] = valueAxis(allY, i % cols === 0 ? "latency (ms)" : "", { extra: { domain: d.y, anchor: ax.x } });
    annotations.push(panelTitle(OPERATION_LABELS[stage] ?? stage, d));
  });
  // Legend keys for the marker symbols, drawn in black.
  for (const n of ["p50", "p90", "p95", "p99", "max"]) {
    data.push({ type: "scatter", mode: "markers", name: n, legendgroup: `pct-${n}`, x: [null], y: [null], xaxis: "x", yaxis: "y", marker: { symbol: PERCENTILE_SYMBOLS[n], size: 7, color: "#fff", line: { color: "#000", width: 1.2 } }, hoverinfo: "skip" });
  }
  Object.assign(layout, { annotations });
  return {
    name: `latency${slice.suffix ? `-${slice.suffix}` : ""}`,
    title: "Latency distribution per operation",
    caption:
      `Latency per operation, pooled over duplicate grades and repeats (never averaged per repeat): ` +
      (sources.has("histograms")
        ? sources.has("samples")
          ? "curves and markers from the pooled raw samples (type-7 quantiles), or the merged HdrHistograms (3 significant digits) where a bundle has no raw samples; "
          : "curves and markers from the merged HdrHistograms (3 significant digits; the bundle has no raw samples); "
        : "curves are the type-7 quantile function of the pooled raw samples; markers: p50, p90, p95, p99 (type-7 quantiles, linear interpolation) and the maximum; ") +
      `the same numbers as the latency table and the summary. x axis on a "nines" scale (90, 99, 99.9 …). Workload: ${slice.label}.` +
      (excluded ? ` Samples of ${excluded} cell × stage${excluded === 1 ? "" : "s"} left out: latency rows marked invalid.` : "") +
      leftOutCaption(opts.leftOut),
    data, layout, width: size.width, height,
  };
}

// ---------------------------------------------------------------- (d) throughput

/** (d) Throughput (MB/s and units/s) per stage, bars = mean over repeats with 95 % CI. */
export function throughputFigure(throughput: Frame, opts: SliceOption = {}): FigureSpec {
  const slice = oneSlice(throughput, "throughputFigure", opts.slice);
  const metrics = (["throughput_MBps", "throughput_units_per_s"] as const).filter((m) => rowsOf<ThroughputRow>(throughput).some((r) => r.metric === m));
  const rows = rowsOf<ThroughputRow>(throughput);
  const stages = distinct<string>(throughput, "stage", stageOrder);
  const grades = distinct<string>(throughput, "grade", gradeOrder);
  const series = systemSeries(throughput);
  const nc = Math.max(stages.length, 1);
  const nr = Math.max(metrics.length, 1);
  const size = opts.size ?? printSize();
  const layout = baseLayout("Throughput per stage", slice.label, legendHeight(series.map((s) => s.label), size), size.width);
  const m = marginOf(layout);
  const height = figureHeight(size, m.t + m.b + nr * 190 + (nr - 1) * 60);
  const domains = gridDomains({ rows: nr, cols: nc, xgap: 0.03, ygap: gapFrac(60, height, m), top: gridTop(height, m) });
  const data: Trace[] = [];
  const annotations: Record<string, unknown>[] = [];
  let clipped = 0;
  metrics.forEach((metric, r) => {
    // One scale type per row (metric), so panels side by side read the same way.
    const rowValues = rows.filter((x) => x.metric === metric).map((x) => x.center);
    const rowLog = spansDecades(rowValues);
    // One y range per row, its tick labels on the first panel only. It holds every value and the
    // interval ends up to a decade beyond them (×2 on a linear axis): with n = 2, t(0.975, 1) = 12.7
    // makes intervals span many decades and would flatten every point. A cut interval ends in ▲/▼.
    const centers = rows.filter((x) => x.metric === metric && Number.isFinite(x.center) && x.center > 0).map((x) => x.center);
    const cut = { lo: rowLog ? Math.min(...centers) / 10 : 0, hi: Math.max(...centers) * (rowLog ? 10 : 2) };
    const clamp = (v: number) => Math.min(cut.hi, Math.max(cut.lo, v));
    const rowRange = rows.filter((x) => x.metric === metric && Number.isFinite(x.center)).flatMap((p) => [p.center, ...(hasInterval(p) ? [clamp(p.upper), ...(p.lower > 0 ? [clamp(p.lower)] : [])] : [])]);
    stages.forEach((stage, c) => {
      const i = r * nc + c;
      const ax = axisIds(i);
      const d = domains[i]!;
      for (const s of series) {
        const pts = grades.map((g) => rows.find((x) => x.metric === metric && x.stage === stage && x.grade === g && seriesKey(x) === seriesKey(s)) ?? EMPTY_POINT);
        // Bars on a log axis have no baseline (their length means nothing): there, points with intervals.
        const mark = rowLog
          ? { type: "scatter", mode: "markers", offsetgroup: seriesKey(s), marker: { color: systemColor(s.system), size: 7, symbol: "circle", line: { color: outlineFor(systemColor(s.system)), width: 1 } } }
          : { type: "bar", marker: barStyle(s) };
        data.push({
          ...mark, name: s.label, legendgroup: s.label, showlegend: i === 0, xaxis: ax.x, yaxis: ax.y,
          x: grades, y: pts.map((p) => finite(p.center)), error_y: errorBars(pts.map((p) => (hasInterval(p) ? { ...p, lower: clamp(p.lower), upper: clamp(p.upper) } : p))),
          customdata: pts.map((p) => [p.n, fmt3(p.sd), fmt3(p.lower), fmt3(p.upper)]),
          hovertemplate: `${s.label} %{x}: %{y:.3g} ${THROUGHPUT_METRICS[metric]}<br>n = %{customdata[0]}, SD %{customdata[1]}, 95 % CI [%{customdata[2]}, %{customdata[3]}]<extra></extra>`,
        });
        const ends = pts.flatMap((p, gi) => (hasInterval(p) ? [...(p.upper > cut.hi ? [{ g: grades[gi], y: cut.hi, sym: "triangle-up" }] : []), ...(p.lower < cut.lo && rowLog ? [{ g: grades[gi], y: cut.lo, sym: "triangle-down" }] : [])] : []));
        if (ends.length) {
          clipped += ends.length;
          data.push({
            type: "scatter", mode: "markers", offsetgroup: rowLog ? seriesKey(s) : undefined, xaxis: ax.x, yaxis: ax.y, x: ends.map((e) => e.g), y: ends.map((e) => e.y),
            marker: { symbol: ends.map((e) => e.sym), size: 6, color: "#222" }, showlegend: false, legendgroup: s.label, hoverinfo: "skip", cliponaxis: false,
          });
        }
      }
      layout[ax.xaxis] = axisStyle({ type: "category", categoryorder: "array", categoryarray: grades, domain: d.x, anchor: ax.y, title: r === nr - 1 ? { text: "duplicate grade", standoff: 6 } : undefined });
      layout[ax.yaxis] = valueAxis(rowRange, c === 0 ? THROUGHPUT_METRICS[metric] : "", { log: rowLog, extra: { domain: d.y, anchor: ax.x, showticklabels: c === 0, ...(rowLog ? {} : { matches: axisIds(r * nc).y === ax.y ? undefined : axisIds(r * nc).y }) } });
      annotations.push(panelTitle(STAGE_LABELS[stage] ?? stage, d));
    });
  });
  // Points side by side per grade, like the bars (scattermode "group" dodges by offsetgroup).
  Object.assign(layout, { annotations, scattermode: "group", scattergap: 0.35 });
  return {
    name: `throughput${slice.suffix ? `-${slice.suffix}` : ""}`,
    title: "Throughput per stage",
    caption:
      `Throughput per stage: logical bytes (10⁶ B = 1 MB) and units per second of stage wall time (data generation excluded); ` +
      `${repeatsNote(rows)}. A row whose values span more than a decade is on a log scale (its axis title says so), with each value a point and its interval, not a bar.${clipped ? ` ▲/▼: the interval runs beyond the axis (cut a decade beyond the values on a log axis, at twice the largest on a linear one; few repeats give wide Student-t intervals).` : ""} Workload: ${slice.label}.${leftOutCaption(opts.leftOut)}`,
    data, layout, width: size.width, height,
  };
}

// ---------------------------------------------------------------- (e) size over time

/**
 * (e) Size over time per stage, one line per cell × layer × replica, coloured by system, dashed by
 * layer. Measured sizes only (a volume's capacity is a configured limit, not a measurement, and
 * would flatten the change). Each line shows its change since the stage's first sample (in new
 * bundles the settled baseline, recorded at the stage's start), so the
 * axis is scaled to the change even when layers sit at very different levels (the hover gives
 * the absolute size); a dotted line marks where the stage ended and the settle polls began.
 * Null when there is no time series.
 */
export function timeseriesFigure(ts: Frame, title = "Size over time per stage", opts: { size?: PrintSize } = {}): FigureSpec | null {
  const pts = rowsOf<TimeseriesPoint>(ts).filter((p) => !/capacity/i.test(p.metric));
  if (!pts.length) return null;
  const fromBaseline = pts.some((p) => p.source === "baseline");
  const stages = distinct<string>(ts, "stage", stageOrder).filter((st) => pts.some((p) => p.stage === st));
  const systems = [...new Set(pts.map((p) => p.system))];
  const metrics = [...new Set(pts.map((p) => p.metric))].sort();
  const bytes = pts.every((p) => /byte/i.test(p.metric));
  const lineKey = (p: TimeseriesPoint) => `${p.run_id}\u0000${p.cell_id}\u0000${p.stage}\u0000${p.metric}\u0000${p.replica}`;
  const lines = new Map<string, TimeseriesPoint[]>();
  for (const p of pts) lines.set(lineKey(p), [...(lines.get(lineKey(p)) ?? []), p]);
  for (const l of lines.values()) l.sort((a, b) => a.t_s - b.t_s);
  // The unit follows the largest change of any line, so the ticks show the change with useful digits.
  const biggest = Math.max(...[...lines.values()].map((l) => Math.max(...l.map((p) => Math.abs(p.value - l[0]!.value)))));
  const unit = bytes ? byteUnit(biggest > 0 ? biggest : 1) : { div: 1, label: "value" };
  const absUnit = bytes ? byteUnit(Math.max(...pts.map((p) => p.value))) : unit;
  const dashes = ["solid", "dash", "dot", "dashdot", "longdash"];
  const data: Trace[] = [];
  const annotations: Record<string, unknown>[] = [];
  const shapes: Record<string, unknown>[] = [];
  const size = opts.size ?? printSize();
  const cols = panelColumns(stages.length, size, 220);
  const panelRows = Math.ceil(stages.length / cols);
  const layout = baseLayout(title, `metrics: ${metrics.join(", ")}${metrics.length > 1 ? " (line style)" : ""}`, legendHeight([...systems, ...(metrics.length > 1 ? metrics : [])], size), size.width);
  const m = marginOf(layout);
  const height = figureHeight(size, m.t + m.b + panelRows * 180 + (panelRows - 1) * 60);
  const domains = gridDomains({ rows: panelRows, cols, xgap: 0.1, ygap: gapFrac(60, height, m), top: gridTop(height, m) });
  const shown = new Set<string>();
  let boundaries = 0;
  stages.forEach((stage, i) => {
    const ax = axisIds(i);
    const d = domains[i]!;
    const inStage = [...lines.values()].filter((l) => l[0]!.stage === stage)
      .sort((a, b) => systemRank(a[0]!.system) - systemRank(b[0]!.system) || a[0]!.system.localeCompare(b[0]!.system) || a[0]!.metric.localeCompare(b[0]!.metric));
    const ends = new Set<number>();
    for (const line of inStage) {
      const { system, cell_id: cellId, metric, replica } = line[0]!;
      const start = line[0]!.value;
      data.push({
        // Few samples (a short stage: the baseline and the settle polls): markers show where the
        // readings are, so a straight segment between two of them does not pass for a measured ramp.
        type: "scatter", mode: line.length <= 20 ? "lines+markers" : "lines", marker: { size: 3.5 },
        name: system, legendgroup: system, showlegend: !shown.has(system), xaxis: ax.x, yaxis: ax.y,
        x: line.map((p) => p.t_s), y: line.map((p) => (p.value - start) / unit.div),
        line: { color: systemColor(system), width: 1.5, dash: dashes[metrics.indexOf(metric) % dashes.length] }, opacity: 0.85,
        customdata: line.map((p) => fmt3(p.value / absUnit.div)),
        hovertemplate: `${cellId} ${metric} ${replica}<br>%{x:.2f} s: %{y:+.4g} ${unit.label} (size %{customdata} ${absUnit.label})<extra></extra>`,
      });
      shown.add(system);
      // The stage's end: the last sample taken while it ran, when settle polls follow.
      const during = line.filter((p) => p.source === "sampler");
      if (during.length && line.some((p) => p.source === "settle")) ends.add(Math.round(Math.max(...during.map((p) => p.t_s)) * 100) / 100);
    }
    for (const t of ends) {
      // Light and unlabelled (the caption says what they are): with one per cell a label covered the lines.
      shapes.push({ type: "line", xref: ax.x, yref: `${ax.y} domain`, x0: t, x1: t, y0: 0, y1: 1, line: { color: "#aaa", width: 0.8, dash: "dot" }, layer: "below" });
      boundaries++;
    }
    layout[ax.xaxis] = axisStyle({ domain: d.x, anchor: ax.y, title: { text: "time since stage start (s)", standoff: 4 } });
    layout[ax.yaxis] = axisStyle({
      domain: d.y, anchor: ax.x, zeroline: true, zerolinecolor: "#999",
      // Short: the title runs along a panel ~5 cm tall; the caption says "since the stage's first sample".
      title: i % cols === 0 ? { text: bytes ? `size change (${unit.label})` : "change", standoff: 4 } : undefined,
    });
    annotations.push(panelTitle(STAGE_LABELS[stage] ?? stage, d));
  });
  // Legend keys for the line styles (which layer/metric is dashed how), in black.
  if (metrics.length > 1) {
    metrics.forEach((metric, k) => data.push({ type: "scatter", mode: "lines", name: metric, x: [null], y: [null], xaxis: "x", yaxis: "y", line: { color: "#222", width: 1.5, dash: dashes[k % dashes.length] }, hoverinfo: "skip" }));
  }
  Object.assign(layout, { annotations, shapes });
  return {
    name: "size-over-time",
    title,
    caption:
      `Measured size over time during each stage, one line per cell, layer${metrics.length > 1 ? " (line style)" : ""} and replica, coloured by system (${systems.join(", ")}); no capacity line. ` +
      `Each line is its size minus its size at the stage's first sample${fromBaseline ? " — the settled baseline at the stage's start —" : ""}, so the axis is scaled to the change (hover: the absolute size). Time is relative to the ${fromBaseline ? "stage's start" : "first sample of the stage"}` +
      `${boundaries ? "; the dotted line marks where the stage ended and the settle polls began" : ""}.`,
    data, layout, width: size.width, height,
  };
}

export { LATENCY_STATS };

// ---------------------------------------------------------------- (f) reduction per layer boundary

export interface ReductionFigureOptions extends SliceOption {}

/** Diverging, colour-blind safe (Okabe–Ito vermillion ↔ blue) on log10(factor): inflation warm, reduction cool, 1× white. */
const REDUCTION_SCALE: [number, string][] = [
  [0, "#D55E00"], [0.25, "#F0B58A"], [0.5, "#F7F7F7"], [0.7, "#A6CDE6"], [0.85, "#4A98CC"], [1, "#00466E"],
];

/** "10×", "1.5×", "0.51×": a factor as the figure prints it in a cell. */
function factorText(v: number): string {
  if (!Number.isFinite(v)) return "—";
  return `${v >= 1000 ? Math.round(v) : Number(v.toPrecision(3))}×`;
}

/** The panels of a grade × stage grid (grades wrap after `cols` per row), in reading order. */
function gradeStagePanels(stages: string[], grades: string[], cols: number, domains: { x: [number, number]; y: [number, number] }[]) {
  const gradeRows = Math.ceil(Math.max(grades.length, 1) / cols);
  return stages.flatMap((stage, si) =>
    grades.map((grade, gi) => {
      const i = si * grades.length + gi;
      const row = si * gradeRows + Math.floor(gi / cols);
      return { stage, grade, i, row, d: domains[row * cols + (gi % cols)]!, ax: axisIds(i), firstInRow: gi % cols === 0 };
    }),
  );
}

/**
 * (f) Where did the reduction happen? One heatmap panel per grade (columns) and stage (rows):
 * rows = system (· variant), columns = the boundaries L0→L1, L1→L2, L2→L3 and the total L0→L3;
 * each cell is the reduction factor (geometric mean over repeats) printed as text and coloured on a
 * diverging log scale (blue = reduction, white = 1×, vermillion = inflation). The boundary the
 * where-rule picks is outlined in black; the ideal ratio heads each panel.
 *
 * Why a heatmap and not grouped bars: the question is "which of three boundaries", asked for
 * many systems at once. Bars per boundary on a log axis need three bars per system per grade and
 * the reader compares heights across groups; a table-like grid with the factor written in each
 * cell reads row by row at thesis text width, survives black-and-white print (the numbers carry
 * the information, colour only guides the eye) and puts the total next to the ideal in the title.
 * Systems keep their registry colour as a square in the row label.
 */
export function reductionFigure(red: Frame, opts: ReductionFigureOptions = {}): FigureSpec {
  const slice = oneSlice(red, "reductionFigure", opts.slice);
  const rows = rowsOf<ReductionRow>(red);
  const grades = distinct<string>(red, "grade", gradeOrder);
  const stages = distinct<string>(red, "stage", stageOrder);
  const series = systemSeries(red);
  const boundaries = [...BOUNDARIES];
  // Rows of the heatmap, top to bottom in registry order (plotly's category y axis runs upward).
  const yLabels = series.map((s) => `<span style="color:${systemColor(s.system)}">■</span> ${s.label}`);
  const yOrder = [...yLabels].reverse();
  const size = opts.size ?? printSize();
  // Row labels (■ + system) left of the first panel of each row; panels ≥ 200 px: four cells of
  // "0.969×" at 9 pt side by side, and the panel title "U50 · per-unit insert · ideal 2×" above them.
  const labelPx = 24 + Math.max(...series.map((s) => textPx(s.label, TICK_SIZE)), 30);
  const cols = Math.min(3, panelColumns(grades.length, size, 200, labelPx));
  const gradeRows = Math.ceil(Math.max(grades.length, 1) / cols);
  const nr = gradeRows * Math.max(stages.length, 1);
  // No legend: the colour bar (horizontal, below the panels) explains the cells.
  const layout = baseLayout("Where did the reduction happen? Reduction factor per layer boundary", slice.label, 0, size.width);
  const m: Margin = { ...marginOf(layout), l: labelPx + 8, b: 92 };
  const rowGapPx = PANEL_TITLE_PX + TICK_SIZE + 16; // tick labels (+ tick length) under a panel, the next title above
  // A system row ≥ 18 px holds its 8–9 pt factor; squeezed to fit the page, never below 14 px.
  const content = (rowPx: number) => m.t + m.b + PANEL_TITLE_PX + nr * rowPx * series.length + (nr - 1) * rowGapPx;
  const height = figureHeight(size, content(22));
  const width = size.width;
  const plotH = height - m.t - m.b;
  const domains = gridDomains({ rows: nr, cols, xgap: 0.03, ygap: rowGapPx / plotH, top: gridTop(height, m), bottom: 0 });
  const data: Trace[] = [];
  const annotations: Record<string, unknown>[] = [];
  const shapes: Record<string, unknown>[] = [];
  const finiteCenters = rows.filter((r) => r.n > 0 && Number.isFinite(r.center) && r.center > 0).map((r) => Math.abs(Math.log10(r.center)));
  const ideals = rows.map((r) => r.ideal).filter((v) => Number.isFinite(v) && v > 0);
  // Symmetric log range: the same colour means the same factor in every panel; at least 2× either way.
  const zmax = Math.max(Math.log10(2), ...finiteCenters, ...ideals.map((v) => Math.log10(v)));
  const tickFactors = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].filter((v) => Math.abs(Math.log10(v)) <= zmax + 1e-9);
  const noFactor: { where: string; reason: string }[] = [];
  for (const { stage, grade, i, d, ax, firstInRow } of gradeStagePanels(stages, grades, cols, domains)) {
    const inPanel = rows.filter((r) => r.stage === stage && r.grade === grade);
    const cell = (s: SystemSeries, b: string) => inPanel.find((r) => r.boundary === b && seriesKey(r) === seriesKey(s));
    const z = yOrder.map((_, yi) => {
      const s = series[series.length - 1 - yi]!;
      return boundaries.map((b) => {
        const r = cell(s, b);
        return r && r.n > 0 && r.center > 0 ? Math.log10(r.center) : null;
      });
    });
    const text = yOrder.map((_, yi) => {
      const s = series[series.length - 1 - yi]!;
      return boundaries.map((b) => {
        const r = cell(s, b);
        return r && r.n > 0 ? factorText(r.center) : "";
      });
    });
    const custom = yOrder.map((_, yi) => {
      const s = series[series.length - 1 - yi]!;
      return boundaries.map((b) => {
        const r = cell(s, b);
        if (!r) return ["", "", "", "no rows"];
        return [String(r.n), fmt3(r.lower), fmt3(r.upper), r.reason ? `${r.excluded} repeat(s) without a factor: ${r.reason}` : ""];
      });
    });
    data.push({
      type: "heatmap", xaxis: ax.x, yaxis: ax.y, x: boundaries, y: yOrder, z, text, customdata: custom,
      texttemplate: "%{text}", textfont: { size: FONT_SIZE }, coloraxis: "coloraxis", xgap: 2, ygap: 2, showlegend: false, name: `${grade} ${stage}`,
      hovertemplate: "%{y}<br>%{x}: %{text}<br>n = %{customdata[0]}, 95 % CI [%{customdata[1]}, %{customdata[2]}]<br>%{customdata[3]}<extra></extra>",
    });
    // No factor: a dash and the reason in the caption.
    const holes: { x: string; y: string }[] = [];
    series.forEach((s, k) => {
      for (const b of boundaries) {
        const r = cell(s, b);
        if (r && r.n > 0) continue;
        holes.push({ x: b, y: yLabels[k]! });
        if (r && b !== "L0→L3") noFactor.push({ where: `${s.label} ${grade} ${STAGE_LABELS[stage] ?? stage} ${b}`, reason: r.reason });
      }
    });
    if (holes.length) {
      data.push({
        type: "scatter", mode: "text", xaxis: ax.x, yaxis: ax.y, x: holes.map((h) => h.x), y: holes.map((h) => h.y), text: holes.map(() => "—"),
        textfont: { color: "#777", size: FONT_SIZE }, showlegend: false, hoverinfo: "skip", cliponaxis: false,
      });
    }
    // The where-rule's boundary, outlined.
    series.forEach((s, k) => {
      const w = inPanel.find((r) => seriesKey(r) === seriesKey(s))?.where;
      if (!w || w === "nowhere") return;
      const xi = boundaries.indexOf(w);
      const yi = yOrder.indexOf(yLabels[k]!);
      shapes.push({ type: "rect", xref: ax.x, yref: ax.y, x0: xi - 0.5, x1: xi + 0.5, y0: yi - 0.5, y1: yi + 0.5, line: { color: "#000", width: 2.5 }, fillcolor: "rgba(0,0,0,0)", layer: "above" });
    });
    // The total column stands apart: it is the product of the three boundaries.
    shapes.push({ type: "line", xref: ax.x, yref: `${ax.y} domain`, x0: 2.5, x1: 2.5, y0: 0, y1: 1, line: { color: "#333", width: 1.5 }, layer: "above" });
    const idealVals = [...new Set(inPanel.map((r) => r.ideal).filter(Number.isFinite).map((v) => fmt3(v)))];
    const idealText = idealVals.length ? ` · ideal ${idealVals.join("/")}×` : "";
    annotations.push(panelTitle(`${grade}${stages.length > 1 ? ` · ${STAGE_LABELS[stage] ?? stage}` : ""}${idealText}`, d));
    layout[ax.xaxis] = axisStyle({
      type: "category", categoryorder: "array", categoryarray: boundaries, domain: d.x, anchor: ax.y, showgrid: false, showline: false, ticks: "",
      tickvals: boundaries, ticktext: boundaries.map((b) => (b === "L0→L3" ? "<b>L0→L3</b>" : b)), tickfont: { size: TICK_SIZE }, tickangle: 0,
    });
    layout[ax.yaxis] = axisStyle({
      type: "category", categoryorder: "array", categoryarray: yOrder, domain: d.y, anchor: ax.x, showgrid: false, showline: false, ticks: "",
      showticklabels: firstInRow,
    });
  }
  Object.assign(layout, {
    annotations, shapes, showlegend: false,
    coloraxis: {
      colorscale: REDUCTION_SCALE, cmin: -zmax, cmax: zmax, cmid: 0,
      // Horizontal, below the panels: a vertical bar would take ~2 cm of a 15 cm text width.
      colorbar: {
        orientation: "h", x: 0.5, xanchor: "center", y: -(TICK_SIZE + 14) / plotH, yanchor: "top", len: Math.min(1, 300 / (width - m.l - m.r)), thickness: 10,
        title: { text: "reduction factor (log colour scale)", side: "top", font: { size: FONT_SIZE } }, tickvals: tickFactors.map(Math.log10), ticktext: tickFactors.map((v) => `${v}×`),
        outlinewidth: 0, tickfont: { size: TICK_SIZE },
      },
    },
    margin: m,
  });
  const nNote = repeatsNote(rows).replace(/; error bars:.*/, "").replace(" (no error bars)", "");
  return {
    name: `reduction${slice.suffix ? `-${slice.suffix}` : ""}`,
    title: "Reduction factor per layer boundary",
    caption:
      `Where the reduction happened: reduction factor at each layer boundary, L0→L1 = logical bytes written / DB-logical bytes, L1→L2 = DB-logical / DB-physical, ` +
      `L2→L3 = DB-physical / storage-physical per replica (replication divided out), and the total L0→L3 (= EDR per replica), from the bytes the stored dataset occupies at each layer at the end of the stage, net of the empty cell. ` +
      `Factor > 1: reduction (blue), < 1: inflation or overhead (vermillion), log colour scale; each cell: ${nNote}, computed per repeat and aggregated on the log scale (95 % Student-t CI in the hover). ` +
      `Outlined: the boundary where the dominant reduction happened (largest factor, if ≥ ${WHERE_THRESHOLD}×; none outlined = nowhere). Panel titles: the ideal ratio, logical / unique bytes (manifest). ` +
      `—: no factor. Workload: ${slice.label}.${noFactorNote(noFactor)}${leftOutCaption(opts.leftOut)}`,
    data, layout, width, height,
  };
}

// ---------------------------------------------------------------- (g) measured vs potential
// (imports of this section kept here: the shared file is only appended to)
import { logTicks } from "./figure-style.js";

export interface PotentialFigureOptions extends SliceOption {}

/** Measured boundaries: black symbols (open per layer boundary, filled for the total). */
const MEASURED_STYLE: Record<string, { symbol: string; size: number; offset: number }> = {
  "L0→L1": { symbol: "circle-open", size: 7, offset: 0.27 },
  "L1→L2": { symbol: "square-open", size: 7, offset: 0.13 },
  "L2→L3": { symbol: "diamond-open", size: 8, offset: 0 },
  "L0→L3": { symbol: "circle", size: 8, offset: -0.17 },
};

/** Potentials: vertical bars across the system's row, one colour each (Okabe–Ito; black = the ideal). */
const POTENTIAL_STYLE: Record<string, { color: string; width: number; dash: string }> = {
  // Drawn in this order, wide under narrow: potentials that coincide (ideal = fixed = CDC for
  // whole-unit duplicates; zstd-3 = dedup+zstd-3 at U0) show as nested stripes, none hidden.
  potential_unit_ratio: { color: "#000000", width: 8, dash: "solid" },
  "potential_compress_ratio_zstd-3": { color: "#CC79A7", width: 6, dash: "solid" },
  potential_fixed_ratio_4KiB: { color: "#E69F00", width: 4.5, dash: "solid" },
  "potential_dedup_compress_ratio_zstd-3": { color: "#56B4E9", width: 3, dash: "solid" },
  potential_cdc_ratio_8KiB: { color: "#009E73", width: 2, dash: "dot" },
};

interface PotentialFigRow {
  system: string; variant: string; storage_profile?: string; grade: string; stage: string;
  kind: string; quantity: string; label: string; center: number; lower: number; upper: number; n: number; reason: string;
}

/**
 * (g) Measured vs potential: per grade (columns) and stage (rows), one row per system (·
 * variant): the measured reduction factor at each layer boundary (black symbols: L0→L1 ○,
 * L1→L2 □, L2→L3 ◇, total L0→L3 ● with its 95 % interval) on a log axis, and across the same
 * row coloured bars at what the dataset's bytes allow: the unit-level ideal, fixed-block 4 KiB,
 * FastCDC 8 KiB, zstd-3 of the distinct data and dedup+zstd-3. A total left of the ideal bar
 * is dedup potential not realised; right of it, compression or engine reduction beyond exact
 * duplicates. Symbols are offset vertically within the row so equal values stay visible.
 */
export function potentialFigure(pf: Frame, opts: PotentialFigureOptions = {}): FigureSpec {
  const slice = oneSlice(pf, "potentialFigure", opts.slice);
  const rows = rowsOf<PotentialFigRow>(pf);
  const measuredRows = rows.filter((r) => r.kind === "measured");
  const grades = distinct<string>(pf, "grade", gradeOrder);
  const stages = [...new Set(measuredRows.map((r) => r.stage))].sort((a, b) => stageOrder(a) - stageOrder(b));
  const series = systemSeries(pf);
  const boundaries = [...BOUNDARIES];
  const potentials = Object.keys(POTENTIAL_STYLE);
  const potLabel = (m: string) => rows.find((r) => r.quantity === m)?.label ?? m;
  const size = opts.size ?? printSize();
  const labelPx = 24 + Math.max(...series.map((s) => textPx(s.label, TICK_SIZE)), 30);
  // Panels ≥ 150 px: a log axis with ≤ 5 ticks (0.5, 1, 2, 5, 10) reads at that width, and three grades stay on one row.
  const cols = Math.min(3, panelColumns(grades.length, size, 150, labelPx));
  const gradeRows = Math.ceil(Math.max(grades.length, 1) / cols);
  const nr = gradeRows * Math.max(stages.length, 1);
  const legend = [...potentials.map((q) => `potential: ${potLabel(q)}`), ...boundaries.map((b) => (b === "L0→L3" ? "measured total L0→L3 (95 % CI)" : `measured ${b}`))];
  const layout = baseLayout("Measured reduction vs the dataset's potential", slice.label, legendHeight(legend, size, size.width - (labelPx + 8) - MARGIN.r), size.width);
  const m: Margin = { ...marginOf(layout), l: labelPx + 8, b: 40 };
  const rowGapPx = PANEL_TITLE_PX + TICK_SIZE + 16; // tick labels (+ tick length) under a panel, the next title above
  // A system row holds four symbols offset vertically: ≥ 28 px.
  const height = figureHeight(size, m.t + m.b + PANEL_TITLE_PX + nr * 28 * series.length + (nr - 1) * rowGapPx);
  const width = size.width;
  const plotH = height - m.t - m.b;
  const domains = gridDomains({ rows: nr, cols, xgap: 0.03, ygap: rowGapPx / plotH, top: gridTop(height, m), bottom: 0 });
  const annotations: Record<string, unknown>[] = [];
  const data: Trace[] = [];
  const values = rows.filter((r) => Number.isFinite(r.center) && r.center > 0 && (r.kind === "measured" || potentials.includes(r.quantity))).flatMap((r) => [r.center, ...(r.kind === "measured" && hasInterval(r) ? [r.lower, r.upper] : [])]);
  const lo = Math.min(0.5, ...values) / 1.3;
  const hi = Math.max(2, ...values) * 1.3;
  const noFactor: { where: string; reason: string }[] = [];
  const bottomRow: number[][] = [];
  for (const { stage, grade, i, row, d, ax, firstInRow } of gradeStagePanels(stages, grades, cols, domains)) {
    const inPanel = rows.filter((r) => r.stage === stage && r.grade === grade);
    const yOf = (k: number) => series.length - 1 - k; // first system on top
    // Potentials: one trace per quantity, a vertical bar across each system's row.
    for (const m of potentials) {
      const st = POTENTIAL_STYLE[m]!;
      const xs: (number | null)[] = [];
      const ys: (number | null)[] = [];
      series.forEach((s, k) => {
        const r = inPanel.find((x) => x.kind === "potential" && x.quantity === m && seriesKey(x) === seriesKey(s));
        if (!r || !(r.center > 0)) return;
        xs.push(r.center, r.center, null);
        ys.push(yOf(k) - 0.42, yOf(k) + 0.42, null);
      });
      data.push({
        type: "scatter", mode: "lines", xaxis: ax.x, yaxis: ax.y, x: xs, y: ys, name: `potential: ${potLabel(m)}`, legendgroup: m, showlegend: i === 0,
        line: { color: st.color, width: st.width, dash: st.dash }, hovertemplate: `${potLabel(m)}: %{x:.3g}×<extra></extra>`,
      });
    }
    // Measured: one trace per boundary.
    for (const b of boundaries) {
      const st = MEASURED_STYLE[b]!;
      const pts = series.map((s, k) => ({ s, k, r: inPanel.find((x) => x.kind === "measured" && x.quantity === b && seriesKey(x) === seriesKey(s)) }))
        .filter((p) => p.r && p.r.n > 0 && p.r.center > 0);
      for (const p of series.map((s, k) => ({ s, k, r: inPanel.find((x) => x.kind === "measured" && x.quantity === b && seriesKey(x) === seriesKey(s)) }))) {
        if (p.r && !(p.r.n > 0) && b !== "L0→L3") noFactor.push({ where: `${p.s.label} ${grade} ${b}`, reason: p.r.reason });
      }
      const total = b === "L0→L3";
      data.push({
        type: "scatter", mode: "markers", xaxis: ax.x, yaxis: ax.y, name: total ? "measured total L0→L3 (95 % CI)" : `measured ${b}`, legendgroup: b, showlegend: i === 0,
        x: pts.map((p) => p.r!.center), y: pts.map((p) => yOf(p.k) + st.offset),
        marker: { symbol: st.symbol, size: st.size, color: total ? "#222" : "#333", line: { color: "#222", width: 1.6 } },
        ...(total ? { error_x: { ...errorBars(pts.map((p) => p.r!)), color: "#222" } } : {}),
        customdata: pts.map((p) => [p.s.label, p.r!.n]), hovertemplate: `%{customdata[0]}<br>${b}: %{x:.3g}× (n = %{customdata[1]})<extra></extra>`,
      });
    }
    annotations.push(panelTitle(`${grade}${stages.length > 1 ? ` · ${STAGE_LABELS[stage] ?? stage}` : ""}`, d));
    layout[ax.xaxis] = axisStyle({
      type: "log", range: [Math.log10(lo), Math.log10(hi)], ...logTicks(lo, hi, 5), domain: d.x, anchor: ax.y, tickangle: 0,
    });
    if (row === nr - 1) bottomRow.push(d.x);
    layout[ax.yaxis] = axisStyle({
      type: "linear", range: [-0.5, series.length - 0.5], domain: d.y, anchor: ax.x, showgrid: false, ticks: "", zeroline: false,
      tickvals: series.map((_, k) => yOf(k)), ticktext: series.map((s) => `<span style="color:${systemColor(s.system)}">■</span> ${s.label}`),
      showticklabels: firstInRow,
    });
    // 1× reference: no reduction.
    data.push({ type: "scatter", mode: "lines", xaxis: ax.x, yaxis: ax.y, x: [1, 1], y: [-0.5, series.length - 0.5], line: { color: "#999", width: 1 }, showlegend: false, hoverinfo: "skip" });
  }
  // One axis title under the bottom row, centred: one per panel overlapped its neighbours' at three panels in 15 cm.
  if (bottomRow.length) {
    const [x0, x1] = [Math.min(...bottomRow.map((x) => x[0]!)), Math.max(...bottomRow.map((x) => x[1]!))];
    annotations.push({ xref: "paper", yref: "paper", x: (x0 + x1) / 2, y: 0, yanchor: "top", yshift: -(TICK_SIZE + 8), showarrow: false, text: "reduction factor (log scale)", font: { size: FONT_SIZE, color: "#000" } });
  }
  Object.assign(layout, { annotations, margin: m });
  const measuredNote = repeatsNote(measuredRows.filter((r) => r.quantity === "L0→L3")).replace("error bars", "bars on the total");
  return {
    name: `potential${slice.suffix ? `-${slice.suffix}` : ""}`,
    title: "Measured reduction vs potential",
    caption:
      `Measured vs potential. Black symbols: the reduction factor the system achieved at each layer boundary (L0→L1 ○ written → DB-logical, L1→L2 □ DB-logical → DB-physical, L2→L3 ◇ DB-physical → storage per replica, ● the total L0→L3 = EDR per replica), from the bytes the stored dataset occupies at each layer, ${measuredNote}. ` +
      `Coloured bars: what the dataset's bytes allow (computed once per dataset, outside every clock): the unit-level ideal (logical / distinct units), fixed-block dedup at 4 KiB and FastCDC 2020 (average 8 KiB, min 2 KiB, max 32 KiB, normalization 1) dedup (logical / distinct chunks, each unit chunked on its own), ` +
      `zstd level 3 of the distinct data (independent 128 KiB segments) and dedup+zstd-3 (logical / compressed distinct units). Log axis; grey line: 1× (no reduction). Workload: ${slice.label}.` +
      noFactorNote(noFactor) +
      leftOutCaption(opts.leftOut),
    data, layout, width, height,
  };
}
