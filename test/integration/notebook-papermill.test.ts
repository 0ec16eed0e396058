// papermill with the dedup-lab kernel: the TypeScript translator (lib/notebook/papermill-typescript,
// installed into the `dedup-lab lab` venv) injects exactly the cell `dedup-lab nb run` injects,
// typed by the notebook's parameters cell, and papermill executes the notebook end to end.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureJupyterLab, labVenv } from "../../lib/notebook/jupyterlab.js";
import { cellSource, injectParameters, readNotebook, type Notebook } from "../../lib/notebook/params.js";
import { jupyterEnv } from "../../lib/notebook/paths.js";
import { ROOT } from "../helpers/services-env.js";

const NB = join(ROOT, "notebooks", "10-run-slice.ipynb");
const env = () => ({ ...jupyterEnv(ROOT), PATH: `${join(labVenv(ROOT), "bin")}:${process.env.PATH}` });
const papermill = (args: string[]) => spawnSync(join(labVenv(ROOT), "bin", "papermill"), args, { cwd: ROOT, env: env(), encoding: "utf8", timeout: 600_000 });

const injected = (nb: Notebook) => {
  const cells = nb.cells.filter((c) => (c.metadata.tags ?? []).includes("injected-parameters"));
  expect(cells).toHaveLength(1);
  return cellSource(cells[0]!);
};
const nbRunCell = (params: [string, string][]) => injected(injectParameters(readNotebook(NB), new Map(params), NB).notebook);

beforeAll(() => {
  ensureJupyterLab({ root: ROOT });
}, 600_000);

describe("papermill -k dedup-lab", () => {
  it("executes a notebook with -p values; its parameters cell equals nb run's", () => {
    const dir = mkdtempSync(join(tmpdir(), "dedup-lab-papermill-"));
    const out = join(dir, "out.ipynb");
    const bundle = join(dir, "bundle");
    const r = papermill(["-k", "dedup-lab", NB, out, "-p", "units", "10", "-p", "systems", '["sqlite"]', "-p", "repeats", "1", "-p", "outDir", bundle]);
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const nb = JSON.parse(readFileSync(out, "utf8")) as Notebook;
    const cell = injected(nb);
    expect(cell).toBe(nbRunCell([["units", "10"], ["systems", '["sqlite"]'], ["repeats", "1"], ["outDir", bundle]]));
    expect(cell).toContain('let systems: string[] = ["sqlite"];');
    expect(cell).toContain("let units = 10;");
    const errors = nb.cells.flatMap((c) => (c.outputs ?? []) as { output_type: string }[]).filter((o) => o.output_type === "error");
    expect(errors).toEqual([]);
    // (execution counts stay null under papermill: nbclient takes them from execute_input, which tslab does not send;
    // `dedup-lab nb run` numbers the cells itself)
    expect(JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8")).status).toBe("complete");
  }, 600_000);

  it("types values like nb run (a,b,c lists, numbers, text); unknown names fail", () => {
    const dir = mkdtempSync(join(tmpdir(), "dedup-lab-papermill-"));
    const out = join(dir, "prep.ipynb");
    const params: [string, string][] = [["systems", "sqlite,duckdb"], ["grades", "U0"], ["unitSize", "16KiB"], ["units", "2.5e1"]];
    const r = papermill(["--prepare-only", "-k", "dedup-lab", NB, out, ...params.flatMap(([k, v]) => ["-p", k, v])]);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(injected(JSON.parse(readFileSync(out, "utf8")) as Notebook)).toBe(nbRunCell(params));
    const bad = papermill(["--prepare-only", "-k", "dedup-lab", NB, join(dir, "bad.ipynb"), "-p", "nonesuch", "1"]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown parameter "nonesuch"/);
    expect(existsSync(join(dir, "bad.ipynb"))).toBe(false);
    // the translator is found through papermill's own registry (entry point imported at start)
    const found = execFileSync(join(labVenv(ROOT), "bin", "python"), ["-c", "import papermill.engines\nfrom papermill.translators import papermill_translators as t\nprint(t.find_translator('dedup-lab', 'typescript').__name__)"], { encoding: "utf8" });
    expect(found.trim()).toBe("TypeScriptTranslator");
  }, 120_000);
});
