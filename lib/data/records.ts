// Parsers of the real data sets' own formats into typed records (issue 14, first step).
// Each parser checks that the file IS the format it expects (magic bytes, then the content)
// and fails with one line naming the file and the expected format — never 0 records
// silently: a file that parses into no record is an error too. Sources are opened
// read-only (flags "r"; SQLite readonly) and never written.
//
//   GH Archive events   .json.gz: gunzip, one JSON object per line → gharchive_events
//   Gutenberg texts     UTF-8 plain text → gutenberg_paragraphs, one record per paragraph
//   bank transactions   .xlsx (the data set's real format; ExcelJS streaming reader)
//   forum posts dump    SQLite (better-sqlite3, read-only): any table, default "Posts"
//   random numbers      CSV (csv-parse)
// XLSX, CSV and SQLite schemas come from the file (header row / column names) with types
// inferred from every value in a first pass (see inferType); the second pass yields records.
// Memory stays flat in the number of records (both passes stream).
import { open } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { basename, extname } from "node:path";
import { createGunzip } from "node:zlib";
import Database from "better-sqlite3";
import { parse as parseCsv } from "csv-parse";
import ExcelJS from "exceljs";
import { UsageError } from "../errors.js";
import { field, RecordTotalsBuilder, validateRecord, type FieldSpec, type FieldType, type RecordSchema, type RecordTotals, type RecordValues } from "../generators/records.js";

export type RecordFormat = "gharchive" | "gutenberg" | "xlsx" | "csv" | "sqlite";

/** What each format is called in errors. */
export const FORMAT_NAMES: Record<RecordFormat, string> = {
  gharchive: "GH Archive events (gzip-compressed JSON lines, .json.gz)",
  gutenberg: "a UTF-8 plain-text book",
  xlsx: "an XLSX workbook (a zip of XML parts)",
  csv: "a CSV text file",
  sqlite: "an SQLite database",
};

/** A parsed source: its schema (known before the first record) and its records, streamed. */
export interface ParsedRecords {
  path: string;
  format: RecordFormat;
  schema: RecordSchema;
  /** Streams the records; throws a one-line error on a malformed record or when there is none. */
  records(): AsyncGenerator<RecordValues>;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** The one-line error: names the file and the format it was expected to be in. */
export function formatError(path: string, format: RecordFormat, detail: string): UsageError {
  return new UsageError(`${path} is not ${FORMAT_NAMES[format]}: ${oneLine(detail)}`, "check the file (or its data-manifest's format) and stage the right one");
}

async function head(path: string, n: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new UsageError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code})`, "check the path and its permissions");
  }
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZIP_MAGIC = Buffer.from("PK\x03\x04", "latin1");
const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/** What a file's first bytes say it is, for error messages. */
function sniff(b: Buffer): string {
  if (b.length === 0) return "the file is empty";
  if (b.subarray(0, 2).equals(GZIP_MAGIC)) return "it is gzip-compressed";
  if (b.subarray(0, 4).equals(ZIP_MAGIC)) return "it is a zip archive";
  if (b.subarray(0, 16).equals(SQLITE_MAGIC)) return "it is an SQLite database";
  if (b.includes(0)) return "it holds binary data (NUL bytes)";
  return `it starts with ${JSON.stringify(b.subarray(0, 24).toString("latin1"))}`;
}

/**
 * Lines of a UTF-8 byte stream (without their "\n" or "\r\n"; a leading BOM removed). Invalid
 * UTF-8 or a NUL byte is a format error naming the line.
 */
async function* utf8Lines(stream: AsyncIterable<Buffer>, path: string, format: RecordFormat): AsyncGenerator<string> {
  const dec = new TextDecoder("utf-8", { fatal: true });
  let carry = "";
  let lineNo = 0;
  const take = function* (text: string, final: boolean): Generator<string> {
    carry += text;
    let start = 0;
    for (let nl = carry.indexOf("\n"); nl >= 0; nl = carry.indexOf("\n", start)) {
      lineNo++;
      yield carry.slice(start, nl > start && carry.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      start = nl + 1;
    }
    carry = carry.slice(start);
    if (final && carry.length > 0) {
      lineNo++;
      const last = carry.endsWith("\r") ? carry.slice(0, -1) : carry;
      carry = "";
      yield last;
    }
  };
  for await (const chunk of stream) {
    let text: string;
    try {
      text = dec.decode(chunk as Buffer, { stream: true });
    } catch {
      throw formatError(path, format, `invalid UTF-8 after line ${lineNo}`);
    }
    if (text.includes("\0")) throw formatError(path, format, `NUL byte after line ${lineNo} (binary data)`);
    yield* take(text, false);
  }
  let rest: string;
  try {
    rest = dec.decode();
  } catch {
    throw formatError(path, format, "invalid UTF-8 at the end of the file");
  }
  yield* take(rest, true);
}

/** Wrap stream errors (gunzip, csv-parse, ExcelJS) as the one-line format error; UsageErrors pass. */
function wrap(e: unknown, path: string, format: RecordFormat): Error {
  if (e instanceof UsageError) return e;
  return formatError(path, format, (e as Error)?.message ?? String(e));
}

function noRecords(path: string, format: RecordFormat, what = "no records"): UsageError {
  return formatError(path, format, `${what} found (an empty or wrongly formatted file)`);
}

// ---- GH Archive ------------------------------------------------------------------------

/**
 * One GH Archive event per record. The event's own keys are kept: id, type, actor, repo, org,
 * payload, public, created_at; any other top-level key goes into `other` (a JSON object, null
 * when there is none), so nothing of an event is dropped. JSON fields hold JSON.stringify of the
 * parsed value (GH Archive lines are compact JSON already).
 */
export const GHARCHIVE_SCHEMA: RecordSchema = {
  name: "gharchive_events",
  key: "id",
  fields: [
    field("id", "int64"),
    field("type", "text"),
    field("actor", "json", true),
    field("repo", "json", true),
    field("org", "json", true),
    field("payload", "json", true),
    field("public", "bool", true),
    field("created_at", "timestamp"),
    field("other", "json", true),
  ],
};
const GH_KNOWN = new Set(GHARCHIVE_SCHEMA.fields.map((f) => f.name));

/** ISO-8601 date-time (with Z or an offset) → microseconds since the epoch; null when it is not one. */
export function isoToMicros(s: string): bigint | null {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}T${m[2]}${m[4] ?? "Z"}`);
  if (!Number.isFinite(ms)) return null;
  const frac = BigInt((m[3] ?? "").padEnd(6, "0").slice(0, 6));
  return BigInt(ms) * 1000n + frac;
}

