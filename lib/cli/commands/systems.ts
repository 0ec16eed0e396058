// `dedup-lab systems`: what can be measured, with variants and maintenance operations.
import type { Command } from "commander";
import { loadSystems, systemDefinition, systemNames } from "../../systems/registry.js";

export function registerSystems(program: Command): void {
  program
    .command("systems")
    .description("list systems with their variants, maintenance operations and size layers")
    .action(async () => {
      await loadSystems();
      for (const name of systemNames()) {
        const d = systemDefinition(name);
        const c = d.capabilities;
        process.stdout.write(`${name}${c.embedded ? " (embedded)" : ""} — ${d.description}\n`);
        for (const [v, text] of Object.entries(c.variants)) process.stdout.write(`  variant ${v}: ${text}\n`);
        for (const [m, text] of Object.entries(c.maintenance)) process.stdout.write(`  maintenance ${m}: ${text}\n`);
        process.stdout.write(`  layers: ${c.layers.join(", ")}; stages: ${c.stages.join(", ")}\n`);
      }
    });
}
