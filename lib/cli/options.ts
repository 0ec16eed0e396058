// Matrix flags shared by `run` and `plan`, and the CLI's signal conventions.
import type { Command } from "commander";
import { constants } from "node:os";
import { UsageError } from "../errors.js";
import { MAX_REPEATS, MAX_UNITS, type ConfigOverrides } from "../runner/config.js";

export function matrixFlags(cmd: Command): Command {
  return cmd
    .option("--config <file>", "YAML or JSON config (see examples/)")
    .option("--systems <list>", "comma-separated systems (default: sqlite,duckdb,directory)")
    .option("--payloads <list>", "comma-separated payload types")
    .option("--grades <list>", "duplicate grades: U0,U50,U90,U95,U99 or fractions like 0.3")
    .option("--granularities <list>", "file and/or block")
    .option("--placements <list>", "within and/or across")
    .option("--insertion <mode>", "blob (default), typed (one record per unit in typed columns) or both")
    .option("--keys <mode>", "typed cells' keys: surrogate (default), natural (duplicates collide) or both")
    .option("--stages <list>", "bulk_insert,perfile_insert,perfile_delete,maintenance")
    .option("--units <n>", "units per dataset", (v) => wholeNumberArg(v, "--units", MAX_UNITS, 100))
    .option("--unit-size <size>", "unit size, e.g. 16KiB or a range 4KiB..1MiB")
    .option("--block-size <size>", "block size for block granularity (default 4KiB)")
    .option("--repeats <n>", "repeats per cell", (v) => wholeNumberArg(v, "--repeats", MAX_REPEATS, 3))
    .option("--seed <seed>", "base seed (default 1)")
    .option("--lab-prefix <prefix>", "lab prefix every object name derives from (default dedup)");
}

/** A whole number in [1, max], or a one-line error that echoes the value as typed (never "NaN"). */
export function wholeNumberArg(v: string, flag: string, max: number, example: number): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= max)) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max} (got "${v}")`, `pass ${flag} ${example}`);
  }
  return n;
}

export interface MatrixFlagValues {
  config?: string;
  systems?: string;
  payloads?: string;
  grades?: string;
  granularities?: string;
  placements?: string;
  insertion?: string;
  keys?: string;
  stages?: string;
  units?: number;
  unitSize?: string;
  blockSize?: string;
  repeats?: number;
  seed?: string;
  labPrefix?: string;
}

export function overridesFrom(o: MatrixFlagValues): ConfigOverrides {
  const list = (s?: string) => (s === undefined ? undefined : [s]);
  return {
    systems: list(o.systems), payloads: list(o.payloads), grades: list(o.grades), granularities: list(o.granularities),
    placements: list(o.placements), insertion: o.insertion, keys: o.keys, stages: list(o.stages), units: o.units, unitSize: o.unitSize, blockSize: o.blockSize,
    repeats: o.repeats, seed: o.seed, labPrefix: o.labPrefix,
  };
}

/** The exit status of a command stopped by `sig`, as shells report it: 128 + the signal number (SIGINT 130, SIGTERM 143). */
export function signalExitStatus(sig: NodeJS.Signals): number {
  return 128 + constants.signals[sig];
}
