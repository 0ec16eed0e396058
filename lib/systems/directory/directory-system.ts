// Each unit a file in a lab directory: the storage-layer baseline. Point `root` at a ZFS
// or btrfs dataset with dedup on and the allocated blocks show storage-level dedup.
import { mkdir, open, rm, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";

const options = z
  .object({
    /** Where lab directories are created; default: the cell's work directory. */
    root: z.string().optional(),
  })
  .strict();
type Options = z.infer<typeof options>;

const capabilities = {
  variants: { default: "one file per unit, written with write() + close()", fsync: "fsync every file before close" },
  maintenance: { sync: "fsync every file and directory" },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: true,
} satisfies SystemDefinition["capabilities"];

class DirectorySystem implements LabSystem {
  readonly name = "directory";
  readonly capabilities = capabilities;
  private dir = "";
  private cell?: CellContext;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: Options,
  ) {}

  async connect(): Promise<void> {}
  async close(): Promise<void> {}

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    this.dir = join(resolve(this.options.root ?? cell.workDir), this.lab.objectName(cell.cellKey));
    await rm(this.dir, { recursive: true, force: true });
    await this.createContainers();
  }

  private async createContainers(): Promise<void> {
    for (let c = 0; c < this.cell!.containers; c++) await mkdir(join(this.dir, `c${c}`), { recursive: true });
  }

  private path(u: UnitRef): string {
    return join(this.dir, `c${u.container}`, u.id);
  }

  private async write(u: Unit): Promise<void> {
    try {
      const fh = await open(this.path(u), "wx");
      try {
        await fh.write(u.payload, 0, u.payload.length, 0);
        if (this.cell!.variant === "fsync") await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw new SystemError("directory", this.dir, errorMessage(e), { cause: e });
    }
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    for await (const batch of batches) for (const u of batch) await this.write(u);
  }

  insert(u: Unit): Promise<void> {
    return this.write(u);
  }

  async delete(u: UnitRef): Promise<void> {
    await unlink(this.path(u));
  }

  async maintenance(name: string): Promise<void> {
    if (name !== "sync") throw new SystemError("directory", this.dir, `unknown maintenance "${name}"`);
    const { readdir } = await import("node:fs/promises");
    for (let c = 0; c < this.cell!.containers; c++) {
      const sub = join(this.dir, `c${c}`);
      for (const name of await readdir(sub)) {
        const fh = await open(join(sub, name), "r");
        await fh.sync().finally(() => fh.close());
      }
      const dh = await open(sub, "r");
      await dh.sync().finally(() => dh.close());
    }
  }

  async reset(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await this.createContainers();
  }

  async sizes(): Promise<SizeReading[]> {
    const u = await blockUsage([this.dir]);
    return [
      { layer: "L1", metric: "apparent_bytes", bytes: u.apparent, primary: true },
      { layer: "L2", metric: "allocated_bytes", bytes: u.allocated, primary: true },
    ];
  }

  async snapshot(): Promise<unknown> {
    const u = await blockUsage([this.dir]);
    return { dir: this.dir, files: u.files, apparent_bytes: u.apparent, allocated_bytes: u.allocated };
  }

  async cleanup(): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  storagePaths(): string[] {
    return this.dir ? [this.dir] : [];
  }
}

export const directoryDefinition: SystemDefinition<Options> = {
  name: "directory",
  description: "one file per unit in a lab directory: the storage-layer baseline",
  capabilities,
  options,
  endpoint: (o) => (o.root ? resolve(o.root) : "cell work directory"),
  create: (o, lab) => new DirectorySystem(lab, o),
};
