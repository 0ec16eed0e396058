// Typed insertion (issue 14) for the PostgreSQL-wire connectors (postgres and cockroach): a
// typed cell's table has one native column per record field, keyed by the unit id (surrogate
// keys) or by the record's own key (natural keys). Pure functions, unit-testable: the layout,
// its DDL, binary COPY rows, text parameters for INSERT, and the read-back SELECT and decoding.
//
// Mapping (PostgreSQL): int64 → bigint, float64 → double precision (IEEE-754 binary64 both
// ways: exact, NaN/±Infinity/−0 kept; numeric would store a decimal approximation and cost
// more bytes), text → text, uuid → uuid (16 B), timestamp → timestamptz (8 B, µs since
// 2000-01-01 inside; the µs-since-epoch value round-trips exactly), json → json (the text kept
// verbatim, so the record reads back byte-identical; jsonb would reorder keys and drop
// whitespace, changing the record), bytes → bytea, bool → boolean. CockroachDB has no verbatim
// JSON type (its JSON is JSONB), so there json fields are STRING columns.
import { naturalKey, timestampParts, type FieldType, type RecordSchema, type RecordValues } from "../../generators/records.js";
import type { KeyMode, Unit } from "../contract.js";
import { ident } from "./postgres-sql.js";

/** The surrogate/natural key column a layout adds when no record field can be the primary key. */
export const KEY_COLUMN = "_lab_key";
/** The record digest column of the hash_index variants (the typed analogue of the blob table's sha256). */
export const DIGEST_COLUMN = "_lab_sha256";

/** Field types whose values are variable-length (TOASTable: compression and storage variants apply). */
export const VARLENA: ReadonlySet<FieldType> = new Set(["text", "json", "bytes"]);
/** Field types a natural key may be the primary key of directly. */
const KEYABLE: ReadonlySet<FieldType> = new Set(["int64", "uuid", "text", "timestamp"]);

export type PgFlavour = "postgresql" | "cockroachdb";

export function pgColumnType(t: FieldType, flavour: PgFlavour): string {
  switch (t) {
    case "int64":
      return "bigint";
    case "float64":
      return "double precision";
    case "text":
      return "text";
    case "uuid":
      return "uuid";
    case "timestamp":
      return "timestamptz";
    case "json":
      return flavour === "postgresql" ? "json" : "text";
    case "bytes":
      return "bytea";
    case "bool":
      return "boolean";
  }
}

/** Fixed stored width of a non-varlena type (its L0 bytes too). */
const FIXED_BYTES: Partial<Record<FieldType, number>> = { int64: 8, float64: 8, timestamp: 8, uuid: 16, bool: 1 };

export interface PgTypedLayout {
  schema: RecordSchema;
  keys: KeyMode;
  flavour: PgFlavour;
  /** The cell stores the record digest with an index (hash_index variants). */
  digest: boolean;
  /** The extra key column exists (surrogate keys, or natural keys without a usable key field). */
  keyColumn: boolean;
  /** Index of the field that is the primary key (natural keys on a usable key field), else -1. */
  pkField: number;
  /** Column names of the fields, in schema order. */
  fieldColumns: string[];
}

/** One line naming the typed layout (capabilities.typed.mapping). */
export function pgTypedMapping(flavour: PgFlavour): string {
  return flavour === "postgresql"
    ? "table per container: bigint, double precision, text, uuid, timestamptz, json (verbatim), bytea, boolean; PRIMARY KEY = unit id (surrogate) or the record's key field (natural)"
    : "table per container: INT8, FLOAT8, STRING, UUID, TIMESTAMPTZ, STRING for json (CockroachDB's JSON is JSONB, not verbatim; json on the PostgreSQL stand-in), BYTES, BOOL; PRIMARY KEY = unit id (surrogate) or the record's key field (natural)";
}

