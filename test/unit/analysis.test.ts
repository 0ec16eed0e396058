// Analysis helpers over a synthetic bundle with known numbers: aggregation over repeats,
// percentiles (one definition: lib/metrics/stats.ts), figure specs and thesis tables.
import { describe, expect, it } from "vitest";
import { rowsToTable } from "../../lib/results/arrow-io.js";
import { HISTOGRAMS, LATENCIES, RESULTS, TIMESERIES, type LatencyRow, type ResultRow } from "../../lib/results/schema.js";
import { aggregate, quantile, summarize, tQuantile975 } from "../../lib/metrics/stats.js";
import { encodeHistogram, newHistogram } from "../../lib/metrics/histogram.js";
import { isUsable, latencyCells, leftOut, leftOutNote } from "../../lib/analysis/cells.js";
import { formatSummary, summaryLines, SUMMARY_BY } from "../../lib/analysis/summary.js";
import { edrTable } from "../../lib/analysis/edr.js";
import { datasetLabel, framesOf, rowsOf, gradeOrder } from "../../lib/analysis/frames.js";
import { sizeTable, datasetSizes } from "../../lib/analysis/sizes.js";
import { throughputTable } from "../../lib/analysis/throughput.js";
import { latencyCurve, latencyPercentiles, latencyTable, percentileGrid } from "../../lib/analysis/latency.js";
import { inSlice, slicesOf, systemSeries } from "../../lib/analysis/slices.js";
import { edrFigure, latencyFigure, sizesFigure, throughputFigure, ninesX } from "../../lib/analysis/figures.js";
import { logTicks, spansDecades } from "../../lib/analysis/figure-style.js";
import { systemColor, OKABE_ITO } from "../../lib/analysis/palette.js";
import { edrThesisTable, estimatedWidthPt, formatStat, formatValue, latencyRepeatsThesisTable, latencyThesisTable, latexEscape, tableFit, toLatex, toMarkdown, type ThesisTable } from "../../lib/analysis/thesis-tables.js";
import { thesisFigures, thesisTables } from "../../lib/analysis/thesis.js";
import { hasTimeseries, timeseriesTable } from "../../lib/analysis/timeseries.js";
import { timeseriesFigure } from "../../lib/analysis/figures.js";
import { overRepeats } from "../../lib/analysis/repeats.js";
import { UsageError } from "../../lib/errors.js";
import * as aq from "arquero";

const SYSTEMS = [
  { system: "sqlite", variant: "rollback" },
  { system: "directory", variant: "default" },
];
const GRADES = [
  { grade: "U0", f: 0 },
  { grade: "U50", f: 0.5 },
];

// EDR_cluster of sqlite at U50, bulk insert, per repeat: mean 2.0, SD 0.2.
const SQLITE_U50 = [1.8, 2.0, 2.2];

function rowsFor(payload: string, repeats = 3): { results: ResultRow[]; latencies: LatencyRow[] } {
  const results: ResultRow[] = [];
  const latencies: LatencyRow[] = [];
  for (let repeat = 1; repeat <= repeats; repeat++) {
    for (const s of SYSTEMS) {
      for (const g of GRADES) {
        const cell_id = `${s.system}.${s.variant}.${payload}.${g.grade}.file.within.r${repeat}`;
        const dims = {
          run_id: "run-a", cell_id, system: s.system, variant: s.variant, payload, unit_size: "4096", n_units: 10, dup_fraction: g.f,
          grade: g.grade, granularity: "file", placement: "within", insertion: "blob", keys: "", cache_state: "warm", repeat, storage_profile: "thin",
        };
        const add = (stage: string, metric: string, value: number | null, extra: Partial<ResultRow> = {}) =>
          results.push({ ...dims, timestamp: 0, stage, metric, value, unit: "", layer: "", phase: "", replica: "", valid: value !== null, reason: value === null ? "no L3 reading" : "", ...extra });
        const ideal = 1 / (1 - g.f);
        add("dataset", "logical_bytes", 40960, { layer: "L0" });
        add("dataset", "unique_bytes", 40960 / ideal, { layer: "L0" });
        for (const stage of ["bulk_insert", "perfile_insert"]) {
          let edr = s.system === "directory" ? 1 : 0.9;
          if (s.system === "sqlite" && g.grade === "U50" && stage === "bulk_insert") edr = SQLITE_U50[repeat - 1]!;
          // directory at U50 per-unit insert: no valid EDR in any repeat (reason kept).
          const none = s.system === "directory" && g.grade === "U50" && stage === "perfile_insert";
          add(stage, "edr_cluster", none ? null : edr, { layer: "L3" });
          add(stage, "edr_replica", none ? null : edr, { layer: "L3" });
          add(stage, "ideal_ratio", ideal, { layer: "L0" });
          add(stage, "replication_factor", 1);
          add(stage, "throughput_MBps", s.system === "sqlite" ? 10 * repeat : 1000, {});
          add(stage, "throughput_units_per_s", 100 * repeat, {});
          for (const layer of ["L1", "L2", "L3"]) {
            const replica = layer === "L3" ? "all" : "";
            add(stage, "size_bytes", 0, { layer, phase: "before", replica });
            add(stage, "size_bytes", 40960 + repeat, { layer, phase: "after", replica });
            add(stage, "size_bytes", 40960 + repeat, { layer, phase: "delta", replica });
          }
          // A per-replica L3 row must not be double counted.
          add(stage, "size_bytes", 999999, { layer: "L3", phase: "after", replica: "local" });
        }
        // Per-unit insert latencies: 1..10 ms scaled by repeat (ns in the bundle).
        for (let i = 0; i < 10; i++) latencies.push({ run_id: "run-a", cell_id, stage: "perfile_insert", seq: i, latency_ns: (i + 1) * repeat * 1e6 });
      }
    }
  }
  return { results, latencies };
}

