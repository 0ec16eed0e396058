// Typed cells (issue 14) in SQLite: one STRICT table of the record schema per container, with
// real column types, keyed by the cell's key mode.
//
//   int64, timestamp (µs since epoch), bool (0/1) → INTEGER; float64 → REAL; text, json → TEXT
//   (json kept verbatim: SQLite has no JSON column type, its JSON functions read TEXT, and the
//   harness compares the original text); bytes → BLOB; uuid → BLOB of its 16 bytes (the value's
//   own 128 bits, as L0 counts it — TEXT would store 36 characters and measure the spelling).
//   A float64 NaN or -0 is refused with an error: REAL would read them back as NULL and 0 (the
//   synthetic schemas never generate them).
//
// Keys. surrogate: `_unit INTEGER PRIMARY KEY` = the unit's index (the rowid itself: no extra
// index), every duplicate stored. natural: the schema's key field is the PRIMARY KEY (an int64 key
// is then the rowid; a uuid key a BLOB with its autoindex); a schema without a usable key field
// (none, nullable, bytes) gets `_key TEXT PRIMARY KEY` = naturalKey() (the content digest).
// A natural-key duplicate meets `INSERT … ON CONFLICT DO NOTHING`: rejected and counted (changes 0).
// ON CONFLICT DO NOTHING rather than INSERT OR IGNORE: OR IGNORE would also swallow a NOT NULL or
// type violation of a STRICT table, silently dropping a record; the upsert clause only covers the key.
import type Database from "better-sqlite3";
import { naturalKey, type FieldSpec, type FieldType, type FieldValue, type RecordSchema, type RecordValues } from "../../generators/records.js";
import type { KeyMode } from "../contract.js";

export const SQLITE_TYPED_MAPPING =
  "STRICT table per container: INTEGER (int64, timestamp µs, bool), REAL, TEXT (text, json verbatim), BLOB (bytes, uuid as 16 bytes); " +
  "surrogate _unit INTEGER PRIMARY KEY, natural key field PRIMARY KEY + ON CONFLICT DO NOTHING";

const COLUMN_TYPE: Record<FieldType, string> = {
  int64: "INTEGER",
  timestamp: "INTEGER",
  bool: "INTEGER",
  float64: "REAL",
  text: "TEXT",
  json: "TEXT",
  bytes: "BLOB",
  uuid: "BLOB",
};

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The record field that can be the natural PRIMARY KEY, or -1 (then `_key` holds naturalKey()). */
export function naturalKeyField(schema: RecordSchema): number {
  if (schema.key === undefined) return -1;
  const k = schema.fields.findIndex((f) => f.name === schema.key);
  const f = schema.fields[k];
  return f && !f.nullable && f.type !== "bytes" ? k : -1;
}

export function uuidToBytes(u: string): Buffer {
  return Buffer.from(u.replace(/-/g, ""), "hex");
}

export function bytesToUuid(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

type SqlValue = bigint | number | string | Buffer | null;

function toSql(type: FieldType, v: FieldValue, name = ""): SqlValue {
  if (v === null) return null;
  switch (type) {
    case "float64":
      // SQLite's REAL turns NaN into NULL and -0.0 into 0: refuse them rather than store another value.
      if (Number.isNaN(v) || Object.is(v, -0)) throw new Error(`sqlite: float64 field ${name} is ${String(v) === "0" ? "-0" : String(v)}, which a REAL column cannot hold exactly`);
      return v as number;
    case "bool":
      return v ? 1n : 0n;
    case "uuid":
      return uuidToBytes(v as string);
    default:
      return v as SqlValue;
  }
}

function fromSql(f: FieldSpec, v: unknown): FieldValue {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case "int64":
    case "timestamp":
      return BigInt(v as bigint);
    case "bool":
      return BigInt(v as bigint) === 1n;
    case "float64":
      return Number(v);
    case "uuid":
      return bytesToUuid(v as Buffer);
    case "bytes":
      return Buffer.from(v as Buffer);
    case "text":
    case "json":
      return v as string;
  }
}

