// Bundles as arquero data frames. The Arrow tables of `loadBundles` become arquero
// ColumnTables (Arrow-backed, no copy of the column data beyond IPC decode), so the
// analysis helpers read like the question they answer: filter → groupby → rollup.
import * as aq from "arquero";
import { tableToIPC, type Table } from "apache-arrow";
import type { ColumnTable } from "arquero";
import { formatBytes } from "../bytes.js";
import { loadBundles, type BundleMeta, type LoadedBundles } from "../results/bundle.js";
import { insertionLabel } from "../results/schema.js";

export type Frame = ColumnTable;

export interface LabFrames {
  metas: BundleMeta[];
  results: Frame;
  histograms: Frame;
  latencies: Frame;
  timeseries: Frame;
}

const converted = new WeakMap<Table, Frame>();

/** An apache-arrow Table (e.g. from `loadBundles`) or an arquero table, as an arquero table. */
export function frame(t: Table | Frame): Frame {
  if (t instanceof aq.ColumnTable) return withStorageProfile(t, false);
  let f = converted.get(t);
  if (!f) {
    // arquero 8 reads Arrow through flechette: hand it IPC bytes (its types reject an apache-arrow Table).
    // Timestamps stay epoch-ms numbers, as in the bundle's own row objects. Columns are then
    // materialized once: Arrow-backed strings would be UTF-8 decoded again on every row access.
    const arrow = aq.fromArrow(tableToIPC(t, "stream"), { useDate: false });
    f = withStorageProfile(aq.table(Object.fromEntries(arrow.columnNames().map((name) => [name, arrow.array(name)]))), true);
    converted.set(t, f);
  }
  return f;
}

/**
 * Cell tables of bundles written before `storage_profile`, `insertion` or `keys` existed get them
 * with the values those runs had: storage_profile "", insertion "blob", keys "" (one set of
 * configuration dimensions everywhere; a null left by a cell file without them reads the same —
 * filled once, when an Arrow table is converted: frames built by hand are taken as they are).
 */
function withStorageProfile(f: Frame, fillNulls: boolean): Frame {
  const cols = f.columnNames();
  if (!cols.includes("cell_id") || !cols.includes("system")) return f;
  const add: Record<string, string> = {};
  if (!cols.includes("storage_profile")) add.storage_profile = "() => ''";
  if (!cols.includes("insertion")) add.insertion = "() => 'blob'";
  else if (fillNulls && hasNull(f, "insertion")) add.insertion = "d => d.insertion == null || d.insertion === '' ? 'blob' : d.insertion";
  if (!cols.includes("keys")) add.keys = "() => ''";
  else if (fillNulls && hasNull(f, "keys")) add.keys = "d => d.keys == null ? '' : d.keys";
  return Object.keys(add).length ? f.derive(add) : f;
}

function hasNull(f: Frame, column: string): boolean {
  for (const v of f.array(column) as Iterable<unknown>) if (v === null || v === undefined) return true;
  return false;
}

/** Frames of bundles already loaded with `loadBundles`. */
export function framesOf(b: LoadedBundles): LabFrames {
  return { metas: b.metas, results: frame(b.results), histograms: frame(b.histograms), latencies: frame(b.latencies), timeseries: frame(b.timeseries) };
}

/** Load one or many run bundles as arquero frames (throws UsageError on a missing or incompatible bundle). */
export async function loadFrames(dirs: string[]): Promise<LabFrames> {
  return framesOf(await loadBundles(dirs));
}

/** The dimensions that make two cells the same configuration (everything but run, cell and repeat). */
export const CONFIG_DIMS = ["system", "variant", "storage_profile", "payload", "granularity", "placement", "insertion", "keys", "unit_size", "n_units", "grade", "dup_fraction"] as const;
export type ConfigDim = (typeof CONFIG_DIMS)[number];

/** The configuration of a cell (CONFIG_DIMS), as every aggregated analysis row carries it. */
export interface ConfigFields {
  system: string;
  variant: string;
  storage_profile: string;
  payload: string;
  granularity: string;
  placement: string;
  /** blob or typed (bundles written before typed insertion: blob). */
  insertion: string;
  /** Typed cells' key mode (surrogate, natural); "" for blob cells. */
  keys: string;
  unit_size: string;
  n_units: number;
  grade: string;
  dup_fraction: number;
}

export { insertionLabel };

/** One row per cell (run_id, cell_id) with its dimensions, from the results table. */
export function cellsOf(results: Table | Frame): Frame {
  return frame(results)
    .select("run_id", "cell_id", "repeat", ...CONFIG_DIMS)
    .dedupe("run_id", "cell_id");
}

/** Plain row objects of a frame, typed. */
export function rowsOf<R>(f: Frame): R[] {
  return f.objects() as R[];
}

/** "100 × 16 KiB": the dataset size of a cell, for captions and column heads. */
export function datasetLabel(nUnits: number, unitSize: string): string {
  const pretty = (b: string) => formatBytes(Number(b)).replace(/\.0+ /, " ").replace(/(\.\d*?)0+ /, "$1 ");
  const size = unitSize.includes("..") ? unitSize.split("..").map(pretty).join("–") : pretty(unitSize);
  return `${nUnits} × ${size}`;
}

/** Numeric order of grade labels (U0 < U50 < U90 < U95 < U99 < U99.9), unknown ones last. */
export function gradeOrder(grade: string): number {
  const m = /^U(\d+(?:\.\d+)?)$/.exec(grade);
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

export const STAGE_ORDER = ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"] as const;

export const STAGE_LABELS: Record<string, string> = {
  bulk_insert: "bulk insert",
  perfile_insert: "per-unit insert",
  perfile_delete: "per-unit delete",
  maintenance: "maintenance",
};

export function stageOrder(stage: string): number {
  const i = (STAGE_ORDER as readonly string[]).indexOf(stage);
  return i < 0 ? STAGE_ORDER.length : i;
}

/** Distinct values of a column, in first-seen order (or sorted by `order`). */
export function distinct<T = string>(f: Frame, column: string, order?: (v: T) => number): T[] {
  const seen: T[] = [];
  const set = new Set<T>();
  for (const v of f.array(column) as Iterable<T>) {
    if (!set.has(v)) {
      set.add(v);
      seen.push(v);
    }
  }
  return order ? seen.sort((a, b) => order(a) - order(b)) : seen;
}
