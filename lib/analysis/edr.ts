// EDR per configuration and insert stage, over repeats: what the thesis plots as figure (a)
// and tabulates. EDR_cluster = logical / Δ(Σ L3), EDR_replica = EDR_cluster × R (see
// lib/metrics/edr.ts); the ideal ratio (logical / unique bytes; 1/(1 − f) only when all units have one size) comes from the manifest.
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { isUsable } from "./cells.js";
import { CONFIG_DIMS, frame, type ConfigFields, type Frame } from "./frames.js";
import { overRepeats } from "./repeats.js";

export const EDR_METRICS = ["edr_cluster", "edr_replica"] as const;
export type EdrMetric = (typeof EDR_METRICS)[number];
export const INSERT_STAGES = ["bulk_insert", "perfile_insert"] as const;

export interface EdrRow extends ConfigFields {
  stage: string;
  metric: EdrMetric;
  n: number;
  mean: number;
  sd: number;
  ci95: number;
  /** Geometric mean and 95 % t interval on the log scale (see repeats.ts). */
  center: number;
  lower: number;
  upper: number;
  scale: string;
  /** Ideal (manifest) dedup ratio of the dataset. */
  ideal: number;
  replication: number;
  /** Why there is no value, when n = 0 (e.g. no L3 reading for this system). */
  reason: string;
}

const KEYS = [...CONFIG_DIMS, "stage"];

/** EDR_cluster and EDR_replica per configuration × insert stage: n, mean, sd, ci95, ideal. */
export function edrTable(results: Table | Frame): Frame {
  const f = frame(results).filter(aq.escape((d: { stage: string }) => (INSERT_STAGES as readonly string[]).includes(d.stage)));
  const isEdr = (d: { metric: string }) => (EDR_METRICS as readonly string[]).includes(d.metric);
  const valid = f.filter(aq.escape((d: { metric: string; valid: boolean; value: number | null }) => isEdr(d) && isUsable(d)));
  const stats = overRepeats(valid, [...KEYS, "metric"]);
  const ideal = overRepeats(f.filter(aq.escape((d: { metric: string; valid: boolean; value: number | null }) => d.metric === "ideal_ratio" && isUsable(d))), KEYS).select(...KEYS, { mean: "ideal" });
  const repl = overRepeats(f.filter(aq.escape((d: { metric: string; valid: boolean; value: number | null }) => d.metric === "replication_factor" && isUsable(d))), KEYS).select(...KEYS, { mean: "replication" });
  // Configurations where no repeat gave a valid EDR still get a row (n = 0) with the reason.
  const reasons = f
    .filter(aq.escape((d: { metric: string; valid: boolean; value: number | null }) => isEdr(d) && !isUsable(d)))
    .groupby(...KEYS, "metric")
    .rollup({ reason: aq.op.any("reason") });
  const missing = reasons.antijoin(stats, [[...KEYS, "metric"]]).derive({ n: () => 0, mean: () => NaN, sd: () => NaN, ci95: () => NaN, center: () => NaN, lower: () => NaN, upper: () => NaN, scale: () => "log" });
  const all = missing.numRows() ? stats.derive({ reason: () => "" }).concat(missing) : stats.derive({ reason: () => "" });
  return all.join_left(ideal, [KEYS]).join_left(repl, [KEYS]);
}
