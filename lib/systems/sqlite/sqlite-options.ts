// The sqlite block of the config (no settings), what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { SqliteSystem } from "./sqlite-system.js";
import { SQLITE_TYPED_MAPPING } from "./sqlite-typed.js";

const options = z.object({}).strict();
export type SqliteOptions = z.infer<typeof options>;

const capabilities = {
  ...declareCapabilities("sqlite", {
    variants: { rollback: "rollback journal (SQLite default)", wal: "write-ahead log (journal_mode=WAL)" },
    maintenance: { vacuum: "VACUUM: rebuild the file, returning free pages to the file system" },
  }),
  typed: { collision: "rejected" as const, mapping: SQLITE_TYPED_MAPPING },
};

export const sqliteDefinition: SystemDefinition<SqliteOptions> = {
  name: "sqlite",
  description: "SQLite (embedded, better-sqlite3): one BLOB table per container",
  capabilities,
  options,
  endpoint: () => "embedded",
  create: (_options, lab) => new SqliteSystem(lab, capabilities),
};
