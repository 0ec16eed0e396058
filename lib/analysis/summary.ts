// The summary table printed after a run and by `dedup-lab report`: one line per
// system × variant × payload × grade × stage. EDR, ideal ratio and MB/s: means over the
// repeats' valid rows. p50 and p99: from the one statistics path (cells.ts latencyCells) —
// type-7 percentiles of the raw samples pooled over repeats (merged HdrHistograms where there
// are none), never an average of per-repeat percentiles. Rows left out as invalid are counted
// and named in the status column (the one validity rule: cells.ts isUsable).
import type { Table } from "apache-arrow";
import { mean } from "../metrics/stats.js";
import { insertionLabel, isStageRow, type ResultRow } from "../results/schema.js";
import { isLeftOut, isUsable, latencyCells, type LatencySource } from "./cells.js";
import { frame, type Frame } from "./frames.js";

export interface SummaryLine {
  system: string;
  variant: string;
  payload: string;
  /** "blob", "typed·surrogate" or "typed·natural". */
  insertion: string;
  grade: string;
  stage: string;
  repeats: number;
  /** Typed cells: records held after the stage and natural-key collisions (means over repeats' valid rows); null for blob. */
  records_stored: number | null;
  rejected_duplicates: number | null;
  replaced_duplicates: number | null;
  edr_cluster: number | null;
  edr_replica: number | null;
  ideal_ratio: number | null;
  mbps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Where p50/p99 come from: "samples" (pooled raw), "histograms" (merged HdrHistograms), or "" (none). */
  latency_source: string;
  /** Rows with a value that were left out because `valid` is false. */
  invalid_rows: number;
  status: string;
}

/** The summary groups by these (pooled over repeats). */
export const SUMMARY_BY = ["system", "variant", "payload", "insertion", "keys", "grade", "granularity", "placement", "stage"];

const STAGE_ORDER = ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"];
const INSERTION_ORDER = ["blob", "typed·surrogate", "typed·natural"];

const isTable = (x: unknown): x is Table | Frame => typeof (x as { numRows?: unknown }).numRows !== "undefined" || typeof (x as { numCols?: unknown }).numCols !== "undefined";

/**
 * Summary lines of a bundle: pass the loaded bundle (`{ results, latencies, histograms }`, e.g.
 * `loadBundles` / `loadFrames`). Given the results table alone there are no samples to pool:
 * p50/p99 are then shown only where a line holds a single repeat (whose stored percentiles are
 * exactly those of its samples) and are null otherwise, with `latency_source` saying so.
 */
export function summaryLines(input: LatencySource | Table): SummaryLine[] {
  const src: LatencySource = isTable(input) ? { results: input } : input;
  const rows = frame(src.results).objects() as ResultRow[];
  const groups = new Map<string, ResultRow[]>();
  const keyOf = (r: Record<string, unknown>) => SUMMARY_BY.map((k) => String(r[k])).join("\u0000");
  for (const r of rows) {
    if (!isStageRow(r.stage)) continue;
    const key = keyOf(r as unknown as Record<string, unknown>);
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(r);
  }
  const latency = new Map<string, Record<string, unknown>>();
  const hasLatencyData = !!(src.latencies || src.histograms);
  if (hasLatencyData) for (const r of latencyCells(src, SUMMARY_BY).objects() as Record<string, unknown>[]) latency.set(keyOf(r), r);
  const lines: SummaryLine[] = [];
  for (const [key, rs] of groups) {
    const pick = (metric: string) => {
      const vs = rs.filter((r) => r.metric === metric && isUsable(r)).map((r) => r.value!);
      return vs.length ? mean(vs) : null;
    };
    const first = rs[0]!;
    const errors = rs.filter((r) => r.metric === "error");
    const notImpl = rs.some((r) => r.metric === "stage_status");
    const repeats = new Set(rs.map((r) => `${r.run_id}/${r.repeat}`)).size;
    let p50: number | null = null;
    let p99: number | null = null;
    let source = "";
    const l = latency.get(key);
    if (l) {
      [p50, p99, source] = [l.p50 as number, l.p99 as number, String(l.source)];
    } else if (!hasLatencyData && repeats === 1) {
      // One repeat: the stored percentiles are the type-7 quantiles of exactly these samples.
      [p50, p99] = [pick("latency_p50"), pick("latency_p99")];
      source = p99 === null ? "" : "samples";
    } else if (!hasLatencyData && rs.some((r) => r.metric === "latency_p99")) {
      source = "not pooled: pass the bundle's latencies";
    }
    const left = rs.filter((r) => r.metric !== "error" && r.metric !== "stage_status" && isLeftOut(r));
    const leftNote = left.length ? `${left.length} invalid row${left.length === 1 ? "" : "s"} left out (${[...new Set(left.map((r) => r.reason || "no reason"))].slice(0, 2).join("; ")})` : "";
    const status = errors.length ? `FAILED: ${errors[0]!.reason}` : notImpl ? "not implemented" : "ok";
    lines.push({
      system: first.system, variant: first.variant, payload: first.payload, insertion: insertionLabel(first.insertion, first.keys), grade: first.grade, stage: first.stage, repeats,
      records_stored: pick("records_stored"), rejected_duplicates: pick("rejected_duplicates"), replaced_duplicates: pick("replaced_duplicates"),
      edr_cluster: pick("edr_cluster"), edr_replica: pick("edr_replica"), ideal_ratio: pick("ideal_ratio"),
      mbps: pick("throughput_MBps"), p50_ms: p50, p99_ms: p99, latency_source: source, invalid_rows: left.length,
      status: leftNote ? `${status}; ${leftNote}` : status,
    });
  }
  const gradeKey = (g: string) => Number(g.replace(/^U/, "")) || 0;
  return lines.sort((a, b) =>
    a.system.localeCompare(b.system) || a.variant.localeCompare(b.variant) || a.payload.localeCompare(b.payload) ||
    INSERTION_ORDER.indexOf(a.insertion) - INSERTION_ORDER.indexOf(b.insertion) || gradeKey(a.grade) - gradeKey(b.grade) || STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage));
}

