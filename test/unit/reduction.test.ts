// Reduction per layer boundary (lib/analysis/reduction.ts): boundary maths from stored_bytes,
// null factors with reasons (never 0), invalid rows excluded and counted, repeats aggregated by
// the one path (repeats.ts overRepeats, log scale), the where-rule, the figure and the table.
import { describe, expect, it } from "vitest";
import { rowsToTable } from "../../lib/results/arrow-io.js";
import { RESULTS, type ResultRow } from "../../lib/results/schema.js";
import { aggregate } from "../../lib/metrics/stats.js";
import { frame, rowsOf } from "../../lib/analysis/frames.js";
import { boundaryFactor, reductionTable, whereReduced, WHERE_THRESHOLD, type ReductionRow } from "../../lib/analysis/reduction.js";
import { reductionFigure } from "../../lib/analysis/figures.js";
import { reductionThesisTable, toLatex, toMarkdown } from "../../lib/analysis/thesis-tables.js";
import { thesisFigures, thesisTables } from "../../lib/analysis/thesis.js";
import { HISTOGRAMS, LATENCIES, TIMESERIES } from "../../lib/results/schema.js";
import { framesOf } from "../../lib/analysis/frames.js";

const L0 = 1_000_000;

/** [L1, L2, L3 per replica] in bytes per repeat; null = no reading; a string = an invalid reading with that reason. */
type Layer = number | null | string;
interface CellSpec {
  system: string;
  variant: string;
  grade: string;
  f: number;
  stage: string;
  layers: [Layer, Layer, Layer][];
}

function rows(specs: CellSpec[]): ResultRow[] {
  const out: ResultRow[] = [];
  for (const s of specs) {
    s.layers.forEach((layers, i) => {
      const repeat = i + 1;
      const cell_id = `${s.system}.${s.variant}.${s.grade}.r${repeat}`;
      const dims = {
        run_id: "run-r", cell_id, system: s.system, variant: s.variant, payload: "random_binary", unit_size: "4096", n_units: 244,
        dup_fraction: s.f, grade: s.grade, granularity: "file", placement: "within", insertion: "blob", keys: "", cache_state: "warm", repeat, storage_profile: "",
      };
      const add = (stage: string, metric: string, value: number | null, extra: Partial<ResultRow> = {}) =>
        out.push({ ...dims, timestamp: 0, stage, metric, value, unit: "B", layer: "", phase: "", replica: "", valid: value !== null, reason: value === null ? "no reading" : "", ...extra });
      if (s.stage !== "maintenance") add(s.stage, "ideal_ratio", 1 / (1 - s.f), { layer: "L0", unit: "ratio" });
      add(s.stage, "stored_bytes", L0, { layer: "L0" });
      layers.forEach((v, k) => {
        const layer = `L${k + 1}`;
        const replica = layer === "L3" ? "per_replica" : "";
        if (typeof v === "string") add(s.stage, "stored_bytes", 123, { layer, replica, valid: false, reason: v });
        else add(s.stage, "stored_bytes", v, { layer, replica, ...(v === null ? { reason: `${layer}: no reading` } : {}) });
      });
    });
  }
  return out;
}

const SPECS: CellSpec[] = [
  // Compression at L2 (Kafka zstd batches): repeats 4×, 5×, 6.25×.
  { system: "kafka", variant: "zstd", grade: "U90", f: 0.9, stage: "bulk_insert", layers: [[L0, L0 / 4, L0 / 4], [L0, L0 / 5, L0 / 5], [L0, L0 / 6.25, L0 / 6.25]] },
  // A dedup volume: reduction at L3; repeat 2's L3 reading is invalid (left out, counted).
  { system: "postgres", variant: "dedup", grade: "U90", f: 0.9, stage: "bulk_insert", layers: [[L0 * 1.1, L0 * 1.2, L0 / 8], [L0 * 1.1, L0 * 1.2, "L3: stale reading"], [L0 * 1.1, L0 * 1.2, L0 / 8]] },
  // A thin volume: no reduction anywhere, some overhead.
  { system: "postgres", variant: "thin", grade: "U90", f: 0.9, stage: "bulk_insert", layers: [[L0 * 1.05, L0 * 1.1, L0 * 1.1], [L0 * 1.05, L0 * 1.1, L0 * 1.1]] },
  // ReplacingMergeTree: nothing at insert, L2 after maintenance (merges).
  { system: "clickhouse", variant: "replacing", grade: "U90", f: 0.9, stage: "bulk_insert", layers: [[L0, L0, L0]] },
  { system: "clickhouse", variant: "replacing", grade: "U90", f: 0.9, stage: "maintenance", layers: [[L0, L0 / 9, L0 / 9]] },
  // No L3 reading at all (l3: none): L2→L3 and L0→L3 have no factor, with the reason.
  { system: "sqlite", variant: "wal", grade: "U90", f: 0.9, stage: "bulk_insert", layers: [[L0, L0 * 1.02, null], [L0, L0 * 1.02, null]] },
];

