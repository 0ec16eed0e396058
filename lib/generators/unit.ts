// The unit of payload a generator hands to a system. Hashing and generation happen before it reaches a connector.

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

/** What a connector needs to know to delete a unit it stored earlier. */
export type UnitRef = Pick<Unit, "id" | "index" | "sha256" | "group" | "container" | "size">;