/** How a p50/p99 value is printed in the summary (and in the thesis tables): 3 decimals, integers from 1000. */
export function formatMs(v: number | null, digits = 3): string {
  if (v === null || !Number.isFinite(v)) return "—";
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return v.toFixed(digits);
}

function fmt(v: number | null, digits = 2): string {
  return formatMs(v, digits);
}

/** "400 (−40 rejected)", "360 (40 replaced)", "400" or "—" (blob). */
function recordsCell(l: SummaryLine): string {
  if (l.records_stored === null && l.rejected_duplicates === null && l.replaced_duplicates === null) return "—";
  const held = l.records_stored === null ? "?" : fmt(l.records_stored, 0);
  const dups = [l.rejected_duplicates ? `${fmt(l.rejected_duplicates, 0)} rejected` : "", l.replaced_duplicates ? `${fmt(l.replaced_duplicates, 0)} replaced` : ""].filter(Boolean);
  return dups.length ? `${held} (${dups.join(", ")})` : held;
}

/** Fixed-width text table for terminals and logs. */
export function formatSummary(lines: SummaryLine[]): string {
  // Typed cells add two columns (insertion; records held and natural-key collisions); blob-only summaries read as before.
  const typed = lines.some((l) => l.insertion !== "blob");
  const header = ["system", "variant", "payload", ...(typed ? ["insertion"] : []), "grade", "stage", "n", "EDR_cluster", "EDR_replica", "ideal", "MB/s", "p50 ms", "p99 ms", ...(typed ? ["records (dups)"] : []), "status"];
  const body = lines.map((l) => [
    l.system, l.variant, l.payload, ...(typed ? [l.insertion] : []), l.grade, l.stage, String(l.repeats), fmt(l.edr_cluster), fmt(l.edr_replica), fmt(l.ideal_ratio),
    fmt(l.mbps, 1), fmt(l.p50_ms, 3), fmt(l.p99_ms, 3), ...(typed ? [recordsCell(l)] : []), l.status.length > 90 ? l.status.slice(0, 89) + "…" : l.status,
  ]);
  const shift = typed ? 1 : 0;
  const numeric = new Set([5, 6, 7, 8, 9, 10, 11].map((i) => i + shift));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const notes: string[] = [];
  const sources = new Set(lines.map((l) => l.latency_source).filter(Boolean));
  if (lines.some((l) => (l.repeats > 1 && (l.latency_source === "samples" || l.latency_source === "histograms")) || l.latency_source === "histograms")) {
    notes.push(
      "p50/p99: type-7 percentiles of the raw samples pooled over the n repeats" +
        (sources.has("histograms") ? " (merged HdrHistograms, 3 significant digits, where a bundle has no raw samples)" : "") +
        "; EDR, ideal, MB/s: mean over repeats.",
    );
  }
  if ([...sources].some((s) => s.startsWith("not pooled"))) notes.push("p50/p99 —: several repeats and no raw samples given (pass the loaded bundle, not only its results table).");
  if (typed) notes.push("records (dups): records held after the stage (typed cells), and natural-key duplicates the system rejected or replaced in it (written − change in records held).");
  if (lines.some((l) => l.invalid_rows > 0)) notes.push("Rows marked invalid (valid = false) are left out of every number and counted in the status column.");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line), ...(notes.length ? ["", ...notes] : [])].join("\n");
}
