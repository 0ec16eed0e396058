// Typed insertion (issue 14) on ClickHouse and Kafka, against the real local servers
// (scripts/services.sh up clickhouse kafka chdb): every synthetic payload at U0 and U90 with
// surrogate and natural keys, through the bulk path and per record, settled, counted by the
// system and read back losslessly (test/helpers/typed-harness.ts compares digests).
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { decodeRecord } from "../../lib/generators/records.js";
import type { CellContext, Unit } from "../../lib/systems/contract.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { systemDefinition } from "../../lib/systems/registry.js";
import { contractTarget } from "../helpers/contract-systems.js";
import { loadServicesEnv } from "../helpers/services-env.js";
import { TYPED_PAYLOADS, typedRoundTrip, type TypedRoundTrip, type TypedRoundTripOptions } from "../helpers/typed-harness.js";

const env = loadServicesEnv();
const FRACTIONS = [0, 0.9] as const;

function expectLossless(r: TypedRoundTrip, o: Pick<TypedRoundTripOptions, "keys" | "fraction">, collision: "kept" | "replaced") {
  expect(r.statuses.every((s) => s.code === "ok")).toBe(true);
  expect(r.invalid).toEqual([]);
  expect(r.collision).toBe(collision);
  expect(r.missing).toBe(0);
  expect(r.extra).toBe(0);
  expect(r.stored).toBe(r.expectedStored);
  expect(r.duplicates).toBe(Math.round(r.written * o.fraction));
  if (o.keys === "natural" && collision !== "kept") {
    expect(r.written - r.stored!).toBe(r.duplicates);
  } else {
    expect(r.stored).toBe(r.written);
  }
}

function chdbOptions(): unknown {
  return systemDefinition("clickhouse").options.parse({
    host: env.DEDUP_CHDB_HOST, port: env.DEDUP_CHDB_PORT, user: env.DEDUP_CHDB_USER, passwordEnv: "DEDUP_CHDB_PASSWORD",
  });
}

describe("ClickHouse 18.16 typed cells", () => {
  const options = () => contractTarget("clickhouse").options;
  for (const payload of TYPED_PAYLOADS) {
    for (const fraction of FRACTIONS) {
      it(`${payload} U${fraction * 100}: bulk, surrogate and natural keys, MergeTree keeps and ReplacingMergeTree replaces`, async () => {
        for (const [keys, variant, collision] of [
          ["surrogate", "mergetree_lz4", "kept"],
          ["natural", "mergetree_lz4", "kept"],
          ["surrogate", "replacing_lz4", "replaced"],
          ["natural", "replacing_zstd", "replaced"],
        ] as const) {
          const o = { payload, fraction, keys, path: "bulk", variant } as const;
          expectLossless(await typedRoundTrip("clickhouse", options(), o), o, collision);
        }
      });
    }
  }
  for (const payload of TYPED_PAYLOADS) {
    it(`${payload} U90 per record: surrogate (MergeTree) and natural keys (ReplacingMergeTree)`, async () => {
      for (const [keys, variant, collision] of [["surrogate", "mergetree_lz4", "kept"], ["natural", "replacing_lz4", "replaced"]] as const) {
        const o = { payload, fraction: 0.9, keys, path: "perfile", variant, units: 20 } as const;
        expectLossless(await typedRoundTrip("clickhouse", options(), o), o, collision);
      }
    });
  }
});

describe("ClickHouse current engine (chdb bridge) typed cells", () => {
  for (const payload of TYPED_PAYLOADS) {
    it(`${payload} U0 and U90: bulk natural keys on MergeTree and ReplacingMergeTree, surrogate per record`, async () => {
      for (const fraction of FRACTIONS) {
        for (const [keys, variant, collision, path] of [
          ["natural", "mergetree_zstd", "kept", "bulk"],
          ["natural", "replacing_zstd", "replaced", "bulk"],
          ["surrogate", "replacing_lz4", "replaced", "perfile"],
        ] as const) {
          const o = { payload, fraction, keys, path, variant, units: path === "perfile" ? 10 : 40 } as const;
          expectLossless(await typedRoundTrip("clickhouse", chdbOptions(), o), o, collision);
        }
      }
    });
  }
});

