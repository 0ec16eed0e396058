// The notebook kernel spec `dedup-lab` (display name "TypeScript (dedup-lab)"; tslab inside),
// registered inside the repository (.jupyter/, git-ignored), not in the user's Jupyter. Its own
// name keeps it apart from a global `tslab` kernel the user may have. tslab compiles each cell relative to the kernel's working directory
// (its rootDir) and resolves imports from there, so the kernel must start in the project
// root whatever directory Jupyter launches it from: the argv is
//   /bin/sh -c "cd '<root>' && exec '<root>/node_modules/.bin/tslab' kernel --config-path \"$0\"" {connection_file}
// and notebooks import the built library as "./dist/index" (ESM with .d.ts; Node ≥ 20.19
// loads it through require(esm), which tslab's CommonJS output uses).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { jupyterEnv, kernelSpecDir, KERNEL_DISPLAY_NAME, KERNEL_NAME, OLD_KERNEL_NAME, projectRoot, SYSTEM_JUPYTER } from "./paths.js";

export const TSLAB_VERSION = "1.0.22";

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  metadata: Record<string, unknown>;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function tslabBinary(root = projectRoot()): string {
  return join(root, "node_modules", ".bin", "tslab");
}

export function kernelSpec(root = projectRoot()): KernelSpec {
  return {
    argv: ["/bin/sh", "-c", `cd ${shQuote(root)} && exec ${shQuote(tslabBinary(root))} kernel --config-path "$0"`, "{connection_file}"],
    display_name: KERNEL_DISPLAY_NAME,
    language: "typescript",
    metadata: { "dedup-lab": { root, tslab: TSLAB_VERSION } },
  };
}

/** The installed tslab version, or null if tslab is missing from node_modules. */
export function tslabVersion(root = projectRoot()): string | null {
  try {
    const req = createRequire(join(root, "package.json"));
    return (JSON.parse(readFileSync(req.resolve("tslab/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Why the kernel cannot be used right now (one line with the fix), or null when it is ready. */
export function kernelProblem(root = projectRoot()): string | null {
  const file = join(kernelSpecDir(root), "kernel.json");
  if (!existsSync(file)) return `the ${KERNEL_NAME} kernel (tslab) is not installed in this repository (${file} missing) — run: npx dedup-lab kernel install`;
  let spec: KernelSpec;
  try {
    spec = JSON.parse(readFileSync(file, "utf8")) as KernelSpec;
  } catch {
    return `${file} is not valid JSON — run: npx dedup-lab kernel install`;
  }
  if (JSON.stringify(spec.argv) !== JSON.stringify(kernelSpec(root).argv)) {
    return `${file} points at another checkout or binary — run: npx dedup-lab kernel install`;
  }
  if (!existsSync(tslabBinary(root))) return `${tslabBinary(root)} is missing — run: npm ci`;
  return null;
}

export interface InstallResult {
  dir: string;
  spec: KernelSpec;
  /** `jupyter kernelspec list` confirmed it (null: Jupyter is not installed, so not checked). */
  listed: boolean | null;
}

/** The spec an older dedup-lab wrote as `tslab` into this repository's .jupyter (only if it is ours). */
async function removeOldSpec(root: string): Promise<void> {
  const old = kernelSpecDir(root, OLD_KERNEL_NAME);
  try {
    const spec = JSON.parse(readFileSync(join(old, "kernel.json"), "utf8")) as KernelSpec;
    if (spec.metadata?.["dedup-lab"] !== undefined) await rm(old, { recursive: true, force: true });
  } catch {
    // none there, or not ours: leave it
  }
}

/** Write the kernel spec into <root>/.jupyter and check that Debian's Jupyter sees it. */
export async function installKernel(root = projectRoot()): Promise<InstallResult> {
  const version = tslabVersion(root);
  if (!version) throw new UsageError("tslab is not installed in node_modules", "run: npm ci");
  if (version !== TSLAB_VERSION) throw new UsageError(`tslab ${version} is installed, dedup-lab is tested with ${TSLAB_VERSION} only`, `run: npm install --save-exact tslab@${TSLAB_VERSION}`);
  const dir = kernelSpecDir(root);
  const spec = kernelSpec(root);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
  await removeOldSpec(root);
  let listed: boolean | null = null;
  if (existsSync(SYSTEM_JUPYTER)) {
    const out = execFileSync(SYSTEM_JUPYTER, ["kernelspec", "list", "--json"], { env: jupyterEnv(root), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const specs = (JSON.parse(out) as { kernelspecs: Record<string, { resource_dir: string }> }).kernelspecs;
    listed = specs[KERNEL_NAME]?.resource_dir === dir;
  }
  return { dir, spec, listed };
}
