// The experiment matrix: repeat × system × variant × payload × grade × granularity × placement
// × insertion (blob | typed) × keys (typed cells: surrogate | natural).
// Every system in a repeat sees the identical dataset (fair comparison); repeats get fresh
// data because the dataset seed includes the repeat. Seeds are hashes, never s, s+1, s+2.
import { createHash } from "node:crypto";
import { Dataset, DatasetSpecSchema, type DatasetSpec } from "../generators/dataset.js";
import { gradeLabel, plannedTotals } from "../generators/plan.js";
import { payloadType } from "../generators/payloads.js";
import { formatSizeSpec } from "../generators/sizes.js";
import { insertionLabel, type CellDims } from "../results/schema.js";
import type { KeyMode } from "../systems/contract.js";
import type { Insertion, RunConfig, SystemPlan } from "./config.js";

export interface Cell {
  /**
   * Stable, readable id: system.variant.payload.grade.granularity.placement.rN for blob cells (the
   * ids of every run before typed insertion existed), system.variant.payload.grade.granularity.placement.typed-KEYS.rN
   * for typed cells (typed-surrogate, typed-natural).
   */
  id: string;
  /** Short name-safe key for per-cell objects (topics, buckets, directories). */
  key: string;
  system: SystemPlan;
  variant: string;
  payload: string;
  fraction: number;
  grade: string;
  granularity: "file" | "block";
  placement: "within" | "across";
  /** blob: opaque units; typed: one record per unit in typed columns. */
  insertion: Insertion;
  /** Typed cells: how records are keyed; undefined for blob cells. */
  keys?: KeyMode;
  repeat: number;
  dataset: DatasetSpec;
}

/** The id part of a typed cell ("typed-natural"); blob cells have none (their ids are unchanged). */
export function insertionIdPart(insertion: Insertion, keys?: KeyMode): string {
  return insertion === "typed" ? `typed-${keys ?? "surrogate"}` : "";
}

export { insertionLabel };

export function expandMatrix(cfg: RunConfig, runId: string): Cell[] {
  const cells: Cell[] = [];
  for (let repeat = 1; repeat <= cfg.repeats; repeat++)
    for (const system of cfg.systems)
      for (const variant of system.variants)
        for (const payload of cfg.payloads)
          for (const fraction of cfg.grades)
            for (const granularity of cfg.granularities)
              for (const placement of cfg.placements)
                for (const [insertion, keys] of insertionCells(cfg)) {
                  const grade = gradeLabel(fraction);
                  const typedPart = insertionIdPart(insertion, keys);
                  const id = [system.name, variant, payload, grade, granularity, placement, ...(typedPart ? [typedPart] : []), `r${repeat}`].join(".");
                  cells.push({
                    id,
                    key: cfg.lab.cellKey(runId, id),
                    system, variant, payload, fraction, grade, granularity, placement, insertion, keys, repeat,
                    dataset: DatasetSpecSchema.parse({
                      payload, units: cfg.units, size: cfg.unitSize, fraction, granularity, blockSize: cfg.blockSize,
                      placement, containers: cfg.containers, policy: cfg.policy, seed: `${cfg.seed}/r${repeat}`,
                      // Blob cells keep the default (blob): their dataset seed, id and units are those of every earlier run.
                      ...(insertion === "typed" ? { insertion } : {}),
                    }),
                  });
                }
  return cells;
}

/** The (insertion, keys) pairs of the matrix: blob once, typed once per key mode. */
function insertionCells(cfg: RunConfig): [Insertion, KeyMode | undefined][] {
  const insertions = cfg.insertions ?? ["blob"];
  return insertions.flatMap((i): [Insertion, KeyMode | undefined][] => (i === "typed" ? (cfg.keys ?? ["surrogate"]).map((k): [Insertion, KeyMode] => [i, k]) : [[i, undefined]]));
}

