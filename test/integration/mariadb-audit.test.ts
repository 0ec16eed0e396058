// Audit: with the general log on, full cells through the MariaDB connector touch only the
// lab database, and objects outside it (created beforehand by the admin) stay intact.
import mysql from "mysql2/promise";
import { openSync, readSync, closeSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { mariadbDefinition } from "../../lib/systems/mariadb/mariadb-options.js";
import { runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const env = loadServicesEnv();
const logFile = env.DEDUP_MARIADB_GENERAL_LOG!;

interface LogEntry {
  thread: number;
  command: string;
  argument: string;
}

/** Parse the general log (a header line per entry; multi-line statements continue without one). */
export function parseGeneralLog(text: string): LogEntry[] {
  const header = /^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\t+\s*(\d+) ([A-Z][a-z]+(?: [a-z]+)?)\t(.*)$/;
  const entries: LogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = header.exec(line);
    if (m) entries.push({ thread: Number(m[1]), command: m[2]!, argument: m[3]! });
    else if (entries.length > 0) entries[entries.length - 1]!.argument += "\n" + line;
  }
  return entries;
}

const LAB = "dedup_lab";

/** Why a statement the lab user issued is not confined to the lab database, or null. */
export function auditStatement(sql: string): string | null {
  // the data part of INSERTs is payload bytes; literals may hold anything
  const head = sql.split(/\sVALUES\s*\(/i)[0]!.trim();
  const bare = head.replace(/'(?:[^'\\]|\\[\s\S]|'')*'/g, "''");
  const databases = [...bare.matchAll(/(`?)([A-Za-z_][A-Za-z0-9_$]*)\1\.(`?)[A-Za-z0-9_$]+\3/g)].map((m) => m[2]!.toLowerCase());
  const foreign = databases.filter((d) => d !== LAB && d !== "information_schema");
  if (foreign.length > 0) return `references ${foreign.join(", ")}: ${head.slice(0, 120)}`;
  const labOnly = databases.length > 0 && databases.every((d) => d === LAB);
  if (/^(CREATE|DROP) DATABASE (IF (NOT )?EXISTS )?`dedup_lab`$/i.test(bare)) return null;
  if (/^(CREATE|DROP|ALTER|TRUNCATE) TABLE |^(INSERT|DELETE|UPDATE|REPLACE|OPTIMIZE|ANALYZE|LOAD) /i.test(bare)) {
    return labOnly ? null : `write outside ${LAB}: ${head.slice(0, 120)}`;
  }
  if (/^SELECT @@[a-z_]+ AS \w+(, @@[a-z_]+ AS \w+)*$/i.test(bare)) return null;
  if (/^SHOW TABLE STATUS FROM `dedup_lab` LIKE ''$/i.test(bare)) return null;
  if (/^SHOW GLOBAL (STATUS|VARIABLES) WHERE Variable_name IN \(/i.test(bare)) return null;
  if (/^SELECT .* FROM information_schema\.(TABLES|INNODB_SYS_TABLESPACES) WHERE /i.test(bare)) {
    return head.includes(`'${LAB}`) ? null : `information_schema read not filtered to ${LAB}: ${head.slice(0, 120)}`;
  }
  if (/^SELECT .* FROM information_schema\.(INNODB_BUFFER_PAGE|INNODB_CMP)\b/i.test(bare)) return null;
  // settle(): the server-wide purge backlog (a counter, no data of anyone's)
  if (bare === "SELECT `COUNT` AS n FROM information_schema.INNODB_METRICS WHERE NAME = ''") return null;
  return `unexpected statement: ${head.slice(0, 120)}`;
}

function readFrom(file: string, offset: number): string {
  const fd = openSync(file, "r");
  try {
    const length = statSync(file).size - offset;
    const buf = Buffer.alloc(Math.max(0, length));
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString("latin1");
  } finally {
    closeSync(fd);
  }
}

let admin: mysql.Connection;
beforeAll(async () => {
  admin = await mysql.createConnection({
    host: env.DEDUP_MARIADB_HOST,
    port: Number(env.DEDUP_MARIADB_PORT),
    user: env.DEDUP_MARIADB_ADMIN_USER,
    password: env.DEDUP_MARIADB_ADMIN_PASSWORD,
  });
});
afterAll(async () => {
  await admin?.query("SET GLOBAL general_log = 0").catch(() => {});
  await admin?.query("DROP DATABASE IF EXISTS keep_me");
  await admin?.end();
});

async function keepMeState(): Promise<unknown> {
  const [tables] = await admin.query("SHOW FULL TABLES FROM keep_me");
  const [rows] = await admin.query("SELECT * FROM keep_me.units_c0 ORDER BY id");
  const [sum] = await admin.query("CHECKSUM TABLE keep_me.units_c0, keep_me.notes");
  return { tables, rows, sum };
}

describe("mariadb audit", () => {
  it("the audit rules flag statements outside the lab database", () => {
    expect(auditStatement("DROP DATABASE IF EXISTS `keep_me`")).toMatch(/unexpected statement/);
    expect(auditStatement("DELETE FROM `keep_me`.`units_c0` WHERE id = ?")).toMatch(/references keep_me/);
    expect(auditStatement("INSERT INTO units_c0 (id) VALUES ('x')")).toMatch(/write outside dedup_lab/);
    expect(auditStatement("SELECT * FROM mysql.user")).toMatch(/references mysql/);
    expect(auditStatement("INSERT INTO `dedup_lab`.`units_a_c0` (id, size, sha256, payload) VALUES ('u1', 4, 'x.y', 'keep_me.t')")).toBeNull();
    expect(auditStatement("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'keep_me'")).toMatch(/not filtered/);
  });

  it("full cells touch only dedup_lab (general log) and leave keep_me intact", async () => {
    await admin.query("DROP DATABASE IF EXISTS keep_me");
    await admin.query("CREATE DATABASE keep_me");
    // same table name the connector would use inside the lab database: a trap for unqualified SQL
    await admin.query("CREATE TABLE keep_me.units_c0 (id VARCHAR(64) PRIMARY KEY, payload LONGBLOB) ENGINE=InnoDB");
    await admin.query("INSERT INTO keep_me.units_c0 VALUES ('u0000000', 'do not touch'), ('u0000001', 'me neither')");
    await admin.query("CREATE TABLE keep_me.notes (n INT PRIMARY KEY) ENGINE=InnoDB PAGE_COMPRESSED=1");
    await admin.query("INSERT INTO keep_me.notes VALUES (1), (2), (3)");
    const before = await keepMeState();

    const offset = statSync(logFile, { throwIfNoEntry: false })?.size ?? 0;
    await admin.query("SET GLOBAL general_log = 1");
    const options = mariadbDefinition.options.parse({ host: env.DEDUP_MARIADB_HOST, port: env.DEDUP_MARIADB_PORT, user: env.DEDUP_MARIADB_USER });
    const lab = new LabNamespace();
    try {
      const ds = smallDataset({ units: 12, size: { min: 4096, max: 4096 }, fraction: 0.5, placement: "across", containers: 2 });
      await runCellThrough(mariadbDefinition.create(options, lab), { variant: "default", maintenance: "optimize", dataset: ds });
      await runCellThrough(mariadbDefinition.create(options, lab), { variant: "page_compressed", maintenance: "analyze", dataset: ds });
      await runCellThrough(mariadbDefinition.create(options, lab), { variant: "row_compressed", dataset: ds });
    } finally {
      await admin.query("SET GLOBAL general_log = 0");
    }

    const entries = parseGeneralLog(readFrom(logFile, offset));
    const labThreads = new Set(entries.filter((e) => e.command === "Connect" && e.argument.startsWith(`${LAB}@`)).map((e) => e.thread));
    expect(labThreads.size).toBe(3);
    for (const e of entries.filter((x) => x.command === "Connect" && labThreads.has(x.thread))) {
      expect(e.argument).toMatch(/^dedup_lab@127\.0\.0\.1 on ( |dedup_lab )using TCP\/IP/);
    }
    const statements = entries.filter((e) => labThreads.has(e.thread) && ["Query", "Prepare", "Execute", "Init DB"].includes(e.command));
    const problems = statements.map((e) => (e.command === "Init DB" ? (e.argument.trim() === LAB ? null : `USE ${e.argument}`) : auditStatement(e.argument))).filter((p) => p !== null);
    expect(problems).toEqual([]);
    // the log really covered the cells: DDL, bulk and per-unit writes, deletes, maintenance, cleanup
    const text = statements.map((e) => e.argument.slice(0, 60)).join("\n");
    for (const kind of [/^CREATE TABLE `dedup_lab`/m, /^INSERT INTO `dedup_lab`/m, /^DELETE FROM `dedup_lab`/m, /^OPTIMIZE TABLE `dedup_lab`/m, /^ANALYZE TABLE `dedup_lab`/m, /^DROP DATABASE IF EXISTS `dedup_lab`/m]) {
      expect(text).toMatch(kind);
    }

    expect(await keepMeState()).toEqual(before);
  });
});
