// `dedup-lab cleanup`: drop everything of the lab namespace in each configured system.
import type { Command } from "commander";
import { cleanupLab } from "../../runner/cleanup.js";
import { loadConfig } from "../../runner/config.js";

export function registerCleanup(program: Command): void {
  program
    .command("cleanup")
    .description("drop the lab namespace (schema/database dedup_lab, keys dedup:*, topics and buckets dedup-lab-*) in each system")
    .option("--config <file>", "config naming the systems and endpoints")
    .option("--systems <list>", "comma-separated systems")
    .action(async (o: { config?: string; systems?: string }) => {
      const cfg = await loadConfig(o.config, { systems: o.systems ? [o.systems] : undefined });
      const outcomes = await cleanupLab(cfg);
      for (const o of outcomes) process.stdout.write(`${o.system} @ ${o.endpoint}: ${o.error ?? "lab namespace removed"}\n`);
      if (outcomes.some((o) => o.error !== null)) process.exitCode = 1;
    });
}
