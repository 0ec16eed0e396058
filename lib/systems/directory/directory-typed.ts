// Typed cells (issue 14) in a directory: one JSON file per record, named by its key.
//
// The file is one JSON object, field name → value, in schema order:
//   int64, timestamp (µs since epoch) → decimal strings ("-9223372036854775808"): a JSON number is a
//   double and would round beyond 2^53; float64 → a JSON number (JSON.stringify prints the shortest
//   text that parses back to the same double), or the strings "NaN", "Infinity", "-Infinity", "-0"
//   for the values JSON cannot spell; text, uuid → strings; json → a string holding the original JSON
//   text verbatim (embedding it as a value would re-serialise it); bytes → base64 strings; bool →
//   true/false; null → null.
//
// Keys (file names, `<key>.json`). surrogate: the unit id, so every duplicate is its own file.
// natural: naturalKey() (the key field's text, else the content digest), URI-encoded, or its SHA-256
// hex if that is over 200 characters; a natural-key duplicate rewrites the same file: collision
// "replaced", counted (the create with O_EXCL meets EEXIST and the file is then rewritten).
import { createHash } from "node:crypto";
import { naturalKey, type FieldValue, type RecordSchema, type RecordValues } from "../../generators/records.js";
import type { KeyMode } from "../contract.js";

export const DIRECTORY_TYPED_MAPPING =
  "one JSON file per record (int64/timestamp decimal strings, bytes base64, json as verbatim text, float64 JSON number); " +
  "file name = unit id (surrogate) or natural key (a duplicate rewrites the file)";

const FLOAT_SPECIALS = new Set(["NaN", "Infinity", "-Infinity", "-0"]);

function encodeValue(type: string, v: FieldValue): unknown {
  if (v === null) return null;
  switch (type) {
    case "int64":
    case "timestamp":
      return (v as bigint).toString();
    case "float64": {
      const n = v as number;
      return Number.isFinite(n) && !Object.is(n, -0) ? n : Object.is(n, -0) ? "-0" : String(n);
    }
    case "bytes":
      return (v as Buffer).toString("base64");
    default:
      return v;
  }
}

function decodeValue(type: string, name: string, v: unknown): FieldValue {
  if (v === null || v === undefined) return null;
  const bad = () => new Error(`record file field ${name} (${type}): unexpected ${typeof v}`);
  switch (type) {
    case "int64":
    case "timestamp":
      if (typeof v !== "string") throw bad();
      return BigInt(v);
    case "float64":
      if (typeof v === "number") return v;
      if (typeof v === "string" && FLOAT_SPECIALS.has(v)) return Number(v);
      throw bad();
    case "bytes":
      if (typeof v !== "string") throw bad();
      return Buffer.from(v, "base64");
    case "bool":
      if (typeof v !== "boolean") throw bad();
      return v;
    default:
      if (typeof v !== "string") throw bad();
      return v;
  }
}

/** A record's file content. */
export function encodeRecordFile(schema: RecordSchema, values: RecordValues): Buffer {
  const o: Record<string, unknown> = {};
  schema.fields.forEach((f, k) => (o[f.name] = encodeValue(f.type, values[k]!)));
  return Buffer.from(JSON.stringify(o), "utf8");
}

/** A record file back into the schema's values (a missing field reads as absent → null, which validation then reports). */
export function decodeRecordFile(schema: RecordSchema, content: Buffer): RecordValues {
  const o = JSON.parse(content.toString("utf8")) as Record<string, unknown>;
  return schema.fields.map((f) => decodeValue(f.type, f.name, o[f.name]));
}

/** The file name of a record: `<unit id>.json` (surrogate) or `<natural key>.json` (natural). */
export function recordFileName(keys: KeyMode, unitId: string, schema: RecordSchema, values: RecordValues, digest: Buffer): string {
  if (keys === "surrogate") return `${unitId}.json`;
  const k = encodeURIComponent(naturalKey(schema, values, digest));
  return `${k.length > 200 ? createHash("sha256").update(k).digest("hex") : k}.json`;
}