export function cellDims(cell: Cell, runId: string, cfg: RunConfig): CellDims {
  return {
    run_id: runId, cell_id: cell.id, system: cell.system.name, variant: cell.variant, payload: cell.payload,
    unit_size: formatSizeSpec(cfg.unitSize), n_units: cfg.units, dup_fraction: cell.fraction, grade: cell.grade,
    granularity: cell.granularity, placement: cell.placement, insertion: cell.insertion, keys: cell.keys ?? "",
    cache_state: cfg.cacheState, repeat: cell.repeat,
    storage_profile: "", // known once the storage layer is provisioned (runCell)
  };
}

export interface CellPlan {
  cell: Cell;
  /** Bytes the cell writes to its system over all insert stages. */
  bytesWritten: number;
  logicalBytes: number;
  uniqueBytes: number;
  idealRatio: number;
  operations: number;
}

/** What a cell will do, computed from the plan alone (no data generated, nothing opened). */
export function planCell(cell: Cell, cfg: RunConfig): CellPlan {
  // Synthetic data: closed form, flat in the number of units. Real data: its staged units decide
  // sizes and how many distinct units exist, so the (bounded) dataset is planned unit by unit.
  // Typed cells: the Dataset generates the records once to know their L0 bytes (bounded by MAX_UNITS).
  const closedForm = payloadType(cell.payload).kind === "synthetic" && cell.dataset.insertion !== "typed";
  const ds = closedForm ? { totals: syntheticTotals(cell.dataset) } : { totals: generatedTotals(cell.dataset) };
  const inserts = (cfg.stages.includes("bulk_insert") ? 1 : 0) + (cfg.stages.includes("perfile_insert") ? 1 : 0);
  const operations = (cfg.stages.includes("perfile_insert") ? cfg.units : 0) + (cfg.stages.includes("perfile_delete") ? cfg.units : 0);
  return {
    cell, bytesWritten: ds.totals.logical_bytes * inserts, logicalBytes: ds.totals.logical_bytes,
    uniqueBytes: ds.totals.unique_bytes, idealRatio: ds.totals.dedup_ratio, operations,
  };
}

// Totals of datasets that must be generated to be planned (typed records, real data), by spec: every
// system of a repeat shares its datasets, and a run plans each cell more than once (checks, byte
// totals), so without this a 60-cell typed matrix of 20,000 records took minutes before its first cell.
const generated = new Map<string, Dataset["totals"]>();
function generatedTotals(spec: DatasetSpec): Dataset["totals"] {
  const key = JSON.stringify(spec);
  let totals = generated.get(key);
  if (!totals) {
    const ds = new Dataset(spec);
    totals = ds.totals;
    ds.close();
    if (generated.size >= 256) generated.delete(generated.keys().next().value!);
    generated.set(key, totals);
  }
  return totals;
}

/** A fingerprint of everything that defines the matrix: --resume refuses a different one. */
export function configFingerprint(cfg: RunConfig): string {
  const defining = {
    lab: cfg.lab.prefix,
    systems: cfg.systems.map((s) => ({ name: s.name, variants: s.variants, maintenance: s.maintenance, replication: s.replication })),
    payloads: cfg.payloads, grades: cfg.grades, granularities: cfg.granularities, placements: cfg.placements,
    // Blob-only matrices hash as before insertion existed (their --resume fingerprints stay valid).
    ...(sameAsBlobOnly(cfg) ? {} : { insertions: cfg.insertions, keys: cfg.keys }),
    stages: cfg.stages, repeats: cfg.repeats, units: cfg.units, unitSize: cfg.unitSize, blockSize: cfg.blockSize,
    containers: cfg.containers, policy: cfg.policy, seed: cfg.seed,
  };
  return createHash("sha256").update(JSON.stringify(defining)).digest("hex").slice(0, 16);
}

function sameAsBlobOnly(cfg: RunConfig): boolean {
  return (cfg.insertions ?? ["blob"]).every((i) => i === "blob");
}

function syntheticTotals(spec: DatasetSpec): Pick<Dataset["totals"], "logical_bytes" | "unique_bytes" | "dedup_ratio"> {
  const t = plannedTotals(spec);
  return { logical_bytes: t.logicalBytes, unique_bytes: t.uniqueBytes, dedup_ratio: t.dedupRatio };
}
