// Typed insertion (issue 14) into the real local Redis and MinIO (scripts/services.sh up redis minio):
// every synthetic payload at U0 and U90, surrogate and natural keys, bulk and per record, through
// test/helpers/typed-harness.ts — exact record counts (natural keys: written − stored = the
// manifest's duplicates, all replaced) and a lossless read-back compared by canonical digest. Then
// what the harness does not drive: per-record deletes of natural keys shared by duplicates, a natural
// key replaced by a record with a null where the old one had a value (no stale field survives),
// across placement, sizes of typed cells, and the pure value codecs (−0, ±∞, NaN bits, verbatim JSON).
import { Redis } from "ioredis";
import * as Minio from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { encodeRecord, recordDigest, type RecordSchema, type RecordValues } from "../../lib/generators/records.js";
import { SYNTHETIC_RECORD_SCHEMAS } from "../../lib/generators/records-synthetic.js";
import type { CellContext, KeyMode, LabSystem, Unit } from "../../lib/systems/contract.js";
import { objectMembers, recordFromJson, recordJson, recordObjectName } from "../../lib/systems/minio/minio-typed.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { EMPTY_RECORD_FIELD, floatText, hashArgs, parseFloatText, recordFromHash } from "../../lib/systems/redis/redis-typed.js";
import { systemDefinition } from "../../lib/systems/registry.js";
import { contractTarget } from "../helpers/contract-systems.js";
import { loadServicesEnv } from "../helpers/services-env.js";
import { TYPED_PAYLOADS, typedRoundTrip } from "../helpers/typed-harness.js";

const env = loadServicesEnv();
const SYSTEMS = ["redis", "minio"] as const;
const GRADES = [
  ["U0", 0],
  ["U90", 0.9],
] as const;
const KEYS: KeyMode[] = ["surrogate", "natural"];
const PATHS = ["bulk", "perfile"] as const;

const admin = new Redis({ host: "127.0.0.1", port: Number(env.DEDUP_REDIS_PORT), password: env.DEDUP_REDIS_ADMIN_PASSWORD, lazyConnect: true });
const s3admin = new Minio.Client({
  endPoint: "127.0.0.1", port: Number(env.DEDUP_MINIO_PORT), useSSL: false,
  accessKey: env.DEDUP_MINIO_ROOT_USER!, secretKey: env.DEDUP_MINIO_ROOT_PASSWORD!, region: "us-east-1", pathStyle: true,
});

beforeAll(async () => {
  await admin.connect();
});
afterAll(async () => {
  await admin.quit();
});

/** Every lab key / bucket a cell key names (what must be gone after cleanup). */
async function leftovers(system: string, cellKey: string): Promise<string[]> {
  if (system === "redis") return admin.keys(`dedup:${cellKey}:*`);
  return (await s3admin.listBuckets()).map((b) => b.name).filter((n) => n.includes(cellKey));
}

describe.each(SYSTEMS)("typed round trip through %s", (name) => {
  const target = contractTarget(name);
  for (const payload of TYPED_PAYLOADS) {
    for (const [grade, fraction] of GRADES) {
      for (const keys of KEYS) {
        it(`${payload} ${grade} ${keys} keys: bulk and per record, exact counts, lossless`, async () => {
          for (const path of PATHS) {
            const r = await typedRoundTrip(name, target.options, { payload, fraction, keys, path, units: 40, bytes: 1024 });
            const where = `${path}`;
            expect(r.statuses.length, where).toBeGreaterThan(0);
            expect(r.statuses.every((s) => s.code === "ok"), where).toBe(true);
            expect(r.collision).toBe("replaced");
            expect(r.invalid, where).toEqual([]);
            expect(r.missing, where).toBe(0);
            expect(r.extra, where).toBe(0);
            expect(r.stored, where).toBe(r.expectedStored);
            expect(r.duplicates).toBe(Math.round(40 * fraction));
            if (keys === "natural") expect(r.written - r.stored!, where).toBe(r.duplicates);
            else expect(r.stored, where).toBe(r.written);
          }
        });
      }
    }
  }
});

/** One typed cell driven by hand (what the harness does not do: deletes, sizes, hand-made records). */
async function withCell<T>(name: string, typed: { schema: RecordSchema; keys: KeyMode }, containers: number, body: (s: LabSystem, cell: CellContext) => Promise<T>): Promise<T> {
  const def = systemDefinition(name);
  const lab = new LabNamespace();
  const system = def.create(contractTarget(name).options, lab);
  const cell: CellContext = {
    lab, cellKey: "t" + Math.random().toString(36).slice(2, 10), variant: Object.keys(def.capabilities.variants)[0]!,
    containers, workDir: "/nonexistent", log: () => {}, typed,
  };
  await system.connect();
  try {
    await system.prepare(cell);
    return await body(system, cell);
  } finally {
    await system.cleanup(cell.cellKey);
    expect(await leftovers(name, cell.cellKey)).toEqual([]);
    await system.close();
  }
}

