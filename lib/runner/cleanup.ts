// Drop everything of the lab namespace in each configured system, and the per-cell work
// directories a killed run left behind. Idempotent; touches nothing outside the lab namespace.
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { errorMessage } from "../errors.js";
import type { RunConfig } from "./config.js";
import { systemDefinition } from "../systems/registry.js";

/**
 * Only the runner's per-cell work directories (`<prefix>-lab-<cell key>-XXXXXX`, the cell key
 * `r<8 hex>c<10 hex>` — or `c<10 hex>` from before run tokens), nothing else that shares the prefix.
 */
export function isCellWorkDir(name: string, objectPrefix: string): boolean {
  return name.startsWith(objectPrefix) && /^(r[0-9a-f]{8})?c[0-9a-f]{10}-[A-Za-z0-9]{6}$/.test(name.slice(objectPrefix.length));
}

export interface CleanupOutcome {
  system: string;
  endpoint: string;
  /** null when the lab namespace was removed. */
  error: string | null;
}

export async function cleanupLab(cfg: RunConfig): Promise<CleanupOutcome[]> {
  const outcomes: CleanupOutcome[] = [];
  for (const s of cfg.systems) {
    const system = systemDefinition(s.name).create(s.options, cfg.lab);
    try {
      await system.connect();
      await system.cleanup();
      outcomes.push({ system: s.name, endpoint: s.endpoint, error: null });
    } catch (e) {
      outcomes.push({ system: s.name, endpoint: s.endpoint, error: errorMessage(e) });
    } finally {
      await system.close().catch(() => {});
    }
  }
  const root = resolve(cfg.workDir ?? tmpdir());
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (isCellWorkDir(name, cfg.lab.objectPrefix)) await rm(join(root, name), { recursive: true, force: true });
  }
  return outcomes;
}
