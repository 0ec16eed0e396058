// `dedup-lab lab`: JupyterLab from a project-local, pinned Python venv (<root>/.tools/jupyter-venv,
// git-ignored) with the plotly renderer extension (the `plotly` package ships the JupyterLab 4
// prebuilt extension jupyterlab-plotly), papermill and the TypeScript translator for papermill
// (lib/notebook/papermill-typescript). First use installs from PyPI (≈ 1 min); later uses find
// the stamp and start in seconds. The server listens on 127.0.0.1 only, with a random token,
// and sees only this repository's Jupyter prefix (the `dedup-lab` kernel).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { installKernel } from "./kernel.js";
import { jupyterEnv, projectRoot, SYSTEM_PYTHON } from "./paths.js";

/** Pinned Python packages of the lab venv (PyPI); setuptools builds the local translator package. */
export const LAB_REQUIREMENTS = ["jupyterlab==4.6.6", "plotly==7.1.0", "papermill==2.7.0", "setuptools==84.2.1"];

export function labVenv(root = projectRoot()): string {
  return process.env.DEDUP_LAB_JUPYTER_VENV ?? join(root, ".tools", "jupyter-venv");
}

export function translatorDir(root = projectRoot()): string {
  return join(root, "lib", "notebook", "papermill-typescript");
}

/** What the venv must have been built from: the pins and the translator's source. */
function wantedStamp(root: string): string {
  const h = createHash("sha256").update(LAB_REQUIREMENTS.join("\n"));
  for (const f of ["pyproject.toml", "dedup_lab_papermill.py"]) h.update(readFileSync(join(translatorDir(root), f)));
  return h.digest("hex");
}

const stampFile = (venv: string) => join(venv, ".dedup-lab-stamp");

/** True when the venv is installed from the current pins (nothing to do). */
export function labReady(root = projectRoot()): boolean {
  const venv = labVenv(root);
  try {
    return existsSync(join(venv, "bin", "jupyter-lab")) && readFileSync(stampFile(venv), "utf8").trim() === wantedStamp(root);
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[], what: string, log: (line: string) => void): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (r.status !== 0) {
    const tail = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-3).join(" | ");
    throw new UsageError(`${what} failed (exit ${r.status ?? r.signal}): ${tail}`, "check the network to PyPI, or remove .tools/jupyter-venv and retry");
  }
  log(`${what}: ok`);
}

/** Create or update the venv (idempotent; a no-op when the stamp matches). */
export function ensureJupyterLab(opts: { root?: string; log?: (line: string) => void } = {}): { venv: string; installed: boolean } {
  const root = opts.root ?? projectRoot();
  const log = opts.log ?? (() => {});
  const venv = labVenv(root);
  if (labReady(root)) return { venv, installed: false };
  if (!existsSync(SYSTEM_PYTHON)) throw new UsageError(`${SYSTEM_PYTHON} not found`, "run: bash scripts/setup-notebooks.sh");
  if (!existsSync(join(venv, "bin", "python"))) {
    log(`creating ${venv} …`);
    run(SYSTEM_PYTHON, ["-m", "venv", venv], "python3 -m venv", log);
  }
  log(`installing ${LAB_REQUIREMENTS.join(" ")} and the papermill TypeScript translator (first use only, ≈ 1 min) …`);
  const pip = join(venv, "bin", "pip");
  run(pip, ["install", "--disable-pip-version-check", "-q", ...LAB_REQUIREMENTS], "pip install", log);
  // Built from a copy: pip's in-tree build would leave build/ and *.egg-info in the checkout.
  const copy = mkdtempSync(join(tmpdir(), "dedup-lab-papermill-ts-"));
  try {
    for (const f of ["pyproject.toml", "dedup_lab_papermill.py"]) cpSync(join(translatorDir(root), f), join(copy, f));
    run(pip, ["install", "--disable-pip-version-check", "-q", "--no-build-isolation", "--no-deps", "--force-reinstall", copy], "pip install papermill-typescript", log);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
  writeFileSync(stampFile(venv), wantedStamp(root) + "\n");
  return { venv, installed: true };
}

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

export interface LabServer {
  url: string;
  port: number;
  token: string;
  child: ChildProcess;
  /** Stop JupyterLab (and its kernels); resolves with its exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartLabOptions {
  root?: string;
  /** 0 (default): a free port. */
  port?: number;
  token?: string;
  /** Where JupyterLab's logs go (default: inherited stderr). */
  logs?: "inherit" | "pipe" | "ignore";
  log?: (line: string) => void;
  readyTimeoutMs?: number;
  /** More jupyter-lab arguments (tests: e.g. no prebuilt extensions, like a stock JupyterLab). */
  extraArgs?: string[];
}

/** Install if needed, register the kernel, start JupyterLab and wait until it answers. */
export async function startJupyterLab(opts: StartLabOptions = {}): Promise<LabServer> {
  const root = opts.root ?? projectRoot();
  const { venv } = ensureJupyterLab({ root, log: opts.log });
  await installKernel(root);
  // No "official Jupyter news?" prompt and no update check: nothing phones home.
  const settings = join(venv, "share", "jupyter", "lab", "settings");
  mkdirSync(settings, { recursive: true });
  writeFileSync(join(settings, "overrides.json"), JSON.stringify({ "@jupyterlab/apputils-extension:notification": { fetchNews: "false", checkForUpdates: false } }, null, 2) + "\n");
  const port = opts.port || (await freePort());
  const token = opts.token ?? randomBytes(24).toString("hex");
  const args = [
    "--no-browser", "--ServerApp.ip=127.0.0.1", `--ServerApp.port=${port}`, "--ServerApp.port_retries=0",
    `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${root}`, "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
  ];
  if (process.getuid?.() === 0) args.push("--allow-root");
  args.push(...(opts.extraArgs ?? []));
  const child = spawn(join(venv, "bin", "jupyter-lab"), args, {
    cwd: root,
    env: { ...jupyterEnv(root), VIRTUAL_ENV: venv, PATH: `${join(venv, "bin")}:${process.env.PATH ?? ""}` },
    stdio: ["ignore", opts.logs ?? "inherit", opts.logs ?? "inherit"],
  });
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new UsageError(`JupyterLab exited before it answered on ${base} (exit ${child.exitCode})`, "see its log above; is the port taken? (--port)");
    try {
      const r = await fetch(`${base}/api/status`, { headers: { Authorization: `token ${token}` } });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new UsageError(`JupyterLab did not answer on ${base} within ${(opts.readyTimeoutMs ?? 90_000) / 1000} s`, "see its log above");
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url: `${base}/lab?token=${token}`, port, token, child, stop, exited };
}
