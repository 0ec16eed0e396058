// The postgres connector against the real local PostgreSQL 15 (scripts/services.sh up postgres):
// every variant × maintenance through the contract, sizes that make sense, errors that help.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import type { CellContext, SizeReading } from "../../lib/systems/contract.js";
import { postgresDefinition, type PostgresOptions } from "../../lib/systems/postgres/postgres-options.js";
import { primary, runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();
let admin: pg.Client;

function options(over: Partial<Record<keyof PostgresOptions, unknown>> = {}): PostgresOptions {
  return postgresDefinition.options.parse({
    host: process.env.DEDUP_PG_HOST, port: process.env.DEDUP_PG_PORT, database: process.env.DEDUP_PG_DATABASE,
    user: process.env.DEDUP_PG_USER, passwordEnv: "DEDUP_PG_PASSWORD", ...over,
  });
}

const reading = (rs: SizeReading[], metric: string) => rs.find((r) => r.metric === metric)!;

function cell(variant: string, containers = 1): CellContext {
  return { lab, cellKey: "t" + variant, variant, containers, workDir: "/tmp", log: () => {} };
}

beforeAll(async () => {
  loadServicesEnv();
  admin = new pg.Client({ connectionString: process.env.DEDUP_PG_ADMIN_URL });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
});

describe("postgres: every variant and maintenance through the contract", () => {
  const variants = Object.keys(postgresDefinition.capabilities.variants);
  const maintenances = Object.keys(postgresDefinition.capabilities.maintenance);
  for (const variant of variants) {
    for (const maintenance of maintenances) {
      it(`${variant} + ${maintenance}`, async () => {
        const payload = variant === "lz4" ? "text_document" : "random_binary";
        const ds = smallDataset({ payload, units: 24, size: { min: 8192, max: 8192 }, fraction: 0.5, placement: "across", containers: 2 });
        const r = await runCellThrough(postgresDefinition.create(options(), lab), { variant, maintenance, dataset: ds });
        const logical = ds.totals.logical_bytes;

        for (const readings of Object.values(r.sizes)) {
          expect(readings.filter((x) => x.layer === "L1" && x.primary)).toHaveLength(1);
          expect(readings.filter((x) => x.layer === "L2" && x.primary)).toHaveLength(1);
          for (const x of readings) expect(x.bytes === null ? typeof x.reason : typeof x.bytes).toBe(x.bytes === null ? "string" : "number");
        }
        // Everything written arrived: raw payload bytes equal the manifest's logical bytes.
        expect(reading(r.sizes.bulk, "octet_length_payload").bytes).toBe(logical);
        expect(reading(r.sizes.perfile, "octet_length_payload").bytes).toBe(logical);
        expect(primary(r.sizes.bulk, "L2")!).toBeGreaterThan(primary(r.sizes.prepared, "L2")! + logical / 2);
        expect(primary(r.sizes.reset, "L1")).toBe(0);
        if (variant === "lz4") expect(primary(r.sizes.perfile, "L1")!).toBeLessThan(logical * 0.8);
        else expect(primary(r.sizes.perfile, "L1")!).toBeGreaterThanOrEqual(logical); // random bytes do not compress
        expect(reading(r.sizes.perfile, "pgstattuple_tuple_len").bytes!).toBeGreaterThan(0);
        // Deleting frees nothing on disk; only maintenance can.
        expect(primary(r.sizes.deleted, "L1")).toBe(0);
        expect(primary(r.sizes.deleted, "L2")!).toBeGreaterThan(primary(r.sizes.prepared, "L2")!);
        expect(primary(r.sizes.maintained, "L2")!).toBeLessThan(primary(r.sizes.deleted, "L2")!);
        if (maintenance === "vacuum_full") expect(primary(r.sizes.maintained, "L2")).toBe(primary(r.sizes.prepared, "L2"));
        expect(reading(r.sizes.maintained, "pgstattuple_dead_tuple_len").bytes).toBe(0);

        const snap = r.snapshots[1] as { server: { kind: string }; columns: { attname: string; attstorage: string; attcompression: string }[]; indexes: { indexdef: string; reloptions: string[] | null }[] };
        expect(snap.server.kind).toBe("postgresql");
        const payloadCol = snap.columns.find((c) => c.attname === "payload")!;
        expect(payloadCol.attstorage).toBe(variant === "external" ? "e" : "x");
        expect(payloadCol.attcompression).toBe(variant === "lz4" ? "l" : variant === "external" ? "" : "p");
        if (variant.startsWith("hash_index")) {
          const ix = snap.indexes.find((i) => i.indexdef.includes("(sha256)"))!;
          expect(ix.reloptions).toEqual([`deduplicate_items=${variant === "hash_index" ? "on" : "off"}`]);
        }
        // cleanup dropped the lab schema
        const left = await admin.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [lab.sqlName]);
        expect(left.rowCount).toBe(0);
      });
    }
  }
});