function bundle(payloads = ["random_binary"]) {
  const parts = payloads.map((p) => rowsFor(p));
  return framesOf({
    metas: [],
    results: rowsToTable(RESULTS, parts.flatMap((p) => p.results)),
    latencies: rowsToTable(LATENCIES, parts.flatMap((p) => p.latencies)),
    histograms: rowsToTable(HISTOGRAMS, []),
    timeseries: rowsToTable(TIMESERIES, []),
  });
}

describe("edrTable", () => {
  const f = bundle();
  const edr = rowsOf<Record<string, unknown> & { n: number; mean: number; sd: number; ci95: number; ideal: number; reason: string }>(edrTable(f.results));
  const pick = (system: string, grade: string, stage: string, metric = "edr_cluster") =>
    edr.find((r) => r.system === system && r.grade === grade && r.stage === stage && r.metric === metric)!;

  it("aggregates over repeats with the stats.ts definitions (mean, SD n−1, t CI)", () => {
    const r = pick("sqlite", "U50", "bulk_insert");
    const a = aggregate(SQLITE_U50);
    expect(r.n).toBe(3);
    expect(r.mean).toBeCloseTo(2.0, 12);
    expect(r.sd).toBeCloseTo(0.2, 12);
    expect(r.ci95).toBeCloseTo(a.ci95, 12);
    expect(r.ci95).toBeCloseTo((tQuantile975(2) * 0.2) / Math.sqrt(3), 12);
    expect(r.ideal).toBe(2);
  });

  it("puts the interval of a positive quantity on the log scale around the geometric mean", () => {
    const r = pick("sqlite", "U50", "bulk_insert") as unknown as { center: number; lower: number; upper: number; scale: string };
    const logs = SQLITE_U50.map(Math.log);
    const m = logs.reduce((a, b) => a + b, 0) / 3;
    const s = Math.sqrt(logs.reduce((a, v) => a + (v - m) ** 2, 0) / 2);
    expect(r.scale).toBe("log");
    expect(r.center).toBeCloseTo(Math.cbrt(1.8 * 2.0 * 2.2), 12);
    expect(r.lower).toBeCloseTo(Math.exp(m - (tQuantile975(2) * s) / Math.sqrt(3)), 12);
    expect(r.upper).toBeCloseTo(Math.exp(m + (tQuantile975(2) * s) / Math.sqrt(3)), 12);
    expect(r.lower).toBeGreaterThan(0);
  });

  it("keeps configurations without any valid value, with n = 0 and the reason", () => {
    const r = pick("directory", "U50", "perfile_insert");
    expect(r.n).toBe(0);
    expect(Number.isNaN(r.mean)).toBe(true);
    expect(r.reason).toBe("no L3 reading");
  });

  it("covers both metrics and only insert stages", () => {
    expect(new Set(edr.map((r) => r.metric))).toEqual(new Set(["edr_cluster", "edr_replica"]));
    expect(new Set(edr.map((r) => r.stage))).toEqual(new Set(["bulk_insert", "perfile_insert"]));
    expect(edr).toHaveLength(2 * 2 * 2 * 2);
  });
});

describe("sizes, throughput, datasets", () => {
  const f = bundle();
  it("sizeTable uses the L3 sum over replicas, not the per-replica rows", () => {
    const rows = rowsOf<{ layer: string; phase: string; mean: number; n: number }>(sizeTable(f.results));
    const l3 = rows.filter((r) => r.layer === "L3" && r.phase === "after");
    expect(l3.length).toBeGreaterThan(0);
    for (const r of l3) {
      expect(r.mean).toBeCloseTo(40962, 9); // mean of 40961, 40962, 40963
      expect(r.n).toBe(3);
    }
  });

  it("throughputTable: mean over repeats per metric", () => {
    const rows = rowsOf<{ system: string; metric: string; mean: number; sd: number }>(throughputTable(f.results));
    const r = rows.find((x) => x.system === "sqlite" && x.metric === "throughput_MBps")!;
    expect(r.mean).toBe(20);
    expect(r.sd).toBe(10);
  });

  it("datasetSizes: logical and unique bytes per grade", () => {
    const rows = rowsOf<{ grade: string; logical: number; unique: number }>(datasetSizes(f.results));
    expect(rows.find((r) => r.grade === "U50")).toMatchObject({ logical: 40960, unique: 20480 });
  });

  it("overRepeats on an empty frame keeps the columns", () => {
    const e = overRepeats(aq.table({ a: [], value: [] }), ["a"]);
    expect(e.numRows()).toBe(0);
    expect(e.columnNames()).toEqual(["a", "n", "mean", "sd", "ci95", "center", "lower", "upper", "scale"]);
  });
});