function ghEvent(line: string, path: string, lineNo: number): RecordValues {
  const bad = (why: string) => formatError(path, "gharchive", `line ${lineNo}: ${why}`);
  let ev: unknown;
  try {
    ev = JSON.parse(line);
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof ev !== "object" || ev === null || Array.isArray(ev)) throw bad("not a JSON object");
  const o = ev as Record<string, unknown>;
  let id: bigint;
  if (typeof o.id === "string" && /^\d+$/.test(o.id)) id = BigInt(o.id);
  else if (typeof o.id === "number" && Number.isSafeInteger(o.id)) id = BigInt(o.id);
  else throw bad(`event id ${JSON.stringify(o.id)} is not an integer`);
  if (typeof o.type !== "string") throw bad("event has no type");
  const created = typeof o.created_at === "string" ? isoToMicros(o.created_at) : null;
  if (created === null) throw bad(`created_at ${JSON.stringify(o.created_at)} is not an ISO-8601 time`);
  if (o.public !== undefined && o.public !== null && typeof o.public !== "boolean") throw bad("public is not a boolean");
  const j = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
  const other: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (!GH_KNOWN.has(k)) other[k] = o[k];
  return [id, o.type, j(o.actor), j(o.repo), j(o.org), j(o.payload), (o.public as boolean | undefined) ?? null, created, Object.keys(other).length ? JSON.stringify(other) : null];
}

/** GH Archive hour file: gzip (one or more members) of newline-delimited JSON events. */
export async function openGhArchive(path: string): Promise<ParsedRecords> {
  const b = await head(path, 16);
  if (!b.subarray(0, 2).equals(GZIP_MAGIC)) throw formatError(path, "gharchive", `not gzip-compressed (${sniff(b)})`);
  return {
    path,
    format: "gharchive",
    schema: GHARCHIVE_SCHEMA,
    async *records() {
      let n = 0;
      let lineNo = 0;
      const gunzip = createReadStream(path, { flags: "r" }).pipe(createGunzip());
      try {
        for await (const line of utf8Lines(gunzip, path, "gharchive")) {
          lineNo++;
          if (line.trim() === "") continue;
          n++;
          yield ghEvent(line, path, lineNo);
        }
      } catch (e) {
        throw wrap(e, path, "gharchive");
      } finally {
        gunzip.destroy();
      }
      if (n === 0) throw noRecords(path, "gharchive", "no events");
    },
  };
}

