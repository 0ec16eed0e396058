// Throughput per configuration and stage over repeats (figure d).
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { isUsable } from "./cells.js";
import { CONFIG_DIMS, frame, type ConfigFields, type Frame } from "./frames.js";
import { overRepeats } from "./repeats.js";

export const THROUGHPUT_METRICS = {
  throughput_MBps: "MB/s (10⁶ B/s)",
  throughput_MiBps: "MiB/s (2²⁰ B/s)",
  throughput_units_per_s: "units/s",
} as const;
export type ThroughputMetric = keyof typeof THROUGHPUT_METRICS;

export interface ThroughputRow extends ConfigFields {
  stage: string;
  metric: ThroughputMetric;
  n: number;
  mean: number;
  sd: number;
  ci95: number;
  /** Geometric mean and 95 % t interval on the log scale (see repeats.ts). */
  center: number;
  lower: number;
  upper: number;
  scale: string;
}

/** Throughput (MB/s, MiB/s, units/s) per configuration × stage: n, mean, sd, ci95 over repeats; intervals on the log scale. */
export function throughputTable(results: Table | Frame): Frame {
  const f = frame(results).filter(aq.escape((d: { metric: string; valid: boolean; value: number | null }) => d.metric in THROUGHPUT_METRICS && isUsable(d)));
  return overRepeats(f, [...CONFIG_DIMS, "stage", "metric"]);
}
