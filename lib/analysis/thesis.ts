// The thesis set: every figure (a)–(g) and every table for the bundles given, per workload
// slice. `dedup-lab figures|tables` and notebooks 20/30 call exactly these functions.
import { isStageRow } from "../results/schema.js";
import * as aq from "arquero";
import { edrTable, type EdrMetric } from "./edr.js";
import { edrFigure, latencyFigure, potentialFigure, reductionFigure, sizesFigure, throughputFigure, timeseriesFigure, type DatasetSizeRow } from "./figures.js";
import { printSize, type FigureSpec, type PrintSize } from "./figure-style.js";
import { leftOut, leftOutNote } from "./cells.js";
import { rowsOf, STAGE_LABELS, type Frame, type LabFrames } from "./frames.js";
import { latencyCurve, latencyPercentiles } from "./latency.js";
import { inSlice, slicesOf, type Slice } from "./slices.js";
import { datasetSizes, sizeTable } from "./sizes.js";
import { reductionTable } from "./reduction.js";
import { hasPotential, potentialFrame } from "./potential.js";
import { edrThesisTable, latencyRepeatsThesisTable, latencyThesisTable, potentialThesisTable, reductionThesisTable, type ThesisTable, type Interval } from "./thesis-tables.js";
import { throughputTable } from "./throughput.js";
import { hasTimeseries, timeseriesTable } from "./timeseries.js";

export interface ThesisFigures {
  figures: FigureSpec[];
  /** Figures that could not be drawn and why (e.g. "no time series in these bundles"). */
  notes: string[];
}

/** The workload slices that have measured stages (dataset rows alone do not make a slice). */
function measuredSlices(f: LabFrames) {
  return slicesOf(f.results.filter(aq.escape((d: { stage: string }) => isStageRow(d.stage))));
}

export interface ThesisFigureOptions {
  edrMetric?: EdrMetric;
  /** The printed size of every figure (printSize(): 15 cm text width by default). */
  size?: PrintSize;
}

/**
 * A grade × stage figure that had to be squeezed to the page height is split into one figure per
 * stage (names suffixed with the stage), so each fits a page with its caption.
 */
function perStageIfSqueezed(fig: FigureSpec, frame: Frame, size: PrintSize, build: (fr: Frame, stage?: string) => FigureSpec): FigureSpec[] {
  const stages = [...new Set(rowsOf<{ stage: string }>(frame).map((r) => r.stage))];
  if (size.height !== undefined || fig.height < size.maxHeight || stages.length < 2) return [fig];
  return stages.map((stage) => {
    const one = build(frame.filter(aq.escape((d: { stage: string }) => d.stage === stage)), stage);
    const label = STAGE_LABELS[stage] ?? stage;
    return { ...one, name: `${one.name}-${stage}`, title: `${one.title}, ${label}`, caption: `${label} stage. ${one.caption}` };
  });
}

