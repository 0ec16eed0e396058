// Long-format result rows derived from what a stage measured: timings and latency
// summaries from the timing wrapper, size layers and EDR from the before/after readings.
import type { DatasetTotals } from "../generators/dataset.js";
import { edr, reductionRatio } from "../metrics/edr.js";
import { encodeHistogram } from "../metrics/histogram.js";
import type { StageMeasurement } from "../metrics/measured-system.js";
import { summarize } from "../metrics/stats.js";
import type { L3Reading } from "../metrics/storage-layer.js";
import type { CellRecord } from "../results/bundle.js";
import { rowValid, type CellDims, type ResultRow } from "../results/schema.js";
import type { CollisionBehaviour, KeyMode, SizeReading, Stage } from "../systems/contract.js";

/** Builds the long-format rows of one cell. Validity is never set by hand: see rowValid. */
export class CellRows {
  readonly rows: ResultRow[] = [];
  constructor(private readonly dims: CellDims) {}

  add(stage: string, metric: string, value: number | null, unit: string, extra: Partial<Pick<ResultRow, "layer" | "phase" | "replica" | "reason">> = {}): void {
    const v = value !== null && Number.isFinite(value) ? value : null;
    const reason = extra.reason || (v === null ? (value === null ? "not available" : `not a finite number (${value})`) : "");
    this.rows.push({
      ...this.dims, timestamp: Date.now(), stage, metric, value: v, unit,
      layer: extra.layer ?? "", phase: extra.phase ?? "", replica: extra.replica ?? "",
      valid: rowValid(v, reason), reason,
    });
  }
}

/** L0 rows: the ground truth of the cell's dataset, from its manifest totals. */
export function recordDataset(out: CellRows, t: DatasetTotals): void {
  out.add("dataset", "logical_bytes", t.logical_bytes, "B", { layer: "L0" });
  out.add("dataset", "unique_bytes", t.unique_bytes, "B", { layer: "L0" });
  out.add("dataset", "ideal_ratio", t.dedup_ratio, "ratio", { layer: "L0" });
  out.add("dataset", "realized_fraction", t.realized_fraction, "fraction", { layer: "L0" });
  out.add("dataset", "requested_fraction", t.requested_fraction, "fraction", { layer: "L0" });
  out.add("dataset", "n_units", t.n_units, "units", { layer: "L0" });
  out.add("dataset", "largest_group", t.largest_group, "units", { layer: "L0" });
}

export interface SizePoint {
  readings: SizeReading[];
  l3: L3Reading[];
  error?: string;
}

const MS = 1e6;
/** A bulk stage whose system waited longer than this share of its wall time for input is flagged. */
export const INPUT_WAIT_LIMIT = 0.05;

export function recordMeasurement(out: CellRows, record: CellRecord, stage: Stage, m: StageMeasurement, runId: string, cellId: string, dims: CellDims): void {
  const seconds = m.durationNs / 1e9;
  let flagged = "";
  if (stage === "bulk_insert") {
    const share = m.durationNs > 0 ? m.inputWaitNs / m.durationNs : 0;
    if (share > INPUT_WAIT_LIMIT) flagged = `the system waited for input ${(share * 100).toFixed(1)} % of the bulk stage (limit ${INPUT_WAIT_LIMIT * 100} %): input generation was on the critical path`;
    out.add(stage, "input_wait_s", m.inputWaitNs / 1e9, "s", { reason: flagged });
  }
  out.add(stage, "duration_s", seconds, "s", { reason: flagged });
  if (stage !== "maintenance") {
    out.add(stage, "units", m.units, "units");
    out.add(stage, "logical_bytes", m.bytes, "B", { layer: "L0" });
    const ok = seconds > 0 && m.units > 0;
    out.add(stage, "throughput_MBps", ok ? m.bytes / 1e6 / seconds : null, "MB/s (10^6 B/s)", { reason: flagged });
    out.add(stage, "throughput_MiBps", ok ? m.bytes / 1048576 / seconds : null, "MiB/s (2^20 B/s)", { reason: flagged });
    out.add(stage, "throughput_units_per_s", ok ? m.units / seconds : null, "units/s", { reason: flagged });
  }
  if (m.samples.length > 0) {
    const s = summarize(m.samples);
    out.add(stage, "latency_count", s.count, "ops");
    for (const k of ["mean", "min", "p50", "p90", "p95", "p99", "p999", "max"] as const) out.add(stage, `latency_${k}`, s[k] / MS, "ms");
    record.histograms.push({ ...dims, stage, operation: stage === "maintenance" ? "maintenance" : stage.replace("perfile_", ""), count: s.count, hdr: encodeHistogram(m.histogram) });
    m.samples.forEach((ns, seq) => record.latencies.push({ run_id: runId, cell_id: cellId, stage, seq, latency_ns: ns }));
  }
}

