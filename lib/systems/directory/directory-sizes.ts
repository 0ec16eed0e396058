// Size readings and the snapshot of a cell's lab directory: apparent bytes of the files (L1)
// and the blocks they occupy (L2).
import { blockUsage } from "../../fs-blocks.js";
import type { SizeReading } from "../contract.js";

export async function readDirectorySizes(dir: string): Promise<SizeReading[]> {
  const u = await blockUsage([dir]);
  return [
    { layer: "L1", metric: "apparent_bytes", bytes: u.apparent, primary: true },
    { layer: "L2", metric: "allocated_bytes", bytes: u.allocated, primary: true },
  ];
}

export async function readDirectorySnapshot(dir: string): Promise<unknown> {
  const u = await blockUsage([dir]);
  return { dir, files: u.files, apparent_bytes: u.apparent, allocated_bytes: u.allocated };
}
