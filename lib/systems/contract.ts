// The one contract every system under test implements (YCSB's DB, Kysely's Dialect).
// A connector only talks to its system: it never times itself, knows nothing of the
// matrix, and only ever touches names it gets from the LabNamespace it is handed.
import type { z } from "zod";
import type { Unit, UnitRef } from "../generators/unit.js";
import type { LabNamespace } from "./namespace.js";

export type { Unit, UnitRef };

export type SizeLayer = "L1" | "L2";

/** One size the system reports about itself. `bytes: null` means unavailable, never 0. */
export interface SizeReading {
  layer: SizeLayer;
  /** Source name, e.g. "pg_total_relation_size", "allocated_bytes". */
  metric: string;
  bytes: number | null;
  /** The reading that stands for its layer in EDR tables and figures. One per layer. */
  primary?: boolean;
  /** Why the value is null or degraded (missing extension, old server version, …). */
  reason?: string;
}

export interface Capabilities {
  /** Storage/engine variants, name → one-line description. The first one is the default. */
  variants: Record<string, string>;
  /** Maintenance operations, name → description. The first one is the default. */
  maintenance: Record<string, string>;
  /** Size layers this system can report itself. */
  layers: SizeLayer[];
  /** Stages the system supports; stages not listed are recorded as not_implemented. */
  stages: Stage[];
  /** True for systems that need no server (the zero-server default). */
  embedded: boolean;
  /** Application-level replication factor the data is stored with (R's first factor). */
  appReplicas?: number;
}

export const STAGES = ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"] as const;
export type Stage = (typeof STAGES)[number];

/** Everything a connector learns about the cell it runs in. */
export interface CellContext {
  lab: LabNamespace;
  /** Short, name-safe id of the matrix cell; connectors use it for per-cell topics, buckets, tables. */
  cellKey: string;
  variant: string;
  /** Number of containers the placement spreads units over (1 for `within`). */
  containers: number;
  /** A fresh directory for this cell, for systems that keep files locally. */
  workDir: string;
  log(message: string): void;
}

/**
 * What an operation did, in YCSB's manner: done, or not implemented on this system (with a
 * one-line note saying why, e.g. "the PostgreSQL stand-in has no CockroachDB GC"). The timing
 * wrapper records a non-ok result under its own name; it is never a valid 0 s measurement.
 */
export type OpStatus = { code: "ok" } | { code: "not_implemented"; note: string };
export const OK: OpStatus = Object.freeze({ code: "ok" });
export function notImplemented(note: string): OpStatus {
  return { code: "not_implemented", note };
}

export interface LabSystem {
  readonly name: string;
  readonly capabilities: Capabilities;
  /** Open connections. Must fail with a LabError naming system and endpoint. */
  connect(): Promise<void>;
  close(): Promise<void>;
  /** Create the lab objects for one cell (idempotent: drops leftovers of the same cell first). */
  prepare(cell: CellContext): Promise<void>;
  /** Write a stream of units as the system's native bulk path does. */
  bulkInsert(units: AsyncIterable<Unit[]>): Promise<OpStatus | void>;
  insert(unit: Unit): Promise<OpStatus | void>;
  delete(unit: UnitRef): Promise<OpStatus | void>;
  maintenance(name: string): Promise<OpStatus | void>;
  /** Empty the cell's lab objects (between the bulk stage and the per-unit stages). */
  reset(): Promise<void>;
  sizes(): Promise<SizeReading[]>;
  /** Raw, JSON-serialisable internal statistics; stored as-is in the bundle. */
  snapshot(): Promise<unknown>;
  /** Drop everything of the lab namespace this system holds. Idempotent; never touches other objects. */
  cleanup(): Promise<void>;
  /** Local files/directories holding this system's data, for storage-physical (L3) readings from outside. */
  storagePaths?(): string[];
}

/** Registry entry: one per system folder. */
export interface SystemDefinition<O = unknown> {
  name: string;
  description: string;
  capabilities: Capabilities;
  /** Validates this system's block of the config (endpoint, credentials env names, …). */
  options: z.ZodType<O>;
  /**
   * Names the config asks this system to use, checked against the lab namespace before
   * anything connects (e.g. a schema or database name). Return a one-line problem, or null.
   */
  checkNamespace?(options: O, lab: LabNamespace): string | null;
  /** Human-readable endpoint for error messages and the plan (never includes secrets). */
  endpoint(options: O): string;
  create(options: O, lab: LabNamespace): LabSystem;
}
