// Papermill-style parameters: parsing the `parameters` cell, typed injection, and every
// kind of bad input → one line with the fix, exit 2, before any kernel starts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../lib/errors.js";
import { kernelProblem } from "../../lib/notebook/kernel.js";
import { jupyterEnv, jupyterPrefix, kernelSpecDir, SYSTEM_JUPYTER } from "../../lib/notebook/paths.js";
import {
  cellSource, injectParameters, parameterDecls, parseParamArgs, parseParamValue, readNotebook, type Notebook,
} from "../../lib/notebook/params.js";
import { cli } from "../helpers/cli.js";
import { ROOT } from "../helpers/services-env.js";

const NOTEBOOKS = ["00-quickstart", "10-run-slice", "20-thesis-figures", "30-thesis-tables"].map((n) => join(ROOT, "notebooks", `${n}.ipynb`));

function notebook(paramsSource: string | null): Notebook {
  const cells: Notebook["cells"] = [{ cell_type: "markdown", id: "m", metadata: {}, source: "# t" }];
  if (paramsSource !== null) cells.push({ cell_type: "code", id: "p", metadata: { tags: ["parameters"] }, source: paramsSource, outputs: [], execution_count: null });
  cells.push({ cell_type: "code", id: "c", metadata: {}, source: "console.log(1)", outputs: [], execution_count: null });
  return { cells, metadata: { kernelspec: { name: "dedup-lab" } }, nbformat: 4, nbformat_minor: 5 };
}

const PARAMS = [
  "// comment lines are ignored",
  'let systems: string[] = ["sqlite", "duckdb"];',
  "let units = 20;          // trailing comment",
  'let unitSize = "4KiB";',
  "const verbose = false;",
  "let ratio: number = 0.5;",
  "let config: string | null = null;",
  "let sizes: number[] = [1, 2];",
].join("\n");

describe("parameters cell", () => {
  it("every shipped notebook declares its parameters with typed JSON defaults", () => {
    for (const path of NOTEBOOKS) {
      const decls = parameterDecls(readNotebook(path), path);
      expect(decls.length, path).toBeGreaterThan(0);
      expect(decls.map((d) => d.name), path).toContain("outDir");
    }
    const slice = parameterDecls(readNotebook(NOTEBOOKS[1]!));
    expect(slice.map((d) => d.name)).toEqual(["systems", "payloads", "grades", "stages", "repeats", "units", "unitSize", "insertion", "keys", "configFile", "outDir"]);
    expect(slice.find((d) => d.name === "systems")).toMatchObject({ kind: "string[]", annotation: "string[]" });
    expect(slice.find((d) => d.name === "repeats")).toMatchObject({ kind: "number", defaultValue: 2 });
  });

  it("reads kinds from annotations or from the default value", () => {
    const d = parameterDecls(notebook(PARAMS));
    expect(d.map((x) => [x.name, x.keyword, x.kind, x.nullable])).toEqual([
      ["systems", "let", "string[]", false],
      ["units", "let", "number", false],
      ["unitSize", "let", "string", false],
      ["verbose", "const", "boolean", false],
      ["ratio", "let", "number", false],
      ["config", "let", "string", true],
      ["sizes", "let", "number[]", false],
    ]);
  });

  it("a default that is not a JSON literal is refused with the fix", () => {
    expect(() => parameterDecls(notebook("let x = someCall();"))).toThrow(/not a JSON literal/);
    expect(() => parameterDecls(notebook("let x = null;"))).toThrow(/needs a type annotation/);
  });
});

describe("typed values", () => {
  const decls = parameterDecls(notebook(PARAMS));
  const d = (n: string) => decls.find((x) => x.name === n)!;

  it("numbers, booleans, strings, JSON arrays, a,b,c lists, null", () => {
    expect(parseParamValue("50", d("units"))).toBe(50);
    expect(parseParamValue("1e3", d("ratio"))).toBe(1000);
    expect(parseParamValue("true", d("verbose"))).toBe(true);
    expect(parseParamValue("16KiB", d("unitSize"))).toBe("16KiB");
    expect(parseParamValue('"quoted"', d("unitSize"))).toBe("quoted");
    expect(parseParamValue('["sqlite"]', d("systems"))).toEqual(["sqlite"]);
    expect(parseParamValue("sqlite, duckdb", d("systems"))).toEqual(["sqlite", "duckdb"]);
    expect(parseParamValue("3,4", d("sizes"))).toEqual([3, 4]);
    expect(parseParamValue("null", d("config"))).toBeNull();
    expect(parseParamValue("x.yaml", d("config"))).toBe("x.yaml");
  });

  it("a value of the wrong type names the declaration and an example", () => {
    expect(() => parseParamValue("abc", d("units"))).toThrow(UsageError);
    expect(() => parseParamValue("abc", d("units"))).toThrow(/-p units=abc: "abc" is not a number; notebook declares units as number — pass e.g. -p units=20/);
    expect(() => parseParamValue("yes", d("verbose"))).toThrow(/not true or false/);
    expect(() => parseParamValue("[1, 2]", d("systems"))).toThrow(/element 1 is not a string/);
    expect(() => parseParamValue("[1,", d("sizes"))).toThrow(/not a valid JSON array/);
    expect(() => parseParamValue("null", d("units"))).toThrow(/not a number/);
  });

  it("-p arguments must be name=value", () => {
    expect([...parseParamArgs(["a=1", "b=x=y", "a=2"])]).toEqual([["a", "2"], ["b", "x=y"]]);
    expect(() => parseParamArgs(["novalue"])).toThrow(/expected name=value/);
    expect(() => parseParamArgs(["1bad=2"])).toThrow(UsageError);
  });
});

