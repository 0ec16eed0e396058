// Drives one LabSystem through a small cell the way the runner does (lib/runner/cell.ts):
// connect → prepare → bulk_insert → reset → perfile_insert → perfile_delete → maintenance →
// cleanup, reading sizes after each step — settled by the runner's own settle step (the
// system's settle(), then polling until two readings agree) — and keeping every operation's
// status. A stage the resolved capabilities do not list is not called (the runner records it as
// not implemented); a per-unit stage ends at its first non-ok status, as the timing wrapper
// ends it. The contract test and the per-system integration tests share it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { DEFAULT_SETTLE, settle } from "../../lib/runner/settle.js";
import type { Capabilities, CellContext, LabSystem, OpStatus, SizeReading, Stage, Unit, UnitRef } from "../../lib/systems/contract.js";
import { LabNamespace } from "../../lib/systems/namespace.js";

export type SizePoint = "prepared" | "bulk" | "reset" | "perfile" | "deleted" | "maintained";

export interface HarnessResult {
  sizes: Record<SizePoint, SizeReading[]>;
  /** What each stage's operations answered (bulk and maintenance: one; per unit: one per call made). Empty: not called. */
  statuses: Record<Stage, OpStatus[]>;
  /** What each settle() before a reading answered (undefined: the system has no settle step or returned nothing). */
  settles: (OpStatus | undefined)[];
  /** Per reading: the layers still changing when the settle bound was reached ("" when settled). */
  unsettled: Record<SizePoint, string>;
  /** Capabilities as resolved after connect(). */
  capabilities: Capabilities;
  snapshots: unknown[];
  dataset: Dataset;
  cell: CellContext;
}

export interface DriveOptions {
  variant?: string;
  maintenance?: string;
  dataset?: Dataset;
  cellKey?: string;
  lab?: LabNamespace;
  /** The cell's work directory (default: a fresh temp dir, removed afterwards). */
  workDir?: string;
  /**
   * Called twice per stage while the cell's objects exist: "written" right after the stage's
   * operations, "settled" after its settled size reading.
   */
  afterStage?(stage: Stage, system: LabSystem, when: "written" | "settled"): Promise<void>;
}

export function smallDataset(over: Partial<Record<string, unknown>> = {}): Dataset {
  return new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 20, size: { min: 4096, max: 4096 }, fraction: 0.5, ...over }));
}

async function* batches(ds: Dataset, maxBytes = 16 * 1024): AsyncGenerator<Unit[]> {
  for (const b of ds.batches(maxBytes)) yield b;
}

