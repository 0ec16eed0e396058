// The postgres block of the config (shared wire options, reused by cockroach), what the
// connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { endpointOf } from "./postgres-connection.js";
import { PG_MAINTENANCE, PG_VARIANTS } from "./postgres-sql.js";
import { PostgresSystem } from "./postgres-system.js";
import { pgTypedMapping } from "./postgres-typed.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const sslOptions = z
  .object({
    mode: z.enum(["disable", "verify-full"]),
    /** CA certificate (PEM) that issued the server certificate. */
    caFile: z.string().min(1).optional(),
    /** Name the server certificate must carry (default: host). */
    serverName: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => s.mode === "disable" || s.caFile !== undefined, {
    message: "ssl.mode verify-full needs ssl.caFile (the CA that issued the server certificate)",
  });

/** Options shared by the postgres and cockroach connectors. */
export const wireOptionsShape = {
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(1).max(65535),
  /** Database to connect to (the lab namespace lives inside it, or next to it on CockroachDB). */
  database: z.string().min(1),
  user: z.string().min(1),
  /** Name of the environment variable holding the password (never the password itself). */
  passwordEnv: z.string().regex(ENV_NAME, "must be an environment variable name, e.g. DEDUP_PG_PASSWORD"),
  connectTimeoutMs: z.coerce.number().int().min(100).default(10_000),
  /** Bounded reconnects (exponential backoff) for idempotent calls after a dropped connection. */
  reconnect: z
    .object({ attempts: z.number().int().min(0).max(20).default(4), baseDelayMs: z.number().int().min(10).default(250) })
    .strict()
    .default({ attempts: 4, baseDelayMs: 250 }),
};

const options = z
  .object({
    ...wireOptionsShape,
    port: wireOptionsShape.port.default(5432),
    database: wireOptionsShape.database.default("postgres"),
    ssl: sslOptions.default({ mode: "disable" }),
    /** Optional; when set it must be the lab schema (checked before connecting). */
    schema: z.string().optional(),
  })
  .strict();
export type PostgresOptions = z.infer<typeof options>;

const capabilities = {
  ...declareCapabilities("postgres", { variants: PG_VARIANTS, maintenance: PG_MAINTENANCE, appReplicas: 1 }),
  // Natural keys: the primary key refuses a stored key (ON CONFLICT DO NOTHING, COPY via a staging table).
  typed: { collision: "rejected" as const, mapping: pgTypedMapping("postgresql") },
};

export const postgresDefinition: SystemDefinition<PostgresOptions> = {
  name: "postgres",
  description: "PostgreSQL (pg, binary COPY): lab schema, one bytea table per container, TOAST/index variants",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("postgres", "schema", o.schema),
  endpoint: (o) => endpointOf(o),
  create: (o, lab) => new PostgresSystem(o, lab, capabilities),
};
