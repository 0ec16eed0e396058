// Typed cells (issue 14) in DuckDB: one table of the record schema per container, with DuckDB's
// own types, keyed by the cell's key mode.
//
//   int64 → BIGINT; float64 → DOUBLE; text → VARCHAR; uuid → UUID (128 bits); timestamp →
//   TIMESTAMP (DuckDB's is µs since epoch: the value itself); json → JSON (DuckDB keeps the text as
//   written — appended or bound as VARCHAR it is neither re-serialised nor reordered, checked by the
//   round trip); bytes → BLOB; bool → BOOLEAN.
//
// Keys. surrogate: `_unit BIGINT PRIMARY KEY` = the unit's index, every duplicate stored. natural: the
// schema's key field is the PRIMARY KEY; a schema without a usable key field (none, nullable, bytes)
// gets `_key VARCHAR PRIMARY KEY` = naturalKey() (the content digest).
//
// Bulk. The Appender is DuckDB's fast path, but it has no ON CONFLICT: one duplicate key fails the
// whole flushed chunk. Surrogate cells append straight into the table; natural cells append each batch
// into a TEMP staging table of the same columns (in memory, not in the database file) and move it
// with `INSERT INTO t SELECT * FROM staging ON CONFLICT DO NOTHING`, so a duplicate — within the batch
// or against a stored row — is rejected, and counted as staged − rowsChanged. Per record: a prepared
// INSERT … ON CONFLICT DO NOTHING with every parameter bound by its column type.
import {
  DuckDBTimestampValue,
  DuckDBUUIDValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBPreparedStatement,
} from "@duckdb/node-api";
import { naturalKey, type FieldSpec, type FieldType, type FieldValue, type RecordSchema, type RecordValues } from "../../generators/records.js";
import type { KeyMode } from "../contract.js";

export const DUCKDB_TYPED_MAPPING =
  "table per container: BIGINT, DOUBLE, VARCHAR, UUID, TIMESTAMP (µs), JSON (verbatim), BLOB, BOOLEAN; " +
  "surrogate _unit BIGINT PRIMARY KEY, natural key field PRIMARY KEY + ON CONFLICT DO NOTHING (bulk: Appender → TEMP staging → INSERT SELECT)";

const COLUMN_TYPE: Record<FieldType, string> = {
  int64: "BIGINT",
  float64: "DOUBLE",
  text: "VARCHAR",
  uuid: "UUID",
  timestamp: "TIMESTAMP",
  json: "JSON",
  bytes: "BLOB",
  bool: "BOOLEAN",
};

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The record field that can be the natural PRIMARY KEY, or -1 (then `_key` holds naturalKey()). */
function naturalKeyField(schema: RecordSchema): number {
  if (schema.key === undefined) return -1;
  const k = schema.fields.findIndex((f) => f.name === schema.key);
  const f = schema.fields[k];
  return f && !f.nullable && f.type !== "bytes" ? k : -1;
}

/** A column value: the extra key column (bigint unit index or text key) or a record field. */
interface Cell {
  type: FieldType;
  value: FieldValue;
}

function uuidValue(u: string): DuckDBUUIDValue {
  return DuckDBUUIDValue.fromUint128(BigInt("0x" + u.replace(/-/g, "")));
}

function append(a: DuckDBAppender, c: Cell): void {
  const v = c.value;
  if (v === null) return a.appendNull();
  switch (c.type) {
    case "int64":
      return a.appendBigInt(v as bigint);
    case "float64":
      return a.appendDouble(v as number);
    case "text":
    case "json":
      return a.appendVarchar(v as string);
    case "uuid":
      return a.appendUUID(uuidValue(v as string));
    case "timestamp":
      return a.appendTimestamp(new DuckDBTimestampValue(v as bigint));
    case "bytes":
      return a.appendBlob(v as Buffer);
    case "bool":
      return a.appendBoolean(v as boolean);
  }
}

function bind(p: DuckDBPreparedStatement, i: number, c: Cell): void {
  const v = c.value;
  if (v === null) return p.bindNull(i);
  switch (c.type) {
    case "int64":
      return p.bindBigInt(i, v as bigint);
    case "float64":
      return p.bindDouble(i, v as number);
    case "text":
    case "json":
      return p.bindVarchar(i, v as string);
    case "uuid":
      return p.bindUUID(i, uuidValue(v as string));
    case "timestamp":
      return p.bindTimestamp(i, new DuckDBTimestampValue(v as bigint));
    case "bytes":
      return p.bindBlob(i, v as Buffer);
    case "bool":
      return p.bindBoolean(i, v as boolean);
  }
}

