// Typed records in Redis (issue 14): one hash per record, one hash field per schema field, the
// values as Redis strings. Pure helpers (no connection): the field ↔ value encoding and the key.
//
// Field values: bytes raw (binary-safe), int64/timestamp decimal, float64 as its shortest
// round-trip decimal (ECMAScript Number→String: parses back to the same double) with "-0",
// "inf", "-inf" and "nan:<16 hex IEEE-754 bits>" for what decimal text cannot carry, bool "0"/"1",
// uuid canonical lower-case text, text and json their UTF-8 text verbatim. A null is an absent
// field. A record whose every field is null would be an empty hash, which Redis cannot hold: it is
// stored with the single marker field EMPTY_RECORD_FIELD instead (ignored when read back).
import type { KeyMode, RecordSchema, RecordValues } from "../contract.js";
import { naturalKey, type FieldSpec } from "../../generators/records.js";

/** The one field of a record whose every field is null (a NUL byte: no schema field is named so). */
export const EMPTY_RECORD_FIELD = "\u0000";

/** float64 → text that parses back to the same bits (including −0, ±∞ and NaN payloads). */
export function floatText(v: number): string {
  if (Number.isNaN(v)) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return `nan:${b.toString("hex")}`;
  }
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0";
  return String(v);
}

export function parseFloatText(s: string): number {
  if (s === "inf") return Infinity;
  if (s === "-inf") return -Infinity;
  if (s === "-0") return -0;
  if (s.startsWith("nan:")) {
    const hex = s.slice(4);
    if (!/^[0-9a-f]{16}$/.test(hex)) throw new Error(`float64 text "${s}" is not nan:<16 hex>`);
    return Buffer.from(hex, "hex").readDoubleBE(0);
  }
  const v = Number(s);
  if (s.trim() === "" || !Number.isFinite(v)) throw new Error(`float64 text "${s.slice(0, 40)}" is not a number`);
  return v;
}

function fieldValue(f: FieldSpec, v: Exclude<RecordValues[number], null>): string | Buffer {
  switch (f.type) {
    case "int64":
    case "timestamp":
      return (v as bigint).toString();
    case "float64":
      return floatText(v as number);
    case "bool":
      return v ? "1" : "0";
    case "bytes":
      return v as Buffer;
    case "uuid":
    case "text":
    case "json":
      return v as string;
  }
}

/** HSET's field/value arguments of a record: one pair per non-null field, in schema order. */
export function hashArgs(schema: RecordSchema, values: RecordValues): (string | Buffer)[] {
  const args: (string | Buffer)[] = [];
  for (let k = 0; k < schema.fields.length; k++) {
    const v = values[k];
    if (v === null || v === undefined) continue;
    const f = schema.fields[k]!;
    args.push(f.name, fieldValue(f, v));
  }
  if (!args.length) args.push(EMPTY_RECORD_FIELD, "");
  return args;
}

/**
 * A hash read back (HGETALL as buffers) → the record's schema-ordered values. An absent field is
 * null (a non-nullable one then fails the record's validation, which names it); a field the schema
 * does not have, or a value that does not parse as its type, throws.
 */
export function recordFromHash(schema: RecordSchema, key: string, h: Record<string, Buffer>): RecordValues {
  for (const name of Object.keys(h)) {
    if (name !== EMPTY_RECORD_FIELD && !schema.fields.some((f) => f.name === name)) {
      throw new Error(`hash ${key} has field "${name.slice(0, 40)}", which schema ${schema.name} does not have`);
    }
  }
  return schema.fields.map((f) => {
    const b = h[f.name];
    if (b === undefined) return null;
    switch (f.type) {
      case "int64":
      case "timestamp": {
        const s = b.toString("latin1");
        if (!/^-?\d+$/.test(s)) throw new Error(`hash ${key} field ${f.name} (${f.type}) is "${s.slice(0, 40)}", not a decimal integer`);
        return BigInt(s);
      }
      case "float64":
        return parseFloatText(b.toString("latin1"));
      case "bool": {
        const s = b.toString("latin1");
        if (s !== "0" && s !== "1") throw new Error(`hash ${key} field ${f.name} (bool) is "${s.slice(0, 40)}", not 0 or 1`);
        return s === "1";
      }
      case "bytes":
        return Buffer.from(b);
      case "uuid":
      case "text":
      case "json":
        return b.toString("utf8");
    }
  });
}

/** The record's key part: its unit id (surrogate) or its natural key (key field, else content digest). */
export function recordKeyPart(keys: KeyMode, schema: RecordSchema, unitId: string, values: RecordValues, digest: Buffer): string {
  return keys === "surrogate" ? unitId : naturalKey(schema, values, digest);
}