const results = frame(rowsToTable(RESULTS, rows(SPECS)));
const red = rowsOf<ReductionRow>(reductionTable(results));
const pick = (system: string, variant: string, boundary: string, stage = "bulk_insert") =>
  red.find((r) => r.system === system && r.variant === variant && r.boundary === boundary && r.stage === stage)!;

describe("boundaryFactor", () => {
  const ok = (value: number) => ({ value, valid: true, reason: "" });
  it("divides the upper layer by the lower one", () => {
    expect(boundaryFactor("L1→L2", { L1: ok(100), L2: ok(25) })).toEqual({ value: 4, reason: "" });
    expect(boundaryFactor("L0→L3", { L0: ok(100), L3: ok(400) }).value).toBe(0.25); // inflation < 1
  });
  it("is null with a reason, never 0, for a missing, invalid or non-positive operand", () => {
    expect(boundaryFactor("L2→L3", { L2: ok(100) })).toEqual({ value: null, reason: "no L3 stored_bytes reading" });
    expect(boundaryFactor("L2→L3", { L2: ok(100), L3: { value: 0, valid: true, reason: "" } })).toEqual({ value: null, reason: "L3 stored 0 B (≤ 0)" });
    expect(boundaryFactor("L2→L3", { L2: ok(100), L3: { value: -5, valid: true, reason: "" } }).value).toBeNull();
    const invalid = boundaryFactor("L1→L2", { L1: { value: 50, valid: false, reason: "L1 still changing" }, L2: ok(10) });
    expect(invalid).toEqual({ value: null, reason: "L1: L1 still changing" });
    expect(boundaryFactor("L0→L1", { L0: ok(10), L1: { value: null, valid: false, reason: "no reading" } }).reason).toBe("L1: no reading");
  });
});

describe("whereReduced", () => {
  it("names the adjacent boundary with the largest factor when it is ≥ the threshold", () => {
    expect(WHERE_THRESHOLD).toBe(1.2);
    expect(whereReduced({ "L0→L1": 1, "L1→L2": 5, "L2→L3": 1, "L0→L3": 5 })).toBe("L1→L2");
    expect(whereReduced({ "L0→L1": 0.9, "L1→L2": 1.3, "L2→L3": 8 })).toBe("L2→L3");
    expect(whereReduced({ "L0→L1": 1.2, "L1→L2": 1.2 })).toBe("L0→L1"); // tie: the lower boundary
  });
  it("ignores the total, says nowhere below the threshold and null when nothing is known", () => {
    expect(whereReduced({ "L0→L1": 1.1, "L1→L2": 1.19, "L2→L3": 0.5, "L0→L3": 30 })).toBe("nowhere");
    expect(whereReduced({ "L0→L1": 1.5, "L1→L2": null })).toBe("L0→L1");
    expect(whereReduced({ "L0→L3": 10 })).toBeNull();
    expect(whereReduced({})).toBeNull();
  });
});

