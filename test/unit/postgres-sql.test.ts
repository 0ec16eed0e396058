import { describe, expect, it } from "vitest";
import {
  COPY_BINARY_HEADER, COPY_BINARY_TRAILER, copyBinarySql, copyRowPrefix, createTableSql, deleteSql, ident, insertSql,
  parseServerVersion, payloadSizesSql, qualify, variantProblem,
} from "../../lib/systems/postgres/postgres-sql.js";
import { clientConfig, describeWireError, isConnectionLost, type WireOptions } from "../../lib/systems/postgres/postgres-connection.js";
import { postgresDefinition } from "../../lib/systems/postgres/postgres-options.js";
import { LabNamespace } from "../../lib/systems/namespace.js";

const T = qualify("dedup_lab", "units_c0");

describe("postgres SQL text", () => {
  it("quotes and qualifies identifiers", () => {
    expect(T).toBe('"dedup_lab"."units_c0"');
    expect(ident('a"b')).toBe('"a""b"');
  });

  it("creates the default table with explicit pglz on 14+ and none before", () => {
    expect(createTableSql(T, "default", 150018, "ix")).toEqual([
      'CREATE TABLE "dedup_lab"."units_c0" (id text PRIMARY KEY, size integer NOT NULL, sha256 bytea NOT NULL, payload bytea COMPRESSION pglz NOT NULL)',
    ]);
    expect(createTableSql(T, "default", 130011, "ix")[0]).not.toContain("COMPRESSION");
  });

  it("maps storage and index variants", () => {
    expect(createTableSql(T, "lz4", 150000, "ix")[0]).toContain("payload bytea COMPRESSION lz4 NOT NULL");
    expect(createTableSql(T, "external", 150000, "ix")).toEqual([
      expect.not.stringContaining("COMPRESSION"),
      'ALTER TABLE "dedup_lab"."units_c0" ALTER COLUMN payload SET STORAGE EXTERNAL',
    ]);
    expect(createTableSql(T, "hash_index", 150000, "units_c0_sha256")[1]).toBe(
      'CREATE INDEX "units_c0_sha256" ON "dedup_lab"."units_c0" USING btree (sha256) WITH (deduplicate_items = on)',
    );
    expect(createTableSql(T, "hash_index_nodedup", 150000, "units_c0_sha256")[1]).toContain("deduplicate_items = off");
  });

  it("every statement is one line and schema-qualified", () => {
    for (const s of [...createTableSql(T, "hash_index", 150000, "i"), insertSql(T), deleteSql(T), copyBinarySql(T), payloadSizesSql(T)]) {
      expect(s).not.toMatch(/\n/);
      expect(s).toContain('"dedup_lab"."units_c0"');
    }
  });

  it("refuses variants the server cannot run, with the fix", () => {
    expect(variantProblem("lz4", 150000, ["pglz", "lz4"])).toBeNull();
    expect(variantProblem("lz4", 150000, ["pglz"])).toMatch(/built without lz4.*use variant default/);
    expect(variantProblem("lz4", 130000, ["pglz"])).toMatch(/PostgreSQL 14\+/);
    expect(variantProblem("hash_index", 120000, [])).toMatch(/13\+/);
    expect(variantProblem("default", 120000, [])).toBeNull();
  });

  it("frames binary COPY rows as PostgreSQL expects", () => {
    expect(COPY_BINARY_HEADER.subarray(0, 11).toString("latin1")).toBe("PGCOPY\n\xff\r\n\0");
    expect(COPY_BINARY_HEADER.length).toBe(19);
    expect(COPY_BINARY_TRAILER.readInt16BE(0)).toBe(-1);
    const sha = Buffer.alloc(32, 7);
    const payload = Buffer.from("hello");
    const p = copyRowPrefix({ id: "u0000001", size: 5, sha256: sha, payload });
    let o = 0;
    expect(p.readInt16BE(o)).toBe(4); o += 2;
    expect(p.readInt32BE(o)).toBe(8); o += 4;
    expect(p.subarray(o, o + 8).toString()).toBe("u0000001"); o += 8;
    expect(p.readInt32BE(o)).toBe(4); o += 4;
    expect(p.readInt32BE(o)).toBe(5); o += 4;
    expect(p.readInt32BE(o)).toBe(32); o += 4;
    expect(p.subarray(o, o + 32).equals(sha)).toBe(true); o += 32;
    expect(p.readInt32BE(o)).toBe(5); o += 4;
    expect(o).toBe(p.length);
  });

  it("recognises PostgreSQL and CockroachDB version strings", () => {
    expect(parseServerVersion("PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu")).toEqual({ kind: "postgresql", version: "15.18", display: "PostgreSQL 15.18" });
    expect(parseServerVersion("CockroachDB CCL v24.3.1 (x86_64-pc-linux-gnu, built 2024/12/11 12:00:00, go1.22.8 X:nocoverageredesign)")).toMatchObject({ kind: "cockroachdb", version: "24.3.1" });
    expect(parseServerVersion("CockroachDB CCL v25.2.0-beta.1 (aarch64)").version).toBe("25.2.0-beta.1");
    expect(parseServerVersion("something else").kind).toBe("unknown");
  });
});

