// Typed cells (issue 14) on Kafka: one keyed message per record. Pure, unit-testable.
//
// Key: the unit id (surrogate keys: every record its own key) or the record's natural key
// (naturalKey(): its key field as text, else its content digest), so on a compacted topic a
// duplicate's message supersedes its original.
// Value: a JSON object, the schema's fields in schema order, as a JSON serializer without a
// schema registry writes it — int64 and timestamp (µs since epoch) as decimal strings (JSON
// numbers lose precision above 2^53), float64 as a JSON number (JavaScript's shortest exact
// form) or, when it has none (NaN, ±Infinity, −0), as the string "NaN", "Infinity",
// "-Infinity" or "-0"; uuid and text as strings; json fields as a string holding the generated
// JSON text verbatim (not re-serialised, so the text round-trips byte for byte); bytes base64;
// bool true/false; null for a null nullable field.
import type { KeyMode, RecordSchema, RecordValues } from "../contract.js";
import { naturalKey } from "../../generators/records.js";

export function typedKey(schema: RecordSchema, keys: KeyMode, unitId: string, values: RecordValues): string {
  return keys === "surrogate" ? unitId : naturalKey(schema, values);
}

function floatOut(v: number): number | string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  if (Object.is(v, -0)) return "-0";
  return v;
}

function floatIn(v: unknown, name: string): number {
  if (typeof v === "number") return v;
  switch (v) {
    case "NaN":
      return NaN;
    case "Infinity":
      return Infinity;
    case "-Infinity":
      return -Infinity;
    case "-0":
      return -0;
  }
  throw new Error(`field ${name}: ${JSON.stringify(v)} is not a float64`);
}

export function encodeTypedValue(schema: RecordSchema, values: RecordValues): Buffer {
  const o: Record<string, unknown> = {};
  schema.fields.forEach((f, k) => {
    const v = values[k];
    if (v === null || v === undefined) {
      o[f.name] = null;
      return;
    }
    switch (f.type) {
      case "int64":
      case "timestamp":
        o[f.name] = (v as bigint).toString();
        break;
      case "float64":
        o[f.name] = floatOut(v as number);
        break;
      case "bytes":
        o[f.name] = (v as Buffer).toString("base64");
        break;
      default:
        o[f.name] = v; // text, uuid, json (its text), bool
    }
  });
  return Buffer.from(JSON.stringify(o), "utf8");
}

export function decodeTypedValue(schema: RecordSchema, value: Buffer): RecordValues {
  const o = JSON.parse(value.toString("utf8")) as Record<string, unknown>;
  return schema.fields.map((f) => {
    if (!(f.name in o)) throw new Error(`message of ${schema.name} has no field ${f.name}`);
    const v = o[f.name];
    if (v === null) return null;
    switch (f.type) {
      case "int64":
      case "timestamp":
        return BigInt(v as string);
      case "float64":
        return floatIn(v, f.name);
      case "bytes":
        return Buffer.from(v as string, "base64");
      default:
        return v as string | boolean;
    }
  });
}

export const KAFKA_TYPED_MAPPING =
  "one topic per container, one keyed message per record: key = unit id (surrogate) or the record's natural key (its key field as text); " +
  "value = JSON object in schema order (int64/timestamp as decimal strings, float64 number, uuid/text strings, json its verbatim text as a string, bytes base64, bool, null); " +
  "natural-key duplicates kept on delete_* topics, replaced on compact_* topics (settle of a typed compact cell rolls the segments with min.cleanable.dirty.ratio=0, " +
  "min.compaction.lag.ms=0 and waits for the cleaner); stored = messages read back up to the end offsets; bulk = batched acks=all produce";
