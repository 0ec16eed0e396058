// Each unit a file in a lab directory: the storage-layer baseline. Point `root` at a ZFS
// or btrfs dataset with dedup on and the allocated blocks show storage-level dedup.
// The contract only: the directory and its files in directory-connection.ts, sizes and
// snapshot in directory-sizes.ts, options and definition in directory-options.ts.
import { execFile } from "node:child_process";
import { readFile, readdir, rm, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SystemError, errorMessage } from "../../errors.js";
import { decodeRecord, type RecordValues } from "../../generators/records.js";
import type { LabNamespace } from "../namespace.js";
import { OK, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { containerDir, freshDirectory, labDirectory, syncDirectory, writeRecordFile, writeUnitFile } from "./directory-connection.js";
import { decodeRecordFile, encodeRecordFile, recordFileName } from "./directory-typed.js";
import type { DirectoryOptions } from "./directory-options.js";
import { readDirectorySizes, readDirectorySnapshot } from "./directory-sizes.js";
import { promisify } from "node:util";

const run = promisify(execFile);

export class DirectorySystem implements LabSystem {
  readonly name = "directory";
  private dir = "";
  private cell?: CellContext;
  /** Typed natural cells: collisions met. */
  private replaced = 0;

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
    this.replaced = 0;
  }

  /** A blob unit's file, or a typed record's: named by its unit id (surrogate) or natural key. */
  private path(u: UnitRef, values: RecordValues = []): string {
    const typed = this.cell?.typed;
    return join(containerDir(this.dir, u.container), typed ? recordFileName(typed.keys, u.id, typed.schema, values, u.sha256) : u.id);
  }

  /** A blob unit's file, or (typed) its record's JSON file under the cell's key: a natural duplicate rewrites it. */
  private async write(u: Unit): Promise<void> {
    const typed = this.cell!.typed;
    const fsync = this.cell!.variant === "fsync";
    if (!typed) return writeUnitFile(this.dir, this.path(u), u.payload, fsync);
    const values = decodeRecord(typed.schema, u.payload);
    const path = this.path(u, values);
    const natural = typed.keys === "natural";
    if (await writeRecordFile(this.dir, path, encodeRecordFile(typed.schema, values), fsync, natural)) this.replaced++;
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    for await (const batch of batches) for (const u of batch) await this.write(u);
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    await this.write(u);
    return OK;
  }

  /**
   * Blob and surrogate cells unlink the unit's own file. Natural cells unlink the record's file
   * under the ref's natural key: a repeat of a record already deleted finds it gone.
   */
  async delete(u: UnitRef): Promise<OpStatus> {
    const fail = (m: string, cause?: unknown) => new SystemError("directory", this.dir, m, cause === undefined ? undefined : { cause });
    const record = this.cell?.typed?.keys === "natural" ? recordOf(u, fail) : undefined;
    const path = this.path(u, record?.values);
    try {
      await unlink(path);
    } catch (e) {
      if (record?.repeatInContainer && (e as NodeJS.ErrnoException).code === "ENOENT") return OK;
      throw fail(errorMessage(e), e);
    }
    if (record?.repeatInContainer) throw fail(`delete of ${u.id}: ${path} was still there, though an earlier unit with the same natural key was deleted`);
    return OK;
  }

  /** Typed cells: record files held, counted by listing every container directory. */
  async storedRecords(): Promise<number | null> {
    if (!this.cell?.typed) return null;
    let n = 0;
    for (let c = 0; c < this.cell.containers; c++) n += (await readdir(containerDir(this.dir, c))).length;
    return n;
  }

  /** Typed cells: every record file, decoded back to the schema's values. */
  async *readRecords(): AsyncIterable<RecordValues> {
    const typed = this.cell?.typed;
    if (!typed) throw new SystemError("directory", this.dir, "readRecords: not a typed cell");
    for (let c = 0; c < this.cell!.containers; c++) {
      const sub = containerDir(this.dir, c);
      for (const name of (await readdir(sub)).sort()) yield decodeRecordFile(typed.schema, await readFile(join(sub, name)));
    }
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
    this.replaced = 0;
  }

  async sizes(): Promise<SizeReading[]> {
    return readDirectorySizes(this.dir);
  }

  async snapshot(): Promise<unknown> {
    const s = (await readDirectorySnapshot(this.dir)) as Record<string, unknown>;
    const typed = this.cell?.typed;
    if (!typed) return s;
    return { ...s, typed: { keys: typed.keys, replaced_duplicates: this.replaced } };
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
