// One cell's lifecycle: pre-cell hook → connect → prepare → for each stage: snapshot and
// sizes before, the timed stage, sizes and snapshot after, rows → cleanup (always). A
// failing cell records its error; the run goes on.
import { exec } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { errorMessage } from "../errors.js";
import { Dataset } from "../generators/dataset.js";
import { buildManifest, manifestText } from "../generators/manifest.js";
import { MeasuredSystem, StageFailure, type StageMeasurement } from "../metrics/measured-system.js";
import { storageLayerFor, type PhaseWindow, type StorageLayerSource } from "../metrics/storage-layer.js";
import type { DataConfig } from "../data/location.js";
import "../metrics/prometheus-storage.js"; // registers the "prometheus" (Longhorn) storage-layer source
import "../metrics/local-volume.js"; // registers the "local-volume" (loop-device volume) storage-layer source
import type { CellRecord, RunBundle } from "../results/bundle.js";
import type { Redactor } from "../results/redact.js";
import type { LabSystem, Stage } from "../systems/contract.js";
import { systemDefinition } from "../systems/registry.js";
import type { RunConfig } from "./config.js";
import { emit, type RunEvents } from "./events.js";
import { cellDims, type Cell } from "./matrix.js";
import { CellRows, joinReasons, recordDataset, recordMeasurement, recordRecords, recordSizes, type HeldRecords, type SizePoint } from "./rows.js";
import { recordPotential } from "./potential-rows.js";
import { BatchFeeder } from "./batch-feeder.js";
import { cellWorkDirPrefix } from "./cleanup.js";
import { DEFAULT_SETTLE, layerValues, samplesOf, settle, StageSampler, timeToReclaim, type Settled } from "./settle.js";
import { Interrupted, runStage } from "./stages.js";

const sh = promisify(exec);


function dataConfigOf(cfg: RunConfig): DataConfig | undefined {
  return (cfg.source as { data?: DataConfig }).data;
}

/**
 * A baseline is fresh when every layer is back at the empty cell's settled size, within 1 %
 * of the dataset's logical bytes (allocator and metadata noise). A partly reused baseline
 * (rows or blocks of an earlier stage still held) makes the stage's rows invalid.
 */
export function notFresh(empty: SizePoint, before: SizePoint, logicalBytes: number, opts: { l3Measured?: boolean } = {}): string {
  const tol = Math.max(65_536, logicalBytes * 0.01);
  const e = layerValues(empty);
  const problems: string[] = [];
  for (const [key, b] of layerValues(before)) {
    // Where the storage layer measures reusable space directly (a volume's freed-but-allocated
    // bytes, untrimmed() below), that is L3's freshness criterion: an image may also keep a
    // few hundred KiB of filesystem warm-up (measured: +244 KiB once after the first DuckDB
    // reset, never again, not trimmable) that no later write can reuse.
    if (opts.l3Measured && key.startsWith("L3")) continue;
    const base = e.get(key);
    if (b === null || base === null || base === undefined) continue;
    if (b - base > tol) problems.push(`${key.split("/")[0]} is ${b - base} B above the empty cell's`);
  }
  return problems.length ? `baseline not fresh: ${problems.join(", ")}` : "";
}

/** Store the dataset through the bulk path without measuring it (a precondition, e.g. before a delete stage). */
async function loadUnmeasured(system: LabSystem, ds: Dataset, cfg: RunConfig): Promise<void> {
  async function* batches() {
    yield* ds.batches(cfg.batchBytes);
  }
  await system.bulkInsert(batches());
}

export interface CellEnv {
  runId: string;
  bundle: RunBundle;
  workRoot: string;
  redact: Redactor;
  events: RunEvents[];
  log(line: string): Promise<void>;
  signal?: AbortSignal;
}

