// The one contract every system under test implements (YCSB's DB, Kysely's Dialect).
// A connector only talks to its system: it never times itself, knows nothing of the
// matrix, and only ever touches names it gets from the LabNamespace it is handed.
import type { z } from "zod";
import type { RecordSchema, RecordValues } from "../generators/records.js";
import type { RecordRef, Unit, UnitRef } from "../generators/unit.js";
import type { LabNamespace } from "./namespace.js";

export type { RecordRef, Unit, UnitRef, RecordSchema, RecordValues };

/**
 * How a typed cell keys its records. surrogate: every record gets its own id (the unit id), so every
 * duplicate is stored. natural: the record's own key (naturalKey: its key field, else its content
 * digest), so a duplicate collides with its original and the system rejects or replaces it.
 */
export const KEY_MODES = ["surrogate", "natural"] as const;
export type KeyMode = (typeof KEY_MODES)[number];

/** A typed cell: units are records of `schema`, their payloads the canonical encoding (decodeRecord). */
export interface TypedCell {
  schema: RecordSchema;
  keys: KeyMode;
}

/**
 * What the system does when a natural key meets a stored one: rejected (a unique constraint refuses
 * it: ON CONFLICT DO NOTHING, INSERT IGNORE), replaced (the new value overwrites: HSET, PUT, file
 * rewrite, ReplacingMergeTree/compaction once settled), or kept (the key is not unique: both stay).
 */
export type CollisionBehaviour = "rejected" | "replaced" | "kept";

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

/**
 * What a system can do. Declared statically by its SystemDefinition (what the connector does
 * on a capable server: config validation, `plan` and `systems` read these without connecting),
 * and resolved by the instance: `LabSystem.capabilities` starts as the declared ones and, once
 * connect() has returned, reflects what that server offers. Where a server cannot honour a
 * variant, the resolved description says what really runs instead (ClickHouse < 19.1 has no
 * per-column CODEC, so its `*_zstd` variants say they store with the server's default codec),
 * and the same degradation is recorded in snapshots and size reasons. The runner reads the
 * instance's capabilities only after connect(); a stage missing from `stages` is recorded as
 * not implemented, and an operation may also answer notImplemented(note) itself.
 */
export interface Capabilities {
  /** Storage/engine variants, name → one-line description. The first one is the default. */
  variants: Record<string, string>;
  /** Maintenance operations, name → description. The first one is the default. */
  maintenance: Record<string, string>;
  /** Size layers this system can report itself. */
  layers: SizeLayer[];
  /** Stages the system supports; stages not listed are recorded as not_implemented. */
  stages: Stage[];
  /** True for systems that need no server (the zero-server default); from the registry line. */
  embedded: boolean;
  /** Application-level replication factor the data is stored with (R's first factor). */
  appReplicas?: number;
  /**
   * Typed insertion (absent: blob only). `collision` is what a natural-key duplicate meets; `mapping`
   * one line naming the typed layout (the README's mapping table), e.g. "table: uuid, text, jsonb, …".
   * `collision` may depend on the cell's variant (ClickHouse MergeTree keeps, ReplacingMergeTree
   * replaces; a Kafka delete topic keeps, a compacted one replaces): read it after prepare().
   */
  typed?: { collision: CollisionBehaviour; mapping: string };
}

export const STAGES = ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"] as const;
export type Stage = (typeof STAGES)[number];

/** Everything a connector learns about the cell it runs in. */
export interface CellContext {
  lab: LabNamespace;
  /** Short, name-safe id of the matrix cell, starting with the run's token; every per-cell topic, bucket, table, key or directory carries it. */
  cellKey: string;
  variant: string;
  /** Number of containers the placement spreads units over (1 for `within`). */
  containers: number;
  /** A fresh directory for this cell, for systems that keep files locally. */
  workDir: string;
  /** Present for typed cells: prepare() creates the typed layout, and every unit is one record. */
  typed?: TypedCell;
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

/** A typed delete ref's record, or the error `fail` makes of a one-line message naming what is missing. */
export function recordOf(u: UnitRef, fail: (message: string) => Error): RecordRef {
  if (!u.record) throw fail(`delete of ${u.id}: the ref carries no record (typed cells delete by Dataset.refs(), whose refs carry each unit's record)`);
  return u.record;
}

export interface LabSystem {
  readonly name: string;
  /** Declared capabilities before connect(), the server's resolved ones after it (see Capabilities). */
  readonly capabilities: Capabilities;
  /** Open connections and resolve capabilities. Must fail with a SystemError naming system and endpoint. */
  connect(): Promise<void>;
  close(): Promise<void>;
  /** Create the lab objects for one cell (idempotent: drops leftovers of the same cell first, and only those). */
  prepare(cell: CellContext): Promise<void>;
  /** Write a stream of units as the system's native bulk path does. Every operation answers OK or notImplemented(note). */
  bulkInsert(units: AsyncIterable<Unit[]>): Promise<OpStatus>;
  insert(unit: Unit): Promise<OpStatus>;
  /** Typed cells: the ref carries its record (recordOf); a natural-key repeat (RecordRef) legitimately finds nothing. */
  delete(unit: UnitRef): Promise<OpStatus>;
  maintenance(name: string): Promise<OpStatus>;
  /**
   * Bring the system to rest before an "after" size reading, outside every clock: flush and
   * checkpoint the WAL, wait for merges or background rewrites. Return notImplemented(note)
   * for what cannot be settled; the runner then polls sizes until they are stable.
   */
  settle(): Promise<OpStatus>;
  /** Empty the cell's lab objects: a fresh baseline before an insert stage. */
  reset(): Promise<void>;
  sizes(): Promise<SizeReading[]>;
  /** Raw, JSON-serialisable internal statistics; stored as-is in the bundle. */
  snapshot(): Promise<unknown>;
  /**
   * Drop lab objects, idempotently, never anything else. With `scope` (a cell key, or a run token:
   * the prefix every cell key of that run starts with) only the objects whose names carry it —
   * the runner ends each cell with its own key, so a concurrent run's objects are never touched.
   * Without it, everything of the lab namespace this system holds (`dedup-lab cleanup`).
   */
  cleanup(scope?: string): Promise<void>;
  /** Local files/directories holding this system's data, for storage-physical (L3) readings from outside. */
  storagePaths?(): string[];
  /**
   * Typed cells: how many records the system holds now, counted by the system itself (count(*),
   * HLEN/SCAN, object listing…), read after settle. The runner derives rejected/replaced duplicates
   * as records written − records held; null when the system cannot count (with the row's reason).
   */
  storedRecords?(): Promise<number | null>;
  /** Typed cells: every record held, read back from the system in schema order (round-trip tests). */
  readRecords?(): AsyncIterable<RecordValues>;
}

/** A system's definition, exported by `<name>/<name>-options.ts` and loaded by its registry line. */
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
