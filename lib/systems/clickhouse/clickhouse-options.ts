// The clickhouse block of the config, what the connector can do on a capable server (the
// instance resolves these after connect: see ClickhouseSystem.capabilities), and its
// definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { clickhouseEndpoint } from "./clickhouse-connection.js";
import type { ClickhouseVariant } from "./clickhouse-sql.js";
import { ClickhouseSystem } from "./clickhouse-system.js";
import { CLICKHOUSE_TYPED_MAPPING } from "./clickhouse-typed.js";

const options = z
  .object({
    host: z.string().default("127.0.0.1"),
    /** HTTP(S) port. */
    port: z.coerce.number().int().min(1).max(65535).default(8123),
    protocol: z.enum(["http", "https"]).default("http"),
    user: z.string().default("dedup_lab"),
    /** Name of the environment variable holding the password (never the password). */
    passwordEnv: z.string().default("DEDUP_CLICKHOUSE_PASSWORD"),
    /** Optional; must be the lab database (checked before connecting). */
    database: z.string().optional(),
    requestTimeoutMs: z.coerce.number().int().min(1000).default(600_000),
    /** How long a DELETE may take before it counts as failed. */
    mutationTimeoutMs: z.coerce.number().int().min(1000).default(300_000),
    /** Level of the `*_zstd` variants' CODEC(ZSTD(level)) (1 = ClickHouse's default for plain ZSTD). */
    zstdLevel: z.coerce.number().int().min(1).max(22).default(1),
    /** settle(): how long to wait for merges and mutations of the cell's tables to finish. */
    settleTimeoutMs: z.coerce.number().int().min(100).default(60_000),
  })
  .strict();
export type ClickhouseOptions = z.infer<typeof options>;

const declared = declareCapabilities("clickhouse", {
  variants: {
    mergetree_lz4: "MergeTree ORDER BY id, payload CODEC(LZ4)",
    mergetree_zstd: "MergeTree ORDER BY id, payload CODEC(ZSTD(zstdLevel))",
    replacing_lz4: "ReplacingMergeTree ORDER BY sha256 (identical payloads collapse at merge), payload CODEC(LZ4)",
    replacing_zstd: "ReplacingMergeTree ORDER BY sha256 (identical payloads collapse at merge), payload CODEC(ZSTD(zstdLevel))",
  } satisfies Record<ClickhouseVariant, string>,
  maintenance: { optimize_final: "OPTIMIZE TABLE … FINAL: merge all parts (ReplacingMergeTree drops duplicates)" },
  appReplicas: 1,
});
// Typed cells: what a natural-key duplicate meets depends on the variant (kept by MergeTree, replaced
// by ReplacingMergeTree once merged); declared for the default variant (mergetree_lz4), resolved per
// cell by the instance once prepare() knows the variant (ClickhouseSystem.capabilities).
const capabilities = { ...declared, typed: { collision: "kept" as const, mapping: CLICKHOUSE_TYPED_MAPPING } };

export const clickhouseDefinition: SystemDefinition<ClickhouseOptions> = {
  name: "clickhouse",
  description: "ClickHouse over HTTP (@clickhouse/client): lab database, one MergeTree-family table per container",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("clickhouse", "database", o.database),
  endpoint: (o) => clickhouseEndpoint(o),
  create: (o, lab) => new ClickhouseSystem(lab, o, capabilities),
};