/** One typed table's SQL and how a record becomes its row. */
export class SqliteTypedLayout {
  readonly keyField: number;

  constructor(
    readonly schema: RecordSchema,
    readonly keys: KeyMode,
  ) {
    this.keyField = keys === "natural" ? naturalKeyField(schema) : -1;
  }

  /** The key column: _unit (surrogate), the key field (natural), or _key (natural without a usable key field). */
  private keyColumn(): string {
    if (this.keys === "surrogate") return "_unit";
    return this.keyField >= 0 ? this.schema.fields[this.keyField]!.name : "_key";
  }

  /** Extra leading column, if any: _unit or _key. */
  private extra(): string | null {
    if (this.keys === "surrogate") return "_unit";
    return this.keyField >= 0 ? null : "_key";
  }

  createSql(table: string): string {
    const cols: string[] = [];
    const extra = this.extra();
    if (extra === "_unit") cols.push(`_unit INTEGER PRIMARY KEY`);
    if (extra === "_key") cols.push(`_key TEXT PRIMARY KEY`);
    this.schema.fields.forEach((f, k) => {
      const pk = k === this.keyField ? " PRIMARY KEY" : "";
      cols.push(`${quote(f.name)} ${COLUMN_TYPE[f.type]}${f.nullable ? "" : " NOT NULL"}${pk}`);
    });
    return `CREATE TABLE IF NOT EXISTS ${table} (${cols.join(", ")}) STRICT`;
  }

  insertSql(table: string): string {
    const names = [...(this.extra() ? [this.extra()!] : []), ...this.schema.fields.map((f) => quote(f.name))];
    const conflict = this.keys === "natural" ? ` ON CONFLICT (${quote(this.keyColumn())}) DO NOTHING` : "";
    return `INSERT INTO ${table} (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})${conflict}`;
  }

  deleteSql(table: string): string {
    return `DELETE FROM ${table} WHERE ${quote(this.keyColumn())} = ?`;
  }

  selectSql(table: string): string {
    return `SELECT ${this.schema.fields.map((f) => quote(f.name)).join(", ")} FROM ${table}`;
  }

  /** The key value a row of this record is stored (and deleted) under. */
  keyValue(unitIndex: number, values: RecordValues, digest: Buffer): SqlValue {
    if (this.keys === "surrogate") return BigInt(unitIndex);
    if (this.keyField >= 0) return toSql(this.schema.fields[this.keyField]!.type, values[this.keyField]!);
    return naturalKey(this.schema, values, digest);
  }

  /** Bind parameters of one row. */
  row(key: SqlValue, values: RecordValues): SqlValue[] {
    const out = this.schema.fields.map((f, k) => toSql(f.type, values[k]!, f.name));
    return this.extra() ? [key, ...out] : out;
  }

  /** A row read back (raw, safe integers) → the record's schema-ordered values. */
  decode(row: unknown[]): RecordValues {
    return this.schema.fields.map((f, k) => fromSql(f, row[k]));
  }

  /** Every record of `table`, read back. */
  *read(db: Database.Database, table: string): Generator<RecordValues> {
    const stmt = db.prepare(this.selectSql(table)).raw(true).safeIntegers(true);
    for (const row of stmt.iterate()) yield this.decode(row as unknown[]);
  }
}

/** Pages (bytes) of the typed tables and their indexes, from the dbstat virtual table; null when it is missing. */
export function dbstatBytes(db: Database.Database, tables: string[]): number | null {
  try {
    const r = db
      .prepare(`SELECT coalesce(sum(d.pgsize), 0) AS n FROM dbstat d JOIN sqlite_schema s ON d.name = s.name WHERE s.tbl_name IN (${tables.map(() => "?").join(", ")})`)
      .get(...tables) as { n: number };
    return Number(r.n);
  } catch {
    return null;
  }
}