describe("latency", () => {
  const f = bundle();
  const key = (r: { system: string; stage: string }) => r.system === "sqlite" && r.stage === "perfile_insert";

  it("latencyTable is the pooled path too; the per-repeat p99 only as geometric mean and log-scale CI", () => {
    type Row = { system: string; stage: string; p99: number; count: number; repeats: number; source: string; p99_rep_n: number; p99_rep_center: number; p99_rep_lower: number; p99_rep_upper: number; p99_rep_scale: string };
    const rows = rowsOf<Row>(latencyTable(f.latencies, f.results));
    const r = rows.find(key)!;
    const all = [1, 2, 3].flatMap((k) => [...Array(20).keys()].map((i) => ((i % 10) + 1) * k));
    expect(r).toMatchObject({ count: 60, repeats: 3, source: "samples", p99: quantile(all, 0.99) });
    // Repeat k pools the two grades: samples k·(1..10) twice.
    const perRepeat = [1, 2, 3].map((k) => quantile([...Array(10).keys(), ...Array(10).keys()].map((i) => (i + 1) * k), 0.99));
    const a = aggregate(perRepeat, { positive: true });
    expect(r.p99_rep_n).toBe(3);
    expect(r.p99_rep_scale).toBe("log");
    expect(r.p99_rep_center).toBeCloseTo(Math.cbrt(perRepeat[0]! * perRepeat[1]! * perRepeat[2]!), 12);
    expect([r.p99_rep_lower, r.p99_rep_upper]).toEqual([a.lower, a.upper]);
    // The average of per-repeat p99s (what the table showed before) is not what is reported.
    expect(Math.abs(r.p99 - a.mean)).toBeGreaterThan(0.5);
    // Same frames through the LabFrames form: identical rows.
    expect(rowsOf<Row>(latencyPercentiles(f)).find(key)).toEqual(r);
  });

  it("falls back to the merged HdrHistograms where a bundle has no raw samples", () => {
    // One histogram per cell × stage with exactly the raw samples of the synthetic bundle.
    const lat = rowsOf<LatencyRow>(f.latencies);
    const cells = new Map(rowsOf<ResultRow>(f.results).map((r) => [r.cell_id, r]));
    const byCell = new Map<string, number[]>();
    for (const l of lat) (byCell.get(l.cell_id) ?? byCell.set(l.cell_id, []).get(l.cell_id)!).push(l.latency_ns);
    const hist = [...byCell].map(([cell, ns]) => {
      const h = newHistogram();
      for (const v of ns) h.recordValue(v);
      const c = cells.get(cell)!;
      const row = { run_id: c.run_id, cell_id: cell, system: c.system, variant: c.variant, payload: c.payload, unit_size: c.unit_size, n_units: c.n_units, dup_fraction: c.dup_fraction, grade: c.grade, granularity: c.granularity, placement: c.placement, cache_state: c.cache_state, repeat: c.repeat, stage: "perfile_insert", operation: "insert", count: ns.length, hdr: encodeHistogram(h) };
      h.destroy();
      return row;
    });
    const fromHist = rowsOf<{ system: string; stage: string; p99: number; count: number; source: string }>(
      latencyCells({ results: f.results, histograms: rowsToTable(HISTOGRAMS, hist) }),
    ).find(key)!;
    const fromSamples = rowsOf<{ system: string; stage: string; p99: number }>(latencyCells(f)).find(key)!;
    expect(fromHist.source).toBe("histograms");
    expect(fromHist.count).toBe(60);
    // HdrHistogram keeps 3 significant digits: within 0.1 % of a value the samples hold.
    const all = [1, 2, 3].flatMap((k) => [...Array(10).keys()].map((i) => (i + 1) * k));
    expect(all.some((v) => Math.abs(fromHist.p99 - v) / v < 1e-3)).toBe(true);
    expect(Math.abs(fromHist.p99 - fromSamples.p99) / fromSamples.p99).toBeLessThan(0.05);
    // With raw samples present, they win over the histograms.
    expect(rowsOf<{ system: string; stage: string; source: string }>(latencyCells({ ...f, histograms: rowsToTable(HISTOGRAMS, hist) })).find(key)!.source).toBe("samples");
  });

  it("latencyPercentiles pools all repeats; latencyCurve passes exactly through its markers", () => {
    const pct = rowsOf<{ system: string; stage: string; p50: number; p90: number; p95: number; p99: number; max: number; count: number }>(latencyPercentiles(f.latencies, f.results)).find(key)!;
    const all = [1, 2, 3].flatMap((k) => [...Array(20).keys()].map((i) => ((i % 10) + 1) * k));
    expect(pct).toMatchObject({ count: 60, max: 30, p50: summarize(all).p50, p99: summarize(all).p99 });
    const curve = rowsOf<{ system: string; stage: string; percentile: number; latency_ms: number }>(latencyCurve(f.latencies, f.results)).filter(key);
    for (const [p, v] of [[50, pct.p50], [90, pct.p90], [95, pct.p95], [99, pct.p99], [100, pct.max]] as const) {
      expect(curve.find((c) => c.percentile === p)?.latency_ms).toBeCloseTo(v, 12);
    }
  });

  it("percentile grid ends at the max and stays below the last sample's rank", () => {
    const g = percentileGrid(60);
    expect(g[g.length - 1]).toBe(100);
    expect(g.slice(0, -1).every((p) => p <= 100 * (1 - 1 / 60) + 1e-9)).toBe(true);
    expect(ninesX(90)).toBeCloseTo(1, 12);
    expect(ninesX(99)).toBeCloseTo(2, 12);
  });
});

