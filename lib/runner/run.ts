// Runs a matrix: per cell prepare → bulk_insert → measure → reset → perfile_insert →
// measure → perfile_delete → measure → maintenance → measure → cleanup. Sizes are taken
// right before and after every stage; cleanup always runs; a failing cell records its
// error and the run goes on; every finished cell is on disk before the next starts.
import { exec } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { errorMessage, UsageError } from "../errors.js";
import { stagedProvenance } from "../data/payload.js";
import { Dataset } from "../generators/dataset.js";
import { manifestHeader, manifestText, manifestUnit } from "../generators/manifest.js";
import { edr, reductionRatio } from "../metrics/edr.js";
import { encodeHistogram } from "../metrics/histogram.js";
import { MeasuredSystem, StageFailure, type StageMeasurement } from "../metrics/measured-system.js";
import { summarize } from "../metrics/stats.js";
import { storageLayerFor, type L3Reading, type PhaseWindow, type StorageLayerSource } from "../metrics/storage-layer.js";
import "../metrics/prometheus-storage.js"; // registers the "prometheus" (Longhorn) storage-layer source
import { RunBundle, type CellRecord } from "../results/bundle.js";
import { Redactor, secretEnvNames } from "../results/redact.js";
import type { CellDims, ResultRow } from "../results/schema.js";
import type { LabSystem, SizeReading, Stage } from "../systems/contract.js";
import { systemDefinition } from "../systems/registry.js";
import type { RunConfig } from "./config.js";
import { collectEnvironment } from "./environment.js";
import { cellDims, configFingerprint, expandMatrix, planCell, type Cell } from "./matrix.js";

/** Listeners for progress displays, live metrics and event streams. All optional. */
export interface RunEvents {
  runStart?(info: { runId: string; dir: string; cells: number; skipped: number; bytes: number }): void | Promise<void>;
  cellStart?(cell: Cell, index: number, total: number): void | Promise<void>;
  stageStart?(cell: Cell, stage: Stage): void | Promise<void>;
  stageEnd?(cell: Cell, stage: Stage, m: { durationNs: number; bytes: number; units: number; samples: Float64Array }): void | Promise<void>;
  cellEnd?(cell: Cell, record: { status: "done" | "failed"; error?: string; bytes: number }): void | Promise<void>;
  runEnd?(info: { runId: string; dir: string; done: number; failed: number; interrupted: boolean }): void | Promise<void>;
  log?(line: string): void;
}

export interface RunOptions {
  /** Bundle directory: a new one (must be empty) or, with resume, an existing bundle. */
  dir?: string;
  resume?: boolean;
  events?: RunEvents[];
  /** Stops the run between operations (Ctrl-C); the current cell is recorded failed. */
  signal?: AbortSignal;
}

export interface RunResult {
  runId: string;
  dir: string;
  done: number;
  failed: number;
  skipped: number;
  interrupted: boolean;
}

export function newRunId(date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}

const sh = promisify(exec);

class Interrupted extends Error {
  constructor() {
    super("interrupted by signal");
  }
}

async function emit<K extends keyof RunEvents>(events: RunEvents[], name: K, ...args: Parameters<NonNullable<RunEvents[K]>>): Promise<void> {
  for (const e of events) await (e[name] as ((...a: unknown[]) => unknown) | undefined)?.apply(e, args);
}