// ---- Gutenberg -----------------------------------------------------------------------------

/**
 * One record per paragraph: a paragraph is a maximal run of non-blank lines (a blank line holds
 * only whitespace). `text` is its lines joined by "\n" (a "\r\n" line end becomes "\n"; spaces
 * inside and around lines are kept); the blank lines between paragraphs are separators, not
 * content. `book` is the file name without its extension, `paragraph` the 0-based ordinal.
 * Per paragraph rather than per book: two books would be two records. Project Gutenberg's header
 * and licence paragraphs recur in every book as equal `text` values (field-level repetition a
 * columnar store can exploit); whole records stay distinct, as book and ordinal differ.
 */
export const GUTENBERG_SCHEMA: RecordSchema = {
  name: "gutenberg_paragraphs",
  fields: [field("book", "text"), field("paragraph", "int64"), field("text", "text")],
};

export async function openGutenberg(path: string): Promise<ParsedRecords> {
  const b = await head(path, 64 * 1024);
  if (b.length === 0 || b.includes(0) || b.subarray(0, 2).equals(GZIP_MAGIC) || b.subarray(0, 4).equals(ZIP_MAGIC)) {
    throw formatError(path, "gutenberg", sniff(b));
  }
  const book = basename(path, extname(path));
  return {
    path,
    format: "gutenberg",
    schema: GUTENBERG_SCHEMA,
    async *records() {
      let n = 0;
      let lines: string[] = [];
      for await (const line of utf8Lines(createReadStream(path, { flags: "r" }), path, "gutenberg")) {
        if (line.trim() === "") {
          if (lines.length > 0) yield [book, BigInt(n++), lines.join("\n")];
          lines = [];
        } else lines.push(line);
      }
      if (lines.length > 0) yield [book, BigInt(n++), lines.join("\n")];
      if (n === 0) throw noRecords(path, "gutenberg", "no paragraphs");
    },
  };
}

// ---- type inference for tabular sources ----------------------------------------------------

/** Kinds of values a column was seen to hold. */
type Kind = "int" | "float" | "text" | "bool" | "date" | "bytes";

/**
 * The field type of a column from the kinds of all its non-null values: one kind → its type
 * (int → int64, float → float64, date → timestamp, bool → bool, text → text, bytes → bytes);
 * int and float → float64; bytes with anything → bytes; any other mix → text (values rendered
 * as text: see toText). A column of nulls only is text. Nullable iff a null was seen.
 */
export function inferType(kinds: Set<Kind>): FieldType {
  const k = [...kinds];
  if (k.length === 0) return "text";
  if (k.length === 1) return ({ int: "int64", float: "float64", text: "text", bool: "bool", date: "timestamp", bytes: "bytes" } as const)[k[0]!];
  if (k.every((x) => x === "int" || x === "float")) return "float64";
  if (kinds.has("bytes")) return "bytes";
  return "text";
}

type Cell = bigint | number | string | boolean | Date | Buffer | null;

function kindOf(v: Cell): Kind | null {
  if (v === null) return null;
  if (typeof v === "bigint") return "int";
  if (typeof v === "number") return Number.isSafeInteger(v) ? "int" : "float";
  if (typeof v === "boolean") return "bool";
  if (v instanceof Date) return "date";
  if (Buffer.isBuffer(v)) return "bytes";
  return "text";
}

function toText(v: Exclude<Cell, null>): string {
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  return String(v);
}

/** Convert a cell to its column's inferred type (lossless for the kinds inferType allows). */
function convert(v: Cell, type: FieldType): RecordValues[number] {
  if (v === null) return null;
  switch (type) {
    case "int64":
      return typeof v === "bigint" ? v : BigInt(v as number);
    case "float64":
      return Number(v);
    case "timestamp":
      return BigInt((v as Date).getTime()) * 1000n;
    case "bool":
      return v as boolean;
    case "bytes":
      return Buffer.isBuffer(v) ? v : Buffer.from(toText(v), "utf8");
    default:
      return toText(v);
  }
}

