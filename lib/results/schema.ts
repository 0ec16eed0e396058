// The run bundle's tables. One long-format results table (one value per row) plus side
// tables for histograms, raw latency samples and time series. Column order and types are
// the contract with analysis, notebooks and anyone reading the .arrow files directly.
import { Bool, Field, Float64, Int32, Schema, TimestampMillisecond, Utf8, type DataType } from "apache-arrow";

export const BUNDLE_SCHEMA_VERSION = "1";
export const SCHEMA_METADATA_KEY = "dedup_lab_schema";

type Kind = "string" | "number" | "int" | "bool" | "timestamp";
const TYPES: Record<Kind, () => DataType> = {
  string: () => new Utf8(),
  number: () => new Float64(),
  int: () => new Int32(),
  bool: () => new Bool(),
  timestamp: () => new TimestampMillisecond(),
};

export interface TableSpec<R> {
  file: string;
  columns: { [K in keyof R]: Kind };
}

function arrowSchema<R>(spec: TableSpec<R>): Schema {
  const fields = Object.entries(spec.columns).map(([name, kind]) => new Field(name, TYPES[kind as Kind](), true));
  return new Schema(fields, new Map([[SCHEMA_METADATA_KEY, BUNDLE_SCHEMA_VERSION]]));
}

/** Dimensions that identify a matrix cell; repeated on every row so any table stands alone. */
export interface CellDims {
  run_id: string;
  cell_id: string;
  system: string;
  variant: string;
  payload: string;
  unit_size: string;
  n_units: number;
  dup_fraction: number;
  grade: string;
  granularity: string;
  placement: string;
  /** blob (opaque units) or typed (one record per unit in typed columns). Bundles written before it: read as blob. */
  insertion: string;
  /** Typed cells' key mode: surrogate or natural; "" for blob cells. */
  keys: string;
  cache_state: string;
  repeat: number;
  /** The storage layer under the system (L3): thin, replicated×3, compressed, dedup, longhorn, file-blocks, none. */
  storage_profile: string;
}

const CELL_COLUMNS = {
  run_id: "string", cell_id: "string", system: "string", variant: "string", payload: "string", unit_size: "string",
  n_units: "int", dup_fraction: "number", grade: "string", granularity: "string", placement: "string",
  insertion: "string", keys: "string", cache_state: "string", repeat: "int", storage_profile: "string",
} as const;

/**
 * results.arrow — one measured value per row.
 * stage: bulk_insert | perfile_insert | perfile_delete | maintenance | dataset
 * layer: L0 (manifest) | L1 | L2 | L3 | "" ; phase: before | after | delta | "" ;
 * replica: storage replica id for L3 rows ("" otherwise); value null ⇒ see reason; valid=false ⇒ do not use.
 */
export interface ResultRow extends CellDims {
  timestamp: number;
  stage: string;
  replica: string;
  layer: string;
  phase: string;
  metric: string;
  value: number | null;
  unit: string;
  valid: boolean;
  reason: string;
}

export const RESULTS: TableSpec<ResultRow> = {
  file: "results.arrow",
  columns: {
    ...CELL_COLUMNS, timestamp: "timestamp", stage: "string", replica: "string", layer: "string", phase: "string",
    metric: "string", value: "number", unit: "string", valid: "bool", reason: "string",
  },
};

/** histograms.arrow — HdrHistogram (ns, compressed base64) per cell × stage × operation. */
export interface HistogramRow extends CellDims {
  stage: string;
  operation: string;
  count: number;
  hdr: string;
}
export const HISTOGRAMS: TableSpec<HistogramRow> = {
  file: "histograms.arrow",
  columns: { ...CELL_COLUMNS, stage: "string", operation: "string", count: "int", hdr: "string" },
};

/** latencies.arrow — every timed operation, in order. */
export interface LatencyRow {
  run_id: string;
  cell_id: string;
  stage: string;
  seq: number;
  latency_ns: number;
}
export const LATENCIES: TableSpec<LatencyRow> = {
  file: "latencies.arrow",
  columns: { run_id: "string", cell_id: "string", stage: "string", seq: "int", latency_ns: "number" },
};

/** timeseries.arrow — raw size-over-time samples per phase (e.g. Prometheus query_range). */
export interface TimeseriesRow {
  run_id: string;
  cell_id: string;
  system: string;
  stage: string;
  source: string;
  metric: string;
  replica: string;
  volume: string;
  t: number;
  value: number | null;
}
export const TIMESERIES: TableSpec<TimeseriesRow> = {
  file: "timeseries.arrow",
  columns: {
    run_id: "string", cell_id: "string", system: "string", stage: "string", source: "string", metric: "string",
    replica: "string", volume: "string", t: "timestamp", value: "number",
  },
};

export function schemaOf<R>(spec: TableSpec<R>): Schema {
  return arrowSchema(spec);
}

/**
 * The validity rule, in one place: a row is valid iff it has a value and no reason. Every
 * reason (stale reading, unsettled layer, dirty baseline, negative reclaim, flagged bulk, …)
 * makes its row invalid; informational text never goes into `reason`.
 */
export function rowValid(value: number | null, reason: string): boolean {
  return value !== null && Number.isFinite(value) && reason === "";
}

/** Rows that describe a cell rather than a measured stage: the dataset's ground truth (L0) and the empty cell's baseline. */
export function isStageRow(stage: string): boolean {
  return stage !== "dataset" && stage !== "prepare";
}

/** Readable insertion of a cell: "blob", "typed·surrogate", "typed·natural" (legends, tables, the plan). */
export function insertionLabel(insertion: string | null | undefined, keys: string | null | undefined): string {
  return insertion === "typed" ? `typed·${keys || "surrogate"}` : "blob";
}
