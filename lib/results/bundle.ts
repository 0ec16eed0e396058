// A run bundle is a directory you can hand to someone (BenchBase's habit): what exactly
// was run, on what, and what came out — readable without dedup-lab (Arrow + JSON).
//
// While a run is going, each finished cell is written alone to cells/<cell>.json by
// atomic rename and noted in journal.jsonl, so a crash or Ctrl-C loses nothing finished.
// finalize() folds the cells into the Arrow tables.
import { appendFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Table } from "apache-arrow";
import { UsageError } from "../errors.js";
import { readArrowFile, rowsToTable, writeArrowFile } from "./arrow-io.js";
import {
  BUNDLE_SCHEMA_VERSION, HISTOGRAMS, LATENCIES, RESULTS, TIMESERIES,
  type HistogramRow, type LatencyRow, type ResultRow, type TimeseriesRow,
} from "./schema.js";

export interface BundleMeta {
  schema: string;
  run_id: string;
  created: string;
  updated: string;
  status: "running" | "complete" | "partial" | "interrupted";
  cells_total: number;
  cells_done: number;
  cells_failed: number;
  config_fingerprint: string;
  /** Shards of one study (`run --shard i/N`) share this id; absent for a whole run. */
  study_id?: string;
  /** This bundle is shard index/count of its study (1-based). */
  shard?: { index: number; count: number };
  /** A merged bundle (`dedup-lab merge`): every shard's provenance; its files are under shards/<run_id>/. */
  merged_from?: MergedShard[];
}

export interface MergedShard {
  run_id: string;
  shard: string | null;
  host: string | null;
  started: string;
  ended: string;
  status: BundleMeta["status"];
  cells: number;
}

export interface SnapshotRecord {
  cell_id: string;
  system: string;
  stage: string;
  point: "before" | "after";
  data: unknown;
}

export interface CellRecord {
  cell_id: string;
  status: "done" | "failed";
  error?: string;
  rows: ResultRow[];
  histograms: HistogramRow[];
  latencies: LatencyRow[];
  snapshots: SnapshotRecord[];
  timeseries: TimeseriesRow[];
}

export interface JournalEntry {
  cell_id: string;
  event: "start" | "done" | "failed";
  at: string;
  error?: string;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await rename(tmp, path);
}

export class RunBundle {
  private constructor(
    readonly dir: string,
    public meta: BundleMeta,
  ) {}

  /** A new bundle in `dir`, which must be absent or empty. */
  static async create(dir: string, meta: Omit<BundleMeta, "schema" | "created" | "updated" | "status" | "cells_done" | "cells_failed">): Promise<RunBundle> {
    if (existsSync(dir) && (await readdir(dir)).length > 0) {
      throw new UsageError(`output directory ${dir} is not empty`, "pass a new --out directory, or --resume it to continue that run");
    }
    await mkdir(join(dir, "cells"), { recursive: true });
    await mkdir(join(dir, "manifests"), { recursive: true });
    const now = new Date().toISOString();
    const bundle = new RunBundle(dir, { ...meta, schema: BUNDLE_SCHEMA_VERSION, created: now, updated: now, status: "running", cells_done: 0, cells_failed: 0 });
    await bundle.saveMeta();
    return bundle;
  }

  static async open(dir: string): Promise<RunBundle> {
    const meta = await readMeta(dir);
    return new RunBundle(dir, meta);
  }

  async saveMeta(): Promise<void> {
    this.meta.updated = new Date().toISOString();
    await writeJsonAtomic(join(this.dir, "bundle.json"), this.meta);
  }

  writeJson(name: string, value: unknown): Promise<void> {
    return writeJsonAtomic(join(this.dir, name), value);
  }

  async writeManifest(datasetId: string, text: string): Promise<void> {
    const path = join(this.dir, "manifests", `${datasetId}.json`);
    if (existsSync(path)) return;
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  }

  hasManifest(datasetId: string): boolean {
    return existsSync(join(this.dir, "manifests", `${datasetId}.json`));
  }

  async journal(entry: Omit<JournalEntry, "at">): Promise<void> {
    await appendFile(join(this.dir, "journal.jsonl"), JSON.stringify({ ...entry, at: new Date().toISOString() }) + "\n");
  }

  async log(line: string): Promise<void> {
    await appendFile(join(this.dir, "run.log"), `${new Date().toISOString()} ${line}\n`);
  }

  async writeCell(record: CellRecord): Promise<void> {
    await writeJsonAtomic(join(this.dir, "cells", `${record.cell_id}.json`), record);
    await this.journal({ cell_id: record.cell_id, event: record.status, error: record.error });
  }

  /** Cells whose results are on disk and complete. */
  async finishedCells(): Promise<Set<string>> {
    const done = new Set<string>();
    for (const c of await readCells(this.dir)) if (c.status === "done") done.add(c.cell_id);
    return done;
  }

  /** Fold cells/*.json into the Arrow tables and snapshots.jsonl. */
  async finalize(status: BundleMeta["status"]): Promise<void> {
    const cells = await readCells(this.dir);
    await writeArrowFile(join(this.dir, RESULTS.file), RESULTS, cells.flatMap((c) => c.rows));
    await writeArrowFile(join(this.dir, HISTOGRAMS.file), HISTOGRAMS, cells.flatMap((c) => c.histograms));
    await writeArrowFile(join(this.dir, LATENCIES.file), LATENCIES, cells.flatMap((c) => c.latencies));
    await writeArrowFile(join(this.dir, TIMESERIES.file), TIMESERIES, cells.flatMap((c) => c.timeseries));
    await writeFile(join(this.dir, "snapshots.jsonl"), cells.flatMap((c) => c.snapshots).map((s) => JSON.stringify(s)).join("\n") + "\n");
    this.meta.cells_done = cells.filter((c) => c.status === "done").length;
    this.meta.cells_failed = cells.filter((c) => c.status === "failed").length;
    this.meta.status = status;
    await this.saveMeta();
  }
}