describe("Kafka typed cells", () => {
  const options = () => contractTarget("kafka").options;
  for (const payload of TYPED_PAYLOADS) {
    it(`${payload} U0 and U90: bulk, surrogate keys, natural keys kept on a delete topic and replaced on a compacted one`, async () => {
      for (const fraction of FRACTIONS) {
        for (const [keys, variant, collision] of [
          ["surrogate", "delete_none", "kept"],
          ["natural", "delete_lz4", "kept"],
          ["natural", "compact_zstd", "replaced"],
        ] as const) {
          const o = { payload, fraction, keys, path: "bulk", variant } as const;
          expectLossless(await typedRoundTrip("kafka", options(), o), o, collision);
        }
      }
    });
  }
  for (const payload of TYPED_PAYLOADS) {
    it(`${payload} U90 per record: surrogate keys on a compacted topic (all kept), natural keys replaced`, async () => {
      for (const [keys, variant, collision] of [["surrogate", "compact_none", "replaced"], ["natural", "compact_lz4", "replaced"]] as const) {
        const o = { payload, fraction: 0.9, keys, path: "perfile", variant, units: 20 } as const;
        expectLossless(await typedRoundTrip("kafka", options(), o), o, collision);
      }
    });
  }
});

// The round trip above reads with the connector's own RowBinary decoder: here the server itself
// says what it holds (its column types, its text form of every UUID, its µs of every timestamp),
// so a byte-order or unit mistake made the same way on write and read cannot pass.
describe("ClickHouse typed columns as the server sees them", () => {
  const servers = [
    { label: "18.16", options: () => contractTarget("clickhouse").options, admin: () => [env.DEDUP_CLICKHOUSE_PORT, env.DEDUP_CLICKHOUSE_ADMIN_USER, env.DEDUP_CLICKHOUSE_ADMIN_PASSWORD] },
    { label: "chdb", options: chdbOptions, admin: () => [env.DEDUP_CHDB_PORT, env.DEDUP_CHDB_ADMIN_USER, env.DEDUP_CHDB_ADMIN_PASSWORD] },
  ];
  for (const s of servers) {
    it(`${s.label}: structured_json column types, UUID text and timestamp µs equal the generator's`, async () => {
      const lab = new LabNamespace();
      const ds = new Dataset(DatasetSpecSchema.parse({ payload: "structured_json", units: 30, size: { min: 1024, max: 1024 }, fraction: 0.5, insertion: "typed" }));
      const schema = ds.recordSchema!;
      const sys = systemDefinition("clickhouse").create(s.options(), lab);
      const cell: CellContext = {
        lab, cellKey: "v" + Math.random().toString(36).slice(2, 8), variant: "mergetree_lz4", containers: ds.containers,
        workDir: mkdtempSync(join(tmpdir(), "dedup-lab-typed-")), log: () => {}, typed: { schema, keys: "natural" },
      };
      const [port, user, password] = s.admin();
      const admin = createClient({ url: `http://127.0.0.1:${port}`, username: user, password, log: { level: ClickHouseLogLevel.OFF } });
      await sys.connect();
      try {
        await sys.prepare(cell);
        await sys.bulkInsert((async function* () {
          for (const b of ds.batches(64 * 1024)) yield b as Unit[];
        })());
        const modern = s.label === "chdb";
        const table = `${lab.sqlName}.${lab.tableName("units", cell.cellKey, "c0")}`;
        const types = await (await admin.query({ query: `SELECT name, type FROM system.columns WHERE database = '${lab.sqlName}' AND table = '${lab.tableName("units", cell.cellKey, "c0")}' `, format: "JSONEachRow" })).json<{ name: string; type: string }>();
        expect(types.map((t) => `${t.name} ${t.type}`)).toEqual([
          "id UUID", "name String", "email Nullable(String)", "city String", "age Int64", "balance Float64",
          `created_at ${modern ? "DateTime64(6)" : "Int64"}`, "tags String", `active ${modern ? "Bool" : "UInt8"}`,
        ]);
        const micros = modern ? "toString(toUnixTimestamp64Micro(created_at))" : "toString(created_at)";
        const rows = await (await admin.query({ query: `SELECT toString(id) AS id, ${micros} AS us, toString(balance) AS b, isNull(email) AS nul FROM ${table}`, format: "JSONEachRow" })).json<{ id: string; us: string; nul: number }>();
        const want = [...ds.units()].map((u) => decodeRecord(schema, u.payload)).map((v) => `${v[0]} ${v[6]} ${v[2] === null ? 1 : 0}`).sort();
        expect(rows.map((r) => `${r.id} ${r.us} ${Number(r.nul)}`).sort()).toEqual(want);
        expect(sys.capabilities.typed?.collision).toBe("kept");
        const text = sys.capabilities.typed!.mapping;
        if (modern) expect(text).not.toMatch(/on ClickHouse/);
        else expect(text).toMatch(/on ClickHouse 18\.16.*Int64 µs.*UInt8/);
      } finally {
        await sys.cleanup(cell.cellKey);
        await sys.close();
        await admin.close();
      }
    });
  }
});

