// The dry run: everything a run would do, computed from the config alone. It creates no
// system object, opens no connection and writes nothing (tested by watching sockets). Memory and
// time are flat in the number of units: synthetic cells are planned in closed form (planCell).
import { formatBytes } from "../bytes.js";
import { payloadType } from "../generators/payloads.js";
import { systemDefinition } from "../systems/registry.js";
import type { RunConfig } from "./config.js";
import { expandMatrix, insertionLabel, planCell, type CellPlan } from "./matrix.js";

export interface RunPlan {
  cells: CellPlan[];
  bytes: number;
  operations: number;
  estimateSeconds: number;
  endpoints: Record<string, string>;
  /** Stages per cell (for the per-cell estimate, cellEstimateSeconds). */
  stages: number;
  /** Synthetic units with a size range: bytes are expected values (exact once generated, in the manifest). */
  expected: boolean;
}

// Rough rates for the estimate only (2-core machine, local servers): bulk B/s, seconds per unit
// operation, and the fixed cost of a cell and of each of its stages — volume trims, settling and
// size readings before and after, which dominate small cells. Measured 2026-11-30: the default
// embedded job (45 cells × 4 stages, 100 units of 16 KiB) took 124 s, ≈ 2.7 s a cell; PostgreSQL,
// Redis and MariaDB cells of 16 units took ≈ 4–8 s with the bulk insert alone, ≈ 8–16 s with all four stages.
const RATES = {
  embedded: { bulk: 150e6, op: 0.0005, cell: 0.5, stage: 0.5 },
  server: { bulk: 60e6, op: 0.003, cell: 2, stage: 2.5 },
};

/** The rough duration of one cell of `stages` stages (seconds): the unit shard planning balances. */
export function cellEstimateSeconds(c: CellPlan, stages: number): number {
  const r = systemDefinition(c.cell.system.name).capabilities.embedded ? RATES.embedded : RATES.server;
  return r.cell + stages * r.stage + c.bytesWritten / r.bulk + c.operations * r.op;
}

/** The plan of the whole matrix, or of the cells `only` keeps (one shard: totals and endpoints are that subset's). */
export function planRun(cfg: RunConfig, only?: (cellId: string) => boolean): RunPlan {
  const cells = expandMatrix(cfg, "plan").filter((c) => !only || only(c.id)).map((c) => planCell(c, cfg));
  const estimate = cells.reduce((a, c) => a + cellEstimateSeconds(c, cfg.stages.length), 0);
  const systems = only ? cfg.systems.filter((s) => cells.some((c) => c.cell.system.name === s.name)) : cfg.systems;
  return {
    cells,
    bytes: cells.reduce((a, c) => a + c.bytesWritten, 0),
    operations: cells.reduce((a, c) => a + c.operations, 0),
    estimateSeconds: estimate,
    stages: cfg.stages.length,
    endpoints: Object.fromEntries(systems.map((s) => [s.name, s.endpoint])),
    expected: cfg.unitSize.min !== cfg.unitSize.max && cfg.payloads.some((p) => payloadType(p).kind === "synthetic"),
  };
}

export function formatPlan(plan: RunPlan): string {
  const width = Math.max(60, ...plan.cells.map((c) => c.cell.id.length)); // typed ids are longer (…typed-natural.rN)
  const lines = plan.cells.map((c) => `  ${c.cell.id.padEnd(width)} ${insertionLabel(c.cell.insertion, c.cell.keys ?? "").padEnd(15)} ${formatBytes(c.bytesWritten).padStart(10)}  ideal ${c.idealRatio.toFixed(2)}`);
  const mins = plan.estimateSeconds / 60;
  return [
    `dry run — nothing was opened or written`,
    `cells (${plan.cells.length}):`,
    ...lines,
    `systems: ${Object.entries(plan.endpoints).map(([n, e]) => `${n} @ ${e}`).join(", ")}`,
    plan.expected
      ? `bytes to write: ≈ ${formatBytes(plan.bytes)} (≈ ${Math.round(plan.bytes)} B, expected: unit sizes are drawn from a range); unit operations: ${plan.operations}`
      : `bytes to write: ${formatBytes(plan.bytes)} (${plan.bytes} B); unit operations: ${plan.operations}`,
    `rough duration: ${mins >= 1 ? `${mins.toFixed(1)} min` : `${plan.estimateSeconds.toFixed(0)} s`} (an estimate, not a promise)`,
  ].join("\n");
}
