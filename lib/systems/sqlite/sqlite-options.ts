// The sqlite block of the config (no settings), what the connector can do, and its definition for the registry.
import { z } from "zod";
import type { Capabilities, SystemDefinition } from "../contract.js";
import { isEmbedded } from "../registry.js";
import { SqliteSystem } from "./sqlite-system.js";

const options = z.object({}).strict();
export type SqliteOptions = z.infer<typeof options>;

const capabilities = {
  variants: { rollback: "rollback journal (SQLite default)", wal: "write-ahead log (journal_mode=WAL)" },
  maintenance: { vacuum: "VACUUM: rebuild the file, returning free pages to the file system" },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: isEmbedded("sqlite"),
} satisfies Capabilities;

export const sqliteDefinition: SystemDefinition<SqliteOptions> = {
  name: "sqlite",
  description: "SQLite (embedded, better-sqlite3): one BLOB table per container",
  capabilities,
  options,
  endpoint: () => "embedded",
  create: (_options, lab) => new SqliteSystem(lab, capabilities),
};
