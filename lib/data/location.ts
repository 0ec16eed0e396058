// Where real data lives. Three places, never overlapping:
//   root      — the read-only source tree (local disk or an NFS mount); manifests' `path:`
//               sources are relative to it. The toolkit only ever opens files there for reading.
//   scratch   — the toolkit's own writable directory: downloads, temporary work copies,
//               recorded checksums and the staged units the payload types read.
//   manifests — the data-manifest directory (default: data-manifests/ of the toolkit).
// Resolution order for each: CLI flag, the config file's `data:` block, environment
// (DEDUP_DATA_ROOT, DEDUP_DATA_SCRATCH, DEDUP_DATA_MANIFESTS), default.
import { existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { SHIPPED_MANIFESTS } from "./manifest.js";

/** The `data:` block of a run config. */
export const DataConfigSchema = z
  .object({
    root: z.string().min(1).optional(),
    scratch: z.string().min(1).optional(),
    manifests: z.string().min(1).optional(),
  })
  .strict();
export type DataConfig = z.infer<typeof DataConfigSchema>;

export interface DataLocation {
  /** Absolute; undefined when no data root is configured (URL-only data sets still work). */
  root?: string;
  scratch: string;
  manifests: string;
}

/** Marks a directory as a dedup-lab scratch dir: the only kind `data clean` deletes inside. */
export const SCRATCH_MARKER = ".dedup-lab-scratch";
export const DEFAULT_SCRATCH = join(tmpdir(), "dedup-lab-data");

let configured: DataConfig = {};

/** Set from the run config (lib/runner/config.ts) so payload types find the staged data. */
export function configureDataLocation(config: DataConfig | undefined): void {
  configured = { ...(config ?? {}) };
}

export function dataLocation(flags: DataConfig = {}, env: NodeJS.ProcessEnv = process.env): DataLocation {
  const root = flags.root ?? configured.root ?? env.DEDUP_DATA_ROOT;
  const scratch = flags.scratch ?? configured.scratch ?? env.DEDUP_DATA_SCRATCH ?? DEFAULT_SCRATCH;
  const manifests = flags.manifests ?? configured.manifests ?? env.DEDUP_DATA_MANIFESTS ?? SHIPPED_MANIFESTS;
  return { root: root ? resolve(root) : undefined, scratch: resolve(scratch), manifests: resolve(manifests) };
}

/** Real path of p, or of its nearest existing ancestor plus the rest (p may not exist yet). */
function realish(p: string): string {
  let head = p;
  const tail: string[] = [];
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) break;
    tail.unshift(head.slice(up.length + (up.endsWith(sep) ? 0 : 1)));
    head = up;
  }
  return join(realpathSync(head), ...tail);
}

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith(sep) && rel !== "..");
}

/** The scratch dir must be neither the data root, inside it, nor contain it. */
export function assertSeparate(loc: DataLocation): void {
  if (!loc.root) return;
  const root = realish(loc.root);
  const scratch = realish(loc.scratch);
  if (inside(scratch, root)) {
    throw new UsageError(`scratch directory ${loc.scratch} lies inside the data root ${loc.root}`, "sources are read-only: choose a scratch directory outside the data root (--scratch DIR)");
  }
  if (inside(root, scratch)) {
    throw new UsageError(`data root ${loc.root} lies inside the scratch directory ${loc.scratch}`, "choose a scratch directory that does not contain the data root (--scratch DIR)");
  }
}

/** The scratch directory's layout. Every path the toolkit writes is built here. */
export class Scratch {
  constructor(readonly dir: string) {}

  /** Staged units of one payload type: units.bin, units.idx, index.json. */
  staged(payload: string): string {
    return join(this.dir, "staged", payload);
  }

  downloads(manifest: string): string {
    return join(this.dir, "downloads", manifest);
  }

  download(manifest: string, sourceId: string, fileName: string): string {
    return join(this.downloads(manifest), sourceId, fileName);
  }

  recorded(manifest: string): string {
    return join(this.dir, "recorded", `${manifest}.json`);
  }

  /** Parent of the per-process work dirs (copies of sources, units being written). */
  get work(): string {
    return join(this.dir, "work");
  }

  get isScratch(): boolean {
    return existsSync(join(this.dir, SCRATCH_MARKER));
  }

  /** Create (or adopt an empty) directory as scratch; refuse anything else. */
  ensure(): void {
    if (existsSync(this.dir)) {
      if (this.isScratch) return;
      if (readdirSync(this.dir).length > 0) {
        throw new UsageError(`scratch directory ${this.dir} is not empty and has no ${SCRATCH_MARKER} marker`, "pass --scratch with a new or empty directory");
      }
    }
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, SCRATCH_MARKER), "dedup-lab scratch directory: downloads, work copies, staged units. Safe to delete.\n");
  }
}