describe("validity: one rule, left-out rows named", () => {
  // sqlite U0 repeat 2: its per-unit insert latency rows are flagged; sqlite U50 repeat 3: its bulk EDR.
  function flagged() {
    const { results, latencies } = rowsFor("random_binary");
    const lat = (cell: string) => ({ ...results.find((r) => r.cell_id === cell)!, stage: "perfile_insert", layer: "", phase: "", replica: "", unit: "ms" });
    for (const r of results) {
      if (r.cell_id === "sqlite.rollback.random_binary.U50.file.within.r3" && r.stage === "bulk_insert" && r.metric === "edr_cluster") Object.assign(r, { valid: false, reason: "L3 baseline not fresh" });
    }
    for (const cell of new Set(results.map((r) => r.cell_id))) {
      const bad = cell === "sqlite.rollback.random_binary.U0.file.within.r2";
      results.push({ ...lat(cell), metric: "latency_count", value: 10, valid: !bad, reason: bad ? "stage not settled" : "" });
      results.push({ ...lat(cell), metric: "latency_p99", value: 1, valid: !bad, reason: bad ? "stage not settled" : "" });
    }
    return framesOf({ metas: [], results: rowsToTable(RESULTS, results), latencies: rowsToTable(LATENCIES, latencies), histograms: rowsToTable(HISTOGRAMS, []), timeseries: rowsToTable(TIMESERIES, []) });
  }
  const f = flagged();

  it("isUsable: valid and a finite value; leftOut: a value marked invalid", () => {
    expect(isUsable({ valid: true, value: 1 })).toBe(true);
    expect(isUsable({ valid: false, value: 1 })).toBe(false);
    expect(isUsable({ valid: true, value: null })).toBe(false);
    const lo = leftOut(f.results);
    expect(lo.numRows()).toBe(3); // one EDR row + two latency rows
    expect(leftOutNote(lo)).toMatch(/^3 rows left out as invalid: .*stage not settled \(1\)/);
  });

  it("EDR, latency and the summary leave the flagged rows out and say so", () => {
    const edr = rowsOf<{ system: string; grade: string; stage: string; metric: string; n: number; mean: number }>(edrTable(f.results))
      .find((r) => r.system === "sqlite" && r.grade === "U50" && r.stage === "bulk_insert" && r.metric === "edr_cluster")!;
    expect(edr).toMatchObject({ n: 2 });
    expect(edr.mean).toBeCloseTo(1.9, 12);
    const cells = rowsOf<{ system: string; grade: string; stage: string; count: number; p99: number; excluded: number; repeats: number }>(latencyCells(f, SUMMARY_BY));
    const u0 = cells.find((r) => r.system === "sqlite" && r.grade === "U0" && r.stage === "perfile_insert")!;
    // Repeats 1 and 3 only: samples 1..10 and 3..30 ms.
    const kept = [1, 3].flatMap((k) => [...Array(10).keys()].map((i) => (i + 1) * k));
    expect(u0).toMatchObject({ count: 20, repeats: 2, excluded: 1, p99: quantile(kept, 0.99) });
    const lines = summaryLines(f);
    const line = lines.find((l) => l.system === "sqlite" && l.grade === "U0" && l.stage === "perfile_insert")!;
    expect(line.p99_ms).toBe(u0.p99);
    expect(line.invalid_rows).toBe(2);
    expect(line.status).toContain("2 invalid rows left out (stage not settled)");
    expect(formatSummary(lines)).toContain("Rows marked invalid (valid = false) are left out");
    const figs = thesisFigures(f).figures;
    expect(figs.find((x) => x.name === "edr-cluster")!.caption).toContain("1 row left out as invalid: edr_cluster: L3 baseline not fresh (1)");
    expect(figs.find((x) => x.name === "latency")!.caption).toContain("Samples of 1 cell × stage left out");
    const tables = thesisTables(f);
    expect(tables.find((t) => t.name === "edr_cluster-bulk_insert")!.caption).toContain("L3 baseline not fresh");
    expect(tables.find((t) => t.name === "latency")!.caption).toContain("Samples of 1 cell × stage left out");
  });
});

