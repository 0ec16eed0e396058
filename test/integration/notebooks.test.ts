// All four notebooks, headless, on the embedded default: the real kernel `dedup-lab` (tslab) driven by
// Debian's Jupyter client (nbclient) through `dedup-lab nb run`, as CI runs them. Any cell
// error fails. Also: a type error and a timeout are reported with the cell and its text,
// and no secret from the environment reaches an executed notebook or an artefact.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { kernelProblem } from "../../lib/notebook/kernel.js";
import { cli } from "../helpers/cli.js";
import { ROOT } from "../helpers/services-env.js";

const NAMES = ["00-quickstart", "10-run-slice", "20-thesis-figures", "30-thesis-tables"];
const SECRET = "fake-pg-password-9c1e7b-never-printed";

interface Cell {
  cell_type: string;
  id: string;
  metadata: { tags?: string[]; execution?: Record<string, string> };
  outputs?: { output_type: string; name?: string; text?: string | string[]; data?: Record<string, unknown> }[];
  source: string | string[];
}

const cellsOf = (path: string): Cell[] => (JSON.parse(readFileSync(path, "utf8")) as { cells: Cell[] }).cells;
const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join("") : (v ?? ""));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** Well-formed XML with an <svg> root, checked by a real XML parser (Python's ElementTree). */
function parseSvgs(paths: string[]): string[] {
  const out = execFileSync("/usr/bin/python3", ["-c", "import sys, xml.etree.ElementTree as ET\nfor p in sys.argv[1:]: print(ET.parse(p).getroot().tag)", ...paths], { encoding: "utf8" });
  return out.trim().split("\n");
}

function notebookFile(dir: string, name: string, sources: string[]): string {
  const path = join(dir, `${name}.ipynb`);
  const cells = sources.map((s, i) => ({ cell_type: "code", id: `c${i}`, metadata: {}, source: s, outputs: [], execution_count: null }));
  writeFileSync(path, JSON.stringify({ cells, metadata: { kernelspec: { name: "dedup-lab", display_name: "TypeScript (dedup-lab)", language: "typescript" } }, nbformat: 4, nbformat_minor: 5 }));
  return path;
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "dedup-lab-notebooks-"));
  if (!existsSync(join(ROOT, "dist", "index.js"))) execFileSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" });
  // The kernel spec lives in the repo's .jupyter (git-ignored): install it on a fresh clone.
  if (kernelProblem()) expect(cli(["kernel", "install"]).status).toBe(0);
});

