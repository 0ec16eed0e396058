// `dedup-lab figures` and `dedup-lab tables` on a real (small) embedded run: SVG parsed by a
// real XML parser, PDF and PNG well-formed, figures at their print size with fonts ≥ 8 pt and
// embedded in the PDF, LaTeX tables compiled with pdflatex + booktabs on an 11 pt A4 page without
// an overfull box, the browser never touches the network, bad input exits 2.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadFrames } from "../../lib/analysis/frames.js";
import { hasTimeseries } from "../../lib/analysis/timeseries.js";
import { FigureRenderer } from "../../lib/analysis/render.js";
import { FONT_PT, printSize, pt, type FigureSpec } from "../../lib/analysis/figure-style.js";
import { thesisFigures, thesisTables } from "../../lib/analysis/thesis.js";
import { edrThesisTable, latencyRepeatsThesisTable, latencyThesisTable, potentialThesisTable, reductionThesisTable, writeTables, type ThesisTable } from "../../lib/analysis/thesis-tables.js";
import { BOUNDARIES } from "../../lib/analysis/reduction.js";
import { LATEX_PACKAGES } from "../../lib/analysis/latex.js";
import { FIGURE_POTENTIALS } from "../../lib/analysis/potential.js";
import * as aq from "arquero";
import { loadConfig } from "../../lib/runner/config.js";
import { runMatrix } from "../../lib/runner/run.js";
import { cli } from "../helpers/cli.js";

const SECRET = "fake-pg-password-figures-5d2a";
let dir: string;
let bundleDir: string;

/** PNG width/height from the IHDR chunk. */
function pngSize(buf: Buffer): { width: number; height: number } {
  expect(buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** Every font size a figure sets (layout and traces), in px. */
function fontSizes(spec: FigureSpec): number[] {
  const out: number[] = [];
  const walk = (v: unknown, key: string) => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (/font$/i.test(k) && x && typeof x === "object" && typeof (x as { size?: unknown }).size === "number") out.push((x as { size: number }).size);
        walk(x, k);
      }
    } else if (key === "text" && typeof v === "string") {
      for (const m of v.matchAll(/font-size:\s*([\d.]+)px/g)) out.push(Number(m[1]));
    }
  };
  walk({ layout: spec.layout, data: spec.data }, "");
  return out;
}

/** pdflatex on a plain 11 pt A4 article (text width 360 pt): the lines saying a box sticks out (or a float is taller than a page), per input file. */
function overfullBoxes(dir: string, name: string, inputs: string[], preamble: string[] = []): { status: number | null; errors: string[]; overfull: string[] } {
  const doc = join(dir, `${name}.tex`);
  writeFileSync(doc, [
    "\\documentclass[11pt,a4paper]{article}",
    "\\usepackage[T1]{fontenc}",
    `\\usepackage{${LATEX_PACKAGES}}`,
    ...preamble,
    "\\begin{document}",
    ...inputs.flatMap((p) => [`\\typeout{INPUT ${p}}`, `\\input{${p}}`, "\\clearpage"]),
    "\\end{document}",
    "",
  ].join("\n"));
  // A longtable sets its column widths from the previous pass (the .aux), so only a settled pass's boxes are final.
  const pdflatex = () => spawnSync("pdflatex", ["-interaction=nonstopmode", "-halt-on-error", "-output-directory", dir, doc], { cwd: dir, encoding: "utf8", timeout: 120_000 });
  // Until longtable's widths settle (it says "Rerun"), at most four passes.
  let tex = pdflatex();
  for (let pass = 1; pass < 4 && tex.status === 0 && /Rerun|Column widths have changed/.test(tex.stdout); pass++) tex = pdflatex();
  let input = "";
  const overfull: string[] = [];
  for (const line of tex.stdout.split("\n")) {
    input = /^INPUT (.*)$/.exec(line)?.[1] ?? input;
    // A box sticking out sideways, or a table taller than a page (a float cut off at the page's bottom).
    if (line.includes("Overfull \\hbox") || line.includes("Float too large")) overfull.push(`${input.split("/").pop()}: ${line.trim()}`);
  }
  return { status: tex.status, errors: tex.stdout.split("\n").filter((l) => l.startsWith("!")), overfull };
}

