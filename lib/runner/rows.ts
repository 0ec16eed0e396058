// Long-format result rows derived from what a stage measured: timings and latency
// summaries from the timing wrapper, size layers and EDR from the before/after readings.
import type { DatasetTotals } from "../generators/dataset.js";
import { edr, reductionRatio } from "../metrics/edr.js";
import { encodeHistogram } from "../metrics/histogram.js";
import type { StageMeasurement } from "../metrics/measured-system.js";
import { summarize } from "../metrics/stats.js";
import type { L3Reading } from "../metrics/storage-layer.js";
import type { CellRecord } from "../results/bundle.js";
import type { CellDims, ResultRow } from "../results/schema.js";
import type { SizeReading, Stage } from "../systems/contract.js";

/** Builds the long-format rows of one cell. */
export class CellRows {
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

/** L0 rows: the ground truth of the cell's dataset, from its manifest totals. */
export function recordDataset(out: CellRows, t: DatasetTotals, R: number): void {
  out.add("dataset", "logical_bytes", t.logical_bytes, "B", { layer: "L0" });
  out.add("dataset", "unique_bytes", t.unique_bytes, "B", { layer: "L0" });
  out.add("dataset", "ideal_ratio", t.dedup_ratio, "ratio", { layer: "L0" });
  out.add("dataset", "realized_fraction", t.realized_fraction, "fraction", { layer: "L0" });
  out.add("dataset", "requested_fraction", t.requested_fraction, "fraction", { layer: "L0" });
  out.add("dataset", "n_units", t.n_units, "units", { layer: "L0" });
  out.add("dataset", "largest_group", t.largest_group, "units", { layer: "L0" });
  out.add("dataset", "replication_factor", R, "x");
}

export interface SizePoint {
  readings: SizeReading[];
  l3: L3Reading[];
  error?: string;
}

const MS = 1e6;

export function recordMeasurement(out: CellRows, record: CellRecord, stage: Stage, m: StageMeasurement, runId: string, cellId: string, dims: CellDims): void {
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

export function recordSizes(out: CellRows, stage: Stage, before: SizePoint, after: SizePoint, logical: number, ideal: number, R: number): void {
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
