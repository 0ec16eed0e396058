// One line per system. A new system is one folder, one line here and its integration test.
// Connectors load on demand: a run of the embedded systems never pays for every database client.
import { UsageError } from "../errors.js";
import type { SystemDefinition } from "./contract.js";

type Loader = () => Promise<SystemDefinition<any>>;

const LOADERS: Record<string, Loader> = {
  sqlite: () => import("./sqlite/sqlite-system.js").then((m) => m.sqliteDefinition),
  duckdb: () => import("./duckdb/duckdb-system.js").then((m) => m.duckdbDefinition),
  directory: () => import("./directory/directory-system.js").then((m) => m.directoryDefinition),
  postgres: () => import("./postgres/postgres-system.js").then((m) => m.postgresDefinition),
  cockroach: () => import("./cockroach/cockroach-system.js").then((m) => m.cockroachDefinition),
  mariadb: () => import("./mariadb/mariadb-system.js").then((m) => m.mariadbDefinition),
  clickhouse: () => import("./clickhouse/clickhouse-system.js").then((m) => m.clickhouseDefinition),
  redis: () => import("./redis/redis-system.js").then((m) => m.redisDefinition),
  kafka: () => import("./kafka/kafka-system.js").then((m) => m.kafkaDefinition),
  minio: () => import("./minio/minio-system.js").then((m) => m.minioDefinition),
};

export const EMBEDDED_SYSTEMS = ["sqlite", "duckdb", "directory"];

const loaded = new Map<string, SystemDefinition<unknown>>();

export function systemNames(): string[] {
  return Object.keys(LOADERS);
}

function known(name: string): void {
  if (!(name in LOADERS)) throw new UsageError(`unknown system "${name}"`, `use one of: ${systemNames().join(", ")}`);
}

/** Load the named connectors (default: all). Must precede systemDefinition() for those names. */
export async function loadSystems(names: string[] = systemNames()): Promise<void> {
  for (const name of names) {
    known(name);
    if (!loaded.has(name)) loaded.set(name, await LOADERS[name]!());
  }
}

export function systemDefinition(name: string): SystemDefinition<unknown> {
  known(name);
  const def = loaded.get(name);
  if (!def) throw new Error(`internal: system ${name} used before loadSystems()`);
  return def;
}