function svgRoots(paths: string[]): string[] {
  const out = execFileSync("/usr/bin/python3", ["-c", "import sys, xml.etree.ElementTree as ET\nfor p in sys.argv[1:]: print(ET.parse(p).getroot().tag)", ...paths], { encoding: "utf8" });
  return out.trim().split("\n");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dedup-lab-figures-"));
  bundleDir = join(dir, "bundle");
  // Two payloads (two workload slices), two repeats (error bars), all embedded systems.
  const cfg = await loadConfig(undefined, { payloads: ["random_binary", "structured_json"], grades: ["U0", "U50", "U90"], units: 10, unitSize: "4KiB", repeats: 2 });
  const run = await runMatrix(cfg, { dir: bundleDir });
  expect(run.failed).toBe(0);
});

describe("dedup-lab figures", () => {
  it("writes every thesis figure as SVG, PDF and PNG — the same set the library (and notebook 20) draws", async () => {
    const out = join(dir, "figures");
    const r = cli(["figures", bundleDir, "--out", out], { env: { DEDUP_PG_PASSWORD: SECRET } });
    expect(r.status, r.stderr).toBe(0);
    const frames = await loadFrames([bundleDir]);
    // Figure (e) exists where the bundle has size-over-time samples (the runner samples every stage); else a note says why not.
    const overTime = hasTimeseries(frames.timeseries);
    if (!overTime) expect(r.stderr).toContain("note: no time series in these bundles");
    const expected = thesisFigures(frames).figures;
    const names = expected.map((f) => f.name).sort();
    expect(names).toEqual(
      [...["edr-cluster", "latency", "potential", "reduction", "sizes", "throughput"].flatMap((n) => [`${n}-random_binary`, `${n}-structured_json`]), ...(overTime ? ["size-over-time"] : [])].sort(),
    );
    expect(readdirSync(out).sort()).toEqual(names.flatMap((n) => [`${n}.pdf`, `${n}.png`, `${n}.svg`, `${n}.tex`]).sort());
    // Each figure with its generated caption compiles on a page of the 15 cm text width it was drawn for, and fits it.
    const tex = overfullBoxes(dir, "figures", names.map((n) => join(out, `${n}.tex`)), ["\\usepackage[a4paper,textwidth=15cm,textheight=24cm]{geometry}", `\\graphicspath{{${out}/}}`]);
    expect(tex.errors).toEqual([]);
    expect(tex.status).toBe(0);
    expect(tex.overfull).toEqual([]);
    expect(readFileSync(join(out, `${names[0]}.tex`), "utf8")).toContain(`\\label{fig:${names[0]}}`);
    // On a narrower text (the plain 11 pt article of the tables, 360 pt) a figure is scaled to \linewidth
    // instead of sticking out, and LaTeX names the fix (redraw at that width).
    const narrow = overfullBoxes(dir, "figures-narrow", names.map((n) => join(out, `${n}.tex`)), [`\\graphicspath{{${out}/}}`]);
    expect(narrow.errors).toEqual([]);
    expect(narrow.overfull).toEqual([]);
    expect(readFileSync(join(dir, "figures-narrow.log"), "utf8")).toContain("Package dedup-lab Warning: Figure");
    expect(svgRoots(names.map((n) => join(out, `${n}.svg`)))).toEqual(names.map(() => "{http://www.w3.org/2000/svg}svg"));
    const text = printSize();
    for (const spec of expected) {
      const pdf = readFileSync(join(out, `${spec.name}.pdf`));
      expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
      expect(pdf.subarray(-8).toString()).toContain("%%EOF");
      expect(pdf.length).toBeGreaterThan(5_000);
      // Print size: 15 cm text width (layout px = cm / 2.54 · 96), the PDF page exactly that, at most 16.5 cm tall.
      expect(spec.width, spec.name).toBe(text.width);
      expect(spec.height, spec.name).toBeLessThanOrEqual(text.maxHeight);
      const info = execFileSync("pdfinfo", [join(out, `${spec.name}.pdf`)], { encoding: "utf8" });
      const [, w, h] = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(info)!;
      expect(Number(w) / 72 * 2.54).toBeCloseTo(spec.width / 96 * 2.54, 1);
      expect(Number(w) / 72 * 2.54).toBeLessThanOrEqual(15);
      expect(Number(h) / 72 * 2.54).toBeCloseTo(spec.height / 96 * 2.54, 1);
      // Every font ≥ 8 pt at that size, and every font embedded in the PDF.
      expect(Math.min(...fontSizes(spec)), spec.name).toBeGreaterThanOrEqual(pt(FONT_PT.small));
      const fonts = execFileSync("pdffonts", [join(out, `${spec.name}.pdf`)], { encoding: "utf8" }).trim().split("\n").slice(2);
      expect(fonts.length, spec.name).toBeGreaterThan(0);
      for (const f of fonts) expect(f, `${spec.name}: ${f}`).toMatch(/\s+yes\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$/);
      // PNG at 3× the figure's CSS size (288 dpi at print size).
      expect(pngSize(readFileSync(join(out, `${spec.name}.png`)))).toEqual({ width: 3 * spec.width, height: 3 * spec.height });
      // Text stays text in the SVG (titles, axis labels), in the thesis font.
      const svg = readFileSync(join(out, `${spec.name}.svg`), "utf8");
      expect(svg).toContain("DejaVu Sans");
      const axisText: Record<string, string> = { edr: "duplicate grade", latency: "percentile (%)", "size-over-time": "time since stage start (s)", reduction: "L1→L2", potential: "reduction factor (log scale)" };
      expect(svg).toContain(Object.entries(axisText).find(([k]) => spec.name.startsWith(k))?.[1] ?? "size");
    }
    for (const f of readdirSync(out)) expect(readFileSync(join(out, f)).includes(SECRET)).toBe(false);
  }, 300_000);

  it("one browser for a batch; every request that is not data: is blocked (none is made)", async () => {
    const specs = thesisFigures(await loadFrames([bundleDir])).figures.slice(0, 2);
    const renderer = await FigureRenderer.open();
    try {
      for (const s of specs) {
        const w = await renderer.write(s, join(dir, "renderer"), ["svg"]);
        expect(w.svg.startsWith("<svg")).toBe(true);
      }
      expect(renderer.blockedRequests).toBe(0);
    } finally {
      await renderer.close();
    }
  }, 120_000);

  it("--formats, --edr and --width select what is drawn", () => {
    const out = join(dir, "svg-only");
    const r = cli(["figures", bundleDir, "--out", out, "--formats", "svg", "--edr", "edr_replica", "--width", "columnwidth", "--height", "7cm"]);
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(out);
    expect(files.every((f) => f.endsWith(".svg"))).toBe(true);
    expect(files).toContain("edr-replica-random_binary.svg");
    // 8.5 cm × 7 cm: 321 × 265 CSS px.
    const svg = readFileSync(join(out, "edr-replica-random_binary.svg"), "utf8");
    expect(svg).toMatch(/^<svg[^>]* width="321" height="265"/);
  }, 300_000);
});