describe("injection", () => {
  it("inserts a cell tagged injected-parameters right after the parameters cell, as typed literals", () => {
    const nb = notebook(PARAMS);
    const { notebook: out, values } = injectParameters(nb, new Map([["units", "7"], ["systems", "sqlite"], ["config", "null"]]), "t.ipynb");
    expect(values).toEqual({ units: 7, systems: ["sqlite"], config: null });
    expect(out.cells.map((c) => c.id)).toEqual(["m", "p", "injected-parameters", "c"]);
    const inj = out.cells[2]!;
    expect(inj.metadata.tags).toEqual(["injected-parameters"]);
    expect(cellSource(inj).split("\n").slice(1)).toEqual(["let units = 7;", 'let systems: string[] = ["sqlite"];', "let config: string | null = null;"]);
    // The input is not modified; a second injection replaces the first injected cell.
    expect(nb.cells).toHaveLength(3);
    const again = injectParameters(out, new Map([["units", "8"]]));
    expect(again.notebook.cells.filter((c) => c.metadata.tags?.includes("injected-parameters"))).toHaveLength(1);
    expect(cellSource(again.notebook.cells[2]!)).toContain("let units = 8;");
  });

  it("no -p: the notebook runs as written", () => {
    expect(injectParameters(notebook(null), new Map()).notebook.cells).toHaveLength(2);
  });

  it("bad input: unknown name, -p without a parameters cell", () => {
    expect(() => injectParameters(notebook(PARAMS), new Map([["nope", "1"]]), "t.ipynb")).toThrow(/unknown parameter "nope" for t.ipynb — it declares: systems, units/);
    expect(() => injectParameters(notebook(null), new Map([["units", "1"]]), "t.ipynb")).toThrow(/t.ipynb has no cell tagged "parameters", so -p units cannot be applied/);
  });
});

describe("dedup-lab nb run: bad input exits 2 with one line and the fix", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "dedup-lab-nbparams-"));
    writeFileSync(join(dir, "plain.ipynb"), JSON.stringify(notebook(null)));
    // A bundle written by a future dedup-lab (schema 999).
    mkdirSync(join(dir, "future-bundle"));
    writeFileSync(join(dir, "future-bundle", "bundle.json"), JSON.stringify({ schema: "999", run_id: "x" }));
    if (kernelProblem()) expect(cli(["kernel", "install"]).status).toBe(0);
  });

  const expectUsage = (args: string[], pattern: RegExp) => {
    const r = cli(["nb", "run", ...args, "--out", join(dir, "out")], { env: { DEDUP_PG_PASSWORD: "not-a-real-secret-4711" } });
    expect(r.status, r.stderr + r.stdout).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^dedup-lab: /);
    expect(lines[0]).toMatch(pattern);
    expect(r.stdout).toBe("");
  };

  it("unknown parameter name", () => expectUsage([NOTEBOOKS[1]!, "-p", "nope=1"], /unknown parameter "nope" .* — it declares: systems, payloads/));
  it("value of the wrong type", () => expectUsage([NOTEBOOKS[1]!, "-p", "units=many"], /-p units=many: "many" is not a number; .* — pass e.g. -p units=20/));
  it("-p on a notebook without a parameters cell", () => expectUsage([join(dir, "plain.ipynb"), "-p", "units=1"], /has no cell tagged "parameters"/));
  it("missing bundle", () => expectUsage([NOTEBOOKS[2]!, "-p", `bundles=["${join(dir, "does-not-exist")}"]`], /is not a dedup-lab run bundle .* — pass a directory written by `dedup-lab run`/));
  it("incompatible bundle (schema version)", () => expectUsage([NOTEBOOKS[3]!, "-p", `bundles=["${join(dir, "future-bundle")}"]`], /has bundle schema 999, this dedup-lab reads 1/));
  it("not a notebook", () => expectUsage([join(dir, "missing.ipynb")], /cannot read notebook .*missing\.ipynb/));
  it("bad --timeout", () => expectUsage([NOTEBOOKS[0]!, "--timeout", "soon"], /--timeout must be a whole number/));

  it("kernel not installed", () => {
    const spec = join(kernelSpecDir(), "kernel.json");
    const aside = `${spec}.test-aside`;
    expect(existsSync(spec)).toBe(true);
    const before = readFileSync(spec, "utf8");
    renameSync(spec, aside);
    try {
      expectUsage([NOTEBOOKS[0]!], /the dedup-lab kernel \(tslab\) is not installed in this repository .* run: npx dedup-lab kernel install/);
      expect(cli(["kernel", "status"]).status).toBe(2);
    } finally {
      renameSync(aside, spec);
    }
    expect(readFileSync(spec, "utf8")).toBe(before);
    expect(cli(["kernel", "status"]).status).toBe(0);
  });
});