export function pgTypedLayout(schema: RecordSchema, keys: KeyMode, flavour: PgFlavour, digest: boolean): PgTypedLayout {
  const fieldColumns = schema.fields.map((f, k) => (f.name.length > 0 && Buffer.byteLength(f.name) <= 63 ? f.name : `f${k}`));
  const seen = new Set<string>();
  for (const c of fieldColumns) {
    if (c === KEY_COLUMN || c === DIGEST_COLUMN) throw new Error(`schema ${schema.name}: field name ${c} is reserved for the lab's own column`);
    if (seen.has(c)) throw new Error(`schema ${schema.name}: two fields map to column ${c}`);
    seen.add(c);
  }
  let pkField = -1;
  if (keys === "natural" && schema.key !== undefined) {
    const k = schema.fields.findIndex((f) => f.name === schema.key);
    const f = schema.fields[k];
    if (f && !f.nullable && KEYABLE.has(f.type)) pkField = k;
  }
  return { schema, keys, flavour, digest, keyColumn: pkField < 0, pkField, fieldColumns };
}

/** All columns in the order rows carry them: [key], fields…, [digest]. */
export function typedColumns(l: PgTypedLayout): string[] {
  return [...(l.keyColumn ? [KEY_COLUMN] : []), ...l.fieldColumns, ...(l.digest ? [DIGEST_COLUMN] : [])];
}

/** The primary-key column. */
export function pkColumn(l: PgTypedLayout): string {
  return l.keyColumn ? KEY_COLUMN : l.fieldColumns[l.pkField]!;
}

/**
 * CREATE TABLE (and its ALTERs/index) of a typed cell's table. `compression` is the per-column
 * COMPRESSION of the varlena columns (PostgreSQL 14+; null: none), `external` sets their storage
 * to EXTERNAL, `digestIndex` the B-tree on the digest column (with its deduplicate_items option).
 */
export function typedCreateTableSql(
  table: string, l: PgTypedLayout, o: { compression: string | null; external: boolean; digestIndex?: { name: string; dedup: "on" | "off" | null } },
): string[] {
  const cols: string[] = [];
  if (l.keyColumn) cols.push(`${ident(KEY_COLUMN)} text PRIMARY KEY`);
  l.schema.fields.forEach((f, k) => {
    const varlena = VARLENA.has(f.type);
    const comp = varlena && o.compression ? ` COMPRESSION ${o.compression}` : "";
    const pk = k === l.pkField ? " PRIMARY KEY" : f.nullable ? "" : " NOT NULL";
    cols.push(`${ident(l.fieldColumns[k]!)} ${pgColumnType(f.type, l.flavour)}${comp}${pk}`);
  });
  if (l.digest) cols.push(`${ident(DIGEST_COLUMN)} bytea NOT NULL`);
  const out = [`CREATE TABLE ${table} (${cols.join(", ")})`];
  if (o.external) {
    l.schema.fields.forEach((f, k) => {
      if (VARLENA.has(f.type)) out.push(`ALTER TABLE ${table} ALTER COLUMN ${ident(l.fieldColumns[k]!)} SET STORAGE EXTERNAL`);
    });
  }
  if (l.digest && o.digestIndex) {
    const w = o.digestIndex.dedup ? ` WITH (deduplicate_items = ${o.digestIndex.dedup})` : "";
    out.push(`CREATE INDEX ${ident(o.digestIndex.name)} ON ${table} (${ident(DIGEST_COLUMN)})${w}`);
  }
  return out;
}

/** The value of the unit's key column as a text parameter, or of its primary-key field. */
export function typedKey(l: PgTypedLayout, u: Pick<Unit, "id" | "sha256">, values: RecordValues): string {
  if (l.keys === "surrogate") return u.id;
  if (l.keyColumn) return naturalKey(l.schema, values, u.sha256);
  return textParam(l.schema.fields[l.pkField]!.type, values[l.pkField]!) as string;
}

// ---- values on the way in -----------------------------------------------------------------

/** µs between 1970-01-01 and 2000-01-01 (PostgreSQL's timestamp epoch). */
const PG_EPOCH_US = 946_684_800_000_000n;