describe("postgres connection wording", () => {
  const o: WireOptions = {
    host: "127.0.0.1", port: 55432, database: "appdb", user: "dedup_lab", passwordEnv: "DEDUP_TEST_PW_UNSET",
    ssl: { mode: "verify-full", caFile: "/x/ca.crt", serverName: "localhost" }, connectTimeoutMs: 1000, reconnect: { attempts: 0, baseDelayMs: 10 },
  };

  it("names the fix for each kind of failure, in one line, without the secret", () => {
    const cases: [unknown, RegExp][] = [
      [{ code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:55432" }, /connection refused/],
      [{ code: "28P01", message: 'password authentication failed for user "dedup_lab"' }, /check the password in \$DEDUP_TEST_PW_UNSET/],
      [{ code: "28000", message: 'pg_hba.conf rejects connection for host "127.0.0.1", user "x", database "y", no encryption' }, /rejects plaintext/],
      [{ code: "SELF_SIGNED_CERT_IN_CHAIN", message: "self-signed certificate in certificate chain" }, /not trusted by the CA in \/x\/ca.crt/],
      [{ code: "ERR_TLS_CERT_ALTNAME_INVALID", message: "Hostname/IP does not match", cert: { subjectaltname: "DNS:localhost" } }, /does not match server name "localhost" \(certificate names DNS:localhost\)/],
      [new Error("The server does not support SSL connections"), /does not offer TLS/],
      [{ code: "42P01", message: "relation\n does not exist" }, /^relation does not exist \(SQLSTATE 42P01\)$/],
    ];
    for (const [err, re] of cases) {
      const m = describeWireError(err, o);
      expect(m).toMatch(re);
      expect(m).not.toMatch(/\n/);
    }
    expect(describeWireError({ message: "oops s3cret oops" }, o, "s3cret")).toBe("oops *** oops");
  });

  it("classifies dropped connections as retryable and auth failures as not", () => {
    expect(isConnectionLost({ code: "57P01" })).toBe(true);
    expect(isConnectionLost(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isConnectionLost({ code: "28P01" })).toBe(false);
    expect(isConnectionLost({ code: "42501" })).toBe(false);
  });

  it("refuses to connect without the password variable, naming it", () => {
    delete process.env.DEDUP_TEST_PW_UNSET;
    expect(() => clientConfig("postgres", o)).toThrow(/^postgres at 127.0.0.1:55432: environment variable DEDUP_TEST_PW_UNSET \(passwordEnv\) is not set/);
  });

  it("turns plain options into a pg config with TLS off unless asked", () => {
    process.env.DEDUP_TEST_PW_SET = "pw";
    const cfg = clientConfig("postgres", { ...o, passwordEnv: "DEDUP_TEST_PW_SET", ssl: { mode: "disable" } });
    expect(cfg).toMatchObject({ host: "127.0.0.1", port: 55432, database: "appdb", user: "dedup_lab", password: "pw", ssl: false });
    expect(() => clientConfig("postgres", { ...o, passwordEnv: "DEDUP_TEST_PW_SET" })).toThrow(/cannot read ssl.caFile "\/x\/ca.crt": ENOENT/);
  });
});

describe("postgres options", () => {
  const lab = new LabNamespace();
  const base = { host: "127.0.0.1", port: "55432", database: "appdb", user: "dedup_lab", passwordEnv: "DEDUP_PG_PASSWORD" };

  it("accepts ${VAR}-expanded string ports and defaults TLS off", () => {
    const o = postgresDefinition.options.parse(base);
    expect(o.port).toBe(55432);
    expect(o.ssl).toEqual({ mode: "disable" });
    expect(postgresDefinition.endpoint(o)).toBe("127.0.0.1:55432");
  });

  it("rejects a password in place of an env var name and verify-full without a CA", () => {
    expect(postgresDefinition.options.safeParse({ ...base, passwordEnv: "hunter2!" }).success).toBe(false);
    expect(postgresDefinition.options.safeParse({ ...base, ssl: { mode: "verify-full" } }).success).toBe(false);
    expect(postgresDefinition.options.safeParse({ ...base, password: "x" }).success).toBe(false);
  });

  it("checks the configured schema against the lab namespace before connecting", () => {
    const check = postgresDefinition.checkNamespace!;
    expect(check(postgresDefinition.options.parse(base), lab)).toBeNull();
    expect(check(postgresDefinition.options.parse({ ...base, schema: "dedup_lab" }), lab)).toBeNull();
    expect(check(postgresDefinition.options.parse({ ...base, schema: "public" }), lab)).toMatch(/schema "public" is outside the lab namespace/);
  });
});
