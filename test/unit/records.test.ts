// Typed synthetic records: exact duplicate counts, byte-identical duplicates, manifests that
// equal an independent recount, seeds that reproduce and differ, and the L0 definition.
import { describe, expect, it } from "vitest";
import { RecordDataset, SYNTHETIC_RECORD_SCHEMAS } from "../../lib/generators/records-synthetic.js";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import {
  encodeRecord,
  recordDigest,
  recordLogicalBytes,
  validateRecord,
  RecordTotalsBuilder,
  type FieldSpec,
  type FieldValue,
  type RecordSchema,
  type RecordValues,
} from "../../lib/generators/records.js";

/** A key of the record's content made without the library's encoding (type-tagged strings). */
function testKey(values: RecordValues): string {
  return values
    .map((v) => {
      if (v === null) return "null";
      if (typeof v === "bigint") return `i:${v}`;
      if (typeof v === "number") return `f:${Buffer.from(new Float64Array([v]).buffer).toString("hex")}`;
      if (typeof v === "boolean") return `b:${v}`;
      if (Buffer.isBuffer(v)) return `x:${v.toString("hex")}`;
      return `s:${JSON.stringify(v)}`;
    })
    .join("|");
}

/** L0 bytes of one value, computed here from the definition (not by the library). */
function testBytes(f: FieldSpec, v: FieldValue): number {
  if (v === null) return 0;
  const sizes: Record<string, number> = { int64: 8, float64: 8, timestamp: 8, uuid: 16, bool: 1 };
  if (f.type in sizes) return sizes[f.type]!;
  if (Buffer.isBuffer(v)) return v.length;
  return new TextEncoder().encode(v as string).length;
}

const N = 240;
const GRADES = [0, 0.5, 0.9];
const PAYLOADS = Object.keys(SYNTHETIC_RECORD_SCHEMAS);

