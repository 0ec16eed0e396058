// Audit: every statement the lab user issued during full cells (system.query_log, which the
// lab profile fills via log_queries=1) touched only the lab database, and objects outside
// it (created beforehand by the admin) are intact afterwards.
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { clickhouseDefinition } from "../../lib/systems/clickhouse/clickhouse-options.js";
import { runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const env = loadServicesEnv();
const LAB = "dedup_lab";

/** Why a statement is not confined to the lab database (reads of system tables filtered to it are fine), or null. */
export function auditStatement(query: string): string | null {
  const sql = query.replace(/\s+FORMAT \w+\s*$/i, "").trim();
  const bare = sql.replace(/'(?:[^'\\]|\\[\s\S])*'/g, "''");
  const databases = [...bare.matchAll(/(`?)([A-Za-z_][A-Za-z0-9_]*)\1\.(`?)[A-Za-z_][A-Za-z0-9_]*\3/g)].map((m) => m[2]!);
  const foreign = databases.filter((d) => d !== LAB && d !== "system");
  if (foreign.length > 0) return `references ${foreign.join(", ")}: ${sql.slice(0, 120)}`;
  const labOnly = databases.length > 0 && databases.every((d) => d === LAB);
  if (/^(CREATE DATABASE IF NOT EXISTS|DROP DATABASE IF EXISTS) `dedup_lab`$/.test(bare)) return null;
  if (/^(CREATE TABLE|DROP TABLE|INSERT INTO|ALTER TABLE|OPTIMIZE TABLE) /i.test(bare)) {
    return labOnly ? null : `write outside ${LAB}: ${sql.slice(0, 120)}`;
  }
  if (/^SELECT version\(\) AS version$/.test(bare)) return null;
  if (/^SELECT .* FROM system\.settings WHERE name IN \(/.test(bare)) return null;
  // The capability probe: does system.columns know compression_codec? (reads only the system database's own schema)
  if (sql === "SELECT count() AS n FROM system.columns WHERE database = 'system' AND table = 'columns' AND name = 'compression_codec'") return null;
  if (/^SELECT .* FROM system\.(parts|columns|mutations|merges|tables) WHERE database = ''/.test(bare)) {
    return sql.includes(`database = '${LAB}'`) ? null : `system table read not filtered to ${LAB}: ${sql.slice(0, 120)}`;
  }
  if (/^SELECT count\(\) AS n FROM `dedup_lab`\./.test(bare)) return null;
  return `unexpected statement: ${sql.slice(0, 120)}`;
}

let admin: ClickHouseClient;
beforeAll(() => {
  admin = createClient({
    url: `http://127.0.0.1:${env.DEDUP_CLICKHOUSE_PORT}`,
    username: env.DEDUP_CLICKHOUSE_ADMIN_USER,
    password: env.DEDUP_CLICKHOUSE_ADMIN_PASSWORD,
    log: { level: ClickHouseLogLevel.OFF },
  });
});
afterAll(async () => {
  await admin?.command({ query: "DROP DATABASE IF EXISTS keep_me" });
  await admin?.close();
});

async function rows<T = Record<string, string>>(query: string): Promise<T[]> {
  return (await admin.query({ query, format: "JSONEachRow" })).json<T>();
}

async function keepMeState(): Promise<unknown> {
  return {
    tables: await rows("SELECT name, engine FROM system.tables WHERE database = 'keep_me' ORDER BY name"),
    units: await rows("SELECT id, payload FROM keep_me.units_c0 ORDER BY id"),
    notes: await rows("SELECT n FROM keep_me.notes ORDER BY n"),
  };
}

describe("clickhouse audit", () => {
  it("the audit rules flag statements outside the lab database", () => {
    expect(auditStatement("DROP DATABASE IF EXISTS `keep_me`")).toMatch(/unexpected statement/);
    expect(auditStatement("ALTER TABLE keep_me.units_c0 DELETE WHERE id = 'x'")).toMatch(/references keep_me/);
    expect(auditStatement("INSERT INTO units_c0 (id) FORMAT RowBinary")).toMatch(/write outside dedup_lab/);
    expect(auditStatement("SELECT * FROM system.parts WHERE database = 'keep_me'")).toMatch(/not filtered/);
    expect(auditStatement("OPTIMIZE TABLE `dedup_lab`.`units_a_c0` FINAL")).toBeNull();
    expect(auditStatement("SELECT count() AS n FROM `dedup_lab`.`units_a_c0` WHERE id = 'keep_me.x'\nFORMAT JSONEachRow")).toBeNull();
  });

  it("full cells touch only dedup_lab (system.query_log) and leave keep_me intact", async () => {
    await admin.command({ query: "DROP DATABASE IF EXISTS keep_me" });
    await admin.command({ query: "CREATE DATABASE keep_me" });
    // the table name the connector uses inside the lab database: a trap for unqualified SQL
    await admin.command({ query: "CREATE TABLE keep_me.units_c0 (id String, payload String) ENGINE = MergeTree ORDER BY id" });
    await admin.command({ query: "INSERT INTO keep_me.units_c0 VALUES ('u0000000', 'do not touch'), ('u0000001', 'me neither')" });
    await admin.command({ query: "CREATE TABLE keep_me.notes (n UInt32) ENGINE = ReplacingMergeTree ORDER BY n" });
    await admin.command({ query: "INSERT INTO keep_me.notes VALUES (1), (2), (3)" });
    const before = await keepMeState();
    const [{ start }] = (await rows<{ start: string }>("SELECT toUInt32(now()) AS start")) as [{ start: string }];
    // query_log only holds what the server flushed: wait for the next second so the window is exact
    await new Promise((r) => setTimeout(r, 1100));

    const options = clickhouseDefinition.options.parse({ host: env.DEDUP_CLICKHOUSE_HOST, port: env.DEDUP_CLICKHOUSE_PORT, user: env.DEDUP_CLICKHOUSE_USER });
    const lab = new LabNamespace();
    const ds = smallDataset({ units: 12, size: { min: 4096, max: 4096 }, fraction: 0.5, placement: "across", containers: 2 });
    for (const variant of ["mergetree_zstd", "replacing_lz4"]) {
      await runCellThrough(clickhouseDefinition.create(options, lab), { variant, dataset: ds });
    }

    await admin.command({ query: "SYSTEM FLUSH LOGS" });
    const log = await rows<{ type: string; query: string; exception: string }>(
      `SELECT type, query, exception FROM system.query_log WHERE user = 'dedup_lab' AND event_time > toDateTime(${start}) ORDER BY event_time, query_start_time`,
    );
    const finished = log.filter((e) => Number(e.type) === 2);
    const failed = log.filter((e) => Number(e.type) >= 3);
    expect(failed.map((e) => e.exception)).toEqual([]);
    const problems = log.map((e) => auditStatement(e.query)).filter((p) => p !== null);
    expect(problems).toEqual([]);
    // the log really covered the cells: DDL, inserts, mutations, merges, cleanup
    const text = finished.map((e) => e.query).join("\n");
    for (const kind of [/^CREATE TABLE IF NOT EXISTS `dedup_lab`\./m, /^INSERT INTO `dedup_lab`\..* FORMAT RowBinary/m, /^ALTER TABLE `dedup_lab`\.\S+ DELETE WHERE id = /m, /^OPTIMIZE TABLE `dedup_lab`\.\S+ FINAL/m, /^DROP DATABASE IF EXISTS `dedup_lab`/m]) {
      expect(text).toMatch(kind);
    }
    expect(finished.length).toBeGreaterThan(100);

    expect(await keepMeState()).toEqual(before);
  });
});
