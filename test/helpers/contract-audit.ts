// Namespace audit by inventory, one way for every system: list every object an admin can see
// where a connector could create one (schemas, databases and tables; keys; topics and consumer
// groups; buckets and objects; files under the cell's work directory), plant bystanders outside
// the lab beforehand (one of them named like a lab object, a trap for unqualified names), and
// after a cell check that every object that appeared is lab-namespaced, that cleanup left no lab
// object, and that the bystanders are untouched. The statement-level audits (PostgreSQL
// log_statement, the MariaDB general log, ClickHouse query_log) stay in the *-audit tests.
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Redis } from "ioredis";
import kafkajs from "kafkajs";
import * as Minio from "minio";
import mysql from "mysql2/promise";
import pg from "pg";
import type { LabNamespace } from "../../lib/systems/namespace.js";

export interface Inventory {
  /** Every object an admin sees where the system could create one, as one name each (e.g. "dedup_lab.units_c0"). */
  list(): Promise<string[]>;
  /** Whether a listed name is inside the lab namespace. */
  isLab(name: string): boolean;
  /** Create objects outside the lab namespace (idempotent). */
  plant(): Promise<void>;
  /** The bystanders' content, compared before and after. */
  bystanders(): Promise<unknown>;
  /** Remove the bystanders. */
  unplant(): Promise<void>;
  close(): Promise<void>;
}

/** What a cell's audit saw: objects that appeared, which of them are outside the lab, and lab objects left after cleanup. */
export interface AuditReport {
  created: string[];
  createdOutsideLab: string[];
  labLeftAfterCleanup: string[];
  bystandersBefore: unknown;
  bystandersAfter: unknown;
}

/**
 * Runs a namespace audit around `cell`: `cell(checkpoint)` must call `checkpoint()` once while
 * the system's objects exist (after the inserts) and clean up before it returns.
 */