// delete() of typed units: by the cell's key (unit id, or the natural key the unit was written with).
describe("typed deletes", () => {
  async function deleteAll(name: string, options: unknown, variant: string, keys: "surrogate" | "natural"): Promise<{ before: number | null; after: number | null; read: number }> {
    const lab = new LabNamespace();
    const ds = new Dataset(DatasetSpecSchema.parse({ payload: "uuid_keys", units: 12, size: { min: 1024, max: 1024 }, fraction: 0.5, insertion: "typed" }));
    const sys = systemDefinition(name).create(options, lab);
    const cell: CellContext = {
      lab, cellKey: "d" + Math.random().toString(36).slice(2, 8), variant, containers: ds.containers,
      workDir: mkdtempSync(join(tmpdir(), "dedup-lab-typed-")), log: () => {}, typed: { schema: ds.recordSchema!, keys },
    };
    await sys.connect();
    try {
      await sys.prepare(cell);
      for (const u of ds.units()) expect((await sys.insert(u)).code).toBe("ok");
      const before = await sys.storedRecords!();
      for (const u of ds.refs()) expect((await sys.delete(u)).code).toBe("ok");
      await sys.settle();
      const after = await sys.storedRecords!();
      let read = 0;
      for await (const _ of sys.readRecords!()) read++;
      return { before, after, read };
    } finally {
      await sys.cleanup(cell.cellKey);
      await sys.close();
    }
  }
  it("ClickHouse: surrogate and natural keys, every record gone", async () => {
    expect(await deleteAll("clickhouse", contractTarget("clickhouse").options, "mergetree_lz4", "surrogate")).toEqual({ before: 12, after: 0, read: 0 });
    expect(await deleteAll("clickhouse", contractTarget("clickhouse").options, "mergetree_zstd", "natural")).toEqual({ before: 12, after: 0, read: 0 });
  });
  it("Kafka: DeleteRecords on a delete topic, tombstones on a compacted one", async () => {
    expect(await deleteAll("kafka", contractTarget("kafka").options, "delete_none", "surrogate")).toEqual({ before: 12, after: 0, read: 0 });
    const compact = await deleteAll("kafka", contractTarget("kafka").options, "compact_none", "natural");
    expect(compact).toEqual({ before: 12, after: 0, read: 0 });
  });
});