/** A float64 as text PostgreSQL parses back to the same bits (JS's shortest round-trip form; −0 and the non-finite values spelled out). */
export function floatText(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  if (Object.is(v, -0)) return "-0";
  return String(v);
}

/** A timestamp (µs since the epoch) as ISO 8601 in UTC with all six fraction digits. */
export function timestampText(us: bigint): string {
  const { date, year, micros } = timestampParts(us);
  if (!(year >= 1 && year <= 9999)) throw new Error(`timestamp ${us} µs is outside the years 1–9999 the typed table can take as text`);
  return `${date.toISOString().slice(0, 19)}.${micros}+00:00`;
}

/** A field value as a query parameter for pg (text, or a Buffer sent as binary bytea). */
export function textParam(t: FieldType, v: RecordValues[number]): string | Buffer | null {
  if (v === null) return null;
  switch (t) {
    case "int64":
      return (v as bigint).toString();
    case "float64":
      return floatText(v as number);
    case "timestamp":
      return timestampText(v as bigint);
    case "bool":
      return v ? "true" : "false";
    case "bytes":
      return v as Buffer;
    default:
      return v as string;
  }
}

/** Parameters of one row: [key], fields…, [digest]. */
export function typedParams(l: PgTypedLayout, u: Pick<Unit, "id" | "sha256">, values: RecordValues): (string | Buffer | null)[] {
  const out: (string | Buffer | null)[] = [];
  if (l.keyColumn) out.push(typedKey(l, u, values));
  l.schema.fields.forEach((f, k) => out.push(textParam(f.type, values[k]!)));
  if (l.digest) out.push(u.sha256);
  return out;
}

/** INSERT of `rows` rows; natural keys add ON CONFLICT DO NOTHING (a colliding record is rejected, counted by rowCount). */
export function typedInsertSql(table: string, l: PgTypedLayout, rows = 1): string {
  const cols = typedColumns(l);
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) tuples.push(`(${cols.map((_, c) => `$${r * cols.length + c + 1}`).join(", ")})`);
  return `INSERT INTO ${table} (${cols.map(ident).join(", ")}) VALUES ${tuples.join(", ")}${l.keys === "natural" ? " ON CONFLICT DO NOTHING" : ""}`;
}

/** Rows per multi-row INSERT so that its parameters stay within the protocol's 65 535. */
export function maxRowsPerInsert(l: PgTypedLayout): number {
  return Math.max(1, Math.floor(65_535 / typedColumns(l).length));
}

export function typedDeleteSql(table: string, l: PgTypedLayout): string {
  return `DELETE FROM ${table} WHERE ${ident(pkColumn(l))} = $1`;
}

export function typedCopySql(table: string, l: PgTypedLayout): string {
  return `COPY ${table} (${typedColumns(l).map(ident).join(", ")}) FROM STDIN WITH (FORMAT binary)`;
}

/** Staging table of the natural-key bulk path: the target's columns, no key constraint (COPY has no ON CONFLICT). */
export function stagingCreateSql(stage: string, table: string): string {
  return `CREATE TEMP TABLE ${ident(stage)} (LIKE ${table})`;
}

/** The staging table, always named in the session's own temp schema (never a lab table). */
export function stagingTable(stage: string): string {
  return `pg_temp.${ident(stage)}`;
}

/** Moves staged rows into the table; a record whose key is already there (or earlier in the stage) is rejected. */
export function stagingMergeSql(stage: string, table: string, l: PgTypedLayout): string {
  const cols = typedColumns(l).map(ident).join(", ");
  return `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM ${stagingTable(stage)} ON CONFLICT DO NOTHING`;
}