describe("summary: the same latency path as figures and tables", () => {
  const f = bundle();
  it("p50/p99 per line are latencyCells over the summary's grouping (pooled over repeats)", () => {
    const lines = summaryLines(f);
    const cells = rowsOf<Record<string, unknown> & { p50: number; p99: number }>(latencyCells(f, SUMMARY_BY));
    const withLatency = lines.filter((l) => l.p99_ms !== null);
    expect(withLatency).toHaveLength(4); // 2 systems × 2 grades, per-unit insert
    for (const l of withLatency) {
      const c = cells.find((r) => r.system === l.system && r.grade === l.grade && r.stage === l.stage)!;
      expect([l.p50_ms, l.p99_ms, l.latency_source, l.repeats]).toEqual([c.p50, c.p99, "samples", 3]);
      expect(l.p99_ms).toBe(quantile([1, 2, 3].flatMap((k) => [...Array(10).keys()].map((i) => (i + 1) * k)), 0.99));
    }
  });

  it("given only the results table, averages nothing: one repeat uses its stored percentiles, several show —", () => {
    const one = rowsFor("random_binary", 1);
    const withStored = [...one.results, ...one.results.filter((r) => r.stage === "perfile_insert" && r.metric === "edr_cluster").map((r) => ({ ...r, metric: "latency_p99", value: 7.5, layer: "" }))];
    const single = summaryLines(rowsToTable(RESULTS, withStored)).find((l) => l.stage === "perfile_insert" && l.system === "sqlite")!;
    expect(single.p99_ms).toBe(7.5);
    const three = rowsFor("random_binary", 3);
    const stored3 = [...three.results, ...three.results.filter((r) => r.stage === "perfile_insert" && r.metric === "edr_cluster").map((r) => ({ ...r, metric: "latency_p99", value: 7.5, layer: "" }))];
    const lines = summaryLines(rowsToTable(RESULTS, stored3));
    const multi = lines.find((l) => l.stage === "perfile_insert" && l.system === "sqlite")!;
    expect(multi.p99_ms).toBeNull();
    expect(multi.latency_source).toMatch(/not pooled/);
    expect(formatSummary(lines)).toContain("pass the loaded bundle");
  });
});

describe("intervals of positive quantities never go negative", () => {
  it("a latency p99 spread like 1, 2, 300 ms: linear CI below 0, log-scale CI above", () => {
    const lin = aggregate([1, 2, 300]);
    const log = aggregate([1, 2, 300], { positive: true });
    expect(lin.mean - lin.ci95).toBeLessThan(0);
    expect(log.scale).toBe("log");
    expect(log.lower).toBeGreaterThan(0);
    expect(log.lower).toBeLessThan(log.center);
    expect(log.upper).toBeGreaterThan(log.center);
    const withZero = aggregate([0, 2, 300], { positive: true });
    expect(withZero).toMatchObject({ scale: "clamped", lower: 0 });
  });

  it("figure error bars are asymmetric around the geometric mean and stop above 0", () => {
    const f = bundle();
    const tp = throughputFigure(throughputTable(f.results));
    const sqlite = tp.data.find((t) => t.name === "sqlite")!; // MB/s row, first stage
    // No bars on a log axis (a bar's length means nothing there): points with their intervals.
    const yaxisOf = (t: { yaxis?: unknown }) => tp.layout[`yaxis${String(t.yaxis ?? "y").slice(1)}`] as { type?: string };
    expect(tp.data.filter((t) => t.type === "bar" && yaxisOf(t).type === "log")).toEqual([]);
    expect(sqlite.type).toBe("scatter");
    expect(yaxisOf(sqlite).type).toBe("log");
    const e = sqlite.error_y as { symmetric: boolean; array: number[]; arrayminus: number[] };
    const y = sqlite.y as number[];
    expect(e.symmetric).toBe(false);
    // MB/s 10, 20, 30 over repeats: geometric mean ∛6000.
    expect(y[0]).toBeCloseTo(Math.cbrt(6000), 9);
    y.forEach((v, i) => expect(v - e.arrayminus[i]!).toBeGreaterThan(0));
    expect(tp.caption).toContain("log scale");
  });
});

