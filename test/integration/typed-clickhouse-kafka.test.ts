// Typed insertion (issue 14) on ClickHouse and Kafka, against the real local servers
// (scripts/services.sh up clickhouse kafka chdb): every synthetic payload at U0 and U90 with
// surrogate and natural keys, through the bulk path and per record, settled, counted by the
// system and read back losslessly (test/helpers/typed-harness.ts compares digests).
import { describe, expect, it } from "vitest";
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