export async function runMatrix(cfg: RunConfig, opts: RunOptions = {}): Promise<RunResult> {
  const events = opts.events ?? [];
  const redact = new Redactor(secretEnvNames(cfg.source));
  // Every cell's dataset is planned before anything is written: an impossible cell (e.g. a real
  // payload with too few distinct units for a grade) is bad input, not a half-made bundle.
  for (const cell of expandMatrix(cfg, "check")) planCell(cell, cfg);
  let bundle: RunBundle;
  if (opts.resume) {
    if (!opts.dir) throw new UsageError("resume needs the run directory", "pass --resume results/<run_id>");
    bundle = await RunBundle.open(opts.dir);
    if (bundle.meta.config_fingerprint !== configFingerprint(cfg)) {
      throw new UsageError(`${opts.dir} was written by another configuration`, "resume with the same config and flags, or start a new run");
    }
  } else {
    const runId = newRunId();
    const dir = resolve(opts.dir ?? join("results", runId));
    bundle = await RunBundle.create(dir, { run_id: runId, cells_total: 0, config_fingerprint: configFingerprint(cfg) });
    await bundle.writeJson("config.json", redact.value({ resolved: cfg.source, fingerprint: configFingerprint(cfg) }));
    await bundle.writeJson("env.json", { ...(await collectEnvironment()), staged_data: stagedProvenance(cfg.payloads) });
  }
  const runId = bundle.meta.run_id;
  const cells = expandMatrix(cfg, runId);
  const finished = await bundle.finishedCells();
  const todo = cells.filter((c) => !finished.has(c.id));
  bundle.meta.cells_total = cells.length;
  bundle.meta.status = "running";
  await bundle.saveMeta();
  const log = async (line: string) => {
    const clean = redact.text(line);
    await bundle.log(clean);
    for (const e of events) e.log?.(clean);
  };
  await log(`${opts.resume ? "resume" : "start"} run ${runId}: ${cells.length} cells, ${finished.size} already done`);
  const bytes = todo.reduce((a, c) => a + planCell(c, cfg).bytesWritten, 0);
  await emit(events, "runStart", { runId, dir: bundle.dir, cells: cells.length, skipped: finished.size, bytes });

  let done = 0;
  let failed = 0;
  let interrupted = false;
  const workRoot = resolve(cfg.workDir ?? tmpdir());
  for (const [i, cell] of todo.entries()) {
    if (opts.signal?.aborted) {
      interrupted = true;
      break;
    }
    await emit(events, "cellStart", cell, finished.size + i, cells.length);
    const record = await runCell(cell, cfg, { runId, bundle, workRoot, redact, events, log, signal: opts.signal });
    await bundle.writeCell(record);
    if (record.status === "done") done++;
    else failed++;
    if (record.error === new Interrupted().message) interrupted = true;
    const written = record.rows.filter((r) => r.metric === "logical_bytes" && r.stage !== "dataset" && !r.stage.includes("delete")).reduce((a, r) => a + (r.value ?? 0), 0);
    await emit(events, "cellEnd", cell, { status: record.status, error: record.error, bytes: written });
    if (interrupted) break;
  }
  const totalFailed = (await bundle.finishedCells()).size < cells.length;
  await bundle.finalize(interrupted ? "interrupted" : totalFailed ? "partial" : "complete");
  await log(`end run ${runId}: ${done} done, ${failed} failed${interrupted ? ", interrupted" : ""}`);
  await emit(events, "runEnd", { runId, dir: bundle.dir, done, failed, interrupted });
  return { runId, dir: bundle.dir, done, failed, skipped: finished.size, interrupted };
}

interface CellEnv {
  runId: string;
  bundle: RunBundle;
  workRoot: string;
  redact: Redactor;
  events: RunEvents[];
  log(line: string): Promise<void>;
  signal?: AbortSignal;
}

/** Builds the long-format rows of one cell. */
class CellRows {
  readonly rows: ResultRow[] = [];
  constructor(private readonly dims: CellDims) {}

  add(stage: string, metric: string, value: number | null, unit: string, extra: Partial<Pick<ResultRow, "layer" | "phase" | "replica" | "valid" | "reason">> = {}): void {
    const ok = value === null || Number.isFinite(value);
    this.rows.push({
      ...this.dims, timestamp: Date.now(), stage, metric, value: ok ? value : null, unit,
      layer: extra.layer ?? "", phase: extra.phase ?? "", replica: extra.replica ?? "",
      valid: extra.valid ?? (value !== null && ok), reason: extra.reason ?? (value === null ? "not available" : ""),
    });
  }
}

interface SizePoint {
  readings: SizeReading[];
  l3: L3Reading[];
  error?: string;
}