class ColumnStats {
  readonly kinds: Set<Kind>[] = [];
  readonly nulls: boolean[] = [];
  constructor(readonly width: number) {
    for (let i = 0; i < width; i++) (this.kinds.push(new Set()), this.nulls.push(false));
  }
  add(row: Cell[]): void {
    for (let i = 0; i < this.width; i++) {
      const k = kindOf(row[i] ?? null);
      if (k === null) this.nulls[i] = true;
      else this.kinds[i]!.add(k);
    }
  }
  schema(name: string, names: string[]): RecordSchema {
    return { name, fields: names.map((n, i): FieldSpec => field(n, inferType(this.kinds[i]!), this.nulls[i]!)) };
  }
}

function checkNames(names: string[], path: string, format: RecordFormat): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (n === "") throw formatError(path, format, `header column ${i + 1} has no name`);
    if (seen.has(n)) throw formatError(path, format, `header names column "${n}" twice`);
    seen.add(n);
  });
}

// ---- XLSX (bank transactions) ----------------------------------------------------------------

/** An ExcelJS cell value → a plain cell (rich text joined, hyperlinks as their text, formulas as their result). */
function xlsxCell(v: unknown): Cell {
  if (v === undefined || v === null) return null;
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean" || v instanceof Date) return v;
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.richText)) return (o.richText as { text: string }[]).map((t) => t.text).join("");
    if ("formula" in o || "sharedFormula" in o) return xlsxCell(o.result);
    if ("error" in o) return String(o.error);
    if ("text" in o) return xlsxCell(o.text);
  }
  return String(v);
}

async function* xlsxRows(path: string): AsyncGenerator<{ sheet: string; number: number; cells: Cell[] }> {
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(createReadStream(path, { flags: "r" }), {
    sharedStrings: "cache",
    styles: "cache", // dates are numbers with a date format: the styles tell them apart
    hyperlinks: "ignore",
    worksheets: "emit",
    entries: "ignore",
  });
  for await (const ws of reader) {
    const name = (ws as unknown as { name?: string }).name ?? "?";
    for await (const row of ws) {
      const values = row.values as unknown[];
      const cells = Array.from({ length: Math.max(0, values.length - 1) }, (_, i) => xlsxCell(values[i + 1]));
      if (cells.every((c) => c === null || c === "")) continue;
      yield { sheet: name, number: row.number, cells };
    }
  }
}

/**
 * An XLSX workbook: the first non-empty row is the header (column names); every later row is a
 * record. Every worksheet with rows must have the same header (one schema per file) — a sheet
 * with another header is an error, not dropped. A value right of the header is an error too.
 */
export async function openXlsx(path: string, name = "bank_transactions"): Promise<ParsedRecords> {
  const b = await head(path, 16);
  if (!b.subarray(0, 4).equals(ZIP_MAGIC)) throw formatError(path, "xlsx", `no zip header (${sniff(b)})`);
  let header: string[] | null = null;
  let stats!: ColumnStats;
  let rows = 0;
  const check = (r: { sheet: string; number: number; cells: Cell[] }): boolean => {
    if (!header) return false;
    if (r.cells.length > header.length && r.cells.slice(header.length).some((c) => c !== null)) {
      throw formatError(path, "xlsx", `sheet "${r.sheet}" row ${r.number} has a value right of the ${header.length} header columns`);
    }
    return true;
  };
  let headerSheet = "";
  const sheetsWithHeader = new Set<string>();
  try {
    for await (const r of xlsxRows(path)) {
      if (!header) {
        header = r.cells.map((c) => (c === null ? "" : toText(c)));
        checkNames(header, path, "xlsx");
        stats = new ColumnStats(header.length);
        headerSheet = r.sheet;
        sheetsWithHeader.add(r.sheet);
        continue;
      }
      if (!sheetsWithHeader.has(r.sheet)) {
        const h = r.cells.map((c) => (c === null ? "" : toText(c)));
        if (h.join("\x1f") !== header.join("\x1f")) {
          throw formatError(path, "xlsx", `sheet "${r.sheet}" has another header than sheet "${headerSheet}" (one schema per file)`);
        }
        sheetsWithHeader.add(r.sheet);
        continue;
      }
      check(r);
      stats.add(r.cells);
      rows++;
    }
  } catch (e) {
    throw wrap(e, path, "xlsx");
  }
  if (!header) throw noRecords(path, "xlsx", "no header row");
  if (rows === 0) throw noRecords(path, "xlsx", "header but no data rows");
  const schema = stats.schema(name, header);
  return {
    path,
    format: "xlsx",
    schema,
    async *records() {
      const seen = new Set<string>();
      let n = 0;
      try {
        for await (const r of xlsxRows(path)) {
          if (!seen.has(r.sheet)) {
            seen.add(r.sheet); // its header row
            continue;
          }
          check(r);
          n++;
          yield schema.fields.map((f, i) => convert(r.cells[i] ?? null, f.type));
        }
      } catch (e) {
        throw wrap(e, path, "xlsx");
      }
      if (n !== rows) throw formatError(path, "xlsx", `${n} data rows on the second read, ${rows} on the first (the file changed while read)`);
    },
  };
}

