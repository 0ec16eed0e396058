// Apparent vs allocated bytes of files and directory trees (st_size vs st_blocks × 512),
// directories' own blocks included. Allocated blocks are what a file system really spends:
// the storage-physical layer for local systems, and where a ZFS/btrfs dataset with dedup on
// shows its savings. One walk for every reader (systems, the local L3 source, the exporter).
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface BlockUsage {
  apparent: number;
  allocated: number;
  files: number;
}

/** Synchronous on purpose: a scrape walks thousands of files, and sync lstat is ~20× faster than awaiting each. */
export function blockUsageSync(paths: string[]): BlockUsage {
  const total: BlockUsage = { apparent: 0, allocated: 0, files: 0 };
  const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT"; // removed while walking, or not created yet
  const visit = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch (e) {
      if (gone(e)) return;
      throw e;
    }
    total.apparent += st.size;
    total.allocated += st.blocks * 512;
    if (!st.isDirectory()) {
      total.files++;
      return;
    }
    // A directory's own blocks are storage the tree occupies too (1,000 files ≈ 24 KiB of entries).
    let names: string[];
    try {
      names = readdirSync(p);
    } catch (e) {
      if (gone(e)) return;
      throw e;
    }
    for (const name of names) visit(join(p, name));
  };
  for (const p of paths) visit(p);
  return total;
}

export async function blockUsage(paths: string[]): Promise<BlockUsage> {
  return blockUsageSync(paths);
}