function typedDataset(payload: string, fraction: number, units: number, over: Record<string, unknown> = {}): Dataset {
  return new Dataset(DatasetSpecSchema.parse({ payload, units, size: { min: 1024, max: 1024 }, fraction, insertion: "typed", ...over }));
}

async function* batchesOf(ds: Dataset): AsyncGenerator<Unit[]> {
  for (const b of ds.batches(64 * 1024)) yield b;
}

async function readAll(s: LabSystem): Promise<RecordValues[]> {
  const out: RecordValues[] = [];
  for await (const r of s.readRecords!()) out.push(r);
  return out;
}

describe.each(SYSTEMS)("typed cells of %s beyond the round trip", (name) => {
  it.each(KEYS)("%s keys at U90: per-record deletes of every unit (natural: duplicates share a key) leave nothing, none fails", async (keys) => {
    const ds = typedDataset("uuid_keys", 0.9, 60);
    await withCell(name, { schema: ds.recordSchema!, keys }, 1, async (s) => {
      expect((await s.bulkInsert(batchesOf(ds))).code).toBe("ok");
      expect(await s.storedRecords!()).toBe(keys === "natural" ? 60 - ds.totals.duplicate_items : 60);
      // The refs the runner hands delete (Dataset.refs()) carry each record, not its payload.
      for (const ref of ds.refs()) expect((await s.delete(ref)).code).toBe("ok");
      expect(await s.storedRecords!()).toBe(0);
      expect(await readAll(s)).toEqual([]);
    });
  });

  it("a natural key replaced by a record with a null where the old one had a value keeps no stale field", async () => {
    const schema = SYNTHETIC_RECORD_SCHEMAS.structured_json!;
    const id = "3f2a8c1e-5b7d-4e9a-8c6f-0a1b2c3d4e5f";
    const first: RecordValues = [id, "Ada Lovelace", "ada@example.org", "London", 36n, 12.5, 1_700_000_000_000_000n, '["a","b"]', true];
    const second: RecordValues = [id, "Ada King", null, "Ockham", 37n, -0, 1_700_000_000_000_001n, '{"k": [1, 2.50, "x"] }', false];
    const unit = (values: RecordValues, i: number): Unit => {
      const payload = encodeRecord(schema, values);
      return { id: `u000000${i}`, index: i, size: payload.length, sha256: recordDigest(schema, values), group: i, container: 0, payload };
    };
    await withCell(name, { schema, keys: "natural" }, 1, async (s) => {
      expect((await s.insert(unit(first, 0))).code).toBe("ok");
      expect((await s.insert(unit(second, 1))).code).toBe("ok");
      expect(await s.storedRecords!()).toBe(1);
      const back = await readAll(s);
      expect(back.length).toBe(1);
      expect(encodeRecord(schema, back[0]!).equals(encodeRecord(schema, second))).toBe(true);
      expect(Object.is(back[0]![5], -0)).toBe(true);
    });
  });

  it("across placement: surrogate keys follow the units' containers, natural keys still meet their duplicates", async () => {
    for (const keys of KEYS) {
      const ds = typedDataset("text_document", 0.9, 80, { placement: "across", containers: 4 });
      await withCell(name, { schema: ds.recordSchema!, keys }, ds.containers, async (s) => {
        expect((await s.bulkInsert(batchesOf(ds))).code).toBe("ok");
        await s.settle();
        expect(await s.storedRecords!(), keys).toBe(keys === "natural" ? 80 - ds.totals.duplicate_items : 80);
      });
    }
  });

  it("sizes of a typed cell: every layer reads, the L1 primary grows with the records", async () => {
    const ds = typedDataset("structured_json", 0, 100);
    await withCell(name, { schema: ds.recordSchema!, keys: "surrogate" }, 1, async (s) => {
      const empty = await s.sizes();
      expect((await s.bulkInsert(batchesOf(ds))).code).toBe("ok");
      await s.settle();
      const full = await s.sizes();
      const l1 = (r: typeof full) => r.find((x) => x.layer === "L1" && x.primary)!.bytes!;
      expect(l1(empty)).toBe(0);
      expect(l1(full)).toBeGreaterThan(ds.totals.logical_bytes);
      for (const r of full) if (r.primary) expect(r.bytes, r.metric).not.toBeNull();
      if (name === "redis") {
        // Σ HSTRLEN: every field's stored text (uuid 36 chars, decimal numbers), not the L0 bytes.
        const h = full.find((x) => x.metric === "hstrlen_sum")!.bytes!;
        let expected = 0;
        for (const u of ds.units()) {
          const args = hashArgs(ds.recordSchema!, (await import("../../lib/generators/records.js")).decodeRecord(ds.recordSchema!, u.payload));
          for (let i = 1; i < args.length; i += 2) expected += Buffer.byteLength(args[i]!);
        }
        expect(h).toBe(expected);
        const snap = (await s.snapshot()) as { typed: { object_encodings: Record<string, number>; records_written: number; replaced: number } };
        expect(snap.typed.records_written).toBe(100);
        expect(snap.typed.replaced).toBe(0);
        expect(Object.values(snap.typed.object_encodings).reduce((a, b) => a + b, 0)).toBe(100);
      }
    });
  });
});