// ---- CSV (random numbers) ---------------------------------------------------------------------

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT64_MAX = 2n ** 63n - 1n;

/** A CSV field → cell: "" is null; integers within int64 → bigint; other numbers → number; else text. */
function csvCell(s: string): Cell {
  if (s === "") return null;
  if (INT_RE.test(s)) {
    const v = BigInt(s);
    if (v <= INT64_MAX && v >= -INT64_MAX - 1n) return v;
  }
  if (FLOAT_RE.test(s)) return Number(s);
  return s;
}

function csvRows(path: string): AsyncIterable<string[]> & { destroy(): void } {
  const parser = parseCsv({ bom: true, skip_empty_lines: true, relax_column_count: false });
  createReadStream(path, { flags: "r" })
    .on("error", (e) => parser.destroy(e))
    .pipe(parser);
  return parser as unknown as AsyncIterable<string[]> & { destroy(): void };
}

/**
 * A CSV file (comma-separated, RFC 4180 quoting, every row the same width). The first row is a
 * header when any of its fields is not a number, else the columns are named c1, c2, …. Column
 * types: all integers → int64, all numbers → float64 (the value, not its text: "1.50" is 1.5),
 * else text; an empty field is null.
 */
export async function openCsv(path: string, name = "random_numbers"): Promise<ParsedRecords> {
  const b = await head(path, 64 * 1024);
  if (b.length === 0 || b.includes(0) || b.subarray(0, 2).equals(GZIP_MAGIC) || b.subarray(0, 4).equals(ZIP_MAGIC)) {
    throw formatError(path, "csv", sniff(b));
  }
  let names: string[] | null = null;
  let hasHeader = false;
  let stats!: ColumnStats;
  let rows = 0;
  try {
    for await (const row of csvRows(path)) {
      if (!names) {
        hasHeader = row.some((s) => s !== "" && typeof csvCell(s) === "string");
        names = hasHeader ? row : row.map((_, i) => `c${i + 1}`);
        checkNames(names, path, "csv");
        stats = new ColumnStats(names.length);
        if (hasHeader) continue;
      }
      stats.add(row.map(csvCell));
      rows++;
    }
  } catch (e) {
    throw wrap(e, path, "csv");
  }
  if (rows === 0) throw noRecords(path, "csv", names ? "a header but no data rows" : "no rows");
  const schema = stats.schema(name, names!);
  return {
    path,
    format: "csv",
    schema,
    async *records() {
      let n = 0;
      let first = true;
      try {
        for await (const row of csvRows(path)) {
          if (first && hasHeader) {
            first = false;
            continue;
          }
          first = false;
          n++;
          yield schema.fields.map((f, i) => convert(csvCell(row[i]!), f.type));
        }
      } catch (e) {
        throw wrap(e, path, "csv");
      }
      if (n !== rows) throw formatError(path, "csv", `${n} rows on the second read, ${rows} on the first (the file changed while read)`);
    },
  };
}

// ---- SQLite (forum posts) ------------------------------------------------------------------------

function quoteIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

async function openSqliteFile(path: string): Promise<Database.Database> {
  const b = await head(path, 16);
  if (!b.equals(SQLITE_MAGIC)) throw formatError(path, "sqlite", `no "SQLite format 3" header (${sniff(b)})`);
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw wrap(e, path, "sqlite");
  }
}

/** The user tables of an SQLite database (sqlite_* internal tables left out). */
export async function sqliteTables(path: string): Promise<string[]> {
  const db = await openSqliteFile(path);
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } catch (e) {
    throw wrap(e, path, "sqlite");
  } finally {
    db.close();
  }
}