describe("reductionTable", () => {
  it("aggregates per-repeat factors over repeats through repeats.ts (geometric mean, log-scale t interval)", () => {
    const r = pick("kafka", "zstd", "L1→L2");
    const a = aggregate([4, 5, 6.25], { positive: true });
    expect(r.n).toBe(3);
    expect(r.center).toBeCloseTo(5, 12); // geometric mean of 4, 5, 6.25
    expect(r.mean).toBeCloseTo(a.mean, 12);
    expect(r.lower).toBeCloseTo(a.lower, 12);
    expect(r.upper).toBeCloseTo(a.upper, 12);
    expect(r.scale).toBe("log");
    expect(r.ideal).toBeCloseTo(10, 12);
    expect(pick("kafka", "zstd", "L0→L1").center).toBeCloseTo(1, 12);
    expect(pick("kafka", "zstd", "L0→L3").center).toBeCloseTo(5, 12);
    expect(r.where).toBe("L1→L2");
  });

  it("leaves invalid operands out of n, counts them and keeps their reasons", () => {
    const l3 = pick("postgres", "dedup", "L2→L3");
    expect(l3.n).toBe(2);
    expect(l3.excluded).toBe(1);
    expect(l3.reason).toBe("L3: L3: stale reading");
    expect(l3.center).toBeCloseTo(1.2 * 8, 12);
    expect(pick("postgres", "dedup", "L1→L2")).toMatchObject({ n: 3, excluded: 0, reason: "" });
    expect(pick("postgres", "dedup", "L0→L3").center).toBeCloseTo(8, 12);
    expect(l3.where).toBe("L2→L3");
  });

  it("says nowhere for a plain thin volume and finds the maintenance stage's reduction", () => {
    expect(pick("postgres", "thin", "L0→L3").where).toBe("nowhere");
    expect(pick("postgres", "thin", "L0→L3").center).toBeCloseTo(1 / 1.1, 12);
    expect(pick("clickhouse", "replacing", "L1→L2").where).toBe("nowhere");
    const m = pick("clickhouse", "replacing", "L1→L2", "maintenance");
    expect(m.center).toBeCloseTo(9, 12);
    expect(m.where).toBe("L1→L2");
    // The ideal of a maintenance row is the insert stage's ideal of the same configuration.
    expect(m.ideal).toBeCloseTo(10, 12);
  });

  it("keeps boundaries without any factor as n = 0 with the reason (never 0)", () => {
    const r = pick("sqlite", "wal", "L2→L3");
    expect(r.n).toBe(0);
    expect(Number.isNaN(r.center)).toBe(true);
    expect(r.excluded).toBe(2);
    expect(r.reason).toBe("L3: L3: no reading");
    expect(pick("sqlite", "wal", "L0→L3").n).toBe(0);
    expect(pick("sqlite", "wal", "L0→L1").n).toBe(2);
    expect(r.where).toBe("nowhere");
  });

  it("has one row per configuration × stage × boundary, and an empty frame without stored_bytes", () => {
    expect(red).toHaveLength(6 * 4);
    const none = reductionTable(frame(rowsToTable(RESULTS, rows(SPECS).filter((r) => r.metric !== "stored_bytes"))));
    expect(none.numRows()).toBe(0);
    expect(none.columnNames()).toContain("where");
  });
});

describe("reductionFigure and reductionThesisTable", () => {
  const f = reductionTable(results);
  it("draws one heatmap per grade × stage with the factors as text and the where-boundary outlined", () => {
    const fig = reductionFigure(f);
    expect(fig.name).toBe("reduction");
    const heat = fig.data.filter((t) => t.type === "heatmap");
    expect(heat).toHaveLength(2); // U90 × (bulk insert, maintenance)
    expect(JSON.stringify(heat[0]!.text)).toContain("5×");
    const rects = (fig.layout.shapes as { type: string }[]).filter((s) => s.type === "rect");
    expect(rects.length).toBe(2 + 1); // kafka, postgres dedup at insert; clickhouse after maintenance
    expect(fig.caption).toContain("≥ 1.2×");
    expect(fig.caption).toContain("sqlite U90 bulk insert L2→L3");
  });

  it("tabulates factors, ideal and where, in LaTeX and Markdown", () => {
    const t = reductionThesisTable(f, { interval: "ci" })!;
    expect(t.name).toBe("reduction");
    const md = toMarkdown(t);
    expect(md).toContain("| kafka | U90 | 10.0 |");
    expect(md).toMatch(/5\.00 \[\d\.\d+, \d\.\d+\]/);
    expect(md).toContain("| L1→L2 |");
    expect(md).toContain("nowhere");
    const tex = toLatex(t);
    expect(tex).toContain("$\\rightarrow$");
    expect(tex).not.toContain("→");
  });

  it("joins the thesis set when the bundle has stored_bytes rows", () => {
    const frames = framesOf({ metas: [], results: rowsToTable(RESULTS, rows(SPECS)), latencies: rowsToTable(LATENCIES, []), histograms: rowsToTable(HISTOGRAMS, []), timeseries: rowsToTable(TIMESERIES, []) });
    expect(thesisFigures(frames).figures.map((x) => x.name)).toContain("reduction");
    expect(thesisTables(frames).map((x) => x.name)).toContain("reduction");
  });
});
