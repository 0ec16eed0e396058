import { describe, expect, it } from "vitest";
import {
  SPAN_STATS_SQL, chunkForInsert, compactSql, createDatabaseSql, createTableSql, crdbTable, dropDatabaseSql, gcSettled,
  gcTtlSql, multiRowInsertSql, multiRowInsertValues, rangesDetailsSql, showZoneSql,
} from "../../lib/systems/cockroach/cockroach-sql.js";
import { cockroachDefinition } from "../../lib/systems/cockroach/cockroach-options.js";
import { LabNamespace } from "../../lib/systems/namespace.js";

const T = crdbTable("dedup_lab", "units_c0");

describe("cockroach SQL text", () => {
  it("names lab tables with three parts inside the lab database", () => {
    expect(T).toBe('"dedup_lab"."public"."units_c0"');
    expect(createDatabaseSql("dedup_lab")).toBe('CREATE DATABASE IF NOT EXISTS "dedup_lab"');
    expect(dropDatabaseSql("dedup_lab")).toBe('DROP DATABASE IF EXISTS "dedup_lab" CASCADE');
  });

  it("lowers gc.ttlseconds on the lab database zone only", () => {
    expect(gcTtlSql("dedup_lab", 60)).toBe('ALTER DATABASE "dedup_lab" CONFIGURE ZONE USING gc.ttlseconds = 60');
    expect(() => gcTtlSql("dedup_lab", 0)).toThrow(/positive integer/);
    expect(() => gcTtlSql("dedup_lab", 1.5)).toThrow(/positive integer/);
    expect(showZoneSql("dedup_lab")).toBe('SHOW ZONE CONFIGURATION FROM DATABASE "dedup_lab"');
  });

  it("creates tables with types both CockroachDB and PostgreSQL accept", () => {
    expect(createTableSql(T, "default", "units_c0_sha256")).toEqual([
      'CREATE TABLE "dedup_lab"."public"."units_c0" (id text PRIMARY KEY, size int4 NOT NULL, sha256 bytea NOT NULL, payload bytea NOT NULL)',
    ]);
    expect(createTableSql(T, "hash_index", "units_c0_sha256")[1]).toBe('CREATE INDEX "units_c0_sha256" ON "dedup_lab"."public"."units_c0" (sha256)');
  });

  it("builds multi-row INSERTs with numbered parameters in row order", () => {
    expect(multiRowInsertSql(T, 2)).toBe('INSERT INTO "dedup_lab"."public"."units_c0" (id, size, sha256, payload) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)');
    const u = (id: string) => ({ id, size: 1, sha256: Buffer.alloc(32), payload: Buffer.from("x") });
    expect(multiRowInsertValues([u("a"), u("b")]).filter((v) => typeof v === "string")).toEqual(["a", "b"]);
  });

  it("chunks by rows and bytes, never leaving a unit behind", () => {
    const units = [3, 3, 3, 10, 1].map((n, i) => ({ i, payload: Buffer.alloc(n) }));
    expect(chunkForInsert(units, 2, 100).map((c) => c.map((u) => u.i))).toEqual([[0, 1], [2, 3], [4]]);
    expect(chunkForInsert(units, 10, 6).map((c) => c.map((u) => u.i))).toEqual([[0, 1], [2], [3], [4]]);
    expect(chunkForInsert([], 10, 6)).toEqual([]);
  });

  it("reads sizes from span stats and per-range details of the lab database only", () => {
    expect(SPAN_STATS_SQL).toContain("crdb_internal.tenant_span_stats((SELECT crdb_internal.get_database_id($1)))");
    expect(SPAN_STATS_SQL).toMatch(/sum\(live_bytes\).*sum\(total_bytes\).*sum\(approximate_disk_bytes\)/);
    expect(rangesDetailsSql("dedup_lab")).toContain('[SHOW RANGES FROM DATABASE "dedup_lab" WITH DETAILS]');
    expect(rangesDetailsSql("dedup_lab")).toContain("(span_stats->>'approximate_disk_bytes')::INT8");
  });

  it("compacts exactly the lab database's key span per store", () => {
    const s = compactSql("dedup_lab");
    expect(s).toMatch(/^SELECT crdb_internal\.compact_engine_span\(\$1, \$2, /);
    expect(s).toContain('(SELECT raw_start_key FROM [SHOW RANGES FROM DATABASE "dedup_lab" WITH KEYS] ORDER BY raw_start_key LIMIT 1)');
    expect(s).toContain('(SELECT raw_end_key FROM [SHOW RANGES FROM DATABASE "dedup_lab" WITH KEYS] ORDER BY raw_end_key DESC LIMIT 1)');
  });

  it("decides when MVCC GC has caught up", () => {
    expect(gcSettled(10_000_000, 0, 10_000_000)).toBe(false);
    expect(gcSettled(10_000_000, 0, 50_000)).toBe(true);
    expect(gcSettled(100_000_000, 1_000_000, 1_900_000)).toBe(true);
    expect(gcSettled(100_000_000, 1_000_000, 3_000_000)).toBe(false);
    expect(gcSettled(0, 5, 5)).toBe(true);
  });
});

describe("cockroach options", () => {
  const lab = new LabNamespace();
  const base = { host: "127.0.0.1", port: 26257, user: "dedup_lab", passwordEnv: "DEDUP_CRDB_PASSWORD" };

  it("requires verify-full TLS with a CA by default", () => {
    const r = cockroachDefinition.options.safeParse(base);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/verify-full needs ssl.caFile/);
    const o = cockroachDefinition.options.parse({ ...base, ssl: { mode: "verify-full", caFile: "/ca.crt", serverName: "crdb.lab" } });
    expect(o).toMatchObject({ database: "defaultdb", gcTtlSeconds: 60, ssl: { mode: "verify-full" } });
  });

  it("refuses a lab database that is not the lab's", () => {
    const mk = (labDatabase?: string) => cockroachDefinition.options.parse({ ...base, ssl: { mode: "disable" }, ...(labDatabase ? { labDatabase } : {}) });
    expect(cockroachDefinition.checkNamespace!(mk(), lab)).toBeNull();
    expect(cockroachDefinition.checkNamespace!(mk("dedup_lab"), lab)).toBeNull();
    expect(cockroachDefinition.checkNamespace!(mk("defaultdb"), lab)).toMatch(/labDatabase "defaultdb" is outside the lab namespace/);
  });
});