describe("notebooks, headless, on the embedded default", () => {
  it("all four run top to bottom through the dedup-lab (tslab) kernel without a cell error", () => {
    const out = join(dir, "all");
    const started = Date.now();
    const r = cli(["nb", "run", ...NAMES.map((n) => `notebooks/${n}.ipynb`), "--out", out], { env: { DEDUP_PG_PASSWORD: SECRET }, timeout: 1_200_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    process.stderr.write(`notebook suite: ${((Date.now() - started) / 1000).toFixed(1)} s\n${r.stdout}`);
    for (const n of NAMES) {
      expect(r.stdout).toContain(`notebooks/${n}.ipynb: ok`);
      const cells = cellsOf(join(out, `${n}.ipynb`));
      const code = cells.filter((c) => c.cell_type === "code");
      for (const c of code) {
        expect(c.metadata.execution?.["iopub.status.idle"], `${n} ${c.id} ran`).toBeTruthy();
        expect(c.outputs!.filter((o) => o.output_type === "error"), `${n} ${c.id}`).toEqual([]);
        // tslab reports errors on stderr; none may appear (the progress line is a display, not stderr).
        expect(c.outputs!.filter((o) => o.output_type === "stream" && o.name === "stderr").map((o) => text(o.text)), `${n} ${c.id}`).toEqual([]);
      }
      // nb run pointed the artefacts (outDir) next to the executed notebook.
      const injected = cells.find((c) => c.metadata.tags?.includes("injected-parameters"));
      expect(text(injected?.source)).toContain(join(out, `${n}-output`));
    }

    // 00: the summary table and an interactive Plotly figure.
    const quick = cellsOf(join(out, "00-quickstart.ipynb")).flatMap((c) => c.outputs ?? []);
    expect(quick.some((o) => o.data && "application/vnd.plotly.v1+json" in o.data)).toBe(true);
    expect(quick.map((o) => text(o.text)).join("")).toContain("manifest verified: 20 units");

    // 10: a complete bundle.
    const bundle = JSON.parse(readFileSync(join(out, "10-run-slice-output", "bundle.json"), "utf8")) as { status: string; cells_done: number };
    expect(bundle).toMatchObject({ status: "complete", cells_done: 18 });

    // 20: every figure as parseable SVG, non-empty PDF and PNG; interactive versions in the notebook.
    // Figure (e), size over time, joins the set when the bundle has a time series (the runner
    // samples every stage); only without one does the notebook say so instead.
    const figs = join(out, "20-thesis-figures-output", "figures");
    const names = [...new Set(readdirSync(figs).map((f) => f.replace(/\.(svg|pdf|png|tex)$/, "")))].sort();
    const fig20 = cellsOf(join(out, "20-thesis-figures.ipynb")).flatMap((c) => c.outputs ?? []);
    const noSeriesNote = fig20.some((o) => JSON.stringify(o.data ?? {}).includes("No time series in these bundles"));
    // Figure (f), reduction per layer boundary, is drawn from the runner's stored_bytes rows (every insert records them).
    // Figure (g), measured vs potential, from the runner's potential_* rows (every cell records its dataset's).
    expect(names).toEqual(["edr-cluster", "latency", "potential", "reduction", "sizes", "throughput", ...(noSeriesNote ? [] : ["size-over-time"])].sort());
    expect(parseSvgs(names.map((n) => join(figs, `${n}.svg`)))).toEqual(names.map(() => "{http://www.w3.org/2000/svg}svg"));
    for (const n of names) {
      expect(readFileSync(join(figs, `${n}.pdf`)).subarray(0, 5).toString()).toBe("%PDF-");
      expect(readFileSync(join(figs, `${n}.png`)).subarray(1, 4).toString()).toBe("PNG");
      expect(statSync(join(figs, `${n}.png`)).size).toBeGreaterThan(10_000);
    }
    expect(fig20.filter((o) => o.data && "application/vnd.plotly.v1+json" in o.data && "image/svg+xml" in o.data)).toHaveLength(names.length);

    // 30: LaTeX and Markdown tables.
    const tables = readdirSync(join(out, "30-thesis-tables-output", "tables")).sort();
    expect(tables).toContain("edr_cluster-bulk_insert.tex");
    expect(tables).toContain("latency.md");
    expect(tables).toContain("reduction.tex");
    expect(tables).toContain("potential.tex");

    // No secret anywhere: executed notebooks, bundles, figures, tables.
    const leaks = filesUnder(out).filter((f) => readFileSync(f).includes(SECRET));
    expect(leaks).toEqual([]);
  }, 1_200_000);

  it("a type error fails the run: exit 1, the cell named, tslab's stderr diagnostic shown; secrets masked", () => {
    const nb = notebookFile(dir, "type-error", [
      'import * as lab from "./dist/index";\nconsole.log("pw=" + process.env.DEDUP_PG_PASSWORD);',
      "const n: number = lab.formatBytes(1);",
      'console.log("never reached");',
    ]);
    const r = cli(["nb", "run", nb, "--out", join(dir, "type-error-out")], { env: { DEDUP_PG_PASSWORD: SECRET } });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain("FAILED — cell 1 (id c1) failed — const n: number = lab.formatBytes(1);");
    expect(r.stdout).toContain("1:7 - Type 'string' is not assignable to type 'number'.");
    const executed = readFileSync(join(dir, "type-error-out", "type-error.ipynb"), "utf8");
    expect(executed).toContain("pw=***");
    expect(executed).not.toContain(SECRET);
    // Execution stopped at the failing cell.
    expect(cellsOf(join(dir, "type-error-out", "type-error.ipynb")).find((c) => c.id === "c2")!.outputs).toEqual([]);
  }, 300_000);

  it("a runtime error and a per-cell timeout are reported", () => {
    const boom = notebookFile(dir, "runtime-error", ['throw new Error("boom: disk on fire");']);
    const slow = notebookFile(dir, "slow", ["await new Promise((r) => setTimeout(r, 60_000));"]);
    const r = cli(["nb", "run", boom, slow, "--out", join(dir, "err-out"), "--timeout", "5"]);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/runtime-error\.ipynb: FAILED — cell 0 \(id c0\) failed[^\n]*\n[\s\S]*Error: boom: disk on fire/);
    expect(r.stdout).toMatch(/slow\.ipynb: FAILED — cell 0 \(id c0\) timed out[^\n]*\n\s+cell did not finish within 5 s/);
    expect(existsSync(join(dir, "err-out", "slow.ipynb"))).toBe(true);
  }, 300_000);
});
