// Each unit a file in a lab directory: the storage-layer baseline. Point `root` at a ZFS
// or btrfs dataset with dedup on and the allocated blocks show storage-level dedup.
// The contract only: the directory and its files in directory-connection.ts, sizes and
// snapshot in directory-sizes.ts, options and definition in directory-options.ts.
import { execFile } from "node:child_process";
import { readdir, rm, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SystemError } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import { OK, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { containerDir, freshDirectory, labDirectory, syncDirectory, writeUnitFile } from "./directory-connection.js";
import type { DirectoryOptions } from "./directory-options.js";
import { readDirectorySizes, readDirectorySnapshot } from "./directory-sizes.js";
import { promisify } from "node:util";

const run = promisify(execFile);

export class DirectorySystem implements LabSystem {
  readonly name = "directory";
  private dir = "";
  private cell?: CellContext;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: DirectoryOptions,
    readonly capabilities: Capabilities,
  ) {}

  async connect(): Promise<void> {}
  async close(): Promise<void> {}

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    this.dir = labDirectory(this.options.root, cell.workDir, this.lab.objectName(cell.cellKey));
    await freshDirectory(this.dir, cell.containers);
  }

  private path(u: UnitRef): string {
    return join(containerDir(this.dir, u.container), u.id);
  }

  private write(u: Unit): Promise<void> {
    return writeUnitFile(this.dir, this.path(u), u.payload, this.cell!.variant === "fsync");
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    for await (const batch of batches) for (const u of batch) await this.write(u);
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    await this.write(u);
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    await unlink(this.path(u));
    return OK;
  }

  /** Nothing to wait for: file sizes and allocated blocks (delayed allocation included) are visible as soon as a write returns. */
  async settle(): Promise<OpStatus> {
    // Written files are in its sizes at once, but the storage below sees them only when they
    // are flushed: one syncfs of the filesystem (`sync -f`), so an L3 read from outside (a volume
    // image, Prometheus) is current. Not an fsync per file: on btrfs each one writes a log tree,
    // metadata that would then show up in L3 as if the files had cost it.
    if (this.dir) await run("sync", ["-f", this.dir]).catch(() => {});
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name !== "sync") throw new SystemError("directory", this.dir, `unknown maintenance "${name}"`);
    for (let c = 0; c < this.cell!.containers; c++) await syncDirectory(containerDir(this.dir, c));
    return OK;
  }

  async reset(): Promise<void> {
    await freshDirectory(this.dir, this.cell!.containers);
  }

  async sizes(): Promise<SizeReading[]> {
    return readDirectorySizes(this.dir);
  }

  async snapshot(): Promise<unknown> {
    return readDirectorySnapshot(this.dir);
  }

  async cleanup(scope?: string): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    // Under a shared root: the scope's directories (a cell key or a run token), or every lab directory.
    // Without a root, each cell's directory lives in its own work directory, which the runner removes.
    if (!this.options.root) return;
    const own = scope ? this.lab.objectName(scope) : this.lab.objectPrefix;
    const names = await readdir(resolve(this.options.root)).catch(() => [] as string[]);
    for (const n of names) if (this.lab.isLabObject(n) && n.startsWith(own)) await rm(join(resolve(this.options.root), n), { recursive: true, force: true });
  }

  storagePaths(): string[] {
    return this.dir ? [this.dir] : [];
  }
}
