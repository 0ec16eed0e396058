// One statistics path (issue 11, item 4): on a real embedded bundle with 3 repeats, written by
// the real runner, figure (c), the latency thesis table and the run summary show the SAME p99
// for the same cells — the type-7 quantile of the raw samples pooled over the repeats, checked
// here against a recomputation straight from latencies.arrow. The per-repeat p99 appears only
// in the table's labelled column (geometric mean, log-scale 95 % CI, never negative).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { framesOf, rowsOf, type LabFrames } from "../../lib/analysis/frames.js";
import { OPERATION_LABELS } from "../../lib/analysis/latency.js";
import { formatMs, formatSummary, summaryLines } from "../../lib/analysis/summary.js";
import { thesisFigures, thesisTables } from "../../lib/analysis/thesis.js";
import { formatValue, type ThesisTable } from "../../lib/analysis/thesis-tables.js";
import type { FigureSpec } from "../../lib/analysis/figure-style.js";
import { loadBundles, type LoadedBundles } from "../../lib/results/bundle.js";
import { loadConfig } from "../../lib/runner/config.js";
import { runMatrix } from "../../lib/runner/run.js";

const STAGES = ["perfile_insert", "perfile_delete"] as const;
let bundle: LoadedBundles;
let frames: LabFrames;

beforeAll(async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "dedup-lab-statspath-")), "bundle");
  // One grade, so the summary's lines (per grade) and the figure/table cells (pooled over grades) are the same cells.
  const cfg = await loadConfig(undefined, { systems: ["sqlite"], payloads: ["random_binary"], grades: ["U50"], units: 40, unitSize: "4KiB", repeats: 3 });
  const run = await runMatrix(cfg, { dir });
  expect(run.failed).toBe(0);
  bundle = await loadBundles([run.dir]);
  frames = framesOf(bundle);
}, 300_000);

/** The raw samples of one stage over all repeats (ms, ascending), straight from latencies.arrow. */
function rawSamples(stage: string): number[] {
  return rowsOf<{ stage: string; latency_ns: number }>(frames.latencies).filter((r) => r.stage === stage).map((r) => r.latency_ns / 1e6).sort((a, b) => a - b);
}

/** Independent type-7 quantile (h = (n − 1)·p, linear between order statistics) of the pooled samples. */
function pooledReference(stage: string, p: number): { value: number; count: number } {
  const ns = rawSamples(stage);
  const h = (ns.length - 1) * p;
  const lo = Math.floor(h);
  return { value: ns[lo]! + (h - lo) * (ns[Math.min(lo + 1, ns.length - 1)]! - ns[lo]!), count: ns.length };
}

/** The p99 marker figure (c) carries for sqlite in the panel of `stage`: the number and its hover text. */
function figureP99(fig: FigureSpec, stage: string): { y: number; text: string } {
  const panels = ((fig.layout as { annotations: { text: string }[] }).annotations).map((a) => a.text.replace(/<\/?b>/g, ""));
  const i = panels.indexOf(OPERATION_LABELS[stage]!);
  expect(i, `panel for ${stage} in ${panels.join(", ")}`).toBeGreaterThanOrEqual(0);
  const axis = i === 0 ? "x" : `x${i + 1}`;
  const markers = fig.data.find((t) => t.name === "sqlite percentiles" && t.xaxis === axis)!;
  return { y: (markers.y as number[])[3]!, text: (markers.text as string[])[3]! };
}

function tableRow(t: ThesisTable, stage: string): Record<string, string> {
  const names = t.head[t.head.length - 1]!.map((h) => h.text);
  const row = t.groups.flatMap((g) => g.rows).find((r) => r[1] === OPERATION_LABELS[stage])!;
  return Object.fromEntries(names.map((n, i) => [n, row[i]!]));
}

