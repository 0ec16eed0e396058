// Typed insertion (issue 14) for MariaDB / InnoDB: a typed cell's table has one native column
// per record field, keyed by the unit id (surrogate keys) or by the record's own key (natural
// keys: a duplicate meets the primary key and INSERT IGNORE rejects it). Pure functions: the
// layout, its DDL, parameters and the read-back decoding.
//
// Mapping: int64 → BIGINT, float64 → DOUBLE (binary protocol: the IEEE-754 bits both ways;
// MariaDB cannot store NaN or ±Infinity and turns −0 into 0: such a record fails with an error), text → LONGTEXT
// utf8mb4_bin, uuid → BINARY(16) (its 128 bits; works on every server version, unlike the
// UUID type of 10.7+), timestamp → DATETIME(6) (µs, UTC wall time, years 1000–9999; 8 B),
// json → JSON (MariaDB's JSON is LONGTEXT utf8mb4_bin with a json_valid check: kept verbatim),
// bytes → LONGBLOB, bool → BOOLEAN (TINYINT(1)).
import { naturalKey, timestampParts, type FieldType, type RecordSchema, type RecordValues } from "../../generators/records.js";
import type { KeyMode, Unit } from "../contract.js";
import { ident, qualified } from "./mariadb-sql.js";

export const KEY_COLUMN = "_lab_key";
/** Longest natural key text the key column holds (utf8mb4: 1020 B, below InnoDB's 3072 B key limit). */
export const NATURAL_KEY_CHARS = 255;
const KEYABLE: ReadonlySet<FieldType> = new Set(["int64", "uuid", "timestamp"]);
const COLUMN_RE = /^[a-z0-9_]{1,64}$/;

export const MARIADB_TYPED_MAPPING =
  "table per container: BIGINT, DOUBLE, LONGTEXT utf8mb4_bin, BINARY(16) uuid, DATETIME(6), JSON (verbatim LONGTEXT), LONGBLOB, BOOLEAN; PRIMARY KEY = unit id (surrogate) or the record's key field (natural, INSERT IGNORE)";

export function mariadbColumnType(t: FieldType): string {
  switch (t) {
    case "int64":
      return "BIGINT";
    case "float64":
      return "DOUBLE";
    case "text":
      return "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
    case "uuid":
      return "BINARY(16)";
    case "timestamp":
      return "DATETIME(6)";
    case "json":
      return "JSON";
    case "bytes":
      return "LONGBLOB";
    case "bool":
      return "BOOLEAN";
  }
}

export interface MariadbTypedLayout {
  schema: RecordSchema;
  keys: KeyMode;
  /** The extra key column exists (surrogate keys, or natural keys without a usable key field). */
  keyColumn: boolean;
  pkField: number;
  fieldColumns: string[];
}

export function mariadbTypedLayout(schema: RecordSchema, keys: KeyMode): MariadbTypedLayout {
  // Column names are the field names where they are plain lower-case identifiers, else f<k>.
  const fieldColumns = schema.fields.map((f, k) => (COLUMN_RE.test(f.name) && f.name !== KEY_COLUMN ? f.name : `f${k}`));
  if (new Set(fieldColumns).size !== fieldColumns.length) throw new Error(`schema ${schema.name}: two fields map to one column`);
  let pkField = -1;
  if (keys === "natural" && schema.key !== undefined) {
    const k = schema.fields.findIndex((f) => f.name === schema.key);
    const f = schema.fields[k];
    if (f && !f.nullable && KEYABLE.has(f.type)) pkField = k;
  }
  return { schema, keys, keyColumn: pkField < 0, pkField, fieldColumns };
}

export function typedColumns(l: MariadbTypedLayout): string[] {
  return [...(l.keyColumn ? [KEY_COLUMN] : []), ...l.fieldColumns];
}

export function pkColumn(l: MariadbTypedLayout): string {
  return l.keyColumn ? KEY_COLUMN : l.fieldColumns[l.pkField]!;
}

export function typedCreateTableSql(db: string, table: string, l: MariadbTypedLayout, tableOptions: string): string {
  const cols: string[] = [];
  if (l.keyColumn) {
    cols.push(
      l.keys === "surrogate"
        ? `${ident(KEY_COLUMN)} VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY`
        : `${ident(KEY_COLUMN)} VARCHAR(${NATURAL_KEY_CHARS}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY`,
    );
  }
  l.schema.fields.forEach((f, k) => {
    const pk = k === l.pkField ? " NOT NULL PRIMARY KEY" : f.nullable ? " NULL" : " NOT NULL";
    cols.push(`${ident(l.fieldColumns[k]!)} ${mariadbColumnType(f.type)}${pk}`);
  });
  return `CREATE TABLE ${qualified(db, table)} (${cols.join(", ")}) ${tableOptions}`;
}

/** Multi-row INSERT; natural keys INSERT IGNORE (the duplicate key is rejected; other warnings are checked by the caller). */
export function typedInsertSql(db: string, table: string, l: MariadbTypedLayout, rows = 1): string {
  const cols = typedColumns(l);
  const tuple = `(${cols.map(() => "?").join(",")})`;
  return `INSERT${l.keys === "natural" ? " IGNORE" : ""} INTO ${qualified(db, table)} (${cols.map(ident).join(", ")}) VALUES ${Array(rows).fill(tuple).join(",")}`;
}

/** Rows per statement within the 65 535 placeholders of a prepared statement. */
export function maxTypedRows(l: MariadbTypedLayout): number {
  return Math.max(1, Math.floor(65_535 / typedColumns(l).length));
}