/** One layer's size at one point: bytes, and why they cannot be trusted ("" = they can). */
interface LayerSize {
  bytes: number | null;
  reason: string;
}

function primaryOf(p: SizePoint, layer: "L1" | "L2"): LayerSize {
  const r = p.readings.find((x) => x.layer === layer && x.primary);
  if (!r) return { bytes: null, reason: p.error ?? `${layer} not reported` };
  return { bytes: r.bytes, reason: r.reason ?? (r.bytes === null ? "not available" : "") };
}

function l3Reason(r: L3Reading): string {
  return r.reason || (r.valid ? "" : "flagged invalid by its source");
}

function l3Total(p: SizePoint): LayerSize {
  if (p.l3.length === 0) return { bytes: null, reason: "no L3 reading" };
  const bad = p.l3.find((r) => r.bytes === null);
  if (bad) return { bytes: null, reason: l3Reason(bad) || "replica reading missing" };
  return { bytes: p.l3.reduce((a, r) => a + r.bytes!, 0), reason: [...new Set(p.l3.map(l3Reason).filter(Boolean))].join("; ") };
}

/** Reasons joined once each, in order ("" when there are none). */
export const joinReasons = (...r: string[]): string => [...new Set(r.filter(Boolean))].join("; ");

/**
 * Size rows of one stage. `baseline` is "" for a fresh, settled baseline, or why it is not;
 * `unsettled` names the layers that were still changing at the "after" reading.
 */
