// Runs a matrix: plans every cell, opens (or resumes) the bundle, runs the cells that are
// not finished one after another (runCell), writes each finished cell before the next
// starts, and closes the bundle as complete, partial or interrupted.
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { UsageError } from "../errors.js";
import { stagedProvenance } from "../data/payload.js";
import { readMeta, RunBundle } from "../results/bundle.js";
import { Redactor, secretEnvNames } from "../results/redact.js";
import { runCell } from "./cell.js";
import { removeLeftovers, removeOwnLeftovers } from "./cleanup.js";
import type { RunConfig } from "./config.js";
import { collectEnvironment } from "./environment.js";
import { emit, type RunEvents } from "./events.js";
import { DomainLocks, domainsOf } from "./lock.js";
import { formatShard, shardCells, studyId, type ShardSpec } from "./shards.js";
import { configFingerprint, expandMatrix, planCell } from "./matrix.js";
import { Interrupted } from "./stages.js";

export interface RunOptions {
  /** Bundle directory: a new one (must be empty) or, with resume, an existing bundle. */
  dir?: string;
  resume?: boolean;
  events?: RunEvents[];
  /** Stops the run between operations (Ctrl-C); the current cell is recorded failed. */
  signal?: AbortSignal;
  /** How long to wait for a domain (server, shared directory) another run holds; 0 (default) refuses at once. */
  waitLockMs?: number;
  /** Lines the user must see even when quiet: waiting for a lock, leftovers of killed runs removed. */
  notice?(line: string): void;
  /** Run only this shard's cells (shards.ts); a resumed shard bundle keeps its own shard. */
  shard?: ShardSpec;
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

export async function runMatrix(cfg: RunConfig, opts: RunOptions = {}): Promise<RunResult> {
  // Every cell's dataset is planned before anything is written: an impossible cell (e.g. a real
  // payload with too few distinct units for a grade) is bad input, not a half-made bundle.
  for (const cell of expandMatrix(cfg, "check")) planCell(cell, cfg);
  if (opts.resume && !opts.dir) throw new UsageError("resume needs the run directory", "pass --resume results/<run_id>");
  const resumed = opts.resume ? await readMeta(opts.dir!) : undefined;
  if (resumed && resumed.config_fingerprint !== configFingerprint(cfg)) {
    throw new UsageError(`${opts.dir} was written by another configuration`, "resume with the same config and flags, or start a new run");
  }
  if (resumed && opts.shard && (!resumed.shard || formatShard(resumed.shard) !== formatShard(opts.shard))) {
    throw new UsageError(
      `${opts.dir} is ${resumed.shard ? `shard ${formatShard(resumed.shard)}` : "a whole run"}, not shard ${formatShard(opts.shard)}`,
      resumed.shard ? `resume it with --shard ${formatShard(resumed.shard)} or without --shard` : "resume it without --shard",
    );
  }
  const shard = opts.shard ?? resumed?.shard;
  const only = shard ? shardCells(cfg, shard) : undefined;
  const runId = resumed?.run_id ?? newRunId();
  // Every shared domain (server, directory) of the cells to run is this run's alone until it
  // ends (a shard takes only its own); taken before anything is written, so a refusal leaves nothing behind.
  const systems = only ? [...new Set(expandMatrix(cfg, "plan").filter((c) => only.has(c.id)).map((c) => c.system))] : cfg.systems;
  const locks = await DomainLocks.acquire(domainsOf({ systems }), { runId, token: cfg.lab.runToken(runId) }, {
    waitMs: opts.waitLockMs ?? 0, breakStale: true, signal: opts.signal, onWait: opts.notice,
  });
  try {
    return await runLocked(cfg, { ...opts, shard }, runId, locks, only);
  } finally {
    locks.release();
  }
}

async function runLocked(cfg: RunConfig, opts: RunOptions, runId: string, locks: DomainLocks, only?: Set<string>): Promise<RunResult> {
  const events = opts.events ?? [];
  const redact = new Redactor(secretEnvNames(cfg.source));
  let bundle: RunBundle;
  if (opts.resume) {
    bundle = await RunBundle.open(opts.dir!);
  } else {
    const dir = resolve(opts.dir ?? join("results", runId));
    bundle = await RunBundle.create(dir, {
      run_id: runId, cells_total: 0, config_fingerprint: configFingerprint(cfg),
      ...(opts.shard ? { study_id: studyId(cfg), shard: opts.shard } : {}),
    });
    await bundle.writeJson("config.json", redact.value({ resolved: cfg.source, fingerprint: configFingerprint(cfg) }));
    await bundle.writeJson("env.json", { ...(await collectEnvironment()), staged_data: stagedProvenance(cfg.payloads) });
  }
  const cells = expandMatrix(cfg, runId).filter((c) => !only || only.has(c.id));
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
  const shardNote = opts.shard ? ` (shard ${formatShard(opts.shard)} of study ${studyId(cfg)})` : "";
  await log(`${opts.resume ? "resume" : "start"} run ${runId}${shardNote}: ${cells.length} cells, ${finished.size} already done`);
  const workRoot = resolve(cfg.workDir ?? tmpdir());
  for (const line of await removeLeftovers(cfg, locks.stale, workRoot)) {
    await log(line);
    opts.notice?.(redact.text(line));
  }
  const bytes = todo.reduce((a, c) => a + planCell(c, cfg).bytesWritten, 0);
  await emit(events, "runStart", { runId, dir: bundle.dir, cells: cells.length, skipped: finished.size, bytes });

  let done = 0;
  let failed = 0;
  let interrupted = false;
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
  // A failed cell's cleanup may have failed with it (a server down); this run's token finds what it left.
  if (failed > 0 || interrupted) {
    for (const line of await removeOwnLeftovers(cfg, locks.held, cfg.lab.runToken(runId))) {
      await log(line);
      opts.notice?.(redact.text(line));
    }
  }
  const totalFailed = (await bundle.finishedCells()).size < cells.length;
  await bundle.finalize(interrupted ? "interrupted" : totalFailed ? "partial" : "complete");
  await log(`end run ${runId}: ${done} done, ${failed} failed${interrupted ? ", interrupted" : ""}`);
  await emit(events, "runEnd", { runId, dir: bundle.dir, done, failed, interrupted });
  return { runId, dir: bundle.dir, done, failed, skipped: finished.size, interrupted };
}
