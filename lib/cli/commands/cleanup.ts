// `dedup-lab cleanup`: drop everything of the lab namespace in each configured system.
// Idempotent; touches nothing outside the lab namespace.
import type { Command } from "commander";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { errorMessage } from "../../errors.js";
import { loadConfig } from "../../runner/config.js";
import { systemDefinition } from "../../systems/registry.js";

/** Only the runner's per-cell work directories (`<prefix>-lab-c<10 hex>-XXXXXX`), nothing else that shares the prefix. */
export function isCellWorkDir(name: string, objectPrefix: string): boolean {
  return name.startsWith(objectPrefix) && /^c[0-9a-f]{10}-[A-Za-z0-9]{6}$/.test(name.slice(objectPrefix.length));
}

export function registerCleanup(program: Command): void {
  program
    .command("cleanup")
    .description("drop the lab namespace (schema/database dedup_lab, keys dedup:*, topics and buckets dedup-lab-*) in each system")
    .option("--config <file>", "config naming the systems and endpoints")
    .option("--systems <list>", "comma-separated systems")
    .action(async (o: { config?: string; systems?: string }) => {
      const cfg = await loadConfig(o.config, { systems: o.systems ? [o.systems] : undefined });
      let failed = 0;
      for (const s of cfg.systems) {
        const system = systemDefinition(s.name).create(s.options, cfg.lab);
        try {
          await system.connect();
          await system.cleanup();
          process.stdout.write(`${s.name} @ ${s.endpoint}: lab namespace removed\n`);
        } catch (e) {
          failed++;
          process.stdout.write(`${s.name} @ ${s.endpoint}: ${errorMessage(e)}\n`);
        } finally {
          await system.close().catch(() => {});
        }
      }
      // Per-cell work directories of embedded systems left by a killed run.
      const root = resolve(cfg.workDir ?? tmpdir());
      for (const name of await readdir(root).catch(() => [] as string[])) {
        if (isCellWorkDir(name, cfg.lab.objectPrefix)) await rm(join(root, name), { recursive: true, force: true });
      }
      if (failed) process.exitCode = 1;
    });
}