describe("typed value codecs (no server)", () => {
  const schema: RecordSchema = {
    name: "edge",
    fields: [
      { name: "i", type: "int64", nullable: false },
      { name: "f", type: "float64", nullable: true },
      { name: "t", type: "text", nullable: true },
      { name: "j", type: "json", nullable: true },
      { name: "b", type: "bytes", nullable: true },
      { name: "ok", type: "bool", nullable: true },
      { name: "ts", type: "timestamp", nullable: true },
      { name: "u", type: "uuid", nullable: true },
    ],
  };
  const nanBits = Buffer.from("7ff8000000000abc", "hex").readDoubleBE(0);
  const records: RecordValues[] = [
    [-(2n ** 63n), -0, "", "null", Buffer.alloc(0), false, 2n ** 63n - 1n, "00000000-0000-0000-0000-000000000000"],
    [0n, Infinity, "tab\tquote\"back\\slash ünïcødé 🙂", '  { "b" : 1.50, "a": [ ] , "s":"}\\"{" }  ', Buffer.from([0, 255, 10, 13, 0]), true, -1n, null],
    [1n, -Infinity, null, "1e400", null, null, null, null],
    [2n, nanBits, null, '"text"', null, null, null, null],
    [3n, 5e-324, "x", "[1,2,3]", Buffer.from("ff", "hex"), true, 0n, "ffffffff-ffff-4fff-bfff-ffffffffffff"],
    [4n, 0.1 + 0.2, null, "{}", null, null, null, null],
  ];
  const same = (a: RecordValues, b: RecordValues) => encodeRecord(schema, a).equals(encodeRecord(schema, b));

  it("float64 text round-trips bit-exactly (−0, ±∞, NaN payloads, subnormals)", () => {
    for (const v of [0, -0, 1.5, -2.25e-300, 5e-324, Number.MAX_VALUE, Infinity, -Infinity, nanBits, 0.1 + 0.2]) {
      const back = parseFloatText(floatText(v));
      const a = Buffer.alloc(8), b = Buffer.alloc(8);
      a.writeDoubleBE(v);
      b.writeDoubleBE(back);
      expect(b.toString("hex"), floatText(v)).toBe(a.toString("hex"));
    }
    expect(() => parseFloatText("")).toThrow();
    expect(() => parseFloatText("abc")).toThrow();
  });

  it("Redis hash fields: every edge record back exactly; nulls are absent fields; an all-null record keeps a marker field", () => {
    for (const r of records) {
      const args = hashArgs(schema, r);
      const h: Record<string, Buffer> = {};
      for (let i = 0; i < args.length; i += 2) h[String(args[i])] = Buffer.isBuffer(args[i + 1]) ? (args[i + 1] as Buffer) : Buffer.from(args[i + 1] as string, "utf8");
      expect(Object.keys(h).length).toBe(r.filter((v) => v !== null).length);
      expect(same(recordFromHash(schema, "k", h), r)).toBe(true);
    }
    const allNull: RecordSchema = { name: "n", fields: [{ name: "x", type: "text", nullable: true }] };
    expect(hashArgs(allNull, [null])).toEqual([EMPTY_RECORD_FIELD, ""]);
    expect(recordFromHash(allNull, "k", { [EMPTY_RECORD_FIELD]: Buffer.alloc(0) })).toEqual([null]);
    expect(() => recordFromHash(schema, "k", { i: Buffer.from("1"), zz: Buffer.from("x") })).toThrow(/zz/);
  });

  it("MinIO JSON documents: valid JSON, json fields verbatim, every edge record back exactly", () => {
    for (const r of records) {
      const body = recordJson(schema, r);
      const parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
      expect(Object.keys(parsed).length).toBe(r.filter((v) => v !== null).length);
      expect(same(recordFromJson(schema, "o", body), r)).toBe(true);
    }
    // A json field whose text is `null` is present; a null field is absent.
    expect(objectMembers(recordJson(schema, records[0]!).toString()).get("j")).toBe("null");
    expect(objectMembers(recordJson(schema, records[2]!).toString()).has("t")).toBe(false);
    expect(() => recordFromJson(schema, "o", Buffer.from('{"i":"1","zz":1}'))).toThrow(/zz/);
  });

  it("MinIO object names: percent-encoded keys, long keys hashed, never a path", () => {
    const s: RecordSchema = { name: "k", key: "t", fields: [{ name: "t", type: "text", nullable: false }] };
    const d = Buffer.alloc(32);
    expect(recordObjectName("surrogate", s, "u0000007", ["x"], d)).toBe("u0000007.json");
    expect(recordObjectName("natural", s, "u1", ["a/b c"], d)).toBe("a%2Fb%20c.json");
    expect(recordObjectName("natural", s, "u1", [".."], d)).toBe("...json");
    const long = recordObjectName("natural", s, "u1", ["é".repeat(400)], d);
    expect(long).toMatch(/^%%[0-9a-f]{64}\.json$/);
  });
});
