// Typed records (issue 14, first step): a record is an ordered tuple of field values
// that follows a declared RecordSchema. This module holds the schema types, validation,
// the canonical encoding (digest) and the L0 logical-bytes definition, and the record
// manifest accumulator. The seeded synthetic record generators are in records-synthetic.ts;
// the parsers of the real data formats are in lib/data/records.ts.
import { createHash } from "node:crypto";

/** The closed set of field types. */
export const FIELD_TYPES = ["int64", "float64", "text", "uuid", "timestamp", "json", "bytes", "bool"] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface FieldSpec {
  name: string;
  type: FieldType;
  nullable: boolean;
}

export interface RecordSchema {
  /** Schema name, e.g. "structured_json" or "gharchive_events". */
  name: string;
  /** Ordered fields: a record's values are in this order. */
  fields: readonly FieldSpec[];
  /** The field that is the record's own ("natural") key, when it has one. */
  key?: string;
}

/**
 * A field value, by type:
 * - int64: bigint in [−2^63, 2^63)
 * - float64: number (finite or not; encoded as its IEEE-754 bits)
 * - text: string (valid UTF-16 without lone surrogates, so its UTF-8 form is exact)
 * - uuid: string, canonical lower-case 8-4-4-4-12 hex
 * - timestamp: bigint, microseconds since 1970-01-01T00:00:00Z (the int64 PostgreSQL and ClickHouse DateTime64(6) use)
 * - json: string, the JSON text exactly as stored (must parse as JSON)
 * - bytes: Buffer
 * - bool: boolean
 * - null where the field is nullable.
 */
export type FieldValue = bigint | number | string | Buffer | boolean | null;
/** A record: one value per schema field, in schema order. */
export type RecordValues = FieldValue[];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function field(name: string, type: FieldType, nullable = false): FieldSpec {
  return { name, type, nullable };
}

/** Why `value` is not a valid value of `f`, or null when it is. */
export function fieldProblem(f: FieldSpec, value: FieldValue): string | null {
  if (value === null || value === undefined) return f.nullable ? null : `${f.name} (${f.type}) is null but not nullable`;
  const bad = (what: string) => `${f.name} (${f.type}) ${what}`;
  switch (f.type) {
    case "int64":
    case "timestamp":
      if (typeof value !== "bigint") return bad(`is a ${typeof value}, expected a bigint`);
      return value < INT64_MIN || value > INT64_MAX ? bad(`value ${value} is outside int64`) : null;
    case "float64":
      return typeof value === "number" ? null : bad(`is a ${typeof value}, expected a number`);
    case "bool":
      return typeof value === "boolean" ? null : bad(`is a ${typeof value}, expected a boolean`);
    case "bytes":
      return Buffer.isBuffer(value) ? null : bad("is not a Buffer");
    case "uuid":
      return typeof value === "string" && UUID_RE.test(value) ? null : bad(`is not a lower-case canonical UUID: ${String(value).slice(0, 40)}`);
    case "text":
      if (typeof value !== "string") return bad(`is a ${typeof value}, expected a string`);
      return !LONE_SURROGATE.test(value) ? null : bad("has a lone surrogate (no exact UTF-8 form)");
    case "json":
      if (typeof value !== "string") return bad(`is a ${typeof value}, expected JSON text`);
      try {
        JSON.parse(value);
      } catch {
        return bad("is not valid JSON text");
      }
      return !LONE_SURROGATE.test(value) ? null : bad("has a lone surrogate (no exact UTF-8 form)");
  }
}

/** Throws (one line) when `values` does not follow `schema`. */
export function validateRecord(schema: RecordSchema, values: RecordValues): void {
  if (values.length !== schema.fields.length) {
    throw new Error(`record has ${values.length} values, schema ${schema.name} has ${schema.fields.length} fields`);
  }
  for (let k = 0; k < values.length; k++) {
    const p = fieldProblem(schema.fields[k]!, values[k]!);
    if (p) throw new Error(`schema ${schema.name}: ${p}`);
  }
}

/**
 * L0 logical bytes of one field value: the size of the value itself, encoded —
 * int64, float64 and timestamp 8 B; uuid 16 B (its 128 bits, not its 36-character text);
 * bool 1 B; text and json their UTF-8 byte length; bytes their length; null 0 B.
 * No field names, lengths, tags or row overhead are counted.
 */
export function fieldLogicalBytes(type: FieldType, value: FieldValue): number {
  if (value === null) return 0;
  switch (type) {
    case "int64":
    case "float64":
    case "timestamp":
      return 8;
    case "uuid":
      return 16;
    case "bool":
      return 1;
    case "text":
    case "json":
      return Buffer.byteLength(value as string, "utf8");
    case "bytes":
      return (value as Buffer).length;
  }
}