async function runCell(cell: Cell, cfg: RunConfig, env: CellEnv): Promise<CellRecord> {
  const dims = cellDims(cell, env.runId, cfg);
  const out = new CellRows(dims);
  const record: CellRecord = { cell_id: cell.id, status: "done", rows: out.rows, histograms: [], latencies: [], snapshots: [], timeseries: [] };
  const def = systemDefinition(cell.system.name);
  const system = def.create(cell.system.options, cfg.lab);
  const measured = new MeasuredSystem(system);
  const ds = new Dataset(cell.dataset);
  const R = cell.system.replication.app * cell.system.replication.storage;
  let l3: StorageLayerSource | undefined;
  const workDir = await mkdtemp(join(env.workRoot, `${cfg.lab.objectPrefix}${cell.key}-`));
  await env.log(`cell ${cell.id} (${cell.key}) on ${cell.system.endpoint}`);

  // Ground truth first: the manifest of this dataset (hashing happens here, outside any timer).
  if (!env.bundle.hasManifest(ds.id)) {
    const units = Array.from({ length: ds.length }, (_, i) => manifestUnit(ds, i, ds.unit(i).sha256));
    await env.bundle.writeManifest(ds.id, manifestText(manifestHeader(ds), units));
  }
  const t = ds.totals;
  out.add("dataset", "logical_bytes", t.logical_bytes, "B", { layer: "L0" });
  out.add("dataset", "unique_bytes", t.unique_bytes, "B", { layer: "L0" });
  out.add("dataset", "ideal_ratio", t.dedup_ratio, "ratio", { layer: "L0" });
  out.add("dataset", "realized_fraction", t.realized_fraction, "fraction", { layer: "L0" });
  out.add("dataset", "requested_fraction", t.requested_fraction, "fraction", { layer: "L0" });
  out.add("dataset", "n_units", t.n_units, "units", { layer: "L0" });
  out.add("dataset", "largest_group", t.largest_group, "units", { layer: "L0" });
  out.add("dataset", "replication_factor", R, "x");

  const snapshot = async (stage: string, point: "before" | "after") => {
    try {
      record.snapshots.push({ cell_id: cell.id, system: system.name, stage, point, data: env.redact.value(await system.snapshot()) });
    } catch (e) {
      record.snapshots.push({ cell_id: cell.id, system: system.name, stage, point, data: { error: env.redact.text(errorMessage(e)) } });
    }
  };
  const sizesAt = async (phase: PhaseWindow, point: "before" | "after"): Promise<SizePoint> => {
    const p: SizePoint = { readings: [], l3: [] };
    try {
      p.readings = await system.sizes();
    } catch (e) {
      p.error = env.redact.text(errorMessage(e));
    }
    try {
      p.l3 = await l3!.read(system, phase, point);
    } catch (e) {
      p.l3 = [{ replica: "all", volume: "", bytes: null, valid: false, reason: env.redact.text(errorMessage(e)) }];
    }
    return p;
  };

  let stage: Stage | "prepare" = "prepare";
  try {
    if (cell.system.preCellHook) {
      await env.log(`pre-cell hook: ${cell.system.preCellHook}`);
      await sh(cell.system.preCellHook, { timeout: 600_000, env: { ...process.env, DEDUP_LAB_CELL: cell.key, DEDUP_LAB_SYSTEM: system.name } });
    }
    l3 = storageLayerFor(cell.system.l3, { systemName: system.name, embedded: def.capabilities.embedded, prometheus: cfg.prometheus });
    await system.connect();
    await system.prepare({ lab: cfg.lab, cellKey: cell.key, variant: cell.variant, containers: ds.containers, workDir, log: (m) => void env.log(m) });

    for (const s of cfg.stages) {
      stage = s;
      if (env.signal?.aborted) throw new Interrupted();
      if (!system.capabilities.stages.includes(s)) {
        out.add(s, "stage_status", null, "", { reason: `not implemented by ${system.name}`, valid: false });
        continue;
      }
      const phase: PhaseWindow = { cellId: cell.id, system: system.name, stage: s, start: Date.now() };
      await snapshot(s, "before");
      const before = await sizesAt(phase, "before");
      await emit(env.events, "stageStart", cell, s);
      phase.start = Date.now();
      out.add(s, "stage_start", phase.start, "epoch_ms");
      let m: StageMeasurement;
      try {
        m = await runStage(s, measured, ds, cfg, cell, env.signal);
      } catch (e) {
        if (e instanceof StageFailure) recordMeasurement(out, record, s, e.partial, env.runId, cell.id, dims);
        throw e instanceof StageFailure ? e.cause : e;
      }
      phase.end = Date.now();
      out.add(s, "stage_end", phase.end, "epoch_ms");
      await emit(env.events, "stageEnd", cell, s, m);
      const after = await sizesAt(phase, "after");
      await snapshot(s, "after");
      recordMeasurement(out, record, s, m, env.runId, cell.id, dims);
      recordSizes(out, s, before, after, m.bytes, t.dedup_ratio, R);
      if (l3.series) {
        for (const x of await l3.series(system, phase).catch(() => [])) {
          record.timeseries.push({ run_id: env.runId, cell_id: cell.id, system: system.name, stage: s, ...x });
        }
      }
      if (s === "bulk_insert") await system.reset();
    }
  } catch (e) {
    record.status = "failed";
    record.error = e instanceof Interrupted ? e.message : env.redact.text(`${stage}: ${errorMessage(e)}`);
    out.add(stage, "error", null, "", { reason: record.error, valid: false });
    await env.log(`cell ${cell.id} failed: ${record.error}`);
  } finally {
    try {
      await system.cleanup();
    } catch (e) {
      await env.log(`cell ${cell.id}: cleanup failed: ${env.redact.text(errorMessage(e))} — run \`dedup-lab cleanup\``);
    }
    await system.close().catch(() => {});
    await l3?.close?.();
    ds.close();
    await rm(workDir, { recursive: true, force: true });
  }
  return record;
}