export function recordSizes(
  out: CellRows, stage: Stage, before: SizePoint, after: SizePoint, logical: number, ideal: number, R: number,
  state: { baseline: string; unsettled: string } = { baseline: "", unsettled: "" },
  stored?: StoredDataset,
): void {
  // Every reading the system reports, as it reported it.
  for (const [phase, p] of [["before", before], ["after", after]] as const) {
    if (p.error) out.add(stage, "sizes_error", null, "", { phase, reason: p.error });
    for (const r of p.readings) out.add(stage, r.metric, r.bytes, "B", { layer: r.layer, phase, reason: r.reason });
    for (const r of p.l3) out.add(stage, "size_bytes", r.bytes, "B", { layer: "L3", phase, replica: r.replica, reason: l3Reason(r) });
  }
  const inserting = stage === "bulk_insert" || stage === "perfile_insert";
  // One comparable size per layer: the primary reading, before/after/delta.
  const layers: [string, LayerSize, LayerSize][] = [
    ["L1", primaryOf(before, "L1"), primaryOf(after, "L1")],
    ["L2", primaryOf(before, "L2"), primaryOf(after, "L2")],
    ["L3", l3Total(before), l3Total(after)],
  ];
  let l3Delta: number | null = null;
  let l3Reasons = "";
  for (const [layer, b, a] of layers) {
    const replica = layer === "L3" ? "all" : "";
    const before = joinReasons(b.reason, state.baseline);
    const after = joinReasons(a.reason, state.unsettled.includes(layer) ? `${layer} still changing when read after settling` : "");
    out.add(stage, "size_bytes", b.bytes, "B", { layer, phase: "before", replica, reason: before });
    out.add(stage, "size_bytes", a.bytes, "B", { layer, phase: "after", replica, reason: after });
    const delta = a.bytes !== null && b.bytes !== null ? a.bytes - b.bytes : null;
    const reason = joinReasons(before, after);
    out.add(stage, "size_bytes", delta, "B", { layer, phase: "delta", replica, reason });
    if (inserting) {
      const r = reductionRatio(logical, delta);
      out.add(stage, "reduction_ratio", r.value, "ratio", { layer, reason: joinReasons(r.reason, reason) });
    } else {
      // A layer that grew during a delete or maintenance stage did not reclaim: say so.
      const grew = delta !== null && delta > 0 ? `${layer} grew by ${delta} B during ${stage} (negative reclaim)` : "";
      out.add(stage, "reclaimed_bytes", delta === null ? null : -delta, "B", { layer, reason: joinReasons(reason, grew) });
    }
    if (layer === "L3") {
      l3Delta = delta;
      l3Reasons = reason;
    }
  }
  const e = inserting ? edr(logical, l3Delta, R) : { cluster: null, replica: null, reason: `${stage}: EDR is defined for insert phases; see reclaimed_bytes` };
  // The thin-volume trap: an insert that did not grow L3 started from a baseline that was not fresh.
  const notFresh = inserting && l3Delta !== null && l3Delta <= 0 ? "L3 did not grow during an insert: the baseline was not fresh (reused or untrimmed volume)" : "";
  const reason = joinReasons(e.reason, l3Reasons, notFresh);
  out.add(stage, "edr_cluster", e.cluster, "ratio", { layer: "L3", reason });
  out.add(stage, "edr_replica", e.replica, "ratio", { layer: "L3", reason });
  out.add(stage, "ideal_ratio", inserting ? ideal : null, "ratio", { layer: "L0", reason: inserting ? "" : "not an insert phase" });
  out.add(stage, "replication_factor", R, "x");
  if (stored) recordStored(out, stage, stored, after, R, state.unsettled);
}

/** The dataset as stored at the end of a stage, against the empty cell's settled sizes. */
export interface StoredDataset {
  /** The dataset's logical bytes (L0, from its manifest). */
  logical: number;
  /** The empty cell's settled reading (the `prepare` rows). */
  empty: SizePoint;
  /** Why that empty reading cannot be trusted ("" = it can). */
  emptyReason: string;
}

/**
 * `stored_bytes` per layer: what the stored dataset occupies at L0–L3 after the stage, net of
 * the empty cell. L3 is per storage replica (the sum over replicas / R), so the layer
 * boundaries L0→L1→L2→L3 show reduction (or overhead) without replication in them.
 */
function recordStored(out: CellRows, stage: Stage, s: StoredDataset, after: SizePoint, R: number, unsettled: string): void {
  out.add(stage, "stored_bytes", s.logical, "B", { layer: "L0" });
  const sizes: [string, LayerSize, LayerSize, number][] = [
    ["L1", primaryOf(s.empty, "L1"), primaryOf(after, "L1"), 1],
    ["L2", primaryOf(s.empty, "L2"), primaryOf(after, "L2"), 1],
    ["L3", l3Total(s.empty), l3Total(after), R],
  ];
  for (const [layer, e, a, per] of sizes) {
    const net = e.bytes !== null && a.bytes !== null ? (a.bytes - e.bytes) / per : null;
    const reason = joinReasons(
      // The same caveat on both readings (e.g. "instance-wide") is said once.
      e.reason && e.reason !== a.reason ? `empty cell: ${e.reason}` : "", s.emptyReason, a.reason,
      unsettled.includes(layer) ? `${layer} still changing when read after settling` : "",
      net !== null && net <= 0 ? `${layer} is not above the empty cell (${net} B): the dataset is not visible at this layer (reused or untrimmed space?)` : "",
    );
    out.add(stage, "stored_bytes", net, "B", { layer, replica: layer === "L3" ? "per_replica" : "", reason });
  }
}