/**
 * L0 logical bytes of a record = the sum of its fields' encoded values (fieldLogicalBytes):
 * int64/float64/timestamp 8 B, uuid 16 B, bool 1 B, text/json UTF-8 byte length, bytes their
 * length, null 0 B. This is what an ideal typed store would have to keep for the record,
 * before any per-row, per-field or per-page overhead of a real system.
 */
export function recordLogicalBytes(schema: RecordSchema, values: RecordValues): number {
  let n = 0;
  for (let k = 0; k < values.length; k++) n += fieldLogicalBytes(schema.fields[k]!.type, values[k]!);
  return n;
}

const TYPE_TAG: Record<FieldType, number> = { int64: 1, float64: 2, text: 3, uuid: 4, timestamp: 5, json: 6, bytes: 7, bool: 8 };
const NULL_TAG = 0;

/**
 * The canonical encoding of a record (what its digest hashes): the field count (u32 LE), then per
 * field a tag byte (0 = null, else the type: int64 1, float64 2, text 3, uuid 4, timestamp 5,
 * json 6, bytes 7, bool 8) and the value — int64/timestamp 8 B two's complement LE, float64 8 B
 * IEEE-754 LE, uuid its 16 bytes, bool 1 B (0/1), text/json/bytes a u32 LE byte length and the
 * bytes (UTF-8 for text and json). Two records have equal encodings iff every field is equal.
 */
export function encodeRecord(schema: RecordSchema, values: RecordValues): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32LE(values.length);
  parts.push(head);
  for (let k = 0; k < values.length; k++) {
    const f = schema.fields[k]!;
    const v = values[k]!;
    if (v === null) {
      parts.push(Buffer.of(NULL_TAG));
      continue;
    }
    const tag = TYPE_TAG[f.type];
    switch (f.type) {
      case "int64":
      case "timestamp": {
        const b = Buffer.alloc(9);
        b[0] = tag;
        b.writeBigInt64LE(v as bigint, 1);
        parts.push(b);
        break;
      }
      case "float64": {
        const b = Buffer.alloc(9);
        b[0] = tag;
        b.writeDoubleLE(v as number, 1);
        parts.push(b);
        break;
      }
      case "uuid":
        parts.push(Buffer.of(tag), Buffer.from((v as string).replaceAll("-", ""), "hex"));
        break;
      case "bool":
        parts.push(Buffer.of(tag, v ? 1 : 0));
        break;
      case "text":
      case "json":
      case "bytes": {
        const body = f.type === "bytes" ? (v as Buffer) : Buffer.from(v as string, "utf8");
        const h = Buffer.alloc(5);
        h[0] = tag;
        h.writeUInt32LE(body.length, 1);
        parts.push(h, body);
        break;
      }
    }
  }
  return Buffer.concat(parts);
}

/** SHA-256 of the canonical encoding (encodeRecord): equal digests ⇔ byte-identical records. */
export function recordDigest(schema: RecordSchema, values: RecordValues): Buffer {
  return createHash("sha256").update(encodeRecord(schema, values)).digest();
}

/** Values equal in the canonical encoding's sense (bytes compared, floats by bits). */
export function recordsEqual(schema: RecordSchema, a: RecordValues, b: RecordValues): boolean {
  return encodeRecord(schema, a).equals(encodeRecord(schema, b));
}

// ---- the record manifest ----------------------------------------------------------------

export interface FieldTotals {
  name: string;
  type: FieldType;
  /** L0 logical bytes of this field over all records. */
  logical_bytes: number;
  /** …over the distinct records only (first occurrences). */
  unique_logical_bytes: number;
  nulls: number;
}

export interface RecordTotals {
  records: number;
  distinct_records: number;
  /** Records byte-identical (every field) to an earlier record: records − distinct_records. */
  duplicate_records: number;
  /** L0 logical bytes (recordLogicalBytes) over all records. */
  logical_bytes: number;
  unique_logical_bytes: number;
  /** logical / unique logical bytes: the ideal dedup ratio of whole records; null when no unique byte exists. */
  ideal_ratio: number | null;
  fields: FieldTotals[];
}

/**
 * Accumulates a record manifest's totals one record at a time (memory: one row of counters
 * per field). The caller says whether each record is the first of its content (`original`):
 * the generator knows it from its plan; RecordTotalsBuilder.distinct() tracks it by digest.
 */
export class RecordTotalsBuilder {
  private records = 0;
  private distinct = 0;
  private readonly fields: FieldTotals[];