/** Runs every stage of one cell through `system` (connect to close) and returns what it saw. */
export async function runCellThrough(system: LabSystem, opts: DriveOptions = {}): Promise<HarnessResult> {
  const ds = opts.dataset ?? smallDataset();
  const ownWorkDir = opts.workDir === undefined;
  const cell: CellContext = {
    lab: opts.lab ?? new LabNamespace(),
    cellKey: opts.cellKey ?? "t" + Math.random().toString(36).slice(2, 8),
    variant: opts.variant ?? Object.keys(system.capabilities.variants)[0]!,
    containers: ds.containers,
    workDir: opts.workDir ?? mkdtempSync(join(tmpdir(), "dedup-lab-harness-")),
    log: () => {},
  };
  const sizes = {} as HarnessResult["sizes"];
  const statuses: HarnessResult["statuses"] = { bulk_insert: [], perfile_insert: [], perfile_delete: [], maintenance: [] };
  const snapshots: unknown[] = [];
  const settles: HarnessResult["settles"] = [];
  const unsettled = {} as HarnessResult["unsettled"];
  // The runner's settle step over this system, keeping what its settle() answered.
  const recorder = {
    name: system.name,
    settle: system.settle && (async () => {
      const st = await system.settle!();
      settles.push(st ?? undefined);
      return st;
    }),
  } as LabSystem;
  const read = async (point: SizePoint) => {
    const settled = await settle(recorder, async () => ({ readings: await system.sizes(), l3: [] }), DEFAULT_SETTLE);
    sizes[point] = settled.point.readings;
    unsettled[point] = settled.unsettled;
  };
  await system.connect();
  try {
    const capabilities = system.capabilities; // resolved by connect()
    const supports = (s: Stage) => capabilities.stages.includes(s);
    const written = (s: Stage) => opts.afterStage?.(s, system, "written");
    const after = (s: Stage) => opts.afterStage?.(s, system, "settled");
    const perUnit = async <U extends UnitRef>(s: Stage, op: (u: U) => Promise<OpStatus>, units: Iterable<U>) => {
      if (!supports(s)) return;
      for (const u of units) {
        const st = await op(u);
        statuses[s].push(st);
        if (st.code !== "ok") break;
      }
    };

    await system.prepare(cell);
    await read("prepared");
    snapshots.push(await system.snapshot());
    if (supports("bulk_insert")) statuses.bulk_insert.push(await system.bulkInsert(batches(ds)));
    await written("bulk_insert");
    await read("bulk");
    await after("bulk_insert");
    await system.reset();
    await read("reset");
    await perUnit("perfile_insert", (u) => system.insert(u), ds.units());
    await written("perfile_insert");
    await read("perfile");
    await after("perfile_insert");
    await perUnit("perfile_delete", (u) => system.delete(u), ds.refs());
    await written("perfile_delete");
    await read("deleted");
    await after("perfile_delete");
    if (supports("maintenance")) statuses.maintenance.push(await system.maintenance(opts.maintenance ?? Object.keys(capabilities.maintenance)[0]!));
    await written("maintenance");
    await read("maintained");
    await after("maintenance");
    snapshots.push(await system.snapshot());
    await system.cleanup();
    return { sizes, statuses, settles, unsettled, capabilities, snapshots, dataset: ds, cell };
  } finally {
    await system.close();
    if (ownWorkDir) rmSync(cell.workDir, { recursive: true, force: true });
  }
}

/** The value of the one primary reading of a layer (throws when there is none). */
export function primary(readings: SizeReading[], layer: "L1" | "L2"): number | null {
  const r = readings.find((x) => x.layer === layer && x.primary);
  if (!r) throw new Error(`no primary ${layer} reading in ${JSON.stringify(readings)}`);
  return r.bytes;
}

/** Why an operation's status breaks the contract, or null: ok, or not_implemented with a non-empty note. */
export function statusProblem(s: OpStatus | undefined): string | null {
  if (s === undefined || s === null) return "no status returned";
  if (s.code === "ok") return null;
  if (s.code === "not_implemented") return typeof s.note === "string" && s.note.trim() !== "" ? null : "not_implemented without a note";
  return `unknown status ${JSON.stringify(s)}`;
}

/** Why a set of size readings breaks the contract, or null: each declared layer present, one primary each, bytes or a reason. */
export function sizesProblems(readings: SizeReading[], layers: readonly string[]): string[] {
  const problems: string[] = [];
  for (const layer of layers) {
    const of = readings.filter((r) => r.layer === layer);
    if (of.length === 0) problems.push(`${layer}: no reading`);
    const primaries = of.filter((r) => r.primary);
    if (primaries.length !== 1) problems.push(`${layer}: ${primaries.length} primary readings (${primaries.map((r) => r.metric).join(", ")})`);
  }
  for (const r of readings) {
    if (!layers.includes(r.layer)) problems.push(`${r.metric}: layer ${r.layer} not declared in capabilities`);
    if (r.bytes === null) {
      if (typeof r.reason !== "string" || r.reason.trim() === "") problems.push(`${r.layer} ${r.metric}: null without a reason`);
    } else if (typeof r.bytes !== "number" || !Number.isFinite(r.bytes) || r.bytes < 0) {
      problems.push(`${r.layer} ${r.metric}: bytes ${String(r.bytes)} is not a size`);
    }
  }
  return problems;
}