async function runStage(stage: Stage, measured: MeasuredSystem, ds: Dataset, cfg: RunConfig, cell: Cell, signal?: AbortSignal): Promise<StageMeasurement> {
  const check = function* <T>(items: Iterable<T>): Generator<T> {
    for (const x of items) {
      if (signal?.aborted) throw new Interrupted();
      yield x;
    }
  };
  switch (stage) {
    case "bulk_insert":
      return measured.bulkInsert(check(ds.batches(cfg.batchBytes)));
    case "perfile_insert":
      return measured.insertEach(check(ds.units()));
    case "perfile_delete":
      // Regenerated (outside the timer) so the ref carries the unit's hash, as the contract promises.
      return measured.deleteEach(check(ds.units()));
    case "maintenance":
      return measured.maintenance(cell.system.maintenance);
  }
}


const MS = 1e6;

function recordMeasurement(out: CellRows, record: CellRecord, stage: Stage, m: StageMeasurement, runId: string, cellId: string, dims: CellDims): void {
  const seconds = m.durationNs / 1e9;
  out.add(stage, "duration_s", seconds, "s");
  if (stage === "bulk_insert") out.add(stage, "generation_s", m.generationNs / 1e9, "s", { reason: "excluded from duration_s" });
  if (stage !== "maintenance") {
    out.add(stage, "units", m.units, "units");
    out.add(stage, "logical_bytes", m.bytes, "B", { layer: "L0" });
    const ok = seconds > 0 && m.units > 0;
    out.add(stage, "throughput_MBps", ok ? m.bytes / 1e6 / seconds : null, "MB/s (10^6 B/s)");
    out.add(stage, "throughput_MiBps", ok ? m.bytes / 1048576 / seconds : null, "MiB/s (2^20 B/s)");
    out.add(stage, "throughput_units_per_s", ok ? m.units / seconds : null, "units/s");
  }
  if (m.samples.length > 0) {
    const s = summarize(m.samples);
    out.add(stage, "latency_count", s.count, "ops");
    for (const k of ["mean", "min", "p50", "p90", "p95", "p99", "p999", "max"] as const) out.add(stage, `latency_${k}`, s[k] / MS, "ms");
    record.histograms.push({ ...dims, stage, operation: stage === "maintenance" ? "maintenance" : stage.replace("perfile_", ""), count: s.count, hdr: encodeHistogram(m.histogram) });
    m.samples.forEach((ns, seq) => record.latencies.push({ run_id: runId, cell_id: cellId, stage, seq, latency_ns: ns }));
  }
}

function primaryOf(p: SizePoint, layer: "L1" | "L2"): SizeReading | undefined {
  return p.readings.find((r) => r.layer === layer && r.primary);
}

