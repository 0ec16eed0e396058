// The cockroach block of the config (postgres' wire options with CockroachDB's defaults and
// GC/bulk settings), what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { sslOptions, wireOptionsShape } from "../postgres/postgres-options.js";
import { endpointOf } from "./cockroach-connection.js";
import { CRDB_MAINTENANCE, CRDB_VARIANTS } from "./cockroach-sql.js";
import { CockroachSystem } from "./cockroach-system.js";
import { pgTypedMapping } from "../postgres/postgres-typed.js";

const options = z
  .object({
    ...wireOptionsShape,
    port: wireOptionsShape.port.default(26257),
    database: wireOptionsShape.database.default("defaultdb"),
    // prefault: the default goes through validation, so a missing caFile is reported.
    ssl: sslOptions.prefault({ mode: "verify-full" }),
    /** Optional; when set it must be the lab database name (checked before connecting). */
    labDatabase: z.string().optional(),
    /** gc.ttlseconds of the lab database's zone, set in prepare so deleted versions become collectable soon. */
    gcTtlSeconds: z.coerce.number().int().min(1).default(60),
    /** Upper bound of the gc_wait maintenance. */
    gcWaitSeconds: z.coerce.number().int().min(1).default(900),
    gcPollSeconds: z.coerce.number().min(0.1).default(5),
    /** Multi-row INSERT limits for the bulk path. */
    insertMaxRows: z.coerce.number().int().min(1).max(16000).default(500),
    insertMaxBytes: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  })
  .strict();
export type CockroachOptions = z.infer<typeof options>;

const capabilities = {
  ...declareCapabilities("cockroach", { variants: CRDB_VARIANTS, maintenance: CRDB_MAINTENANCE, appReplicas: 1 }),
  // Natural keys: the primary key refuses a stored key (multi-row INSERT … ON CONFLICT DO NOTHING).
  typed: { collision: "rejected" as const, mapping: pgTypedMapping("cockroachdb") },
};

export const cockroachDefinition: SystemDefinition<CockroachOptions> = {
  name: "cockroach",
  description: "CockroachDB (pg wire, TLS verify-full): lab database, multi-row INSERT bulk, MVCC GC/compaction maintenance, span-stats sizes",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("cockroach", "labDatabase", o.labDatabase),
  endpoint: (o) => endpointOf(o),
  create: (o, lab) => new CockroachSystem(o, lab, capabilities),
};
