// One line per system. A new system is one folder, one line here and its integration test.
import { UsageError } from "../errors.js";
import type { SystemDefinition } from "./contract.js";
import { cockroachDefinition } from "./cockroach/cockroach-system.js";
import { directoryDefinition } from "./directory/directory-system.js";
import { duckdbDefinition } from "./duckdb/duckdb-system.js";
import { kafkaDefinition } from "./kafka/kafka-system.js";
import { mariadbDefinition } from "./mariadb/mariadb-system.js";
import { postgresDefinition } from "./postgres/postgres-system.js";
import { redisDefinition } from "./redis/redis-system.js";
import { sqliteDefinition } from "./sqlite/sqlite-system.js";

const definitions: SystemDefinition<any>[] = [
  sqliteDefinition,
  duckdbDefinition,
  directoryDefinition,
  postgresDefinition,
  cockroachDefinition,
  mariadbDefinition,
  redisDefinition,
  kafkaDefinition,
];

export const EMBEDDED_SYSTEMS = ["sqlite", "duckdb", "directory"];

export function systemDefinition(name: string): SystemDefinition<unknown> {
  const def = definitions.find((d) => d.name === name);
  if (!def) throw new UsageError(`unknown system "${name}"`, `use one of: ${systemNames().join(", ")}`);
  return def;
}

export function systemNames(): string[] {
  return definitions.map((d) => d.name);
}