function l3Total(p: SizePoint): { bytes: number | null; valid: boolean; reason: string } {
  if (p.l3.length === 0) return { bytes: null, valid: false, reason: "no L3 reading" };
  const bad = p.l3.find((r) => r.bytes === null);
  if (bad) return { bytes: null, valid: false, reason: bad.reason || "replica reading missing" };
  return { bytes: p.l3.reduce((a, r) => a + r.bytes!, 0), valid: p.l3.every((r) => r.valid), reason: p.l3.map((r) => r.reason).filter(Boolean).join("; ") };
}

function recordSizes(out: CellRows, stage: Stage, before: SizePoint, after: SizePoint, logical: number, ideal: number, R: number): void {
  // Every reading the system reports, as it reported it.
  for (const [phase, p] of [["before", before], ["after", after]] as const) {
    if (p.error) out.add(stage, "sizes_error", null, "", { phase, reason: p.error, valid: false });
    for (const r of p.readings) out.add(stage, r.metric, r.bytes, "B", { layer: r.layer, phase, reason: r.reason, valid: r.bytes !== null && !r.reason?.startsWith("stale") });
    for (const r of p.l3) out.add(stage, "size_bytes", r.bytes, "B", { layer: "L3", phase, replica: r.replica, valid: r.valid && r.bytes !== null, reason: r.reason });
  }
  const inserting = stage === "bulk_insert" || stage === "perfile_insert";
  // One comparable size per layer: the primary reading, before/after/delta.
  const layers: [string, { bytes: number | null; valid: boolean; reason: string }, { bytes: number | null; valid: boolean; reason: string }][] = [
    ...(["L1", "L2"] as const).map((layer) => {
      const b = primaryOf(before, layer);
      const a = primaryOf(after, layer);
      const conv = (r?: SizeReading) => ({ bytes: r?.bytes ?? null, valid: r?.bytes != null, reason: r ? (r.reason ?? "") : `${layer} not reported` });
      return [layer, conv(b), conv(a)] as [string, ReturnType<typeof conv>, ReturnType<typeof conv>];
    }),
    ["L3", l3Total(before), l3Total(after)],
  ];
  for (const [layer, b, a] of layers) {
    const replica = layer === "L3" ? "all" : "";
    out.add(stage, "size_bytes", b.bytes, "B", { layer, phase: "before", replica, valid: b.valid, reason: b.reason });
    out.add(stage, "size_bytes", a.bytes, "B", { layer, phase: "after", replica, valid: a.valid, reason: a.reason });
    const delta = a.bytes !== null && b.bytes !== null ? a.bytes - b.bytes : null;
    const valid = a.valid && b.valid;
    const reason = [b.reason, a.reason].filter(Boolean).join("; ");
    out.add(stage, "size_bytes", delta, "B", { layer, phase: "delta", replica, valid, reason });
    if (inserting) {
      const r = reductionRatio(logical, delta);
      out.add(stage, "reduction_ratio", r.value, "ratio", { layer, valid: valid && r.value !== null, reason: r.reason || reason });
    } else {
      out.add(stage, "reclaimed_bytes", delta === null ? null : -delta, "B", { layer, valid, reason });
    }
  }
  const [, l3b, l3a] = layers[2]!;
  const delta = l3a.bytes !== null && l3b.bytes !== null ? l3a.bytes - l3b.bytes : null;
  // A thin-volume trap guard: an insert that did not grow L3 means the baseline was not fresh.
  const fresh = !(inserting && delta !== null && delta <= 0);
  const valid = l3a.valid && l3b.valid && fresh;
  const e = inserting ? edr(logical, delta, R) : { cluster: null, replica: null, reason: `${stage}: EDR is defined for insert phases; see reclaimed_bytes` };
  const reason = e.reason || (valid ? "" : [l3b.reason, l3a.reason].filter(Boolean).join("; ") || "L3 baseline not fresh");
  out.add(stage, "edr_cluster", e.cluster, "ratio", { layer: "L3", valid: valid && e.cluster !== null, reason });
  out.add(stage, "edr_replica", e.replica, "ratio", { layer: "L3", valid: valid && e.replica !== null, reason });
  out.add(stage, "ideal_ratio", inserting ? ideal : null, "ratio", { layer: "L0", reason: inserting ? "" : "not an insert phase" });
  out.add(stage, "replication_factor", R, "x");
}
