// Typed records in MinIO (issue 14): one JSON object per record. Pure helpers (no connection):
// the record ↔ JSON document encoding and the object name.
//
// The document is `{"<field>":<value>,…}` in schema order, a null field absent (so a json field
// whose text is `null` stays distinct from a null field). Values: int64 and timestamp (µs since the
// epoch) as decimal strings (JSON numbers lose integers above 2^53 in most readers); float64 as a
// JSON number (the shortest round-trip decimal) and as the strings "-0", "Infinity", "-Infinity" or
// "NaN:<16 hex IEEE-754 bits>" for what a JSON number cannot carry; bool true/false; uuid and text
// JSON strings; bytes a base64 string; json fields embedded as JSON, their text verbatim — the
// document stays queryable as nested JSON, and reading it back takes the value's exact source span
// (whitespace, key order and number spelling as generated), not a re-serialisation.
import { createHash } from "node:crypto";
import type { KeyMode, RecordSchema, RecordValues } from "../contract.js";
import { naturalKey, type FieldSpec } from "../../generators/records.js";

function floatJson(v: number): string {
  if (Number.isNaN(v)) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return `"NaN:${b.toString("hex")}"`;
  }
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  if (Object.is(v, -0)) return '"-0"';
  return JSON.stringify(v);
}

function parseFloatJson(v: unknown, where: string): number {
  if (typeof v === "number") return v;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v === "-0") return -0;
  if (typeof v === "string" && /^NaN:[0-9a-f]{16}$/.test(v)) return Buffer.from(v.slice(4), "hex").readDoubleBE(0);
  throw new Error(`${where} (float64) is ${JSON.stringify(v)?.slice(0, 40)}, not a number`);
}

function valueJson(f: FieldSpec, v: Exclude<RecordValues[number], null>): string {
  switch (f.type) {
    case "int64":
    case "timestamp":
      return `"${(v as bigint).toString()}"`;
    case "float64":
      return floatJson(v as number);
    case "bool":
      return v ? "true" : "false";
    case "bytes":
      return `"${(v as Buffer).toString("base64")}"`;
    case "uuid":
    case "text":
      return JSON.stringify(v as string);
    case "json":
      return v as string; // valid JSON text (validateRecord), embedded as it is
  }
}

/** A record's JSON document, UTF-8. */
export function recordJson(schema: RecordSchema, values: RecordValues): Buffer {
  const members: string[] = [];
  for (let k = 0; k < schema.fields.length; k++) {
    const v = values[k];
    if (v === null || v === undefined) continue;
    const f = schema.fields[k]!;
    members.push(`${JSON.stringify(f.name)}:${valueJson(f, v)}`);
  }
  return Buffer.from(`{${members.join(",")}}`, "utf8");
}

const WS = new Set([" ", "\t", "\n", "\r"]);

/** Index just past the JSON string starting at `i` (a `"`). */
function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s[j];
    if (c === "\\") j++;
    else if (c === '"') return j + 1;
  }
  throw new Error("unterminated string");
}

/** Index just past the JSON value starting at `i` (no leading whitespace). */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    for (let j = i; j < s.length; ) {
      const d = s[j]!;
      if (d === '"') {
        j = skipString(s, j);
        continue;
      }
      if (d === "{" || d === "[") depth++;
      else if (d === "}" || d === "]") {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    throw new Error("unterminated object or array");
  }
  let j = i;
  while (j < s.length && !WS.has(s[j]!) && s[j] !== "," && s[j] !== "}" && s[j] !== "]") j++;
  if (j === i) throw new Error(`no value at offset ${i}`);
  return j;
}