export async function runCell(cell: Cell, cfg: RunConfig, env: CellEnv): Promise<CellRecord> {
  const dims = cellDims(cell, env.runId, cfg);
  const out = new CellRows(dims);
  const record: CellRecord = { cell_id: cell.id, status: "done", rows: out.rows, histograms: [], latencies: [], snapshots: [], timeseries: [] };
  const def = systemDefinition(cell.system.name);
  const system = def.create(cell.system.options, cfg.lab);
  const measured = new MeasuredSystem(system);
  const ds = new Dataset(cell.dataset);
  // R: application replicas × storage replicas — the latter from the volume when the L3 source measures it.
  let R = cell.system.replication.app * cell.system.replication.storage;
  const settleOpts = cfg.settle ?? DEFAULT_SETTLE;
  let l3: StorageLayerSource | undefined;
  const workDir = await mkdtemp(join(env.workRoot, cellWorkDirPrefix(cfg.lab, cell.key)));
  await env.log(`cell ${cell.id} (${cell.key}) on ${cell.system.endpoint}`);

  // Ground truth first: the manifest of this dataset (hashing happens here, outside any timer).
  if (!env.bundle.hasManifest(ds.id)) {
    await env.bundle.writeManifest(ds.id, manifestText(buildManifest(ds)));
  }
  const t = ds.totals;

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

  // The storage layer's fresh-baseline step, logged; what it cannot free is caught by untrimmed().
  // The system settles first: servers drop files in the background (InnoDB, ClickHouse's old
  // parts, Kafka's deleted segments), and only space already freed can be trimmed.
  const freshen = async (phase: PhaseWindow) => {
    if (!l3!.freshen) return;
    await settle(system, () => sizesAt(phase, "before"), settleOpts);
    const did = await l3!.freshen();
    if (did) await env.log(`cell ${cell.id}: storage layer: ${did}`);
  };
  // Freed but still allocated volume space before an insert: new writes may reuse it without growing L3.
  const untrimmed = async (logical: number): Promise<string> => {
    const b = await l3!.untrimmedBytes?.();
    const tol = Math.max(1 << 20, logical * 0.01);
    return b !== undefined && b !== null && b > tol
      ? `baseline not fresh: ${b} B freed but still allocated in the volume images (no trim since the last delete): new writes may reuse them without growing L3`
      : "";
  };

  let stage: Stage | "prepare" = "prepare";
  try {
    if (cell.system.preCellHook) {
      await env.log(`pre-cell hook: ${cell.system.preCellHook}`);
      await sh(cell.system.preCellHook, { timeout: 600_000, env: { ...process.env, DEDUP_LAB_CELL: cell.key, DEDUP_LAB_SYSTEM: system.name } });
    }
    l3 = storageLayerFor(cell.system.l3, { systemName: system.name, embedded: def.capabilities.embedded, prometheus: cfg.prometheus });
    await l3.provision?.(workDir, t.logical_bytes, (m) => void env.log(m));
    if (l3.replicas !== undefined) R = cell.system.replication.app * l3.replicas;
    dims.storage_profile = l3.profile ?? l3.kind; // every row of the cell carries it from here
    recordDataset(out, t);
    await recordPotential(out, cell.dataset); // dedup/compression potential of the dataset (cached by id), outside every clock
    out.add("dataset", "replication_factor", R, "x");
    // What the storage layer is, beside the system's own snapshots (snapshots.arrow, stage "prepare").
    record.snapshots.push({ cell_id: cell.id, system: system.name, stage: "prepare", point: "before", data: { storage_layer: { kind: l3.kind, profile: l3.profile ?? l3.kind, replicas: l3.replicas ?? cell.system.replication.storage, description: l3.description ?? "" } } });
    if (cell.insertion === "typed") {
      out.add("dataset", "n_records", t.n_units, "records", { layer: "L0" });
      out.add("dataset", "duplicate_records", t.duplicate_items, "records", { layer: "L0" });
    }
    await system.connect();
    // Typed cells need the system's typed mapping (read after connect: the resolved capabilities).
    if (cell.insertion === "typed" && !system.capabilities.typed) {
      for (const s of cfg.stages) out.add(s, "stage_status", null, "", { reason: `not implemented by ${system.name}: typed insertion (the connector declares no typed mapping, capabilities.typed)` });
      await env.log(`cell ${cell.id}: ${system.name} has no typed insertion: its stages are recorded as not implemented`);
      return record;
    }
    const typed = cell.insertion === "typed" ? { schema: ds.recordSchema!, keys: cell.keys ?? "surrogate" } as const : undefined;
    // Records held, counted by the system itself after settle (typed cells), or why there is no count.
    const held = async (): Promise<HeldRecords> => {
      if (!system.storedRecords) return { count: null, reason: `${system.name} cannot count the records it holds (no storedRecords)` };
      try {
        const n = await system.storedRecords();
        return n === null ? { count: null, reason: `${system.name} could not count the records it holds` } : { count: n, reason: "" };
      } catch (e) {
        return { count: null, reason: `counting records failed: ${env.redact.text(errorMessage(e))}` };
      }
    };
    await system.prepare({ lab: cfg.lab, cellKey: cell.key, variant: cell.variant, containers: ds.containers, workDir, log: (m) => void env.log(m), ...(typed ? { typed } : {}) });
    const prepPhase: PhaseWindow = { cellId: cell.id, system: system.name, stage: "prepare", start: Date.now() };

    // The empty cell's settled sizes: the baseline every insert stage must start from
    // (after the storage layer's fresh-baseline step, e.g. a trim of the server's volume).
    await freshen(prepPhase);
    const empty = await settle(system, () => sizesAt(prepPhase, "before"), settleOpts);
    for (const [key, bytes] of layerValues(empty.point)) {
      const [layer, replica = ""] = key.split("/");
      out.add("prepare", "size_bytes", bytes, "B", { layer, phase: "after", replica, reason: empty.unsettled.includes(layer!) ? `${layer} still changing` : "" });
    }
    // fresh: as prepared; dataset: the dataset is stored; emptied: deleted, but space may still be held.
    let stored: "fresh" | "dataset" | "emptied" = "fresh";
    let last: Settled | undefined = empty;

    for (const s of cfg.stages) {
      stage = s;
      if (env.signal?.aborted) throw new Interrupted();
      if (!system.capabilities.stages.includes(s)) {
        out.add(s, "stage_status", null, "", { reason: `not implemented by ${system.name}` });
        continue;
      }
      const inserting = s === "bulk_insert" || s === "perfile_insert";
      // Preconditions, outside every clock, whatever the stage order: inserts start from a
      // fresh cell, a delete from the stored dataset.
      let changed = false;
      if (inserting && stored !== "fresh") {
        await system.reset();
        await freshen({ cellId: cell.id, system: system.name, stage: s, start: Date.now() });
        stored = "fresh";
        changed = true;
      }
      if (s === "perfile_delete" && stored !== "dataset") {
        if (stored === "emptied") await system.reset();
        await loadUnmeasured(system, ds, cfg);
        stored = "dataset";
        changed = true;
      }
      const phase: PhaseWindow = { cellId: cell.id, system: system.name, stage: s, start: Date.now() };
      // The baseline is the previous settled reading unless a precondition changed the cell since.
      const baseline = changed || !last ? await settle(system, () => sizesAt(phase, "before"), settleOpts) : last;
      const before = baseline.point;
      const dirty = inserting ? joinReasons(notFresh(empty.point, before, t.logical_bytes, { l3Measured: l3!.untrimmedBytes !== undefined }), await untrimmed(t.logical_bytes)) : "";
      const heldBefore = typed ? await held() : undefined;
      await snapshot(s, "before");
      out.add(s, "baseline_settle_s", baseline.durationS, "s", { reason: joinReasons(baseline.note, baseline.unsettled && `${baseline.unsettled} still changing before the stage`) });
      // Bulk input is produced ahead of the clock (a worker thread); the wait for it is measured.
      const feeder = s === "bulk_insert" ? await BatchFeeder.start(cell.dataset, cfg.batchBytes, { depth: Math.ceil(cfg.readAheadBytes / cfg.batchBytes), data: dataConfigOf(cfg) }) : undefined;
      await emit(env.events, "stageStart", cell, s);
      const sampler = new StageSampler(l3!, system, phase, settleOpts.intervalMs);
      phase.start = Date.now();
      out.add(s, "stage_start", phase.start, "epoch_ms");
      let m: StageMeasurement;
      sampler.start();
      try {
        m = await runStage(s, measured, ds, cfg, cell, env.signal, feeder);
      } catch (e) {
        if (e instanceof StageFailure) recordMeasurement(out, record, s, e.partial, env.runId, cell.id, dims);
        throw e instanceof StageFailure ? e.cause : e;
      } finally {
        sampler.stop();
        await feeder?.close();
      }
      phase.end = Date.now();
      out.add(s, "stage_end", phase.end, "epoch_ms");
      await emit(env.events, "stageEnd", cell, s, m);
      last = undefined;
      if (m.status.code !== "ok") {
        // Not implemented here: a status row with the connector's note, never a 0 s measurement.
        out.add(s, "stage_status", null, "", { reason: `not implemented by ${system.name}: ${m.status.note}` });
        continue;
      }
      // The dataset is stored after an insert, and through a maintenance stage that found it stored.
      const storedAfter = inserting || (s === "maintenance" && stored === "dataset");
      if (s === "maintenance" && l3!.maintain) {
        // The storage layer's own maintenance (trim; a dedup volume's offline deduplication) follows
        // the system's, outside its clock, before the settled "after" reading.
        const t0 = process.hrtime.bigint();
        const did = await l3!.maintain();
        if (did) {
          out.add(s, "storage_maintenance_s", Number(process.hrtime.bigint() - t0) / 1e9, "s", { layer: "L3" });
          await env.log(`cell ${cell.id}: storage layer maintenance: ${did}`);
        }
      }
      if (inserting) stored = "dataset";
      if (s === "perfile_delete") stored = "emptied";
      const settled = await settle(system, () => sizesAt(phase, "after"), settleOpts);
      last = settled;
      const after = settled.point;
      await snapshot(s, "after");
      recordMeasurement(out, record, s, m, env.runId, cell.id, dims);
      out.add(s, "settle_s", settled.durationS, "s", { reason: joinReasons(settled.note, settled.unsettled && `${settled.unsettled} still changing after ${settleOpts.timeoutMs / 1000} s`) });
      // The collision behaviour is read now: a connector may resolve it per variant in prepare() (ClickHouse's engines).
      const collision = system.capabilities.typed?.collision;
      if (typed && collision) {
        recordRecords(out, s, {
          collision, keys: typed.keys, written: inserting ? m.units : 0, before: heldBefore!, after: await held(),
        });
      }
      recordSizes(out, s, before, after, m.bytes, t.dedup_ratio, R, { baseline: dirty, unsettled: joinReasons(settled.note ? "L1,L2" : "", settled.unsettled) },
        storedAfter ? { logical: t.logical_bytes, empty: empty.point, emptyReason: empty.unsettled && `the empty cell's ${empty.unsettled} was still changing` } : undefined);
      if (!inserting) {
        for (const layer of ["L1", "L2"] as const) {
          const b = layerValues(before).get(layer) ?? null;
          const a = layerValues(after).get(layer) ?? null;
          const ttr = timeToReclaim(settled.samples, layer, phase.end, b, a);
          out.add(s, "time_to_reclaim_s", ttr, "s", { layer, reason: ttr === null ? "the layer did not change after the stage" : "" });
        }
      }
      // The baseline opens every line at the stage's start: a stage shorter than the sampling
      // interval has no sampler samples, and its change would otherwise start at the first settle poll.
      const series = [...samplesOf(before, "baseline", phase.start), ...sampler.samples, ...settled.samples];
      if (l3!.series) {
        try {
          for (const x of await l3!.series(system, phase)) series.push(x);
        } catch (e) {
          out.add(s, "timeseries_error", null, "", { layer: "L3", reason: `size-over-time query failed: ${env.redact.text(errorMessage(e))}` });
        }
      }
      for (const x of series) record.timeseries.push({ run_id: env.runId, cell_id: cell.id, system: system.name, stage: s, ...x });
    }
  } catch (e) {
    record.status = "failed";
    record.error = e instanceof Interrupted ? e.message : env.redact.text(`${stage}: ${errorMessage(e)}`);
    out.add(stage, "error", null, "", { reason: record.error });
    await env.log(`cell ${cell.id} failed: ${record.error}`);
  } finally {
    try {
      await system.cleanup(cell.key); // this cell's objects only: another run's cells may be live in the same namespace
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