describe("slices and series", () => {
  it("names slices only by the dimensions that vary", () => {
    expect(slicesOf(bundle().results).map((s) => s.suffix)).toEqual([""]);
    const two = bundle(["random_binary", "structured_json"]);
    expect(slicesOf(two.results).map((s) => s.suffix).sort()).toEqual(["random_binary", "structured_json"]);
    const s = slicesOf(two.results).find((x) => x.suffix === "structured_json")!;
    expect(new Set(inSlice(two.results, s).array("payload") as string[])).toEqual(new Set(["structured_json"]));
    expect(s.label).toContain("10 × 4 KiB");
  });

  it("labels, grade order, colours", () => {
    expect(datasetLabel(100, "16384")).toBe("100 × 16 KiB");
    expect(datasetLabel(20, "4096..65536")).toBe("20 × 4 KiB–64 KiB");
    expect(["U90", "U0", "U50", "U99.9"].sort((a, b) => gradeOrder(a) - gradeOrder(b))).toEqual(["U0", "U50", "U90", "U99.9"]);
    expect(systemSeries(bundle().results).map((s) => s.label)).toEqual(["sqlite", "directory"]);
    expect(systemColor("sqlite")).toBe(OKABE_ITO.blue);
    expect(systemColor("postgres")).toBe(systemColor("postgres"));
    expect(new Set(["sqlite", "duckdb", "directory", "postgres", "cockroach", "mariadb", "clickhouse", "redis", "kafka", "minio"].map(systemColor)).size).toBe(10);
  });
});

describe("figure specs", () => {
  const f = bundle();
  const edr = edrTable(f.results);

  it("(a) EDR: category grade axis, ideal ratio trace, error bars where n ≥ 2, one colour per system", () => {
    const fig = edrFigure(edr);
    expect(fig.name).toBe("edr-cluster");
    const layout = fig.layout as Record<string, Record<string, unknown>>;
    expect(layout.xaxis!.type).toBe("category");
    expect(layout.xaxis!.categoryarray).toEqual(["U0", "U50"]);
    const bars = fig.data.filter((t) => t.type === "bar");
    const sqlite = bars.find((t) => t.name === "sqlite" && t.xaxis === "x")!;
    expect((sqlite.marker as { color: string }).color).toBe(systemColor("sqlite"));
    expect((sqlite.error_y as { visible: boolean }).visible).toBe(true);
    const ideal = fig.data.find((t) => t.name === "ideal ratio (logical / unique B)" && t.xaxis === "x")!;
    expect(ideal.y).toEqual([1, 2]);
    expect(fig.caption).toContain("No value (n/a in the figure): directory U50 per-unit insert: no L3 reading");
    // The measured cell without a valid value stands as "n/a" where its bar would be, not as a missing bar.
    const perUnit = fig.data.filter((t) => t.type === "bar" && t.xaxis !== "x");
    const directory = perUnit.find((t) => t.name === "directory")!;
    expect(directory.text).toEqual(["", "n/a"]);
    expect(directory.y).toEqual([expect.any(Number), 0]);
    expect(perUnit.find((t) => t.name === "sqlite")!.text).toEqual(["", ""]);
  });

  it("(a) EDR: an ideal far above the measured values is written at the axis top, not plotted off the scale", () => {
    const far = edr.derive({ ideal: (d: { ideal: number }) => d.ideal * 10 });
    const fig = edrFigure(far);
    const layout = fig.layout as Record<string, unknown> & { annotations: { text: string; x: string }[] };
    const range = (layout.yaxis as { range: number[] }).range;
    const ideal = fig.data.find((t) => t.name === "ideal ratio (logical / unique B)" && t.xaxis === "x")!;
    expect(ideal.y).toEqual([null, null]);
    expect(layout.annotations.filter((a) => a.text.startsWith("ideal ")).map((a) => [a.x, a.text])).toContainEqual(["U50", "ideal 20× ↑"]);
    expect(range[1]).toBeLessThan(10);
    expect(fig.caption).toContain("written at the top of the axis");
  });

  it("refuses rows of several slices", () => {
    const two = bundle(["random_binary", "structured_json"]);
    expect(() => edrFigure(edrTable(two.results))).toThrow(UsageError);
  });

  it("(b)–(d) build without error, with units and log axes where values span decades", () => {
    const sizes = sizesFigure(sizeTable(f.results), rowsOf(datasetSizes(f.results)));
    expect(JSON.stringify(sizes.layout)).toContain("size (KiB)");
    const tp = throughputFigure(throughputTable(f.results));
    const yaxis = (tp.layout as Record<string, Record<string, unknown>>).yaxis!;
    expect(yaxis.type).toBe("log"); // 10–30 MB/s vs 1000 MB/s
    expect((yaxis.ticktext as string[]).every((t) => !/^0\./.test(t) || Number(t) < 1)).toBe(true);
    const lat = latencyFigure(latencyCurve(f.latencies, f.results), latencyPercentiles(f.latencies, f.results));
    expect(lat.data.some((t) => Array.isArray((t.marker as { symbol?: unknown })?.symbol))).toBe(true);
    expect(JSON.stringify(lat.layout)).toContain('"max"');
  });

  it("(e) size over time: seconds since each cell × stage began sampling; none without samples", () => {
    const base = { run_id: "r", system: "postgres", source: "prometheus", metric: "volume_actual_size_bytes", replica: "pvc-0", volume: "v" };
    const ts = rowsToTable(TIMESERIES, [
      { ...base, cell_id: "a", stage: "bulk_insert", t: 10_000, value: 1024 },
      { ...base, cell_id: "a", stage: "bulk_insert", t: 12_000, value: 4096 },
      { ...base, cell_id: "a", stage: "maintenance", t: 50_000, value: 2048 },
      { ...base, cell_id: "a", stage: "maintenance", t: 51_000, value: null },
    ]);
    expect(hasTimeseries(ts)).toBe(true);
    const rows = rowsOf<{ stage: string; t_s: number; value: number }>(timeseriesTable(ts));
    expect(rows.map((r) => [r.stage, r.t_s, r.value])).toEqual([["bulk_insert", 0, 1024], ["bulk_insert", 2, 4096], ["maintenance", 0, 2048]]);
    const fig = timeseriesFigure(timeseriesTable(ts))!;
    expect(fig.name).toBe("size-over-time");
    expect(JSON.stringify(fig.layout)).toContain("size change (KiB)");
    // measured sizes only: a capacity series is left out; the axis spans the change; the stage end is marked
    const withCapacity = rowsToTable(TIMESERIES, [
      { ...base, cell_id: "a", stage: "bulk_insert", source: "sampler", t: 10_000, value: 1_000_000 },
      { ...base, cell_id: "a", stage: "bulk_insert", source: "sampler", t: 12_000, value: 1_100_000 },
      { ...base, cell_id: "a", stage: "bulk_insert", source: "settle", t: 13_000, value: 1_150_000 },
      { ...base, cell_id: "a", stage: "bulk_insert", source: "prometheus", metric: "longhorn_volume_capacity_bytes", t: 10_000, value: 2 ** 31 },
    ]);
    const f2 = timeseriesFigure(timeseriesTable(withCapacity))!;
    expect(f2.data).toHaveLength(1);
    expect(f2.data[0]!.y).toEqual([0, 100_000 / 1024, 150_000 / 1024]); // KiB of change since the stage's first sample
    expect((f2.layout.shapes as { x0: number }[]).map((s) => s.x0)).toEqual([2]);
    expect(f2.caption).toContain("no capacity");
    expect(timeseriesFigure(timeseriesTable(rowsToTable(TIMESERIES, [])))).toBeNull();
    expect(hasTimeseries(bundle().timeseries)).toBe(false);
  });

  it("log ticks are plain numbers on a 1-2-5 grid", () => {
    expect(logTicks(0.04, 12)).toEqual({ tickvals: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10], ticktext: ["0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"] });
    expect(spansDecades([1, 9])).toBe(false);
    expect(spansDecades([1, 11])).toBe(true);
  });

  it("thesisFigures: one set per slice and a note when there is no time series", () => {
    const t = thesisFigures(bundle(["random_binary", "structured_json"]));
    expect(t.figures.map((x) => x.name).sort()).toEqual(
      ["edr-cluster", "sizes", "latency", "throughput"].flatMap((n) => [`${n}-random_binary`, `${n}-structured_json`]).sort(),
    );
    expect(t.notes.join(" ")).toContain("no time series in these bundles");
  });
});