/** The top-level members of a JSON object text: name → the value's exact source text (with the whitespace around it). */
export function objectMembers(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const ws = () => {
    while (i < text.length && WS.has(text[i]!)) i++;
  };
  ws();
  if (text[i] !== "{") throw new Error("not a JSON object");
  i++;
  ws();
  if (text[i] === "}") return out;
  for (;;) {
    ws();
    if (text[i] !== '"') throw new Error(`expected a member name at offset ${i}`);
    const end = skipString(text, i);
    const name = JSON.parse(text.slice(i, end)) as string;
    i = end;
    ws();
    if (text[i] !== ":") throw new Error(`expected ':' after "${name}"`);
    const start = ++i;
    ws();
    i = skipValue(text, i);
    ws();
    if (out.has(name)) throw new Error(`member "${name}" appears twice`);
    out.set(name, text.slice(start, i));
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text[i] === "}") return out;
    throw new Error(`expected ',' or '}' after "${name}"`);
  }
}

/**
 * A record's JSON document read back → its schema-ordered values. An absent field is null (a
 * non-nullable one then fails the record's validation, which names it); a member the schema does
 * not have, or a value that does not parse as its type, throws.
 */
export function recordFromJson(schema: RecordSchema, name: string, body: Buffer): RecordValues {
  let members: Map<string, string>;
  try {
    members = objectMembers(body.toString("utf8"));
  } catch (e) {
    throw new Error(`object ${name} is not a record document: ${(e as Error).message}`);
  }
  for (const m of members.keys()) {
    if (!schema.fields.some((f) => f.name === m)) throw new Error(`object ${name} has member "${m.slice(0, 40)}", which schema ${schema.name} does not have`);
  }
  return schema.fields.map((f) => {
    const raw = members.get(f.name);
    if (raw === undefined) return null;
    const where = `object ${name} field ${f.name}`;
    if (f.type === "json") return raw;
    const v: unknown = JSON.parse(raw);
    switch (f.type) {
      case "int64":
      case "timestamp":
        if (typeof v !== "string" || !/^-?\d+$/.test(v)) throw new Error(`${where} (${f.type}) is ${raw.slice(0, 40)}, not a decimal string`);
        return BigInt(v);
      case "float64":
        return parseFloatJson(v, where);
      case "bool":
        if (typeof v !== "boolean") throw new Error(`${where} (bool) is ${raw.slice(0, 40)}`);
        return v;
      case "bytes":
        if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new Error(`${where} (bytes) is not a base64 string`);
        return Buffer.from(v, "base64");
      case "uuid":
      case "text":
        if (typeof v !== "string") throw new Error(`${where} (${f.type}) is ${raw.slice(0, 40)}, not a string`);
        return v;
    }
  });
}

/** Longest encoded key used as an object name as it is (S3 allows 1024 bytes; room for the suffix). */
const MAX_NAME = 900;

/**
 * The record's object name: its key — the unit id (surrogate) or its natural key (key field, else
 * content digest) — percent-encoded (encodeURIComponent: no `/`, so never a prefix, `.` or `..`
 * segment) plus `.json`; a key longer than MAX_NAME encoded is named `%%<sha256 hex of the key>`
 * instead (`%%` never appears in encodeURIComponent's output, so names stay distinct).
 */
export function recordObjectName(keys: KeyMode, schema: RecordSchema, unitId: string, values: RecordValues, digest: Buffer): string {
  return keyObjectName(keys === "surrogate" ? unitId : naturalKey(schema, values, digest));
}

/** The object name of a record key (see recordObjectName). */
export function keyObjectName(key: string): string {
  const enc = encodeURIComponent(key);
  return `${enc.length <= MAX_NAME ? enc : `%%${createHash("sha256").update(key).digest("hex")}`}.json`;
}

/**
 * Which of `containers` buckets a record goes to: a surrogate-keyed record follows the placement
 * (its unit's container); a natural-keyed one is partitioned by its name (the first 4 bytes of its
 * SHA-256), as a sharded store partitions by key, so a duplicate always meets its original.
 */
export function recordContainer(keys: KeyMode, unitContainer: number, objectName: string, containers: number): number {
  if (keys === "surrogate" || containers <= 1) return unitContainer;
  return createHash("sha256").update(objectName).digest().readUInt32BE(0) % containers;
}
