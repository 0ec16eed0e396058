// The cockroach connector against the TLS-only PostgreSQL stand-in (scripts/services.sh up
// postgres-tls): the wire + verify-full TLS path for real, the data path through the contract,
// and CockroachDB-only parts degraded with recorded reasons instead of crashing.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import type { CellContext, SizeReading } from "../../lib/systems/contract.js";
import { cockroachDefinition, type CockroachOptions } from "../../lib/systems/cockroach/cockroach-options.js";
import { runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();
let admin: pg.Client;
let endpoint = "";

function options(over: Record<string, unknown> = {}, ssl: Record<string, unknown> = {}): CockroachOptions {
  return cockroachDefinition.options.parse({
    host: process.env.DEDUP_PGTLS_HOST, port: process.env.DEDUP_PGTLS_PORT, database: process.env.DEDUP_PGTLS_DATABASE,
    user: process.env.DEDUP_PGTLS_USER, passwordEnv: "DEDUP_PGTLS_PASSWORD", reconnect: { attempts: 1, baseDelayMs: 20 },
    ssl: { mode: "verify-full", caFile: process.env.DEDUP_PGTLS_CA_FILE, serverName: process.env.DEDUP_PGTLS_SERVER_NAME, ...ssl },
    ...over,
  });
}

async function connectError(o: CockroachOptions): Promise<string> {
  const sys = cockroachDefinition.create(o, lab);
  try {
    await sys.connect();
    return "connected";
  } catch (e) {
    return (e as Error).message;
  } finally {
    await sys.close();
  }
}

/** A CA of our own that did not sign the server certificate. */
function otherCa(): string {
  const dir = mkdtempSync(join(tmpdir(), "dedup-lab-other-ca-"));
  execFileSync("openssl", ["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt"), "-subj", "/CN=unrelated CA", "-addext", "basicConstraints=critical,CA:TRUE"], { stdio: "ignore" });
  return join(dir, "ca.crt");
}

beforeAll(async () => {
  loadServicesEnv();
  endpoint = `${process.env.DEDUP_PGTLS_HOST}:${process.env.DEDUP_PGTLS_PORT}`;
  admin = new pg.Client({ connectionString: process.env.DEDUP_PGTLS_ADMIN_URL });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
});

describe("cockroach: TLS verify-full against the stand-in", () => {
  it("the right CA and server name connect, over TLS", async () => {
    // The certificate also names IP 127.0.0.1, so the host itself is a valid server name.
    expect(await connectError(options({}, { serverName: undefined }))).toBe("connected");
    const sys = cockroachDefinition.create(options(), lab);
    await sys.connect();
    try {
      const ssl = await admin.query("SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'dedup_lab' AND a.application_name = 'dedup-lab'");
      expect(ssl.rows).toEqual([{ ssl: true, version: "TLSv1.3" }]);
    } finally {
      await sys.close();
    }
  });

  it("wrong CA, wrong server name and plaintext each fail with a distinct one-line error", async () => {
    const wrongCa = await connectError(options({}, { caFile: otherCa() }));
    const wrongName = await connectError(options({}, { serverName: "wrong.example" }));
    const plaintext = await connectError(options({ ssl: { mode: "disable" } }));
    const prefix = `cockroach at ${endpoint}: connecting: `;
    expect(wrongCa).toMatch(new RegExp(`^${prefix}TLS: server certificate is not trusted by the CA in .*other-ca.*ca\\.crt \\(\\w+\\) — point ssl.caFile at the CA`));
    expect(wrongName).toBe(`${prefix}TLS: server certificate does not match server name "wrong.example" (certificate names DNS:localhost, IP Address:127.0.0.1) — set ssl.serverName to a name in the certificate`);
    expect(plaintext).toBe(`${prefix}server rejects plaintext connections (pg_hba: no encryption) — set ssl: { mode: verify-full, caFile, serverName }`);
    for (const m of [wrongCa, wrongName, plaintext]) {
      expect(m).not.toMatch(/\n/);
      expect(m).not.toContain(process.env.DEDUP_PGTLS_PASSWORD);
    }
    expect(new Set([wrongCa, wrongName, plaintext]).size).toBe(3);
  });

  it("a missing CA file is named", async () => {
    expect(await connectError(options({}, { caFile: "/nonexistent/ca.crt" }))).toBe(`cockroach at ${endpoint}: cannot read ssl.caFile "/nonexistent/ca.crt": ENOENT`);
  });

  it("wrong password: one line naming system, endpoint and env var", async () => {
    process.env.DEDUP_TEST_WRONG_CRDB_PW = "definitely-wrong";
    expect(await connectError(options({ passwordEnv: "DEDUP_TEST_WRONG_CRDB_PW" }))).toBe(
      `cockroach at ${endpoint}: connecting: password authentication failed for user "dedup_lab" — check the password in $DEDUP_TEST_WRONG_CRDB_PW`,
    );
  });
});

