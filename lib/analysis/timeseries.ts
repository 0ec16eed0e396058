// Size over time per phase (figure e), where a storage layer delivered a time series
// (e.g. Prometheus query_range); embedded systems have none.
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { frame, type Frame } from "./frames.js";

export interface TimeseriesPoint {
  run_id: string;
  cell_id: string;
  system: string;
  stage: string;
  metric: string;
  replica: string;
  /** Seconds since the first sample of this cell × stage. */
  t_s: number;
  value: number;
  /** Where the sample came from (sampler, settle, prometheus, …), when the bundle records it. */
  source?: string;
}

/** Time series samples with a relative time axis (seconds since each cell × stage began sampling). */
export function timeseriesTable(timeseries: Table | Frame): Frame {
  const f = frame(timeseries).filter((d: { value: number | null }) => d.value !== null);
  if (f.numRows() === 0) return aq.table(Object.fromEntries(["run_id", "cell_id", "system", "stage", "metric", "replica", "t_s", "value"].map((k) => [k, []])));
  // source (sampler: during the stage; settle: the polls after it) tells where the stage ended.
  const keep = ["run_id", "cell_id", "system", "stage", "metric", "replica", "t_s", "value", ...(f.columnNames().includes("source") ? ["source"] : [])];
  return f
    .groupby("run_id", "cell_id", "stage", "metric", "replica")
    .derive({ t_s: (d: { t: number }) => (d.t - aq.op.min(d.t)) / 1000 })
    .ungroup()
    .select(...keep)
    .orderby("run_id", "cell_id", "stage", "metric", "replica", "t_s");
}

export function hasTimeseries(timeseries: Table | Frame): boolean {
  return frame(timeseries).filter((d: { value: number | null }) => d.value !== null).numRows() > 0;
}
