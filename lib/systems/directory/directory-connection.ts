// "Connecting" to a directory: where a cell's lab directory lives, its container
// subdirectories, and writing / syncing unit files.
import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SystemError, errorMessage } from "../../errors.js";

/** `<root or workDir>/<lab object name>`; the root as the endpoint names it. */
export function directoryEndpoint(root: string | undefined): string {
  return root ? resolve(root) : "cell work directory";
}

export function labDirectory(root: string | undefined, workDir: string, labObjectName: string): string {
  return join(resolve(root ?? workDir), labObjectName);
}

export function containerDir(dir: string, container: number): string {
  return join(dir, `c${container}`);
}

/** An empty lab directory with one subdirectory per container. */
export async function freshDirectory(dir: string, containers: number): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (let c = 0; c < containers; c++) await mkdir(containerDir(dir, c), { recursive: true });
}

/** Create `path` (never overwrite) with `payload`, fsync'ed before close when asked. */
export async function writeUnitFile(dir: string, path: string, payload: Buffer, fsync: boolean): Promise<void> {
  try {
    const fh = await open(path, "wx");
    try {
      await fh.write(payload, 0, payload.length, 0);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new SystemError("directory", dir, errorMessage(e), { cause: e });
  }
}

/**
 * Typed cells: write a record file. Created with O_EXCL; when `replace` is set and the file exists
 * (a natural-key duplicate) it is rewritten instead. Returns true when an existing file was replaced.
 */
export async function writeRecordFile(dir: string, path: string, content: Buffer, fsync: boolean, replace: boolean): Promise<boolean> {
  let replaced = false;
  try {
    let fh;
    try {
      fh = await open(path, "wx");
    } catch (e) {
      if (!replace || (e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      fh = await open(path, "w");
      replaced = true;
    }
    try {
      await fh.write(content, 0, content.length, 0);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new SystemError("directory", dir, errorMessage(e), { cause: e });
  }
  return replaced;
}

/** fsync every file of a container directory, then the directory itself. */
export async function syncDirectory(sub: string): Promise<void> {
  for (const name of await readdir(sub)) {
    const fh = await open(join(sub, name), "r");
    await fh.sync().finally(() => fh.close());
  }
  const dh = await open(sub, "r");
  await dh.sync().finally(() => dh.close());
}