describe("dedup-lab tables", () => {
  it("writes booktabs LaTeX + Markdown that compile inside a minimal document", async () => {
    const out = join(dir, "tables");
    const r = cli(["tables", bundleDir, "--out", out, "--interval", "ci"], { env: { DEDUP_PG_PASSWORD: SECRET } });
    expect(r.status, r.stderr).toBe(0);
    const names = thesisTables(await loadFrames([bundleDir])).map((t) => t.name);
    expect(readdirSync(out).sort()).toEqual(names.flatMap((n) => [`${n}.md`, `${n}.tex`]).sort());
    const edr = readFileSync(join(out, "edr_cluster-bulk_insert.tex"), "utf8");
    expect(edr).toContain("\\toprule");
    expect(readFileSync(join(out, "edr_cluster-bulk_insert.md"), "utf8")).toMatch(/\d\.\d+ \[\d\.\d+, \d\.\d+\] \(2\)/); // mean [95 % CI] (n)
    expect(edr).toMatch(/\{\d\.\d+ \(2\)\} \\\\ \{\[\d\.\d+, \d\.\d+\]\}/); // LaTeX: the interval under the mean
    const latency = readFileSync(join(out, "latency.md"), "utf8");
    expect(latency).toContain("type-7");
    expect(latency).toContain("| sqlite | insert (per unit) | 2 |");
    // One statistics path: percentiles pooled over repeats; the per-repeat p99 only in its labelled log-scale column.
    expect(latency).toContain("pooled over all n repeats");
    expect(readFileSync(join(out, "latency_p99_repeats.md"), "utf8")).toContain("per repeat: GM [95 % CI]");
    expect(edr).toContain("computed on the log scale");
    // Reduction per layer boundary: the arrows are LaTeX, the where-rule is named.
    const reduction = readFileSync(join(out, "reduction.tex"), "utf8");
    expect(reduction).toContain("L1$\\rightarrow$L2");
    expect(reduction).toContain("nowhere");

    // Every table, in both interval styles, fits the text width of an 11 pt A4 article (360 pt).
    const sd = join(dir, "tables-sd");
    const sdPaths = (await writeTables(thesisTables(await loadFrames([bundleDir]), { interval: "sd" }), sd)).filter((p) => p.endsWith(".tex"));
    const tex = overfullBoxes(dir, "thesis", [...names.map((n) => join(out, `${n}.tex`)), ...sdPaths]);
    expect(tex.errors).toEqual([]);
    expect(tex.status).toBe(0);
    expect(tex.overfull).toEqual([]);
    expect(statSync(join(dir, "thesis.pdf")).size).toBeGreaterThan(10_000);
    for (const f of readdirSync(out)) expect(readFileSync(join(out, f)).includes(SECRET)).toBe(false);
  }, 300_000);

  it("every table fits its page at its widest realistic values (what a run measured decides how wide a table is)", async () => {
    // 4–5 decimal values (0.0123: 3 significant digits) with 4-decimal intervals, 6-digit op counts, ends like
    // 1.5e11 (n = 2 on the log scale), 2–5 grades, the longest stub a variant label makes; the widest go landscape.
    const base = (system: string, variant: string, grade: string) => ({
      system, variant, storage_profile: "local", payload: "structured_json", granularity: "block", placement: "interleaved", unit_size: "4096", n_units: 100000, grade, dup_fraction: 0.5,
    });
    const series = [["postgres", "per_unit_tx"], ["postgres", "copy"], ["clickhouse", "replacing_merge_tree"]] as const;
    const tablesOf = ([mean, lower, upper]: number[], grades: string[], interval: "ci" | "sd") => {
      const stat = { n: 10, mean: mean!, sd: mean! * 0.987, ci95: mean! * 0.5, center: mean!, lower: lower!, upper: upper!, scale: "log" };
      const each = <T>(f: (s: string, v: string, g: string) => T[]) => series.flatMap(([s, v]) => grades.flatMap((g) => f(s, v, g)));
      const edr = aq.from(each((s, v, g) => [{ ...base(s, v, g), stage: "bulk_insert", metric: "edr_cluster", ...stat, ideal: 12.3456, replication: 1, reason: "" }]));
      const red = aq.from(each((s, v, g) => BOUNDARIES.map((boundary) => ({ ...base(s, v, g), stage: "bulk_insert", boundary, ...stat, n: boundary === "L1→L2" ? 7 : 10, ideal: 12.3456, excluded: 0, reason: "", where: "L1→L2" }))));
      const pot = aq.from(each((s, v, g) => [
        { ...base(s, v, g), stage: "bulk_insert", kind: "measured", quantity: "L0→L3", label: "L0→L3", ...stat, reason: "" },
        ...FIGURE_POTENTIALS.map((q) => ({ ...base(s, v, g), stage: "bulk_insert", kind: "potential", quantity: q, label: q, ...stat, center: 1234.5, reason: "" })),
      ]));
      const lat = aq.from(["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"].flatMap((stage) => series.map(([s, v]) => ({
        ...base(s, v, "U0"), stage, source: "samples", repeats: 10, excluded: 0, count: 999999, p50: mean, p90: mean, p95: mean, p99: mean, max: 1234.5, mean,
        p99_rep_n: 10, p99_rep_center: mean, p99_rep_lower: lower, p99_rep_upper: upper, p99_rep_scale: "log",
      }))));
      return [edrThesisTable(edr, { metric: "edr_cluster", stage: "bulk_insert", interval }), reductionThesisTable(red, { interval }), potentialThesisTable(pot, { interval }), latencyThesisTable(lat), latencyRepeatsThesisTable(lat)]
        .filter((t): t is ThesisTable => t !== null);
    };
    const cases: [number[], string[], "ci" | "sd"][] = [
      [[0.0123, 0.00987, 0.0456], ["U0", "U50", "U90", "U95", "U99"], "ci"],
      [[0.0123, 0.00987, 0.0456], ["U0", "U50", "U90"], "sd"],
      [[123, 1e5, 1.5e11], ["U0", "U50", "U90", "U99.9"], "ci"],
      [[1.23, 1.05, 1.47], ["U0", "U50"], "sd"],
    ];
    const paths: string[] = [];
    for (const [i, [v, g, iv]] of cases.entries()) {
      const tables = tablesOf(v, g, iv);
      expect(tables).toHaveLength(5);
      paths.push(...(await writeTables(tables, join(dir, `tables-widest-${i}`))).filter((p) => p.endsWith(".tex")));
    }
    const texts = paths.map((p) => readFileSync(p, "utf8"));
    expect(texts.some((t) => t.includes("0.0123"))).toBe(true);
    expect(texts.some((t) => t.includes("\\begin{landscape}"))).toBe(true); // the widest reduction and EDR tables
    const tex = overfullBoxes(dir, "widest", paths);
    expect(tex.errors).toEqual([]);
    expect(tex.overfull).toEqual([]);
  }, 120_000);
});

