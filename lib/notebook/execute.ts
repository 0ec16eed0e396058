// Headless notebook execution: inject parameters, run every cell through the real tslab
// kernel with a real Jupyter client (Debian's nbclient, via nbclient-runner.py), write the
// executed notebook, and report the first failing cell with its error text.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { promisify } from "node:util";
import { UsageError } from "../errors.js";
import { readMeta } from "../results/bundle.js";
import { Redactor } from "../results/redact.js";
import { kernelProblem } from "./kernel.js";
import { injectParameters, parameterDecls, readNotebook, type Notebook, type ParamValue } from "./params.js";
import { jupyterEnv, KERNEL_NAME, projectRoot, SYSTEM_PYTHON } from "./paths.js";

export interface CellTiming {
  index: number;
  id: string;
  seconds: number;
}

export interface CellFailure {
  /** Index in the executed notebook (-1: the kernel did not start). */
  index: number;
  id: string;
  kind: "error" | "timeout" | "dead-kernel" | "kernel-start";
  ename: string;
  evalue: string;
  /** The cell's stderr: where tslab prints type errors. */
  stderr: string;
  source: string;
}

export interface NotebookRun {
  notebook: string;
  output: string;
  ok: boolean;
  seconds: number;
  cells: CellTiming[];
  failed: CellFailure | null;
  values: Record<string, ParamValue>;
  /** Set when the failing cell threw a dedup-lab UsageError (bad input): its one-line message. */
  usageError?: string;
}

export interface RunNotebookOptions {
  /** -p values (raw text, parsed against each notebook's parameters cell). */
  params?: Map<string, string>;
  /** Where executed notebooks go (<out>/<name>.ipynb). */
  out: string;
  /** Per-cell timeout in seconds. */
  timeoutS?: number;
  /** Kernel start timeout in seconds. */
  startupTimeoutS?: number;
  env?: NodeJS.ProcessEnv;
}

interface Prepared {
  path: string;
  stem: string;
  notebook: Notebook;
  values: Record<string, ParamValue>;
  /** The artefact directory nb run chose (replaced on every run), if it chose one. */
  artefacts?: string;
}

const RUNNER = () => join(projectRoot(), "lib", "notebook", "nbclient-runner.py");

/** One-line problem (with the fix) if Debian's Jupyter client or the kernel is missing. */
export async function executionProblem(): Promise<string | null> {
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} not found (Debian's Jupyter runs on it) — run: bash scripts/setup-notebooks.sh`;
  try {
    await promisify(execFile)(SYSTEM_PYTHON, ["-c", "import nbclient, nbformat, jupyter_client"], { timeout: 30_000 });
  } catch {
    return "Debian's Jupyter client is not installed (python3-nbclient, jupyter-client) — run: bash scripts/setup-notebooks.sh";
  }
  if (!existsSync(RUNNER())) return `${RUNNER()} is missing (run nb from a dedup-lab checkout)`;
  return kernelProblem();
}

/**
 * Read and parameterize every notebook first, so bad input (unknown parameter, wrong type,
 * -p without a parameters cell, kernel missing) fails before anything runs.
 */
export async function prepareNotebooks(paths: string[], opts: RunNotebookOptions): Promise<Prepared[]> {
  if (!paths.length) throw new UsageError("no notebook given", "pass one or more notebooks, e.g. notebooks/00-quickstart.ipynb");
  const out = resolve(opts.out);
  const prepared = paths.map((path) => {
    const nb = readNotebook(path);
    const stem = basename(path).replace(/\.ipynb$/, "");
    const raw = new Map(opts.params ?? []);
    // Artefacts of a headless run (bundles, figures, tables) go next to the executed notebook,
    // in <out>/<name>-output, which belongs to nb run: a re-run replaces it like the notebook.
    let artefacts: string | undefined;
    if (!raw.has("outDir") && parameterDecls(nb, path).some((d) => d.name === "outDir" && d.kind === "string")) {
      artefacts = join(out, `${stem}-output`);
      raw.set("outDir", artefacts);
    }
    const { notebook, values } = injectParameters(nb, raw, path);
    return { path, stem, notebook, values, artefacts };
  });
  // A parameter named `bundles` lists run bundles: check them now (missing, or another
  // schema version) instead of failing inside the kernel. Paths are relative to the root.
  for (const p of prepared) {
    const dirs = p.values.bundles;
    if (Array.isArray(dirs)) for (const d of dirs) await readMeta(resolve(projectRoot(), String(d)));
  }
  return prepared;
}

