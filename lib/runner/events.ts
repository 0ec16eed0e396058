// Run listeners (progress display, live metrics, event stream) and the one way to call them.
import type { Stage } from "../systems/contract.js";
import type { Cell } from "./matrix.js";

/** Listeners for progress displays, live metrics and event streams. All optional. */
export interface RunEvents {
  runStart?(info: { runId: string; dir: string; cells: number; skipped: number; bytes: number }): void | Promise<void>;
  cellStart?(cell: Cell, index: number, total: number): void | Promise<void>;
  stageStart?(cell: Cell, stage: Stage): void | Promise<void>;
  stageEnd?(cell: Cell, stage: Stage, m: { durationNs: number; bytes: number; units: number; samples: Float64Array }): void | Promise<void>;
  cellEnd?(cell: Cell, record: { status: "done" | "failed"; error?: string; bytes: number }): void | Promise<void>;
  runEnd?(info: { runId: string; dir: string; done: number; failed: number; interrupted: boolean }): void | Promise<void>;
  log?(line: string): void;
}

export async function emit<K extends keyof RunEvents>(events: RunEvents[], name: K, ...args: Parameters<NonNullable<RunEvents[K]>>): Promise<void> {
  for (const e of events) await (e[name] as ((...a: unknown[]) => unknown) | undefined)?.apply(e, args);
}
