// `dedup-lab cleanup`: drop everything of the lab namespace in each configured system, under the
// same domain locks a run takes (refused while a live run holds one; --force breaks a gone holder's).
import type { Command } from "commander";
import { cleanupLab } from "../../runner/cleanup.js";
import { loadConfig } from "../../runner/config.js";
import { describeHolder } from "../../runner/lock.js";

export function registerCleanup(program: Command): void {
  program
    .command("cleanup")
    .description("drop the lab namespace (schema/database dedup_lab, keys dedup:*, topics and buckets dedup-lab-*) in each system")
    .option("--config <file>", "config naming the systems and endpoints")
    .option("--systems <list>", "comma-separated systems")
    .option("--force", "break a lock whose holder is gone (a killed run); a live run's lock is never broken")
    .action(async (o: { config?: string; systems?: string; force?: boolean }) => {
      const cfg = await loadConfig(o.config, { systems: o.systems ? [o.systems] : undefined });
      const { outcomes, broken, workDirs } = await cleanupLab(cfg, { force: o.force });
      for (const h of broken) process.stderr.write(`dedup-lab: broke the stale lock of ${describeHolder(h)} on ${h.domain}\n`);
      for (const x of outcomes) process.stdout.write(`${x.system} @ ${x.endpoint}: ${x.error ?? "lab namespace removed"}\n`);
      if (workDirs.removed.length) process.stdout.write(`work directories of dead runs removed: ${workDirs.removed.length}\n`);
      for (const f of workDirs.failed) process.stderr.write(`dedup-lab: work directory left in place: ${f}\n`);
      if (outcomes.some((x) => x.error !== null) || workDirs.failed.length) process.exitCode = 1;
    });
}