/**
 * A run that quits at once (a second Ctrl-C): bundle.json says `interrupted` with the cells on
 * disk counted, synchronously, so it holds from inside a signal handler right before exit. The
 * bundle stays consistent — finished cells are complete files, readers fold them (loadBundles)
 * — and `run --resume` continues it.
 */
export function markInterruptedSync(dir: string): void {
  const path = join(dir, "bundle.json");
  const meta = JSON.parse(readFileSync(path, "utf8")) as BundleMeta;
  const cellsDir = join(dir, "cells");
  const cells = existsSync(cellsDir) ? readdirSync(cellsDir).filter((n) => n.endsWith(".json")) : [];
  // A damaged cell file counts as not done (resume runs that cell again); the signal handler must not throw.
  const isDone = (n: string) => {
    try {
      return (JSON.parse(readFileSync(join(cellsDir, n), "utf8")) as CellRecord).status === "done";
    } catch {
      return false;
    }
  };
  const done = cells.filter(isDone).length;
  Object.assign(meta, { status: "interrupted", updated: new Date().toISOString(), cells_done: done, cells_failed: cells.length - done });
  // A fold cut short (or one from before a resume) would not match the cells: readers fold the cells instead.
  for (const f of [RESULTS.file, HISTOGRAMS.file, LATENCIES.file, TIMESERIES.file, "snapshots.jsonl"]) rmSync(join(dir, f), { force: true });
  writeFileSync(`${path}.tmp-${process.pid}`, JSON.stringify(meta, null, 2) + "\n");
  renameSync(`${path}.tmp-${process.pid}`, path);
}

export async function readMeta(dir: string): Promise<BundleMeta> {
  let text: string;
  try {
    text = await readFile(join(dir, "bundle.json"), "utf8");
  } catch {
    throw new UsageError(`${dir} is not a dedup-lab run bundle (no bundle.json)`, "pass a directory written by `dedup-lab run`");
  }
  let meta: BundleMeta;
  try {
    meta = JSON.parse(text) as BundleMeta;
  } catch (e) {
    // Damaged, not absent: saying "no bundle.json" sent the user looking for a file that is there.
    throw new UsageError(`${join(dir, "bundle.json")} is not valid JSON (${(e as Error).message}); the file is damaged or cut short`, "restore it from a copy of the bundle; its cells/ and Arrow files are not affected");
  }
  if (meta.schema !== BUNDLE_SCHEMA_VERSION) {
    throw new UsageError(`${dir} has bundle schema ${meta.schema}, this dedup-lab reads ${BUNDLE_SCHEMA_VERSION}`, "use the dedup-lab version that wrote it");
  }
  return meta;
}

async function readCells(dir: string): Promise<CellRecord[]> {
  const cellsDir = join(dir, "cells");
  if (!existsSync(cellsDir)) return [];
  const names = (await readdir(cellsDir)).filter((n) => n.endsWith(".json")).sort();
  return Promise.all(names.map(async (n) => parseCell(join(cellsDir, n), await readFile(join(cellsDir, n), "utf8"))));
}

function parseCell(path: string, text: string): CellRecord {
  try {
    return JSON.parse(text) as CellRecord;
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${(e as Error).message}); the cell file is damaged or cut short`, "delete that file; `dedup-lab run --resume` on the bundle runs the cell again");
  }
}

export interface LoadedBundles {
  metas: BundleMeta[];
  results: Table;
  histograms: Table;
  latencies: Table;
  timeseries: Table;
}

/** Load one or many bundles into one Arrow table per kind (bundles cut short are read from their cells). */
export async function loadBundles(dirs: string[]): Promise<LoadedBundles> {
  if (dirs.length === 0) throw new UsageError("no run bundle given", "pass one or more RUN_DIR paths (e.g. results/<run_id>)");
  const metas: BundleMeta[] = [];
  const parts = { results: [] as Table[], histograms: [] as Table[], latencies: [] as Table[], timeseries: [] as Table[] };
  for (const dir of dirs) {
    metas.push(await readMeta(dir));
    const finalized = existsSync(join(dir, RESULTS.file));
    const cells = finalized ? [] : await readCells(dir);
    const load = async <R>(spec: { file: string }, fromCells: () => R[], tableSpec: Parameters<typeof rowsToTable<R>>[0]) =>
      finalized && existsSync(join(dir, spec.file)) ? readArrowFile(join(dir, spec.file)) : rowsToTable(tableSpec, fromCells());
    parts.results.push(await load(RESULTS, () => cells.flatMap((c) => c.rows), RESULTS));
    parts.histograms.push(await load(HISTOGRAMS, () => cells.flatMap((c) => c.histograms), HISTOGRAMS));
    parts.latencies.push(await load(LATENCIES, () => cells.flatMap((c) => c.latencies), LATENCIES));
    parts.timeseries.push(await load(TIMESERIES, () => cells.flatMap((c) => c.timeseries), TIMESERIES));
  }
  const concat = (ts: Table[]) => ts.slice(1).reduce((a, t) => a.concat(t), ts[0]!);
  return {
    metas,
    results: concat(parts.results),
    histograms: concat(parts.histograms),
    latencies: concat(parts.latencies),
    timeseries: concat(parts.timeseries),
  };
}