  constructor(readonly schema: RecordSchema) {
    this.fields = schema.fields.map((f) => ({ name: f.name, type: f.type, logical_bytes: 0, unique_logical_bytes: 0, nulls: 0 }));
  }

  add(values: RecordValues, original: boolean): void {
    this.records++;
    if (original) this.distinct++;
    for (let k = 0; k < this.fields.length; k++) {
      const t = this.fields[k]!;
      const v = values[k]!;
      const b = fieldLogicalBytes(t.type, v);
      t.logical_bytes += b;
      if (original) t.unique_logical_bytes += b;
      if (v === null) t.nulls++;
    }
  }

  totals(): RecordTotals {
    const logical = this.fields.reduce((s, f) => s + f.logical_bytes, 0);
    const unique = this.fields.reduce((s, f) => s + f.unique_logical_bytes, 0);
    return {
      records: this.records,
      distinct_records: this.distinct,
      duplicate_records: this.records - this.distinct,
      logical_bytes: logical,
      unique_logical_bytes: unique,
      ideal_ratio: unique > 0 ? logical / unique : null,
      fields: this.fields.map((f) => ({ ...f })),
    };
  }

  /**
   * A builder for records whose originals are not known in advance (real data): a record is an
   * original iff its digest was not seen before. Memory: one digest per distinct record.
   */
  static distinct(schema: RecordSchema): { add(values: RecordValues): Buffer; totals(): RecordTotals } {
    const b = new RecordTotalsBuilder(schema);
    const seen = new Set<string>();
    return {
      add(values) {
        const d = recordDigest(schema, values);
        const key = d.toString("base64");
        const original = !seen.has(key);
        if (original) seen.add(key);
        b.add(values, original);
        return d;
      },
      totals: () => b.totals(),
    };
  }
}

/** The inverse of encodeRecord: a typed cell's unit payload back into its schema-ordered values. */
export function decodeRecord(schema: RecordSchema, buf: Buffer): RecordValues {
  const n = buf.readUInt32LE(0);
  if (n !== schema.fields.length) throw new Error(`encoded record has ${n} fields, schema ${schema.name} has ${schema.fields.length}`);
  const values: RecordValues = [];
  let off = 4;
  for (let k = 0; k < n; k++) {
    const tag = buf[off++]!;
    if (tag === NULL_TAG) {
      values.push(null);
      continue;
    }
    const type = schema.fields[k]!.type;
    if (tag !== TYPE_TAG[type]) throw new Error(`encoded record field ${schema.fields[k]!.name}: tag ${tag} is not ${type}`);
    switch (type) {
      case "int64":
      case "timestamp":
        values.push(buf.readBigInt64LE(off));
        off += 8;
        break;
      case "float64":
        values.push(buf.readDoubleLE(off));
        off += 8;
        break;
      case "uuid": {
        const h = buf.toString("hex", off, off + 16);
        values.push(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
        off += 16;
        break;
      }
      case "bool":
        values.push(buf[off++] === 1);
        break;
      case "text":
      case "json":
      case "bytes": {
        const len = buf.readUInt32LE(off);
        off += 4;
        // bytes get their own copy: a connector may keep the value after the payload buffer is reused.
        values.push(type === "bytes" ? Buffer.from(buf.subarray(off, off + len)) : buf.toString("utf8", off, off + len));
        off += len;
        break;
      }
    }
  }
  return values;
}

/**
 * A record's natural key: its schema key field's value as text (int64 in decimal, uuid in canonical
 * form), or — for a schema without a key field — the hex SHA-256 of its canonical encoding. Two
 * byte-identical records always share it; that is what makes a duplicate collide under `keys: natural`.
 */
export function naturalKey(schema: RecordSchema, values: RecordValues, digest?: Buffer): string {
  if (schema.key !== undefined) {
    const k = schema.fields.findIndex((f) => f.name === schema.key);
    const v = values[k];
    if (v !== null && v !== undefined && !Buffer.isBuffer(v)) return String(v);
  }
  return (digest ?? recordDigest(schema, values)).toString("hex");
}

/**
 * A timestamp field value (µs since the epoch) as UTC calendar parts: `date` the whole second (a Date)
 * and `micros` the six fraction digits — floor division, so times before 1970 keep a positive fraction.
 * Connectors that send timestamps as text build their server's literal from it.
 */
export function timestampParts(us: bigint): { date: Date; year: number; micros: string } {
  let sec = us / 1_000_000n;
  let frac = us % 1_000_000n;
  if (frac < 0n) {
    frac += 1_000_000n;
    sec -= 1n;
  }
  const date = new Date(Number(sec) * 1000);
  return { date, year: date.getUTCFullYear(), micros: String(frac).padStart(6, "0") };
}
