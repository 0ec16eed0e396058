// One line per system: its name (the line's place is the order of every legend and list),
// whether it needs no server, its colour in every figure, and where its definition loads
// from. A new system is one folder, one line here and its integration test.
//
// This module is plain data: it imports no connector at load time (definitions load on
// demand through dynamic import), so lib/analysis can read order and colours from it and a
// run of the embedded systems never pays for every database client.
import { UsageError } from "../errors.js";
import type { SystemDefinition } from "./contract.js";

type Loader = () => Promise<SystemDefinition<any>>;

export interface SystemEntry {
  name: string;
  /** Needs no server (the zero-server default slice). */
  embedded: boolean;
  /** Colour in every figure (Okabe–Ito, colour-blind safe; Okabe & Ito 2008). */
  color: string;
  /** Loads `<name>/<name>-options.ts`'s definition. */
  load: Loader;
}

const entry = (name: string, embedded: boolean, color: string, load: Loader): SystemEntry => ({ name, embedded, color, load });

const SYSTEMS: readonly SystemEntry[] = [
  entry("sqlite", true, "#0072B2" /* Okabe–Ito blue */, () => import("./sqlite/sqlite-options.js").then((m) => m.sqliteDefinition)),
  entry("duckdb", true, "#E69F00" /* orange */, () => import("./duckdb/duckdb-options.js").then((m) => m.duckdbDefinition)),
  entry("directory", true, "#009E73" /* bluish green */, () => import("./directory/directory-options.js").then((m) => m.directoryDefinition)),
  entry("postgres", false, "#56B4E9" /* sky blue */, () => import("./postgres/postgres-options.js").then((m) => m.postgresDefinition)),
  entry("cockroach", false, "#D55E00" /* vermillion */, () => import("./cockroach/cockroach-options.js").then((m) => m.cockroachDefinition)),
  entry("mariadb", false, "#CC79A7" /* reddish purple */, () => import("./mariadb/mariadb-options.js").then((m) => m.mariadbDefinition)),
  entry("clickhouse", false, "#F0E442" /* yellow */, () => import("./clickhouse/clickhouse-options.js").then((m) => m.clickhouseDefinition)),
  entry("redis", false, "#000000" /* black */, () => import("./redis/redis-options.js").then((m) => m.redisDefinition)),
  // Beyond the eight Okabe–Ito colours: grey and a dark wine (Tol), both distinct under deuteranopia.
  entry("kafka", false, "#999999" /* grey */, () => import("./kafka/kafka-options.js").then((m) => m.kafkaDefinition)),
  entry("minio", false, "#882255" /* wine */, () => import("./minio/minio-options.js").then((m) => m.minioDefinition)),
];

const BY_NAME = new Map(SYSTEMS.map((s) => [s.name, s]));

/** Every system, in registry order. */
export function systemNames(): string[] {
  return SYSTEMS.map((s) => s.name);
}

/** The systems that need no server, in registry order. */
export const EMBEDDED_SYSTEMS: readonly string[] = SYSTEMS.filter((s) => s.embedded).map((s) => s.name);

/** Whether a registered system needs no server (false for unknown names). */
export function isEmbedded(name: string): boolean {
  return BY_NAME.get(name)?.embedded ?? false;
}

/** The registered colour of a system, or undefined for a name not in the registry. */
export function registeredColor(name: string): string | undefined {
  return BY_NAME.get(name)?.color;
}

const loaded = new Map<string, SystemDefinition<unknown>>();

function known(name: string): SystemEntry {
  const e = BY_NAME.get(name);
  if (!e) throw new UsageError(`unknown system "${name}"`, `use one of: ${systemNames().join(", ")}`);
  return e;
}

/** Load the named connectors (default: all). Must precede systemDefinition() for those names. */
export async function loadSystems(names: string[] = systemNames()): Promise<void> {
  for (const name of names) {
    const e = known(name);
    if (!loaded.has(name)) loaded.set(name, await e.load());
  }
}

export function systemDefinition(name: string): SystemDefinition<unknown> {
  known(name);
  const def = loaded.get(name);
  if (!def) throw new Error(`internal: system ${name} used before loadSystems()`);
  return def;
}
