// Where the project and its own Jupyter prefix live. The CLI runs from dist/, tests from
// lib/ (tsx): both sit one level below the project root.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: the nearest ancestor of this module with a package.json. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "node_modules"))) return dir;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

/** Debian's Jupyter, named explicitly: `python3` on PATH may be a pyenv interpreter without it. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
export const SYSTEM_JUPYTER = "/usr/bin/jupyter";

/**
 * The kernel's own name (tslab inside): distinct from `tslab`, so it never collides with (or is
 * shadowed by) a tslab kernel the user installed globally with `tslab install`.
 */
export const KERNEL_NAME = "dedup-lab";
export const KERNEL_DISPLAY_NAME = "TypeScript (dedup-lab)";
/** The name this repository's kernel spec had before; `kernel install` removes that old spec from .jupyter. */
export const OLD_KERNEL_NAME = "tslab";

/** The repository's own Jupyter prefix (git-ignored). */
export function jupyterPrefix(root = projectRoot()): string {
  return join(root, ".jupyter");
}

export function kernelSpecDir(root = projectRoot(), name = KERNEL_NAME): string {
  return join(jupyterPrefix(root), "share", "jupyter", "kernels", name);
}

/** Environment that points Jupyter at the repo's prefix only (no user config, no stray kernels dirs). */
export function jupyterEnv(root = projectRoot(), base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const prefix = jupyterPrefix(root);
  return {
    ...base,
    JUPYTER_PATH: join(prefix, "share", "jupyter"),
    JUPYTER_DATA_DIR: join(prefix, "data"),
    JUPYTER_RUNTIME_DIR: join(prefix, "runtime"),
    JUPYTER_CONFIG_DIR: join(prefix, "config"),
    // Silences pydevd's "frozen modules" warning on Debian's Python 3.11.
    PYDEVD_DISABLE_FILE_VALIDATION: "1",
  };
}
