// The only place that knows argv, TTY and exit codes. Exit status: 0 ok, 1 a cell or
// check failed, 2 bad input (nothing written), 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM.
import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { describeError } from "../errors.js";
import { registerCleanup } from "./commands/cleanup.js";
import { registerData } from "./commands/data.js";
import { registerDatasets } from "./commands/datasets.js";
import { registerReport } from "./commands/report.js";
import { registerRun } from "./commands/run.js";
import { registerSystems } from "./commands/systems.js";
import { registerKernel } from "./commands/kernel.js";
import { registerNb } from "./commands/nb.js";
import { registerFigures } from "./commands/figures.js";
import { registerTables } from "./commands/tables.js";
import { registerLab } from "./commands/lab.js";
import { registerK8s } from "./commands/k8s.js";
import { registerMerge } from "./commands/merge.js";

/** This package's version (package.json sits two levels above lib/cli and dist/cli). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command("dedup-lab")
    .description("Where does deduplication happen — in the database, in the storage layer, or nowhere?")
    .version(packageVersion(), "-V, --version", "print the dedup-lab version and exit")
    .exitOverride()
    // Commander's own errors ("unknown option", "missing argument") follow the one-line convention too.
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`dedup-lab: ${s.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim()} — see --help\n`),
    });
  registerRun(program);
  registerDatasets(program);
  registerData(program);
  registerReport(program);
  registerCleanup(program);
  registerSystems(program);
  registerKernel(program);
  registerNb(program);
  registerFigures(program);
  registerTables(program);
  registerLab(program);
  registerK8s(program);
  registerMerge(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return 2;
    }
    // The one error path: whatever was thrown becomes one line and an exit status (lib/errors.ts).
    const { line, status } = describeError(e);
    process.stderr.write(`dedup-lab: ${line}\n`);
    if (process.env.DEDUP_LAB_DEBUG) console.error(e);
    return status;
  }
}
