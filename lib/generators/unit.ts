// The unit of payload a generator hands to a system. Hashing and generation happen before it reaches a connector.
import type { RecordValues } from "./records.js";

/** One unit of payload as written to a system. Hashing and generation happen before it reaches a connector. */
export interface Unit {
  /** Stable unit id within the dataset, e.g. "u0000042". Distinct for duplicates too. */
  id: string;
  index: number;
  size: number;
  /** Raw 32-byte SHA-256 of the payload. */
  sha256: Buffer;
  /** Unique-group id: units with the same group have identical payloads (file granularity). */
  group: number;
  /** Container (table, topic, bucket, directory) the placement policy put this unit in. */
  container: number;
  payload: Buffer;
}

/**
 * What a connector needs to know to delete a unit it stored earlier. Typed cells' refs carry the
 * unit's record, so any connector instance finds the row by the key it was stored under (its
 * natural key is a function of the values) without remembering what it inserted.
 */
export type UnitRef = Pick<Unit, "id" | "index" | "sha256" | "group" | "container" | "size"> & { record?: RecordRef };

/** A typed unit's record on its delete ref (Dataset.refs()). */
export interface RecordRef {
  values: RecordValues;
  /**
   * An earlier ref of the same pass carried this record (a duplicate of its group). Under natural
   * keys duplicates share one row per key namespace, so only the first delete finds it: systems
   * with one namespace per cell (Redis keys, MinIO objects) read `repeat`, systems with one per
   * container (tables, topics, directories) `repeatInContainer`.
   */
  repeat: boolean;
  /** An earlier ref of the same pass carried this record in the same container. */
  repeatInContainer: boolean;
}