export function thesisFigures(f: LabFrames, opts: ThesisFigureOptions = {}): ThesisFigures {
  const size = opts.size ?? printSize();
  const figures: FigureSpec[] = [];
  const notes: string[] = [];
  const edr = edrTable(f.results);
  const sizes = sizeTable(f.results);
  const ds = datasetSizes(f.results);
  const tp = throughputTable(f.results);
  const red = reductionTable(f.results);
  const pot = potentialFrame(f.results);
  // The one statistics path (cells.ts): pooled raw samples, merged HdrHistograms where a bundle has none.
  const curve = latencyCurve(f);
  const pct = latencyPercentiles(f);
  const nonEmpty = (fr: Frame) => fr.numRows() > 0;
  const invalid = leftOut(f.results);
  const leftOutOf = (slice: Slice, metric: (m: string) => boolean) =>
    leftOutNote(inSlice(invalid, slice).filter(aq.escape((d: { metric: string }) => metric(d.metric)))) || undefined;
  for (const slice of measuredSlices(f)) {
    const e = inSlice(edr, slice);
    const edrMetric = opts.edrMetric ?? "edr_cluster";
    if (nonEmpty(e)) figures.push(edrFigure(e, { metric: opts.edrMetric, slice, size, leftOut: leftOutOf(slice, (m) => m === edrMetric) }));
    else notes.push(`${slice.label}: no EDR rows (no insert stage ran)`);
    const s = inSlice(sizes, slice);
    if (nonEmpty(s)) figures.push(sizesFigure(s, rowsOf<DatasetSizeRow>(inSlice(ds, slice)), { slice, size, leftOut: leftOutOf(slice, (m) => m === "size_bytes") }));
    const c = inSlice(curve, slice);
    if (nonEmpty(c)) figures.push(latencyFigure(c, inSlice(pct, slice), { slice, size, leftOut: leftOutOf(slice, (m) => m.startsWith("latency_")) }));
    else notes.push(`${slice.label}: no latency samples or histograms`);
    const t = inSlice(tp, slice);
    if (nonEmpty(t)) figures.push(throughputFigure(t, { slice, size, leftOut: leftOutOf(slice, (m) => m.startsWith("throughput_")) }));
    // (f) where did the reduction happen: bundles with stored_bytes rows only (older bundles have none).
    const r = inSlice(red, slice);
    if (nonEmpty(r)) {
      const build = (fr: Frame) => reductionFigure(fr, { slice, size, leftOut: leftOutOf(slice, (m) => m === "stored_bytes") });
      figures.push(...perStageIfSqueezed(build(r), r, size, build));
    }
    // (g) measured vs potential: bundles with potential_* rows (older bundles have none).
    const p = inSlice(pot, slice);
    if (hasPotential(p)) {
      const build = (fr: Frame) => potentialFigure(fr, { slice, size, leftOut: leftOutOf(slice, (m) => m === "stored_bytes" || m.startsWith("potential_")) });
      figures.push(...perStageIfSqueezed(build(p), p, size, build));
    }
  }
  if (hasTimeseries(f.timeseries)) {
    const fig = timeseriesFigure(timeseriesTable(f.timeseries), undefined, { size });
    if (fig) figures.push(fig);
  } else {
    notes.push("no time series in these bundles: figure (e) size over time needs a storage layer that samples sizes (e.g. Prometheus); embedded systems record none");
  }
  return { figures, notes };
}

export interface ThesisTableOptions {
  /** "sd": mean ± SD (n) (default); "ci": geometric mean with the 95 % t interval on the log scale. */
  interval?: Interval;
}

export function thesisTables(f: LabFrames, opts: ThesisTableOptions = {}): ThesisTable[] {
  const edr = edrTable(f.results);
  const lat = latencyPercentiles(f);
  const invalid = leftOut(f.results);
  const note = (metric: (m: string) => boolean, stage?: string) =>
    leftOutNote(invalid.filter(aq.escape((d: { metric: string; stage: string }) => metric(d.metric) && (stage === undefined || d.stage === stage)))) || undefined;
  const tables: ThesisTable[] = [];
  for (const metric of ["edr_cluster", "edr_replica"] as const) {
    for (const stage of ["bulk_insert", "perfile_insert"]) {
      const t = edrThesisTable(edr, { metric, stage, interval: opts.interval, leftOut: note((m) => m === metric, stage) });
      if (t) tables.push(t);
    }
  }
  const latencyLeftOut = note((m) => m.startsWith("latency_"));
  for (const t of [latencyThesisTable(lat, { interval: opts.interval, leftOut: latencyLeftOut }), latencyRepeatsThesisTable(lat, { leftOut: latencyLeftOut })]) if (t) tables.push(t);
  const r = reductionThesisTable(reductionTable(f.results), { interval: opts.interval, leftOut: note((m) => m === "stored_bytes") });
  if (r) tables.push(r);
  const p = potentialThesisTable(potentialFrame(f.results), { interval: opts.interval, leftOut: note((m) => m === "stored_bytes" || m.startsWith("potential_")) });
  if (p) tables.push(p);
  return tables;
}
