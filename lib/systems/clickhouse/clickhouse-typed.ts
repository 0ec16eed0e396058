// Typed cells (issue 14) on ClickHouse: one typed column per record field, rows sent and read
// back as RowBinary (binary-safe, no escaping, no text round trip of numbers). Pure functions,
// unit-testable without a server.
//
// Column types (current engine / what 18.16 runs instead):
//   int64 Int64 · float64 Float64 · text String · uuid UUID · json String (the generated text,
//   verbatim) · bytes String (binary-safe) · timestamp DateTime64(6) / Int64 µs since epoch (no
//   DateTime64 before 20.1) · bool Bool / UInt8 (no Bool before 21.12) · nullable fields
//   Nullable(T).
// Key column: surrogate keys add `_unit_id String` (the unit id) and ORDER BY it; natural keys
// ORDER BY the schema's key field (non-nullable, not bytes), else a `_key String` column holding
// naturalKey() (the content digest). MergeTree keeps rows with equal sorting keys; a
// ReplacingMergeTree keeps one per sorting key once parts merge.
import type { KeyMode, RecordSchema, RecordValues } from "../contract.js";
import type { FieldSpec } from "../../generators/records.js";
import { naturalKey } from "../../generators/records.js";
import { ident, qualified } from "./clickhouse-sql.js";

export interface TypedFeatures {
  dateTime64: boolean;
  bool: boolean;
}

export interface TypedColumn {
  name: string;
  type: string;
  /** Index of the schema field, or "unit_id" / "key" for the extra key column. */
  source: number | "unit_id" | "key";
}

export interface TypedLayout {
  schema: RecordSchema;
  keys: KeyMode;
  features: TypedFeatures;
  columns: TypedColumn[];
  /** Column of the sorting key (ORDER BY). */
  orderBy: string;
  /** Index of the schema's key field used as ORDER BY, when natural keys use it directly. */
  keyField: number | null;
}

const IDENT_RE = /^[a-z0-9_]{1,64}$/;

/** Column name of schema field k: its own name where it is a lab identifier, else f<k>. */
function columnName(f: FieldSpec, k: number): string {
  return IDENT_RE.test(f.name) && !f.name.startsWith("_") ? f.name : `f${k}`;
}

function baseType(f: FieldSpec, x: TypedFeatures): string {
  switch (f.type) {
    case "int64":
      return "Int64";
    case "float64":
      return "Float64";
    case "text":
    case "json":
    case "bytes":
      return "String";
    case "uuid":
      return "UUID";
    case "timestamp":
      return x.dateTime64 ? "DateTime64(6)" : "Int64";
    case "bool":
      return x.bool ? "Bool" : "UInt8";
  }
}

export function typedLayout(schema: RecordSchema, keys: KeyMode, features: TypedFeatures): TypedLayout {
  const columns: TypedColumn[] = schema.fields.map((f, k) => {
    const t = baseType(f, features);
    return { name: columnName(f, k), type: f.nullable ? `Nullable(${t})` : t, source: k };
  });
  if (keys === "surrogate") {
    return { schema, keys, features, columns: [{ name: "_unit_id", type: "String", source: "unit_id" }, ...columns], orderBy: "_unit_id", keyField: null };
  }
  const k = schema.key === undefined ? -1 : schema.fields.findIndex((f) => f.name === schema.key);
  const f = k >= 0 ? schema.fields[k]! : undefined;
  if (f && !f.nullable && f.type !== "bytes" && f.type !== "float64") {
    return { schema, keys, features, columns, orderBy: columns[k]!.name, keyField: k };
  }
  return { schema, keys, features, columns: [{ name: "_key", type: "String", source: "key" }, ...columns], orderBy: "_key", keyField: null };
}

/** What 18.x runs instead of the current types (for capability text, snapshot and size reasons). */
export function typedDegradations(layout: TypedLayout, version: string): string[] {
  const out: string[] = [];
  const has = (t: string) => layout.schema.fields.some((f) => f.type === t);
  if (!layout.features.dateTime64 && has("timestamp")) out.push(`timestamp fields stored as Int64 µs since epoch: no DateTime64 on ClickHouse ${version} (needs ≥ 20.1)`);
  if (!layout.features.bool && has("bool")) out.push(`bool fields stored as UInt8: no Bool type on ClickHouse ${version} (needs ≥ 21.12)`);
  return out;
}

export function createTypedTableSql(db: string, table: string, layout: TypedLayout, engine: string, codec: string | null): string {
  const cols = layout.columns.map((c) => `${ident(c.name)} ${c.type}${codec ? ` CODEC(${codec})` : ""}`).join(", ");
  return `CREATE TABLE IF NOT EXISTS ${qualified(db, table)} (${cols}) ENGINE = ${engine} ORDER BY ${ident(layout.orderBy)}`;
}

export function insertTypedSql(db: string, table: string, layout: TypedLayout): string {
  return `INSERT INTO ${qualified(db, table)} (${layout.columns.map((c) => ident(c.name)).join(", ")}) FORMAT RowBinary`;
}

/** Every schema field, in schema order (the key columns are not read back). */
export function selectTypedSql(db: string, table: string, layout: TypedLayout): string {
  const cols = layout.columns.filter((c) => typeof c.source === "number").map((c) => ident(c.name));
  return `SELECT ${cols.join(", ")} FROM ${qualified(db, table)} FORMAT RowBinary`;
}

/** The value of the key column for a record (the natural key text, or the unit id). */
export function keyValue(layout: TypedLayout, unitId: string, values: RecordValues): string {
  return layout.keys === "surrogate" ? unitId : naturalKey(layout.schema, values);
}