describe("synthetic record datasets", () => {
  it("cover every synthetic payload with a declared schema", () => {
    expect(PAYLOADS.sort()).toEqual(["jsonb_documents", "random_binary", "structured_json", "text_document", "uuid_keys"]);
  });

  for (const payload of PAYLOADS) {
    for (const fraction of GRADES) {
      it(`${payload} at ${fraction}: exact duplicates, identical to earlier records, manifest = recount`, () => {
        const spec = { payload, records: N, fraction, seed: "7", bytesSize: { min: 16, max: 300 } };
        const ds = new RecordDataset(spec);
        const schema = ds.schema;
        const keyIndex = schema.fields.findIndex((f) => f.name === schema.key);
        expect(keyIndex).toBeGreaterThanOrEqual(0);

        const firstOf = new Map<string, number>();
        const ids = new Set<string>();
        const perField = schema.fields.map(() => ({ all: 0, unique: 0, nulls: 0 }));
        const keys: string[] = [];
        let duplicates = 0;
        let idCollisions = 0;
        const entries: { index: number; group: number; sha256: string }[] = [];
        const manifest = ds.manifest((e) => entries.push(e));
        for (const r of ds.records()) {
          validateRecord(schema, r.values);
          const key = testKey(r.values);
          keys.push(key);
          const first = firstOf.get(key);
          const original = first === undefined;
          if (original) firstOf.set(key, r.index);
          else {
            duplicates++;
            expect(first).toBeLessThan(r.index);
            // the duplicate is byte-identical, field by field, to the earlier record
            const earlier = ds.record(first!).values;
            r.values.forEach((v, k) => expect(testKey([v])).toBe(testKey([earlier[k]!])));
          }
          expect(r.original).toBe(original);
          const idKey = testKey([r.values[keyIndex]!]);
          if (ids.has(idKey)) idCollisions++;
          ids.add(idKey);
          schema.fields.forEach((f, k) => {
            const b = testBytes(f, r.values[k]!);
            perField[k]!.all += b;
            if (original) perField[k]!.unique += b;
            if (r.values[k] === null) perField[k]!.nulls++;
          });
        }
        expect(duplicates).toBe(Math.round(N * fraction));
        // natural key: collides exactly once per duplicate, never between distinct records
        expect(idCollisions).toBe(duplicates);

        const t = manifest.totals;
        expect(t.records).toBe(N);
        expect(t.distinct_records).toBe(firstOf.size);
        expect(t.duplicate_records).toBe(duplicates);
        const all = perField.reduce((s, f) => s + f.all, 0);
        const unique = perField.reduce((s, f) => s + f.unique, 0);
        expect(t.logical_bytes).toBe(all);
        expect(t.unique_logical_bytes).toBe(unique);
        expect(t.ideal_ratio).toBe(all / unique);
        expect(t.fields.map((f) => [f.name, f.logical_bytes, f.unique_logical_bytes, f.nulls])).toEqual(
          schema.fields.map((f, k) => [f.name, perField[k]!.all, perField[k]!.unique, perField[k]!.nulls]),
        );
        expect(manifest.realized_fraction).toBe(duplicates / N);

        // per-record digests: equal ⇔ equal content
        expect(entries.map((e) => e.index)).toEqual([...Array(N).keys()]);
        const keyOfDigest = new Map<string, string>();
        for (const e of entries) {
          const k = keys[e.index]!;
          if (keyOfDigest.has(e.sha256)) expect(keyOfDigest.get(e.sha256)).toBe(k);
          keyOfDigest.set(e.sha256, k);
        }
        expect(keyOfDigest.size).toBe(firstOf.size);

        // reproducible from the seed; a different seed gives different records
        const again = [...new RecordDataset(spec).records()].map((r) => testKey(r.values));
        expect(again).toEqual(keys);
        const other = new Set([...new RecordDataset({ ...spec, seed: "8" }).records()].map((r) => testKey(r.values)));
        expect([...firstOf.keys()].filter((k) => other.has(k))).toEqual([]);
      });
    }
  }

  it("structured_json has nulls in its nullable field and none elsewhere", () => {
    const ds = new RecordDataset({ payload: "structured_json", records: 400, fraction: 0 });
    const t = ds.totals();
    const email = t.fields.find((f) => f.name === "email")!;
    expect(email.nulls).toBeGreaterThan(0);
    expect(email.nulls).toBeLessThan(400);
    expect(t.fields.filter((f) => f.name !== "email").every((f) => f.nulls === 0)).toBe(true);
  });

  it("fields come from separate streams: one age goes with many balances", () => {
    // age and balance of a group are drawn from different seeds, so neither is a function of the other
    const ds = new RecordDataset({ payload: "structured_json", records: 400, fraction: 0 });
    const byAge = new Map<bigint, Set<number>>();
    for (const r of ds.records()) {
      const age = r.values[4] as bigint;
      byAge.set(age, (byAge.get(age) ?? new Set()).add(r.values[5] as number));
    }
    expect([...byAge.values()].some((s) => s.size > 1)).toBe(true);
  });

  it("refuses grades that leave no distinct record, and unknown payloads", () => {
    expect(() => new RecordDataset({ payload: "structured_json", records: 5, fraction: 0.95 })).toThrow(/no unique/);
    expect(() => new RecordDataset({ payload: "nope", records: 5, fraction: 0 })).toThrow(/no synthetic record schema/);
  });
});