describe("thesis tables", () => {
  const f = bundle();

  it("formats mean ± SD (n), CI and missing values", () => {
    expect(formatStat({ n: 3, mean: 2, sd: 0.2, ci95: 0.5 })).toBe("2.00 ± 0.20 (3)");
    expect(formatStat({ n: 3, mean: 2, sd: 0.2, ci95: 0.5 }, "ci")).toBe("2.00 [1.50, 2.50] (3)");
    expect(formatStat({ n: 1, mean: 0.857, sd: NaN, ci95: NaN })).toBe("0.857 (1)");
    expect(formatStat({ n: 0, mean: NaN, sd: NaN, ci95: NaN })).toBe("—");
    expect(formatStat({ n: 2, mean: 123.4, sd: 5.6, ci95: 1 }, "sd", false)).toBe("123 ± 6");
  });

  it("EDR table: rows = systems grouped by workload × dataset size, columns = grades, ideal row, booktabs LaTeX", () => {
    const t = edrThesisTable(edrTable(f.results), { metric: "edr_cluster", stage: "bulk_insert" })!;
    expect(t.head[0]).toEqual([{ text: "", span: 1 }, { text: "duplicate grade", span: 2 }]);
    expect(t.head[1]!.map((h) => h.text)).toEqual(["System", "U0", "U50"]);
    expect(t.groups[0]!.title).toMatch(/ · 10 × 4 KiB$/);
    expect(t.groups[0]!.rows).toEqual([
      ["sqlite", "0.900 ± 0.000 (3)", "2.00 ± 0.20 (3)"],
      ["directory", "1.00 ± 0.00 (3)", "1.00 ± 0.00 (3)"],
    ]);
    expect(t.groups[0]!.footer).toEqual(["ideal (logical / unique B)", "1.00", "2.00"]);
    const tex = toLatex(t);
    for (const s of ["\\toprule", "\\midrule", "\\bottomrule", "\\cmidrule(lr){2-3}", "\\multicolumn{2}{c}{duplicate grade}", "10 $\\times$ 4 KiB", "EDR\\_cluster", "{2.00 (3)} \\\\ {$\\pm$ 0.20}"]) expect(tex).toContain(s);
    expect(tex).not.toMatch(/[±×·−–]/);
    const md = toMarkdown(t);
    expect(md).toContain("| System | duplicate grade: U0 | duplicate grade: U50 |");
  });

  it("a table is set at the largest font size its content fits in a text width, else on turned pages", () => {
    const table = (cols: number, cell: string): ThesisTable => ({
      name: "t", label: "tab:t", caption: "c", stub: 1,
      head: [[{ text: "System", span: 1 }, ...Array.from({ length: cols }, (_, i) => ({ text: `U${i}`, span: 1 }))]],
      groups: [{ title: "a workload", rows: [["postgres", ...Array.from({ length: cols }, () => cell)]] }],
    });
    const narrow = table(3, "0.959 [0.95, 0.97] (3)");
    expect(tableFit(narrow)).toEqual({ size: "small", landscape: false });
    expect(toLatex(narrow)).toMatch(/\\begingroup\n\\small\n/);
    // Wider content steps down a size at a time; the estimate grows with the columns and the digits.
    expect(estimatedWidthPt(table(6, "0.0123 [0.0099, 0.0456] (10)"), "small")).toBeGreaterThan(estimatedWidthPt(table(6, "0.959 [0.95, 0.97] (3)"), "small"));
    const wide = table(5, "0.0123 [0.0099, 0.0456] (10)");
    expect(tableFit(wide).landscape).toBe(false);
    expect(tableFit(wide).size).not.toBe("small");
    const widest = table(12, "0.0123 [0.0099, 0.0456] (10)");
    expect(tableFit(widest).landscape).toBe(true);
    expect(toLatex(widest)).toContain("\\begin{landscape}");
    expect(toLatex(widest)).toContain("\\end{landscape}");
  });

  it("latency table names the percentile definition and has p50…mean per system × operation", () => {
    const lat = latencyTable(f.latencies, f.results);
    const t = latencyThesisTable(lat)!;
    expect(t.caption).toContain("type-7");
    expect(t.caption).toContain("pooled over all n repeats");
    expect(t.head[1]!.map((h) => h.text)).toEqual(["System", "Operation", "n", "ops", "p50", "p90", "p95", "p99", "max", "mean"]);
    expect(t.groups[0]!.rows.map((r) => r.slice(0, 4))).toEqual([
      ["sqlite", "insert (per unit)", "3", "60"],
      ["directory", "insert (per unit)", "3", "60"],
    ]);
    // The p99 cell is the pooled p99, formatted.
    const pooled = rowsOf<{ system: string; p99: number }>(lat).find((r) => r.system === "sqlite")!.p99;
    expect(t.groups[0]!.rows[0]![7]).toBe(formatValue(pooled));
    // The per-repeat p99 is a table of its own, labelled, next to the same pooled p99.
    const rep = latencyRepeatsThesisTable(lat)!;
    expect(rep.caption).toContain("log scale");
    expect(rep.head[1]!.map((h) => h.text)).toEqual(["System", "Operation", "n", "pooled", "per repeat: GM [95 % CI]"]);
    expect(rep.groups[0]!.rows[0]!.slice(0, 4)).toEqual(["sqlite", "insert (per unit)", "3", formatValue(pooled)]);
    const [lo] = /\[([\d.]+),/.exec(rep.groups[0]!.rows[0]![4]!)!.slice(1).map(Number);
    expect(lo).toBeGreaterThan(0);
  });

  it("thesisTables: EDR_cluster / EDR_replica per insert stage + latency", () => {
    expect(thesisTables(f).map((t) => t.name)).toEqual([
      "edr_cluster-bulk_insert", "edr_cluster-perfile_insert", "edr_replica-bulk_insert", "edr_replica-perfile_insert", "latency", "latency_p99_repeats",
    ]);
  });

  it("escapes LaTeX specials", () => {
    expect(latexEscape("a_b & 50% #1 {x} ~ ^ \\")).toBe("a\\_b \\& 50\\% \\#1 \\{x\\} \\~{} \\^{} \\textbackslash{}");
    expect(latexEscape("factor > 1, < 1")).toBe("factor $>$ 1, $<$ 1");
    expect(latexEscape("a 95 % interval")).toBe("a 95~\\% interval");
  });
});

describe("caption: cells without a factor", () => {
  it("groups places by reason, most frequent first, and counts what it leaves out", async () => {
    const { noFactorNote } = await import("../../lib/analysis/figures.js");
    expect(noFactorNote([])).toBe("");
    const shared = "L2: instance-wide";
    const items = [
      ...["a", "b", "c", "d", "e", "f"].map((w) => ({ where: w, reason: shared })),
      { where: "g", reason: "" },
      { where: "h", reason: "r3" },
      { where: "i", reason: "r4" },
    ];
    expect(noFactorNote(items)).toBe(" No factor — L2: instance-wide: a, b, c, d, … 2 more; no valid value: g; r3: h; … 1 more reasons.");
  });
});
