// The thesis set: every figure (a)–(e) and every table for the bundles given, per workload
// slice. `dedup-lab figures|tables` and notebooks 20/30 call exactly these functions.
import { edrTable, type EdrMetric } from "./edr.js";
import { edrFigure, latencyFigure, sizesFigure, throughputFigure, timeseriesFigure, type DatasetSizeRow } from "./figures.js";
import type { FigureSpec } from "./figure-style.js";
import { rowsOf, type Frame, type LabFrames } from "./frames.js";
import { latencyCurve, latencyPercentiles, latencySpectrum, latencyTable } from "./latency.js";
import { inSlice, slicesOf } from "./slices.js";
import { datasetSizes, sizeTable } from "./sizes.js";
import { edrThesisTable, latencyThesisTable, type ThesisTable, type Interval } from "./thesis-tables.js";
import { throughputTable } from "./throughput.js";
import { hasTimeseries, timeseriesTable } from "./timeseries.js";

export interface ThesisFigures {
  figures: FigureSpec[];
  /** Figures that could not be drawn and why (e.g. "no time series in these bundles"). */
  notes: string[];
}

/** The workload slices that have measured stages (dataset rows alone do not make a slice). */
function measuredSlices(f: LabFrames) {
  return slicesOf(f.results.filter((d: { stage: string }) => d.stage !== "dataset"));
}

export function thesisFigures(f: LabFrames, opts: { edrMetric?: EdrMetric } = {}): ThesisFigures {
  const figures: FigureSpec[] = [];
  const notes: string[] = [];
  const edr = edrTable(f.results);
  const sizes = sizeTable(f.results);
  const ds = datasetSizes(f.results);
  const tp = throughputTable(f.results);
  const curve = latencyCurve(f.latencies, f.results);
  let spectrum: Frame | undefined; // merged HdrHistograms, only needed for bundles without raw samples
  const pct = latencyPercentiles(f.latencies, f.results);
  const nonEmpty = (fr: Frame) => fr.numRows() > 0;
  for (const slice of measuredSlices(f)) {
    const e = inSlice(edr, slice);
    if (nonEmpty(e)) figures.push(edrFigure(e, { metric: opts.edrMetric, slice }));
    else notes.push(`${slice.label}: no EDR rows (no insert stage ran)`);
    const s = inSlice(sizes, slice);
    if (nonEmpty(s)) figures.push(sizesFigure(s, rowsOf<DatasetSizeRow>(inSlice(ds, slice)), { slice }));
    // Raw samples give the exact type-7 curve; the HdrHistograms stand in where a bundle has none.
    const c = inSlice(curve, slice);
    const sp = nonEmpty(c) ? c : inSlice((spectrum ??= latencySpectrum(f.histograms)), slice);
    if (nonEmpty(sp)) figures.push(latencyFigure(sp, inSlice(pct, slice), { slice, source: nonEmpty(c) ? "samples" : "histograms" }));
    else notes.push(`${slice.label}: no latency samples or histograms`);
    const t = inSlice(tp, slice);
    if (nonEmpty(t)) figures.push(throughputFigure(t, { slice }));
  }
  if (hasTimeseries(f.timeseries)) {
    const fig = timeseriesFigure(timeseriesTable(f.timeseries));
    if (fig) figures.push(fig);
  } else {
    notes.push("no time series in these bundles: figure (e) size over time needs a storage layer that samples sizes (e.g. Prometheus); embedded systems record none");
  }
  return { figures, notes };
}

export interface ThesisTableOptions {
  /** "sd": mean ± SD (n) (default); "ci": mean with the 95 % t interval. */
  interval?: Interval;
}

export function thesisTables(f: LabFrames, opts: ThesisTableOptions = {}): ThesisTable[] {
  const edr = edrTable(f.results);
  const lat = latencyTable(f.latencies, f.results);
  const tables: ThesisTable[] = [];
  for (const metric of ["edr_cluster", "edr_replica"] as const) {
    for (const stage of ["bulk_insert", "perfile_insert"]) {
      const t = edrThesisTable(edr, { metric, stage, interval: opts.interval });
      if (t) tables.push(t);
    }
  }
  const l = latencyThesisTable(lat, { interval: opts.interval });
  if (l) tables.push(l);
  return tables;
}