export async function auditNamespace(inv: Inventory, cell: (checkpoint: () => Promise<void>) => Promise<void>): Promise<AuditReport> {
  await inv.plant();
  const bystandersBefore = await inv.bystanders();
  const before = new Set(await inv.list());
  let created: string[] | undefined;
  await cell(async () => {
    created = (await inv.list()).filter((n) => !before.has(n)).sort();
  });
  if (!created) throw new Error("the cell never called the audit checkpoint");
  const after = await inv.list();
  const report: AuditReport = {
    created,
    createdOutsideLab: created.filter((n) => !inv.isLab(n)),
    labLeftAfterCleanup: after.filter((n) => inv.isLab(n)).sort(),
    bystandersBefore,
    bystandersAfter: await inv.bystanders(),
  };
  return report;
}

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set — run scripts/services.sh up and load .services/env`);
  return v;
};

// ---------------------------------------------------------------------------------- PostgreSQL

/** PostgreSQL and the cockroach stand-in: databases, schemas and relations of the connected database. */
export function postgresInventory(adminUrl: string, lab: LabNamespace): Inventory {
  let client: pg.Client | undefined;
  const c = async () => {
    if (!client) {
      client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
    }
    return client;
  };
  const SYSTEM_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";
  return {
    async list() {
      const db = await c();
      const dbs = (await db.query("SELECT 'db:' || datname AS name FROM pg_database")).rows;
      const ns = (await db.query(`SELECT 'schema:' || n.nspname AS name FROM pg_namespace n WHERE ${SYSTEM_NS}`)).rows;
      const rels = (await db.query(`SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${SYSTEM_NS}`)).rows;
      return [...dbs, ...ns, ...rels].map((r: { name: string }) => r.name);
    },
    isLab: (name) => name === `db:${lab.sqlName}` || name === `schema:${lab.sqlName}` || name.startsWith(`${lab.sqlName}.`),
    async plant() {
      const db = await c();
      await db.query("DROP TABLE IF EXISTS public.contract_keep, public.units_c0");
      await db.query("CREATE TABLE public.contract_keep (id int PRIMARY KEY, note text NOT NULL)");
      await db.query("INSERT INTO public.contract_keep VALUES (1, 'production row')");
      // named exactly like a lab table: a trap for unqualified SQL
      await db.query("CREATE TABLE public.units_c0 (id text PRIMARY KEY)");
      await db.query("INSERT INTO public.units_c0 VALUES ('not a lab row')");
    },
    async bystanders() {
      const db = await c();
      return {
        keep: (await db.query("SELECT id, note FROM public.contract_keep ORDER BY id")).rows,
        units: (await db.query("SELECT id FROM public.units_c0 ORDER BY id")).rows,
      };
    },
    async unplant() {
      await (await c()).query("DROP TABLE IF EXISTS public.contract_keep, public.units_c0");
    },
    async close() {
      await client?.end();
    },
  };
}

// ------------------------------------------------------------------------------------- MariaDB

export function mariadbInventory(lab: LabNamespace): Inventory {
  let conn: mysql.Connection | undefined;
  const c = async () =>
    (conn ??= await mysql.createConnection({
      host: env("DEDUP_MARIADB_HOST"), port: Number(env("DEDUP_MARIADB_PORT")),
      user: env("DEDUP_MARIADB_ADMIN_USER"), password: env("DEDUP_MARIADB_ADMIN_PASSWORD"),
    }));
  const SYSTEM = "('mysql', 'information_schema', 'performance_schema', 'sys')";
  return {
    async list() {
      const db = await c();
      const [dbs] = await db.query(`SELECT CONCAT('db:', SCHEMA_NAME) AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ${SYSTEM}`);
      const [tables] = await db.query(`SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ${SYSTEM}`);
      return [...(dbs as { name: string }[]), ...(tables as { name: string }[])].map((r) => r.name);
    },
    isLab: (name) => name === `db:${lab.sqlName}` || name.startsWith(`${lab.sqlName}.`),
    async plant() {
      const db = await c();
      await db.query("DROP DATABASE IF EXISTS contract_keep");
      await db.query("CREATE DATABASE contract_keep");
      await db.query("CREATE TABLE contract_keep.units_c0 (id VARCHAR(64) PRIMARY KEY, payload LONGBLOB) ENGINE=InnoDB");
      await db.query("INSERT INTO contract_keep.units_c0 VALUES ('u0000000', 'do not touch'), ('u0000001', 'me neither')");
    },
    async bystanders() {
      const db = await c();
      const [rows] = await db.query("SELECT id, payload FROM contract_keep.units_c0 ORDER BY id");
      const [sum] = await db.query("CHECKSUM TABLE contract_keep.units_c0");
      return { rows, sum };
    },
    async unplant() {
      await (await c()).query("DROP DATABASE IF EXISTS contract_keep");
    },
    async close() {
      await conn?.end();
    },
  };
}

// ---------------------------------------------------------------------------------- ClickHouse

export function clickhouseInventory(lab: LabNamespace): Inventory {
  const admin = createClient({
    url: `http://127.0.0.1:${env("DEDUP_CLICKHOUSE_PORT")}`,
    username: env("DEDUP_CLICKHOUSE_ADMIN_USER"), password: env("DEDUP_CLICKHOUSE_ADMIN_PASSWORD"),
    log: { level: ClickHouseLogLevel.OFF },
  });
  const rows = async <T>(query: string) => (await admin.query({ query, format: "JSONEachRow" })).json<T>();
  return {
    async list() {
      const dbs = await rows<{ name: string }>("SELECT concat('db:', name) AS name FROM system.databases WHERE name != 'system'");
      const tables = await rows<{ name: string }>("SELECT concat(database, '.', name) AS name FROM system.tables WHERE database != 'system'");
      return [...dbs, ...tables].map((r) => r.name);
    },
    isLab: (name) => name === `db:${lab.sqlName}` || name.startsWith(`${lab.sqlName}.`),
    async plant() {
      await admin.command({ query: "DROP DATABASE IF EXISTS contract_keep" });
      await admin.command({ query: "CREATE DATABASE contract_keep" });
      await admin.command({ query: "CREATE TABLE contract_keep.units_c0 (id String, payload String) ENGINE = MergeTree ORDER BY id" });
      await admin.command({ query: "INSERT INTO contract_keep.units_c0 VALUES ('u0000000', 'do not touch'), ('u0000001', 'me neither')" });
    },
    bystanders: () => rows("SELECT id, payload FROM contract_keep.units_c0 ORDER BY id"),
    async unplant() {
      await admin.command({ query: "DROP DATABASE IF EXISTS contract_keep" });
    },
    close: () => admin.close(),
  };
}

// --------------------------------------------------------------------------------------- Redis

export function redisInventory(lab: LabNamespace): Inventory {
  const admin = new Redis({ host: "127.0.0.1", port: Number(env("DEDUP_REDIS_PORT")), password: env("DEDUP_REDIS_ADMIN_PASSWORD"), maxRetriesPerRequest: 1, lazyConnect: true });
  const KEEP = ["contract-keep:units", `keep:${lab.keyPrefix}units`];
  return {
    async list() {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await admin.scan(cursor, "COUNT", 1000);
        keys.push(...batch);
        cursor = next;
      } while (cursor !== "0");
      return keys;
    },
    isLab: (key) => lab.isLabKey(key),
    async plant() {
      for (const k of KEEP) await admin.set(k, `kept ${k}`);
    },
    bystanders: () => admin.mget(...KEEP),
    async unplant() {
      await admin.del(...KEEP);
    },
    async close() {
      admin.disconnect();
    },
  };
}