/** Secrets never reach an executed notebook: values of secret-looking env vars are masked. */
function redactorFor(env: NodeJS.ProcessEnv): Redactor {
  return new Redactor(Object.keys(env).filter((k) => /(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|CREDENTIAL)/i.test(k)), env);
}

export async function runPrepared(p: Prepared, opts: RunNotebookOptions): Promise<NotebookRun> {
  const root = projectRoot();
  const out = resolve(opts.out);
  await mkdir(out, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), "dedup-lab-nb-"));
  const input = join(work, `${p.stem}.ipynb`);
  const output = join(out, `${p.stem}.ipynb`);
  await writeFile(input, JSON.stringify(p.notebook, null, 1) + "\n");
  if (p.artefacts) await rm(p.artefacts, { recursive: true, force: true });
  const env = jupyterEnv(root, opts.env ?? process.env);
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
      const child = spawn(
        SYSTEM_PYTHON,
        [RUNNER(), "--input", input, "--output", output, "--kernel", KERNEL_NAME, "--cwd", root,
          "--timeout", String(opts.timeoutS ?? 300), "--startup-timeout", String(opts.startupTimeoutS ?? 180)],
        { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] },
      );
      let so = "";
      let se = "";
      child.stdout.on("data", (d: Buffer) => (so += d.toString()));
      child.stderr.on("data", (d: Buffer) => (se += d.toString()));
      child.on("error", fail);
      child.on("close", (c) => done({ code: c, stdout: so, stderr: se }));
    });
    const line = stdout.trim().split("\n").pop() ?? "";
    let result: { ok: boolean; seconds: number; cells: CellTiming[]; failed: CellFailure | null };
    try {
      result = JSON.parse(line);
    } catch {
      throw new Error(`the Jupyter client exited ${code} without a result: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    }
    // Defence in depth: mask any secret value that a cell might have printed.
    if (existsSync(output)) {
      const redact = redactorFor(opts.env ?? process.env);
      const text = await readFile(output, "utf8");
      const clean = redact.text(text);
      if (clean !== text) await writeFile(output, clean);
    }
    const usage = result.failed ? /^UsageError: (.+)$/m.exec(`${result.failed.stderr}\n${result.failed.evalue}`) : null;
    return { notebook: p.path, output, ok: result.ok, seconds: result.seconds, cells: result.cells, failed: result.failed, values: p.values, usageError: usage?.[1] };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Execute notebooks one after another; every run is reported, failed or not. */
export async function runNotebooks(paths: string[], opts: RunNotebookOptions): Promise<NotebookRun[]> {
  const prepared = await prepareNotebooks(paths, opts);
  const problem = await executionProblem();
  if (problem) throw new UsageError(problem);
  const runs: NotebookRun[] = [];
  for (const p of prepared) runs.push(await runPrepared(p, opts));
  return runs;
}

/** The failure as text: the cell, its error and its stderr (tslab type errors live there). */
export function describeFailure(run: NotebookRun): string {
  const f = run.failed;
  if (!f) return "";
  if (f.kind === "kernel-start") return `the ${KERNEL_NAME} kernel (tslab) did not start: ${f.evalue}`;
  const what = f.kind === "timeout" ? "timed out" : f.kind === "dead-kernel" ? "killed the kernel" : "failed";
  const head = `cell ${f.index}${f.id ? ` (id ${f.id})` : ""} ${what}`;
  const error = [f.ename, f.evalue].filter((s) => s && s !== "<Error>:").join(": ");
  const detail = [error, f.stderr.trim()].filter(Boolean).join("\n");
  const firstLine = f.source.split("\n").find((l) => l.trim() && !l.trim().startsWith("//")) ?? "";
  return `${head}${firstLine ? ` — ${firstLine.trim().slice(0, 80)}` : ""}\n${detail.split("\n").map((l) => `    ${l}`).join("\n")}`;
}