describe("bad input exits 2 with one line", () => {
  const expectUsage = (args: string[], pattern: RegExp) => {
    const r = cli(args);
    expect(r.status, r.stderr + r.stdout).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  };

  it("missing bundle", () => {
    expectUsage(["figures", join(dir, "nope"), "--out", join(dir, "x")], /is not a dedup-lab run bundle \(no bundle\.json\) — pass a directory written by `dedup-lab run`/);
    expectUsage(["tables", join(dir, "nope"), "--out", join(dir, "x")], /is not a dedup-lab run bundle/);
  });

  it("incompatible bundle (another schema version)", () => {
    const old = join(dir, "old-bundle");
    cpSync(bundleDir, old, { recursive: true });
    const meta = JSON.parse(readFileSync(join(old, "bundle.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(old, "bundle.json"), JSON.stringify({ ...meta, schema: "0" }));
    expectUsage(["figures", old, "--out", join(dir, "x")], /has bundle schema 0, this dedup-lab reads 1 — use the dedup-lab version that wrote it/);
    expectUsage(["tables", old, "--out", join(dir, "x")], /has bundle schema 0/);
  });

  it("unknown format, metric or interval", () => {
    expectUsage(["figures", bundleDir, "--formats", "svg,bmp"], /unknown figure format "bmp" — use svg, pdf, png/);
    expectUsage(["figures", bundleDir, "--edr", "edr_total"], /unknown EDR metric "edr_total"/);
    expectUsage(["tables", bundleDir, "--interval", "iqr"], /unknown interval "iqr" — use sd or ci/);
    expectUsage(["figures", bundleDir, "--width", "pagewidth"], /figure width "pagewidth" is not a length — use textwidth, columnwidth or a length such as 15cm/);
    expectUsage(["figures", bundleDir, "--width", "150cm"], /figure width "150cm" is 150\.0 cm, outside 3–60 cm/);
  });
});