// --------------------------------------------------------------------------------------- Kafka

/** Topics (broker-internal `__*` topics aside) and consumer groups, over the PLAINTEXT listener. */
export function kafkaInventory(lab: LabNamespace): Inventory {
  const kafka = new kafkajs.Kafka({ clientId: "dedup-lab-contract-audit", brokers: [env("DEDUP_KAFKA_BROKERS")], logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  let connected = false;
  const a = async () => {
    if (!connected) await admin.connect();
    connected = true;
    return admin;
  };
  const KEEP = "contract-keep-topic";
  return {
    async list() {
      const ad = await a();
      const topics = (await ad.listTopics()).filter((t) => !t.startsWith("__"));
      const groups = (await ad.listGroups()).groups.map((g) => `group:${g.groupId}`);
      return [...topics, ...groups];
    },
    isLab: (name) => lab.isLabObject(name.replace(/^group:/, "")),
    async plant() {
      const ad = await a();
      if (!(await ad.listTopics()).includes(KEEP)) {
        await ad.createTopics({ waitForLeaders: true, topics: [{ topic: KEEP, numPartitions: 1, replicationFactor: 1 }] });
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({ topic: KEEP, acks: -1, messages: [0, 1, 2].map((i) => ({ key: `k${i}`, value: `outside record ${i}` })) });
        await producer.disconnect();
      }
    },
    async bystanders() {
      const ad = await a();
      const cfg = await ad.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: KEEP, configNames: ["cleanup.policy", "retention.ms"] }] });
      return { offsets: await ad.fetchTopicOffsets(KEEP), configs: cfg.resources[0]!.configEntries.map((c) => [c.configName, c.configValue]) };
    },
    async unplant() {
      await (await a()).deleteTopics({ topics: [KEEP] });
    },
    async close() {
      if (connected) await admin.disconnect();
    },
  };
}

// --------------------------------------------------------------------------------------- MinIO

/** Buckets and every object in them (current versions), as the root user sees them. */
export function minioInventory(lab: LabNamespace): Inventory {
  const root = new Minio.Client({
    endPoint: "127.0.0.1", port: Number(env("DEDUP_MINIO_PORT")), useSSL: false, region: "us-east-1", pathStyle: true,
    accessKey: env("DEDUP_MINIO_ROOT_USER"), secretKey: env("DEDUP_MINIO_ROOT_PASSWORD"),
  });
  const KEEP = "contract-keep-bucket";
  const objects = async (bucket: string) => {
    const out: string[] = [];
    for await (const o of root.listObjectsV2(bucket, "", true)) out.push(`${bucket}/${(o as Minio.BucketItem).name}`);
    return out;
  };
  return {
    async list() {
      const names: string[] = [];
      for (const b of await root.listBuckets()) names.push(b.name, ...(await objects(b.name)));
      return names;
    },
    isLab: (name) => lab.isLabObject(name.split("/")[0]!),
    async plant() {
      if (!(await root.bucketExists(KEEP))) await root.makeBucket(KEEP, "us-east-1");
      // an object named like a lab bucket, in a bucket outside the lab
      await root.putObject(KEEP, `${lab.objectPrefix}c0/u0000000`, Buffer.from("kept"));
    },
    async bystanders() {
      const stat = await root.statObject(KEEP, `${lab.objectPrefix}c0/u0000000`);
      return { objects: await objects(KEEP), etag: stat.etag, size: stat.size };
    },
    async unplant() {
      for (const name of await objects(KEEP)) await root.removeObject(KEEP, name.slice(KEEP.length + 1));
      await root.removeBucket(KEEP);
    },
    async close() {},
  };
}

// ------------------------------------------------------------------------------------ embedded

/**
 * Files and directories under a cell's work directory (embedded systems keep everything there).
 * Lab names: `<prefix>_lab.*` (database files) and `<prefix>-lab-*` (directories).
 */
export function workDirInventory(workDir: string, lab: LabNamespace): Inventory {
  const KEEP = "contract-keep.txt";
  const walk = (dir: string, out: string[]): string[] => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      out.push(relative(workDir, join(dir, e.name)));
      if (e.isDirectory()) walk(join(dir, e.name), out);
    }
    return out;
  };
  return {
    list: async () => walk(workDir, []),
    isLab: (name) => {
      const top = name.split("/")[0]!;
      return top.startsWith(`${lab.sqlName}.`) || lab.isLabObject(top);
    },
    async plant() {
      writeFileSync(join(workDir, KEEP), "not a lab file");
    },
    bystanders: async () => readFileSync(join(workDir, KEEP), "utf8"),
    async unplant() {},
    async close() {},
  };
}