describe("L0 logical bytes and the canonical encoding", () => {
  const schema: RecordSchema = SYNTHETIC_RECORD_SCHEMAS.structured_json!;
  const rec: RecordValues = [
    "0f8fad5b-d9cb-469f-a165-70867728950e", // uuid: 16
    "Anna Schmidt", // 12
    null, // 0
    "Zürich", // 6 characters, 7 UTF-8 bytes
    42n, // 8
    1234.5, // 8
    1_704_067_200_000_000n, // 8
    '["vip"]', // 7
    true, // 1
  ];

  it("is the sum of the encoded field values (hand-checked)", () => {
    validateRecord(schema, rec);
    expect(recordLogicalBytes(schema, rec)).toBe(16 + 12 + 0 + 7 + 8 + 8 + 8 + 7 + 1);
    const bin = SYNTHETIC_RECORD_SCHEMAS.random_binary!;
    expect(recordLogicalBytes(bin, [1n, Buffer.from([0, 1, 2, 0, 255])])).toBe(8 + 5);
    const txt = SYNTHETIC_RECORD_SCHEMAS.text_document!;
    expect(recordLogicalBytes(txt, [1n, "a😀"])).toBe(8 + 1 + 4);
  });

  it("the builder's totals for one record are that record's bytes", () => {
    const b = new RecordTotalsBuilder(schema);
    b.add(rec, true);
    b.add(rec, false);
    const t = b.totals();
    expect([t.records, t.distinct_records, t.duplicate_records, t.logical_bytes, t.unique_logical_bytes, t.ideal_ratio]).toEqual([2, 1, 1, 134, 67, 2]);
  });

  it("distinguishes null from empty, and every field matters", () => {
    const txt: RecordSchema = { name: "t", fields: [{ name: "a", type: "text", nullable: true }, { name: "b", type: "text", nullable: true }] };
    const digests = [
      [null, ""],
      ["", null],
      ["", ""],
      [null, null],
      ["a", "b"],
      ["ab", ""],
    ].map((v) => recordDigest(txt, v as RecordValues).toString("hex"));
    expect(new Set(digests).size).toBe(digests.length);
    const copy = rec.slice();
    copy[3] = "Zurich";
    expect(encodeRecord(schema, copy).equals(encodeRecord(schema, rec))).toBe(false);
    expect(recordDigest(schema, rec.slice()).equals(recordDigest(schema, rec))).toBe(true);
  });

  it("validation rejects wrong types, nulls in non-nullable fields and bad UUIDs", () => {
    const bad = (k: number, v: FieldValue) => {
      const r = rec.slice();
      r[k] = v;
      return () => validateRecord(schema, r);
    };
    expect(bad(0, "not-a-uuid")).toThrow(/id \(uuid\)/);
    expect(bad(1, null)).toThrow(/not nullable/);
    expect(bad(4, 42)).toThrow(/expected a bigint/);
    expect(bad(4, 2n ** 63n)).toThrow(/outside int64/);
    expect(bad(7, "{not json")).toThrow(/not valid JSON/);
    expect(() => validateRecord(schema, rec.slice(1))).toThrow(/8 values/);
  });
});

describe("delete refs of a typed dataset (Dataset.refs)", () => {
  it("carry each unit's record and hash, no payload; repeat marks every later unit of a group, repeatInContainer those in the same container", () => {
    const ds = new Dataset(DatasetSpecSchema.parse({ payload: "uuid_keys", units: 300, size: { min: 64, max: 64 }, fraction: 0.7, insertion: "typed", placement: "across", containers: 3 }));
    const units = [...ds.units()];
    const refs = [...ds.refs()];
    expect(refs).toHaveLength(units.length);
    const firstOfGroup = new Map<number, number>();
    const firstInContainer = new Set<string>();
    for (const [i, r] of refs.entries()) {
      const u = units[i]!;
      expect(r).not.toHaveProperty("payload");
      expect([r.id, r.index, r.size, r.group, r.container]).toEqual([u.id, u.index, u.size, u.group, u.container]);
      expect(r.sha256.equals(u.sha256)).toBe(true);
      expect(encodeRecord(ds.recordSchema!, r.record!.values).equals(u.payload)).toBe(true);
      expect(r.record!.repeat).toBe(firstOfGroup.has(u.group));
      expect(r.record!.repeatInContainer).toBe(firstInContainer.has(`${u.group}/${u.container}`));
      if (!firstOfGroup.has(u.group)) firstOfGroup.set(u.group, i);
      firstInContainer.add(`${u.group}/${u.container}`);
    }
    expect(refs.filter((r) => r.record!.repeat)).toHaveLength(ds.totals.duplicate_items);
    // across 3 containers some duplicates land in another container than their group's first
    expect(refs.filter((r) => r.record!.repeatInContainer).length).toBeLessThan(ds.totals.duplicate_items);
  });

  it("blob refs carry no record", () => {
    const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 20, size: { min: 64, max: 64 }, fraction: 0.5 }));
    for (const r of ds.refs()) {
      expect(r.record).toBeUndefined();
      expect(r).not.toHaveProperty("payload");
    }
  });
});