/** The WHERE condition matching one record's key (ALTER … DELETE, retry checks). */
export function keyCondition(layout: TypedLayout, key: string, literal: (s: string) => string): string {
  if (layout.keyField === null) return `${ident(layout.orderBy)} = ${literal(key)}`;
  const f = layout.schema.fields[layout.keyField]!;
  // naturalKey() is the field's value as text: compare the column's text form
  if (f.type === "uuid" || f.type === "text" || f.type === "json") return `${ident(layout.orderBy)} = ${f.type === "uuid" ? `toUUID(${literal(key)})` : literal(key)}`;
  return `toString(${ident(layout.orderBy)}) = ${literal(key)}`;
}

// ---- RowBinary ------------------------------------------------------------------------------

class Writer {
  private buf = Buffer.allocUnsafe(256);
  private o = 0;
  private need(n: number) {
    if (this.o + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }
  u8(v: number) {
    this.need(1);
    this.buf[this.o++] = v;
  }
  varint(n: number) {
    while (n >= 0x80) {
      this.u8((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    this.u8(n);
  }
  i64(v: bigint) {
    this.need(8);
    this.buf.writeBigInt64LE(v, this.o);
    this.o += 8;
  }
  f64(v: number) {
    this.need(8);
    this.buf.writeDoubleLE(v, this.o);
    this.o += 8;
  }
  bytes(b: Buffer) {
    this.varint(b.length);
    this.need(b.length);
    this.o += b.copy(this.buf, this.o);
  }
  raw(b: Buffer) {
    this.need(b.length);
    this.o += b.copy(this.buf, this.o);
  }
  done(): Buffer {
    return this.buf.subarray(0, this.o);
  }
}

/** ClickHouse's UUID in RowBinary: the two 64-bit halves, each little-endian. */
function uuidBytes(u: string): Buffer {
  const b = Buffer.from(u.replace(/-/g, ""), "hex");
  if (b.length !== 16) throw new Error(`not a UUID: ${u}`);
  return Buffer.concat([Buffer.from(b.subarray(0, 8)).reverse(), Buffer.from(b.subarray(8, 16)).reverse()]);
}

function uuidText(b: Buffer): string {
  const h = Buffer.concat([Buffer.from(b.subarray(0, 8)).reverse(), Buffer.from(b.subarray(8, 16)).reverse()]).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** One RowBinary row of `values` in the layout's column order. */
export function encodeTypedRow(layout: TypedLayout, unitId: string, values: RecordValues): Buffer {
  const w = new Writer();
  for (const c of layout.columns) {
    if (c.source === "unit_id") {
      w.bytes(Buffer.from(unitId, "utf8"));
      continue;
    }
    if (c.source === "key") {
      w.bytes(Buffer.from(naturalKey(layout.schema, values), "utf8"));
      continue;
    }
    const f = layout.schema.fields[c.source]!;
    const v = values[c.source];
    if (f.nullable) {
      if (v === null || v === undefined) {
        w.u8(1);
        continue;
      }
      w.u8(0);
    } else if (v === null || v === undefined) {
      throw new Error(`field ${f.name} of ${layout.schema.name} is null but not nullable`);
    }
    switch (f.type) {
      case "int64":
      case "timestamp":
        w.i64(v as bigint);
        break;
      case "float64":
        w.f64(v as number);
        break;
      case "text":
      case "json":
        w.bytes(Buffer.from(v as string, "utf8"));
        break;
      case "bytes":
        w.bytes(v as Buffer);
        break;
      case "uuid":
        w.raw(uuidBytes(v as string));
        break;
      case "bool":
        w.u8(v ? 1 : 0);
        break;
    }
  }
  return w.done();
}

/** Decode a RowBinary answer of selectTypedSql into records (schema order, generator types). */
export function decodeTypedRows(layout: TypedLayout, buf: Buffer): RecordValues[] {
  const out: RecordValues[] = [];
  let o = 0;
  const varint = () => {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = buf[o++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  const str = () => {
    const n = varint();
    const b = buf.subarray(o, o + n);
    o += n;
    return b;
  };
  const fields = layout.schema.fields;
  while (o < buf.length) {
    const row: RecordValues = [];
    for (const f of fields) {
      if (f.nullable && buf[o++] === 1) {
        row.push(null);
        continue;
      }
      switch (f.type) {
        case "int64":
        case "timestamp":
          row.push(buf.readBigInt64LE(o));
          o += 8;
          break;
        case "float64":
          row.push(buf.readDoubleLE(o));
          o += 8;
          break;
        case "text":
        case "json":
          row.push(str().toString("utf8"));
          break;
        case "bytes":
          row.push(Buffer.from(str()));
          break;
        case "uuid":
          row.push(uuidText(buf.subarray(o, o + 16)));
          o += 16;
          break;
        case "bool":
          row.push(buf[o++] !== 0);
          break;
      }
    }
    if (o > buf.length) throw new Error(`RowBinary answer of ${layout.schema.name} ends inside a row`);
    out.push(row);
  }
  return out;
}

/** One line for Capabilities.typed.mapping. */
export const CLICKHOUSE_TYPED_MAPPING =
  "one table per container, a typed column per field (Int64, Float64, String for text/json (verbatim)/bytes, UUID, DateTime64(6), Bool, Nullable(T); " +
  "18.16: Int64 µs and UInt8 for timestamp/bool); surrogate: _unit_id String ORDER BY it; natural: ORDER BY the key field; " +
  "duplicates kept on mergetree_*, replaced on replacing_* (settle runs OPTIMIZE FINAL on typed ReplacingMergeTree cells; stored = count() without FINAL); bulk = RowBinary stream";