describe("cockroach: the full cell on a PostgreSQL server", () => {
  for (const variant of Object.keys(cockroachDefinition.capabilities.variants)) {
    for (const maintenance of Object.keys(cockroachDefinition.capabilities.maintenance)) {
      it(`${variant} + ${maintenance}: every stage runs; CockroachDB-only sizes are null with the reason`, async () => {
        const ds = smallDataset({ units: 16, placement: "across", containers: 2 });
        const r = await runCellThrough(cockroachDefinition.create(options(), lab), { variant, maintenance, dataset: ds });
        for (const readings of Object.values(r.sizes) as SizeReading[][]) {
          expect(readings.filter((x) => x.primary).map((x) => x.layer).sort()).toEqual(["L1", "L2"]);
          for (const x of readings) {
            expect(x.bytes).toBeNull();
            expect(x.reason).toMatch(/^not CockroachDB \(server is PostgreSQL 1\d\.\d+\)$/);
          }
        }
        const snap = r.snapshots[1] as { server: { kind: string }; namespace: { kind: string }; notes: string[] };
        expect(snap.server.kind).toBe("postgresql");
        expect(snap.namespace.kind).toBe("schema");
        expect(snap.notes).toEqual([
          expect.stringMatching(/^lab database "dedup_lab" replaced by schema "dedup_lab" in database "appdb": not CockroachDB/),
          expect.stringMatching(/^zone configuration \(gc\.ttlseconds = 60\) skipped: not CockroachDB/),
          expect.stringMatching(new RegExp(`^maintenance ${maintenance} not run .*: not CockroachDB`)),
        ]);
      });
    }
  }

  it("the data path really writes: rows and bytes arrive in the lab schema, deletes remove them", async () => {
    const sys = cockroachDefinition.create(options({ insertMaxRows: 3 }), lab);
    const cell: CellContext = { lab, cellKey: "tdata", variant: "hash_index", containers: 2, workDir: "/tmp", log: () => {} };
    const ds = smallDataset({ units: 10, placement: "across", containers: 2 });
    const count = async () => (await admin.query("SELECT (SELECT count(*) FROM dedup_lab.units_tdata_c0) + (SELECT count(*) FROM dedup_lab.units_tdata_c1) AS n, (SELECT COALESCE(sum(octet_length(payload)), 0) FROM dedup_lab.units_tdata_c0) + (SELECT COALESCE(sum(octet_length(payload)), 0) FROM dedup_lab.units_tdata_c1) AS bytes")).rows[0];
    await sys.connect();
    try {
      await sys.prepare(cell);
      await sys.bulkInsert((async function* () { yield* ds.batches(16 * 1024); })());
      expect(await count()).toEqual({ n: "10", bytes: String(ds.totals.logical_bytes) });
      await sys.reset();
      expect(await count()).toEqual({ n: "0", bytes: "0" });
      for (const u of ds.units()) await sys.insert(u);
      const stored = await admin.query("SELECT id, sha256 FROM dedup_lab.units_tdata_c1 ORDER BY id LIMIT 1");
      expect(stored.rows[0].id).toBe(ds.unitId(1));
      expect(stored.rows[0].sha256.equals(ds.unit(1).sha256)).toBe(true);
      for (const u of ds.units()) await sys.delete(u);
      expect(await count()).toEqual({ n: "0", bytes: "0" });
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });

  it("an unknown variant is refused clearly in prepare", async () => {
    const sys = cockroachDefinition.create(options(), lab);
    await sys.connect();
    try {
      await expect(sys.prepare({ lab, cellKey: "x", variant: "external", containers: 1, workDir: "/tmp", log: () => {} })).rejects.toThrow(
        `cockroach at ${endpoint}: unknown variant "external" — use one of: default, hash_index`,
      );
    } finally {
      await sys.close();
    }
  });

  it("a non-lab database is refused by checkNamespace before connecting", () => {
    expect(cockroachDefinition.checkNamespace!(options({ labDatabase: "defaultdb" }), lab)).toMatch(/labDatabase "defaultdb" is outside the lab namespace — use "dedup_lab"/);
  });
});