/** Records held by a typed cell at one point: the system's own count, or why there is none. */
export interface HeldRecords {
  count: number | null;
  /** Why count is null ("" when it is a count). */
  reason: string;
}

/** What a typed stage did to the records held (recordRecords' input). */
export interface TypedStageRecords {
  /** What a natural-key duplicate meets on this system (capabilities.typed.collision). */
  collision: CollisionBehaviour;
  keys: KeyMode;
  /** Records the stage wrote (insert stages: its units; 0 for delete and maintenance). */
  written: number;
  before: HeldRecords;
  after: HeldRecords;
  /** Why the stage's readings cannot be trusted (e.g. an unsettled layer) — carried by every row. */
  reason?: string;
}

/**
 * Collision rows of a typed stage, derived outside the connector from the records written and the
 * change in records held (both counted after settle):
 *  - `records_stored`: records held after the stage.
 *  - insert stages: collided = written − (held after − held before); `rejected_duplicates` carries it
 *    where the system rejects a colliding key, `replaced_duplicates` where it replaces one; a
 *    system that keeps colliding keys (or surrogate keys, which never collide) must hold every
 *    record, so a non-zero difference there is lost or invented records: a reason, never silence.
 *  - maintenance: records gone during it are replacements (ReplacingMergeTree merges, log
 *    compaction) where the system replaces; anywhere else a change is a reason.
 *  - perfile_delete: `records_deleted` = held before − held after; no collision rows.
 * A count the system cannot give (null) makes every derived row null with that reason.
 */
export function recordRecords(out: CellRows, stage: Stage, r: TypedStageRecords): void {
  const base = r.reason ?? "";
  out.add(stage, "records_stored", r.after.count, "records", { reason: joinReasons(r.after.reason, base) });
  const countReason = joinReasons(r.before.count === null ? `records held before the stage: ${r.before.reason || "not counted"}` : "", r.after.count === null ? `records held after the stage: ${r.after.reason || "not counted"}` : "");
  const change = r.before.count !== null && r.after.count !== null ? r.after.count - r.before.count : null;
  if (stage === "perfile_delete") {
    out.add(stage, "records_deleted", change === null ? null : -change, "records", { reason: joinReasons(countReason, base) });
    return;
  }
  const inserting = stage === "bulk_insert" || stage === "perfile_insert";
  // Records that vanished (insert: written but not held; maintenance: held before, gone after).
  const collided = change === null ? null : inserting ? r.written - change : -change;
  const expectCollisions = r.keys === "natural" && (inserting ? r.collision !== "kept" : r.collision === "replaced");
  let problem = "";
  if (collided !== null && collided !== 0 && !expectCollisions) {
    problem = r.keys === "surrogate"
      ? `${Math.abs(collided)} record(s) ${collided > 0 ? "written but not held" : "held beyond those written"}: surrogate keys never collide`
      : inserting
        ? `${Math.abs(collided)} record(s) ${collided > 0 ? "written but not held" : "held beyond those written"}: the system declares that it keeps colliding keys`
        : `records held changed by ${-collided} during ${stage}, which does not replace on this system (collision: ${r.collision})`;
  } else if (collided !== null && collided < 0) {
    problem = `${-collided} record(s) more held than written (${r.written} written, held ${r.before.count} → ${r.after.count})`;
  }
  const reason = joinReasons(countReason, problem, base);
  const kind = r.collision === "replaced" ? "replaced_duplicates" : "rejected_duplicates";
  // Where the system keeps collisions, both counts are 0 by definition (and a difference is `problem`).
  const value = collided === null ? null : r.collision === "kept" ? 0 : collided;
  out.add(stage, kind, value, "records", { reason });
  out.add(stage, kind === "replaced_duplicates" ? "rejected_duplicates" : "replaced_duplicates", collided === null ? null : 0, "records", { reason: collided === null ? reason : joinReasons(r.collision === "kept" ? problem : "", base) });
}
