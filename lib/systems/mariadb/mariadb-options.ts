// The mariadb block of the config, what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { mariadbEndpoint } from "./mariadb-connection.js";
import type { MariadbVariant } from "./mariadb-sql.js";
import { MariadbSystem } from "./mariadb-system.js";
import { MARIADB_TYPED_MAPPING } from "./mariadb-typed.js";

const options = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(1).max(65535).default(3306),
    user: z.string().default("dedup_lab"),
    /** Name of the environment variable holding the password (never the password). */
    passwordEnv: z.string().default("DEDUP_MARIADB_PASSWORD"),
    /** Optional; must be the lab database (checked before connecting). */
    database: z.string().optional(),
    connectTimeoutMs: z.coerce.number().int().min(100).default(10_000),
    /** How long sizes() waits for the cell's dirty pages to reach the files before reading ALLOCATED_SIZE. */
    flushWaitMs: z.coerce.number().int().min(0).default(30_000),
    /** Upper bound of one bulk INSERT statement; also capped at half of max_allowed_packet. */
    bulkStatementBytes: z.coerce.number().int().min(65_536).default(16 * 1024 * 1024),
  })
  .strict();
export type MariadbOptions = z.infer<typeof options>;

const capabilities = {
  ...declareCapabilities("mariadb", {
  variants: {
    default: "InnoDB, server default row format (DYNAMIC), no compression",
    page_compressed: "InnoDB PAGE_COMPRESSED=1 (algorithm = innodb_compression_algorithm; holes punched per page)",
    row_compressed: "InnoDB ROW_FORMAT=COMPRESSED (zlib, KEY_BLOCK_SIZE 8 KiB pages)",
  } satisfies Record<MariadbVariant, string>,
  maintenance: {
    optimize: "OPTIMIZE TABLE (InnoDB: recreate + analyze, returns free space to the file system)",
    analyze: "ANALYZE TABLE only (statistics refresh, no rebuild)",
  },
  appReplicas: 1,
  }),
  // Natural keys: the primary key refuses a stored key (INSERT IGNORE; only duplicate-key warnings accepted).
  typed: { collision: "rejected" as const, mapping: MARIADB_TYPED_MAPPING },
};

export const mariadbDefinition: SystemDefinition<MariadbOptions> = {
  name: "mariadb",
  description: "MariaDB / InnoDB (mysql2): lab database, one LONGBLOB table per container",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("mariadb", "database", o.database),
  endpoint: (o) => mariadbEndpoint(o),
  create: (o, lab) => new MariadbSystem(lab, o, capabilities),
};