function fromDuckdb(f: FieldSpec, v: unknown): FieldValue {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case "int64":
      return BigInt(v as bigint);
    case "float64":
      return Number(v);
    case "text":
    case "json":
      return String(v);
    case "uuid":
      return String(v).toLowerCase();
    case "timestamp":
      return (v as DuckDBTimestampValue).micros;
    case "bytes":
      return Buffer.from((v as { bytes: Uint8Array }).bytes);
    case "bool":
      return v === true;
  }
}

/** One typed table's SQL and how a record becomes its row. */
export class DuckdbTypedLayout {
  readonly keyField: number;

  constructor(
    readonly schema: RecordSchema,
    readonly keys: KeyMode,
  ) {
    this.keyField = keys === "natural" ? naturalKeyField(schema) : -1;
  }

  /** The extra leading column, if any: _unit (surrogate) or _key (natural without a usable key field). */
  private extra(): { name: string; type: FieldType; sql: string } | null {
    if (this.keys === "surrogate") return { name: "_unit", type: "int64", sql: "BIGINT" };
    return this.keyField >= 0 ? null : { name: "_key", type: "text", sql: "VARCHAR" };
  }

  private keyColumn(): string {
    return this.extra()?.name ?? this.schema.fields[this.keyField]!.name;
  }

  private columnDefs(withKey: boolean): string {
    const cols: string[] = [];
    const extra = this.extra();
    if (extra) cols.push(`${extra.name} ${extra.sql}${withKey ? " PRIMARY KEY" : ""}`);
    this.schema.fields.forEach((f, k) => {
      const pk = withKey && k === this.keyField ? " PRIMARY KEY" : "";
      cols.push(`${quote(f.name)} ${COLUMN_TYPE[f.type]}${f.nullable ? "" : " NOT NULL"}${pk}`);
    });
    return cols.join(", ");
  }

  createSql(table: string): string {
    return `CREATE TABLE IF NOT EXISTS ${table} (${this.columnDefs(true)})`;
  }

  /** The natural bulk path's staging table: same columns, no key, TEMP (in memory). */
  createStagingSql(staging: string): string {
    return `CREATE OR REPLACE TEMP TABLE ${staging} (${this.columnDefs(false)})`;
  }

  moveStagingSql(table: string, staging: string): string {
    return `INSERT INTO ${table} SELECT * FROM ${staging} ON CONFLICT DO NOTHING`;
  }

  insertSql(table: string): string {
    const n = this.schema.fields.length + (this.extra() ? 1 : 0);
    const conflict = this.keys === "natural" ? " ON CONFLICT DO NOTHING" : "";
    return `INSERT INTO ${table} VALUES (${Array.from({ length: n }, (_, i) => `$${i + 1}`).join(", ")})${conflict}`;
  }

  deleteSql(table: string): string {
    return `DELETE FROM ${table} WHERE ${quote(this.keyColumn())} = $1`;
  }

  selectSql(table: string): string {
    return `SELECT ${this.schema.fields.map((f) => quote(f.name)).join(", ")} FROM ${table}`;
  }

  /** The key a record is stored and deleted under: its unit index, key field value or naturalKey(). */
  keyValue(unitIndex: number, values: RecordValues, digest: Buffer): Cell {
    if (this.keys === "surrogate") return { type: "int64", value: BigInt(unitIndex) };
    if (this.keyField >= 0) return { type: this.schema.fields[this.keyField]!.type, value: values[this.keyField]! };
    return { type: "text", value: naturalKey(this.schema, values, digest) };
  }

  private cells(key: Cell, values: RecordValues): Cell[] {
    const out = this.schema.fields.map((f, k) => ({ type: f.type, value: values[k]! }));
    return this.extra() ? [key, ...out] : out;
  }

  appendRow(a: DuckDBAppender, key: Cell, values: RecordValues): void {
    for (const c of this.cells(key, values)) append(a, c);
    a.endRow();
  }

  bindRow(p: DuckDBPreparedStatement, key: Cell, values: RecordValues): void {
    this.cells(key, values).forEach((c, i) => bind(p, i + 1, c));
  }

  bindKey(p: DuckDBPreparedStatement, key: Cell): void {
    bind(p, 1, key);
  }

  /** Every record of `table`, read back in schema order. */
  async *read(conn: DuckDBConnection, table: string): AsyncGenerator<RecordValues> {
    const r = await conn.runAndReadAll(this.selectSql(table));
    for (const row of r.getRows()) yield this.schema.fields.map((f, k) => fromDuckdb(f, row[k]));
  }
}

export type { Cell as DuckdbKey };
