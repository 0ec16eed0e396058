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
import "../metrics/prometheus-storage.js"; // registers the "prometheus" (Longhorn) storage-layer source
import type { CellRecord, RunBundle } from "../results/bundle.js";
import type { Redactor } from "../results/redact.js";
import type { Stage } from "../systems/contract.js";
import { systemDefinition } from "../systems/registry.js";
import type { RunConfig } from "./config.js";
import { emit, type RunEvents } from "./events.js";
import { cellDims, type Cell } from "./matrix.js";
import { CellRows, recordDataset, recordMeasurement, recordSizes, type SizePoint } from "./rows.js";
import { Interrupted, runStage } from "./stages.js";

const sh = promisify(exec);

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
  const R = cell.system.replication.app * cell.system.replication.storage;
  let l3: StorageLayerSource | undefined;
  const workDir = await mkdtemp(join(env.workRoot, `${cfg.lab.objectPrefix}${cell.key}-`));
  await env.log(`cell ${cell.id} (${cell.key}) on ${cell.system.endpoint}`);

  // Ground truth first: the manifest of this dataset (hashing happens here, outside any timer).
  if (!env.bundle.hasManifest(ds.id)) {
    await env.bundle.writeManifest(ds.id, manifestText(buildManifest(ds)));
  }
  const t = ds.totals;
  recordDataset(out, t, R);

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
      if (m.status.code !== "ok") {
        // Not implemented here: a status row with the connector's note, never a 0 s measurement.
        out.add(s, "stage_status", null, "", { reason: `not implemented by ${system.name}: ${m.status.note}`, valid: false });
        if (s === "bulk_insert") await system.reset();
        continue;
      }
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
