// Sizes per stage and layer over repeats (figure b): the one comparable size per layer
// (the primary reading for L1/L2, the sum over storage replicas for L3), before and after
// each stage and the delta.
import { isStageRow } from "../results/schema.js";
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { isUsable } from "./cells.js";
import { CONFIG_DIMS, frame, type ConfigFields, type Frame } from "./frames.js";
import { overRepeats } from "./repeats.js";

export const LAYERS = ["L1", "L2", "L3"] as const;

export const LAYER_LABELS: Record<string, string> = {
  L0: "L0 manifest (logical)",
  L1: "L1 DB-logical",
  L2: "L2 DB-physical",
  L3: "L3 storage-physical",
};

export interface SizeRow extends ConfigFields {
  stage: string;
  layer: string;
  phase: "before" | "after" | "delta";
  n: number;
  mean: number;
  sd: number;
  ci95: number;
  /** The 95 % t interval: log scale (sizes > 0), clamped at 0 (a zero size) or linear (deltas). */
  center: number;
  lower: number;
  upper: number;
  scale: string;
}

/** size_bytes per configuration × stage × layer × phase (bytes): n, mean, sd, ci95 over repeats. */
export function sizeTable(results: Table | Frame): Frame {
  const f = frame(results).filter(
    aq.escape((d: { metric: string; layer: string; replica: string; valid: boolean; value: number | null; stage: string }) =>
      d.metric === "size_bytes" && isUsable(d) && isStageRow(d.stage) && (d.layer === "L3" ? d.replica === "all" : d.layer === "L1" || d.layer === "L2")),
  );
  // Sizes before/after are non-negative; a delta may be negative (linear interval).
  return overRepeats(f, [...CONFIG_DIMS, "stage", "layer", "phase"], "value", { positive: (g) => g.phase !== "delta" });
}

/** A dataset is identified by the configuration fields that describe its data, not the system it went into. */
export interface DatasetSizes extends Pick<ConfigFields, "payload" | "granularity" | "placement" | "insertion" | "unit_size" | "n_units" | "grade"> {
  /** Logical bytes of the dataset (duplicates included), mean over repeats. */
  logical: number;
  /** Unique bytes: what perfect deduplication would store. */
  unique: number;
}

/** Logical and unique bytes of each dataset (L0, from the manifest), per workload and grade. */
export function datasetSizes(results: Table | Frame): Frame {
  // Typed records and blobs of one payload are different datasets (different L0 bytes).
  const keys = ["payload", "granularity", "placement", "insertion", "unit_size", "n_units", "grade"];
  const f = frame(results).filter((d: { stage: string; metric: string }) => d.stage === "dataset" && (d.metric === "logical_bytes" || d.metric === "unique_bytes"));
  if (f.numRows() === 0) return aq.table(Object.fromEntries([...keys, "logical", "unique"].map((k) => [k, []])));
  return f
    .groupby(...keys)
    .pivot("metric", { value: (d: { value: number }) => aq.op.mean(d.value) })
    .rename({ logical_bytes: "logical", unique_bytes: "unique" });
}