const SQLITE_KIND: Record<string, Kind> = { integer: "int", real: "float", text: "text", blob: "bytes" };

/**
 * One table of an SQLite database, one record per row. Field types come from the storage
 * classes the column's values actually have (SQLite types values, not columns): integer → int64,
 * real (with or without integers) → float64, text → text, blob → bytes (binary stays binary);
 * mixed text and numbers → text; nullable iff a NULL occurs. Dates stored as text stay text.
 */
export async function openSqliteTable(path: string, table: string): Promise<ParsedRecords> {
  const tables = await sqliteTables(path);
  if (!tables.includes(table)) {
    throw formatError(path, "sqlite", `it has no table "${table}" (tables: ${tables.join(", ") || "none"})`);
  }
  const db = await openSqliteFile(path);
  let schema: RecordSchema;
  let rows: number;
  try {
    const cols = (db.prepare(`PRAGMA table_info(${quoteIdent(table)})`).all() as { name: string }[]).map((c) => c.name);
    const fields = cols.map((c) => {
      const classes = (db.prepare(`SELECT DISTINCT typeof(${quoteIdent(c)}) AS t FROM ${quoteIdent(table)}`).all() as { t: string }[]).map((r) => r.t);
      const kinds = new Set(classes.filter((t) => t !== "null").map((t) => SQLITE_KIND[t]!));
      return field(c, inferType(kinds), classes.includes("null"));
    });
    schema = { name: table, fields };
    rows = Number((db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(table)}`).get() as { n: number }).n);
  } catch (e) {
    throw wrap(e, path, "sqlite");
  } finally {
    db.close();
  }
  if (rows === 0) throw noRecords(path, "sqlite", `table "${table}" has no rows:`);
  return {
    path,
    format: "sqlite",
    schema,
    async *records() {
      const db = await openSqliteFile(path);
      let n = 0;
      try {
        const stmt = db.prepare(`SELECT * FROM ${quoteIdent(table)}`).raw(true).safeIntegers(true);
        for (const row of stmt.iterate() as IterableIterator<Cell[]>) {
          n++;
          yield schema.fields.map((f, i) => convert(row[i] ?? null, f.type));
        }
      } catch (e) {
        throw wrap(e, path, "sqlite");
      } finally {
        db.close();
      }
      if (n !== rows) throw formatError(path, "sqlite", `${n} rows read, count(*) said ${rows}`);
    },
  };
}

/** The forum posts dump (One Million Posts Corpus, corpus.sqlite3): its Posts table. */
export function openForumPosts(path: string, table = "Posts"): Promise<ParsedRecords> {
  return openSqliteTable(path, table);
}

/** The bank transactions file in its real format (the data set ships an .xlsx). */
export function openBankTransactions(path: string): Promise<ParsedRecords> {
  return openXlsx(path, "bank_transactions");
}

/** The random numbers CSV. */
export function openRandomNumbers(path: string): Promise<ParsedRecords> {
  return openCsv(path, "random_numbers");
}

/** The parser of each real data set's payload (data-manifests/*.yaml `payload:`), where it has records. */
export const RECORD_PARSERS: Readonly<Record<string, (path: string) => Promise<ParsedRecords>>> = {
  gharchive_events: openGhArchive,
  gutenberg_text: openGutenberg,
  bank_transactions: openBankTransactions,
  million_post_corpus: (path) => openForumPosts(path),
  random_numbers: openRandomNumbers,
};

/** All records of a source, each validated against its schema (small files and tests; memory grows with the file). */
export async function readAllRecords(parsed: ParsedRecords): Promise<RecordValues[]> {
  const out: RecordValues[] = [];
  for await (const r of parsed.records()) {
    validateRecord(parsed.schema, r);
    out.push(r);
  }
  return out;
}

/**
 * The record totals of a real source (records, distinct records, duplicates, L0 logical bytes per
 * field and in total, ideal ratio), streaming it once; every record is validated against the
 * schema. A record counts as a duplicate when its canonical digest was seen before (memory: one
 * digest per distinct record).
 */
export async function realRecordTotals(parsed: ParsedRecords): Promise<RecordTotals> {
  const totals = RecordTotalsBuilder.distinct(parsed.schema);
  for await (const r of parsed.records()) {
    validateRecord(parsed.schema, r);
    totals.add(r);
  }
  return totals.totals();
}
