// The duckdb block of the config (no settings), what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { DuckdbSystem } from "./duckdb-system.js";
import { DUCKDB_TYPED_MAPPING } from "./duckdb-typed.js";

const options = z.object({}).strict();
export type DuckdbOptions = z.infer<typeof options>;

const capabilities = {
  ...declareCapabilities("duckdb", {
    variants: { default: "DuckDB defaults (lightweight compression chosen per column)" },
    maintenance: {
      checkpoint: "FORCE CHECKPOINT: write the WAL into the database file",
      vacuum: "VACUUM then FORCE CHECKPOINT",
    },
  }),
  typed: { collision: "rejected" as const, mapping: DUCKDB_TYPED_MAPPING },
};

export const duckdbDefinition: SystemDefinition<DuckdbOptions> = {
  name: "duckdb",
  description: "DuckDB (embedded, @duckdb/node-api): one BLOB table per container, Appender bulk load",
  capabilities,
  options,
  endpoint: () => "embedded",
  create: (_options, lab) => new DuckdbSystem(lab, capabilities),
};