/** The key as the statement compares it: int64 keys CAST so a string parameter never compares as a double. */
function keyParamExpr(l: MariadbTypedLayout): string {
  return !l.keyColumn && l.schema.fields[l.pkField]!.type === "int64" ? "CAST(? AS SIGNED)" : "?";
}

export function typedDeleteSql(db: string, table: string, l: MariadbTypedLayout): string {
  return `DELETE FROM ${qualified(db, table)} WHERE ${ident(pkColumn(l))} = ${keyParamExpr(l)}`;
}

export function typedSelectSql(db: string, table: string, l: MariadbTypedLayout, pageRows: number, after: boolean): string {
  const pk = ident(pkColumn(l));
  // JSON columns as plain text: MariaDB tags them as json and mysql2 would parse them into objects (the text is the record).
  const cols = l.fieldColumns
    .map((c, k) => (l.schema.fields[k]!.type === "json" ? `CAST(${ident(c)} AS CHAR CHARACTER SET utf8mb4) AS ${ident(c)}` : ident(c)))
    .join(", ");
  const pkSel = l.keyColumn ? `, ${pk} AS _lab_pk` : "";
  return `SELECT ${cols}${pkSel} FROM ${qualified(db, table)}${after ? ` WHERE ${pk} > ${keyParamExpr(l)}` : ""} ORDER BY ${pk} LIMIT ${pageRows}`;
}

// ---- values ---------------------------------------------------------------------------------

export type MariadbParam = string | number | boolean | Buffer | null;

/** µs since the epoch as DATETIME(6) text (UTC wall time). */
export function datetimeText(us: bigint): string {
  const { date, year, micros } = timestampParts(us);
  if (!(year >= 1000 && year <= 9999)) throw new Error(`timestamp ${us} µs is outside DATETIME's years 1000–9999`);
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros}`;
}

/** DATETIME(6) text back to µs since the epoch. */
export function datetimeMicros(text: string): bigint {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) throw new Error(`unexpected DATETIME text ${JSON.stringify(text)}`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return BigInt(ms) * 1000n + BigInt((m[7] ?? "").padEnd(6, "0") || "0");
}

export function fieldParam(t: FieldType, v: RecordValues[number]): MariadbParam {
  if (v === null) return null;
  switch (t) {
    case "int64":
      return (v as bigint).toString();
    case "float64":
      if (!Number.isFinite(v as number)) throw new Error(`float64 value ${v}: MariaDB's DOUBLE cannot store NaN or ±Infinity`);
      if (Object.is(v, -0)) throw new Error("float64 value -0: MariaDB's DOUBLE stores it as 0, the record would come back different");
      return v as number;
    case "timestamp":
      return datetimeText(v as bigint);
    case "uuid":
      return Buffer.from((v as string).replaceAll("-", ""), "hex");
    case "bool":
      return v as boolean;
    case "bytes":
      return v as Buffer;
    default:
      return v as string;
  }
}

/** The key column's value: the unit id (surrogate) or the natural key text. */
export function keyText(l: MariadbTypedLayout, u: Pick<Unit, "id" | "sha256">, values: RecordValues): string {
  if (l.keys === "surrogate") return u.id;
  const k = naturalKey(l.schema, values, u.sha256);
  if (k.length > NATURAL_KEY_CHARS) throw new Error(`natural key of ${u.id} is ${k.length} characters; the key column holds ${NATURAL_KEY_CHARS}`);
  return k;
}

/** The parameter a delete (or page) compares the primary key with. */
export function keyParam(l: MariadbTypedLayout, u: Pick<Unit, "id" | "sha256">, values: RecordValues): MariadbParam {
  return l.keyColumn ? keyText(l, u, values) : fieldParam(l.schema.fields[l.pkField]!.type, values[l.pkField]!);
}

export function typedParams(l: MariadbTypedLayout, u: Pick<Unit, "id" | "sha256">, values: RecordValues): MariadbParam[] {
  const out: MariadbParam[] = [];
  if (l.keyColumn) out.push(keyText(l, u, values));
  l.schema.fields.forEach((f, k) => out.push(fieldParam(f.type, values[k]!)));
  return out;
}

function uuidText(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A row of typedSelectSql (binary protocol, bigNumberStrings, dateStrings) back into schema values. */
export function decodeTypedRow(l: MariadbTypedLayout, row: Record<string, unknown>): RecordValues {
  return l.schema.fields.map((f, k) => {
    const v = row[l.fieldColumns[k]!];
    if (v === null || v === undefined) return null;
    switch (f.type) {
      case "int64":
        return BigInt(v as string | number);
      case "float64":
        return Number(v);
      case "timestamp":
        return datetimeMicros(String(v));
      case "uuid":
        return uuidText(v as Buffer);
      case "bool":
        return Number(v) !== 0;
      case "bytes":
        return Buffer.isBuffer(v) ? v : Buffer.from(String(v), "binary");
      default:
        return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
    }
  });
}

/** The last row's key, as the next page's parameter. */
export function pageKey(l: MariadbTypedLayout, row: Record<string, unknown>): MariadbParam {
  if (l.keyColumn) return String(row._lab_pk);
  const v = row[l.fieldColumns[l.pkField]!];
  const t = l.schema.fields[l.pkField]!.type;
  return t === "int64" ? String(v) : t === "timestamp" ? String(v) : (v as Buffer);
}