describe("postgres: B-tree deduplication on the content hash", () => {
  it("stores a 90 %-duplicate hash column in a smaller index with deduplicate_items on", async () => {
    const ds = smallDataset({ units: 1500, size: { min: 256, max: 256 }, fraction: 0.9 });
    const indexBytes: Record<string, number> = {};
    for (const variant of ["hash_index", "hash_index_nodedup"]) {
      const sys = postgresDefinition.create(options(), lab);
      await sys.connect();
      try {
        await sys.prepare(cell(variant));
        await sys.bulkInsert((async function* () { yield* ds.batches(64 * 1024); })());
        indexBytes[variant] = reading(await sys.sizes(), "pg_indexes_size").bytes!;
        await sys.cleanup();
      } finally {
        await sys.close();
      }
    }
    expect(indexBytes.hash_index!).toBeLessThan(indexBytes.hash_index_nodedup! * 0.8);
  });
});

describe("postgres: failures are one clear line", () => {
  it("wrong password names system, endpoint and the env var, never the password", async () => {
    process.env.DEDUP_TEST_WRONG_PG_PW = "not-the-password-" + Math.random().toString(36).slice(2);
    const sys = postgresDefinition.create(options({ passwordEnv: "DEDUP_TEST_WRONG_PG_PW" }), lab);
    const err = await sys.connect().then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^postgres at 127\.0\.0\.1:55432: connecting: password authentication failed for user "dedup_lab" — check the password in \$DEDUP_TEST_WRONG_PG_PW$/);
    expect(err?.message).not.toContain(process.env.DEDUP_TEST_WRONG_PG_PW);
    expect(err?.message).not.toContain(process.env.DEDUP_PG_PASSWORD);
  });

  it("unreachable port: connection refused after bounded retries, one line", async () => {
    const sys = postgresDefinition.create(options({ port: 1, reconnect: { attempts: 2, baseDelayMs: 20 } }), lab);
    const err = await sys.connect().then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^postgres at 127\.0\.0\.1:1: connecting \(after 3 connection attempts\): connection refused — is the server running/);
    expect(err?.message).not.toMatch(/\n/);
  });

  it("missing password variable is reported before any network traffic", async () => {
    const sys = postgresDefinition.create(options({ passwordEnv: "DEDUP_TEST_NO_SUCH_VAR" }), lab);
    await expect(sys.connect()).rejects.toThrow(/^postgres at 127\.0\.0\.1:55432: environment variable DEDUP_TEST_NO_SUCH_VAR \(passwordEnv\) is not set/);
  });

  it("a non-lab schema is refused by checkNamespace (before connecting)", () => {
    expect(postgresDefinition.checkNamespace!(options({ schema: "public" }), lab)).toMatch(/schema "public" is outside the lab namespace — use "dedup_lab"/);
  });

  it("deleting a unit that is not there fails instead of counting as done", async () => {
    const sys = postgresDefinition.create(options(), lab);
    await sys.connect();
    try {
      await sys.prepare(cell("default"));
      const u = smallDataset().unit(0);
      await expect(sys.delete(u)).rejects.toThrow(/delete of u0000000 from "dedup_lab"."units_tdefault_c0" removed 0 rows \(expected 1\)/);
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });
});

describe("postgres: a dropped connection inside a stage", () => {
  it("sizes and snapshot reconnect with backoff; the next insert runs on the new connection", async () => {
    const sys = postgresDefinition.create(options(), lab);
    await sys.connect();
    try {
      await sys.prepare(cell("default"));
      const ds = smallDataset();
      await sys.insert(ds.unit(0));
      const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'dedup_lab' AND application_name = 'dedup-lab'");
      expect(killed.rowCount).toBeGreaterThan(0);
      const sizes = await sys.sizes();
      expect(reading(sizes, "octet_length_payload").bytes).toBe(ds.sizeOf(0));
      await sys.insert(ds.unit(1));
      const snap = (await sys.snapshot()) as { reconnects: { doing: string; error: string }[] };
      expect(snap.reconnects.length).toBeGreaterThan(0);
      expect(snap.reconnects[0]!.error).toMatch(/^postgres at 127\.0\.0\.1:55432: /);
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });
});