describe("the kernel has its own name: dedup-lab, not tslab", () => {
  beforeAll(() => {
    if (kernelProblem()) expect(cli(["kernel", "install"]).status).toBe(0);
  });

  it("the installed spec, every notebook's kernelspec and Jupyter's listing use dedup-lab", () => {
    expect(kernelSpecDir()).toBe(join(ROOT, ".jupyter", "share", "jupyter", "kernels", "dedup-lab"));
    const spec = JSON.parse(readFileSync(join(kernelSpecDir(), "kernel.json"), "utf8")) as { display_name: string; argv: string[] };
    expect(spec.display_name).toBe("TypeScript (dedup-lab)");
    expect(spec.argv.join(" ")).toContain(join(ROOT, "node_modules", ".bin", "tslab")); // tslab inside
    for (const nb of NOTEBOOKS) {
      const meta = (JSON.parse(readFileSync(nb, "utf8")) as { metadata: { kernelspec: { name: string; display_name: string } } }).metadata;
      expect(meta.kernelspec, nb).toMatchObject({ name: "dedup-lab", display_name: "TypeScript (dedup-lab)" });
    }
    const r = cli(["kernel", "install"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("jupyter kernelspec list: dedup-lab ✓");
  });

  it("a user's own global tslab kernel stays a separate entry (no collision, nothing shadowed)", () => {
    // A stand-in for `tslab install --user`: a spec named tslab in another Jupyter data directory.
    const user = mkdtempSync(join(tmpdir(), "dedup-lab-userjupyter-"));
    mkdirSync(join(user, "kernels", "tslab"), { recursive: true });
    writeFileSync(join(user, "kernels", "tslab", "kernel.json"), JSON.stringify({ argv: ["tslab", "kernel", "--config-path", "{connection_file}"], display_name: "TypeScript", language: "typescript" }));
    const env = jupyterEnv(ROOT);
    env.JUPYTER_PATH = `${join(jupyterPrefix(ROOT), "share", "jupyter")}:${user}`;
    const out = execFileSync(SYSTEM_JUPYTER, ["kernelspec", "list", "--json"], { env, encoding: "utf8" });
    const specs = (JSON.parse(out) as { kernelspecs: Record<string, { resource_dir: string; spec: { display_name: string } }> }).kernelspecs;
    expect(specs["dedup-lab"]?.resource_dir).toBe(kernelSpecDir());
    expect(specs["dedup-lab"]?.spec.display_name).toBe("TypeScript (dedup-lab)");
    expect(specs.tslab?.resource_dir).toBe(join(user, "kernels", "tslab"));
    expect(specs.tslab?.spec.display_name).toBe("TypeScript");
  });

  it("kernel install removes the spec an older dedup-lab registered as tslab in .jupyter, and only that one", () => {
    const old = kernelSpecDir(ROOT, "tslab");
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, "kernel.json"), JSON.stringify({ argv: ["x"], display_name: "TypeScript (dedup-lab, tslab)", language: "typescript", metadata: { "dedup-lab": { root: ROOT } } }));
    expect(cli(["kernel", "install"]).status).toBe(0);
    expect(existsSync(old)).toBe(false);
    // A tslab spec that is not ours is left alone.
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, "kernel.json"), JSON.stringify({ argv: ["tslab"], display_name: "TypeScript", language: "typescript" }));
    try {
      expect(cli(["kernel", "install"]).status).toBe(0);
      expect(existsSync(join(old, "kernel.json"))).toBe(true);
    } finally {
      execFileSync("rm", ["-rf", old]);
    }
  });
});