describe("figure, table and summary give the same p99 (real sqlite bundle, 3 repeats)", () => {
  it("for every per-unit stage: the pooled type-7 p99 of the raw samples, in all three", () => {
    const fig = thesisFigures(frames).figures.find((f) => f.name.startsWith("latency"))!;
    const table = thesisTables(frames).find((t) => t.name === "latency")!;
    const lines = summaryLines(bundle);
    const text = formatSummary(lines);
    for (const stage of STAGES) {
      const ref = pooledReference(stage, 0.99);
      expect(ref.count).toBe(3 * 40);
      const f = figureP99(fig, stage);
      const row = tableRow(table, stage);
      const line = lines.find((l) => l.stage === stage)!;
      // The same number, not merely close: one function computed all three.
      expect(f.y).toBeCloseTo(ref.value, 12);
      expect(line.p99_ms).toBe(f.y);
      expect(line.latency_source).toBe("samples");
      expect(line.repeats).toBe(3);
      expect(f.text).toContain(`(n = ${ref.count})`);
      expect(row.p99).toBe(formatValue(f.y));
      expect(row.n).toBe("3");
      expect(row.ops).toBe(String(ref.count));
      const printed = text.split("\n").find((l) => l.includes(stage))!;
      expect(printed).toContain(formatMs(f.y));
    }
    expect(fig.caption).toContain("the same numbers as the latency table and the summary");
    expect(table.caption).toContain("pooled over all n repeats");
  }, 120_000);

  it("the per-repeat p99 appears only in the labelled column: geometric mean of the runner's per-repeat p99 rows, CI above 0", () => {
    const table = thesisTables(frames).find((t) => t.name === "latency_p99_repeats")!;
    for (const stage of STAGES) {
      const perRepeat = rowsOf<{ stage: string; metric: string; value: number }>(frames.results).filter((r) => r.stage === stage && r.metric === "latency_p99").map((r) => r.value);
      expect(perRepeat).toHaveLength(3);
      const gm = Math.exp(perRepeat.reduce((a, v) => a + Math.log(v), 0) / 3);
      const cell = tableRow(table, stage)["per repeat: GM [95 % CI]"]!;
      expect(tableRow(table, stage).pooled).toBe(tableRow(thesisTables(frames).find((t) => t.name === "latency")!, stage).p99);
      const m = /^([\d.]+) \[([\d.]+), ([\d.]+)\]$/.exec(cell);
      expect(m, cell).not.toBeNull();
      expect(m![1]).toBe(formatValue(gm));
      expect(Number(m![2])).toBeGreaterThan(0);
      expect(Number(m![2])).toBeLessThanOrEqual(Number(m![1]));
      expect(Number(m![3])).toBeGreaterThanOrEqual(Number(m![1]));
    }
  });

  it("without raw samples, all three fall back to the same merged HdrHistograms", () => {
    const noSamples: LabFrames = { ...frames, latencies: frames.latencies.filter(() => false) };
    const fig = thesisFigures(noSamples).figures.find((f) => f.name.startsWith("latency"))!;
    const table = thesisTables(noSamples).find((t) => t.name === "latency")!;
    const lines = summaryLines({ results: bundle.results, histograms: bundle.histograms });
    for (const stage of STAGES) {
      const f = figureP99(fig, stage);
      // HdrHistogram's p99 is the ⌈0.99·n⌉-th smallest sample, kept to 3 significant digits.
      const ns = rawSamples(stage);
      const rank = ns[Math.ceil(0.99 * ns.length) - 1]!;
      expect(Math.abs(f.y - rank) / rank).toBeLessThan(1e-3);
      const line = lines.find((l) => l.stage === stage)!;
      expect(line.latency_source).toBe("histograms");
      expect(line.p99_ms).toBe(f.y);
      expect(tableRow(table, stage).p99).toBe(formatValue(f.y));
    }
    expect(fig.caption).toContain("merged HdrHistograms");
    expect(table.caption).toContain("merged HdrHistograms");
  });
});
