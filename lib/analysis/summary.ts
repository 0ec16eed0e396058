// The summary table printed after a run and by `dedup-lab report`: one line per
// system × variant × payload × grade × stage, means over repeats.
import type { Table } from "apache-arrow";
import { tableRows } from "../results/arrow-io.js";
import type { ResultRow } from "../results/schema.js";
import { mean } from "../metrics/stats.js";

export interface SummaryLine {
  system: string;
  variant: string;
  payload: string;
  grade: string;
  stage: string;
  repeats: number;
  edr_cluster: number | null;
  edr_replica: number | null;
  ideal_ratio: number | null;
  mbps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  status: string;
}

const STAGE_ORDER = ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"];

export function summaryLines(results: Table): SummaryLine[] {
  const rows = tableRows<ResultRow>(results);
  const groups = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (r.stage === "dataset") continue;
    const key = [r.system, r.variant, r.payload, r.grade, r.granularity, r.placement, r.stage].join("\u0000");
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(r);
  }
  const lines: SummaryLine[] = [];
  for (const rs of groups.values()) {
    const pick = (metric: string, layer?: string) => {
      const vs = rs.filter((r) => r.metric === metric && (layer === undefined || r.layer === layer) && r.valid && r.value !== null).map((r) => r.value!);
      return vs.length ? mean(vs) : null;
    };
    const first = rs[0]!;
    const errors = rs.filter((r) => r.metric === "error");
    const notImpl = rs.some((r) => r.metric === "stage_status");
    lines.push({
      system: first.system, variant: first.variant, payload: first.payload, grade: first.grade, stage: first.stage,
      repeats: new Set(rs.map((r) => `${r.run_id}/${r.repeat}`)).size,
      edr_cluster: pick("edr_cluster"), edr_replica: pick("edr_replica"), ideal_ratio: pick("ideal_ratio"),
      mbps: pick("throughput_MBps"), p50_ms: pick("latency_p50"), p99_ms: pick("latency_p99"),
      status: errors.length ? `FAILED: ${errors[0]!.reason}` : notImpl ? "not implemented" : "ok",
    });
  }
  const gradeKey = (g: string) => Number(g.replace(/^U/, "")) || 0;
  return lines.sort((a, b) =>
    a.system.localeCompare(b.system) || a.variant.localeCompare(b.variant) || a.payload.localeCompare(b.payload) ||
    gradeKey(a.grade) - gradeKey(b.grade) || STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage));
}

function fmt(v: number | null, digits = 2): string {
  if (v === null) return "—";
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return v.toFixed(digits);
}

/** Fixed-width text table for terminals and logs. */
export function formatSummary(lines: SummaryLine[]): string {
  const header = ["system", "variant", "payload", "grade", "stage", "EDR_cluster", "EDR_replica", "ideal", "MB/s", "p50 ms", "p99 ms", "status"];
  const body = lines.map((l) => [
    l.system, l.variant, l.payload, l.grade, l.stage, fmt(l.edr_cluster), fmt(l.edr_replica), fmt(l.ideal_ratio),
    fmt(l.mbps, 1), fmt(l.p50_ms, 3), fmt(l.p99_ms, 3), l.status.length > 60 ? l.status.slice(0, 59) + "…" : l.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const numeric = new Set([5, 6, 7, 8, 9, 10]);
  const line = (r: string[]) => r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
