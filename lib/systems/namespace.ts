// Every object the toolkit touches is named from one lab prefix. Connectors ask this
// class for names and never build their own, so the guard is in one place.
import { createHash } from "node:crypto";
import { UsageError } from "../errors.js";

const PREFIX_RE = /^[a-z][a-z0-9]{1,20}$/;

export class LabNamespace {
  /** SQL schema or database: `<prefix>_lab` (e.g. dedup_lab). */
  readonly sqlName: string;
  /** Key prefix for key-value stores: `<prefix>:` (e.g. dedup:). */
  readonly keyPrefix: string;
  /** Prefix for topics, buckets and directories: `<prefix>-lab-` (e.g. dedup-lab-). */
  readonly objectPrefix: string;

  constructor(readonly prefix: string = "dedup") {
    if (!PREFIX_RE.test(prefix)) {
      throw new UsageError(
        `invalid lab prefix "${prefix}"`,
        "use 2–21 lowercase letters or digits, starting with a letter (default: dedup)",
      );
    }
    this.sqlName = `${prefix}_lab`;
    this.keyPrefix = `${prefix}:`;
    this.objectPrefix = `${prefix}-lab-`;
  }

  /**
   * The run's token: `r` + 8 hex of the run id's hash. Every cell key of a run starts with it, so
   * every object a run creates (table, topic, bucket, key, work directory) names its run, and the
   * leftovers of a killed run can be told from another run's objects by name alone.
   */
  runToken(runId: string): string {
    return "r" + createHash("sha256").update(runId).digest("hex").slice(0, 8);
  }

  /** A cell's key: `<run token>c<10 hex>` (lowercase, name-safe, 20 characters). */
  cellKey(runId: string, cellId: string): string {
    return this.runToken(runId) + "c" + createHash("sha256").update(`${runId}/${cellId}`).digest("hex").slice(0, 10);
  }

  /** A per-cell object name (topic, bucket, directory): `<prefix>-lab-<part>-…`, lowercase, S3-safe. */
  objectName(...parts: string[]): string {
    const name = this.objectPrefix + parts.join("-").toLowerCase().replace(/[^a-z0-9-]/g, "-");
    if (name.length > 63) throw new UsageError(`lab object name too long: ${name}`, "use a shorter lab prefix");
    return name;
  }

  /** A per-cell SQL identifier inside the lab schema (table names): lowercase, underscore-safe. */
  tableName(...parts: string[]): string {
    return parts.join("_").toLowerCase().replace(/[^a-z0-9_]/g, "_");
  }

  /** A key under the lab key prefix. */
  key(...parts: string[]): string {
    return this.keyPrefix + parts.join(":");
  }

  isLabSql(name: string): boolean {
    return name === this.sqlName;
  }
  isLabObject(name: string): boolean {
    return name.startsWith(this.objectPrefix);
  }
  isLabKey(key: string): boolean {
    return key.startsWith(this.keyPrefix);
  }

  /** Refuse a configured SQL schema/database that is not the lab's, before anything connects. */
  requireLabSql(system: string, what: string, name: string | undefined): string | null {
    if (name === undefined || this.isLabSql(name)) return null;
    return `${system}: ${what} "${name}" is outside the lab namespace — use "${this.sqlName}" (derived from lab prefix "${this.prefix}") or remove the setting`;
  }
}