/** One binary COPY row (field count, then per column its length and bytes; −1 for null). */
export function copyRow(l: PgTypedLayout, u: Pick<Unit, "id" | "sha256">, values: RecordValues): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(2);
  head.writeInt16BE(typedColumns(l).length);
  parts.push(head);
  const push = (b: Buffer | null) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length);
    parts.push(len);
    if (b) parts.push(b);
  };
  if (l.keyColumn) push(Buffer.from(typedKey(l, u, values), "utf8"));
  l.schema.fields.forEach((f, k) => push(binaryValue(f.type, values[k]!)));
  if (l.digest) push(u.sha256);
  return Buffer.concat(parts);
}

function binaryValue(t: FieldType, v: RecordValues[number]): Buffer | null {
  if (v === null) return null;
  switch (t) {
    case "int64": {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(v as bigint);
      return b;
    }
    case "timestamp": {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE((v as bigint) - PG_EPOCH_US);
      return b;
    }
    case "float64": {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v as number);
      return b;
    }
    case "uuid":
      return Buffer.from((v as string).replaceAll("-", ""), "hex");
    case "bool":
      return Buffer.of(v ? 1 : 0);
    case "bytes":
      return v as Buffer;
    case "text":
    case "json":
      return Buffer.from(v as string, "utf8");
  }
}

// ---- values on the way out ----------------------------------------------------------------

/** The SELECT expression of a field that reads back the exact value (as text where pg's parser would lose it). */
function selectExpr(t: FieldType, col: string): string {
  const c = ident(col);
  switch (t) {
    case "int64":
    case "json":
      return `${c}::text`; // int8 as text anyway; json as text, not parsed into an object
    case "timestamp":
      // Whole seconds (exact in any float) and the µs within the second: µs since the epoch on PostgreSQL and CockroachDB alike.
      return `(EXTRACT(EPOCH FROM date_trunc('second', ${c}))::int8 * 1000000 + EXTRACT(MICROSECONDS FROM ${c})::int8 % 1000000)::text`;
    default:
      return c;
  }
}

/** One page of records in primary-key order after the key $1 (or from the start): its last column is the key as text. */
export function typedSelectSql(table: string, l: PgTypedLayout, pageRows: number, after: boolean): string {
  const exprs = l.schema.fields.map((f, k) => `${selectExpr(f.type, l.fieldColumns[k]!)} AS ${ident(`c${k}`)}`);
  const pk = ident(pkColumn(l));
  return `SELECT ${exprs.join(", ")}, ${pk}::text AS "_lab_pk" FROM ${table}${after ? ` WHERE ${pk} > $1` : ""} ORDER BY ${pk} LIMIT ${pageRows}`;
}

/** A row of typedSelectSql back into schema-ordered values. */
export function decodeTypedRow(l: PgTypedLayout, row: Record<string, unknown>): RecordValues {
  return l.schema.fields.map((f, k) => {
    const v = row[`c${k}`];
    if (v === null || v === undefined) return null;
    switch (f.type) {
      case "int64":
      case "timestamp":
        return BigInt(v as string);
      case "float64":
        return typeof v === "number" ? v : Number(v);
      case "bool":
        return v === true || v === "t" || v === "true";
      case "bytes":
        return Buffer.isBuffer(v) ? v : Buffer.from(String(v).replace(/^\\x/, ""), "hex");
      case "uuid":
        return String(v).toLowerCase();
      default:
        return String(v);
    }
  });
}

/** Stored (post-compression) and raw bytes of the field columns of one typed table: L1. */
export function typedFieldSizesSql(table: string, l: PgTypedLayout): string {
  const stored = l.fieldColumns.map((c) => `COALESCE(sum(pg_column_size(${ident(c)})), 0)`).join(" + ");
  const raw = l.schema.fields
    .map((f, k) => {
      const c = ident(l.fieldColumns[k]!);
      if (f.type === "json") return `COALESCE(sum(octet_length(${c}::text)), 0)`;
      return VARLENA.has(f.type) ? `COALESCE(sum(octet_length(${c})), 0)` : `${FIXED_BYTES[f.type]} * count(${c})`;
    })
    .join(" + ");
  return `SELECT count(*) AS n, ${stored} AS stored, ${raw} AS raw FROM ${table}`;
}
