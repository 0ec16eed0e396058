// The Prometheus HTTP API client against real servers: the local Prometheus (queries, the
// error envelope of bad PromQL), a second Prometheus 2.42 started here with TLS and basic
// auth (--web.config.file: custom CA, wrong password), a closed port, and — for the
// overloaded/hanging cases a real Prometheus will not produce on demand — a tiny local HTTP server.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemError } from "../../lib/errors.js";
import { PrometheusClient } from "../../lib/metrics/prometheus-client.js";
import { promUrl, waitFor } from "../helpers/prometheus-targets.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const scratch: string[] = [];
const servers: Server[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a failure");
}

function expectOneLine(e: Error, pattern: RegExp): void {
  expect(e).toBeInstanceOf(SystemError);
  expect(e.message).toMatch(pattern);
  expect(e.message).not.toContain("\n");
}

beforeAll(() => {
  loadServicesEnv();
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe("Prometheus client against the local Prometheus", () => {
  const client = () => new PrometheusClient({ url: promUrl(), timeoutMs: 5000, retries: 2 });

  it("parses vectors, scalars, range vectors and query_range matrices as float64", async () => {
    const c = client();
    const v = await c.query('vector(1073741824) or label_replace(vector(0.5), "k", "v", "", "")');
    expect(v.samples.map((s) => s.value).sort()).toEqual([0.5, 1073741824]);
    const at = Date.now() - 10_000;
    const s = await c.query("time()", at);
    expect(s.samples[0]!.value).toBeCloseTo(at / 1000, 3);
    expect(s.samples[0]!.t).toBe(at);
    const raw = await c.query('up{job="longhorn"}[5s]');
    expect(raw.series.length).toBe(1);
    expect(raw.series[0]!.points.length).toBeGreaterThan(0);
    const end = Date.now();
    const range = await c.queryRange("vector(2)", end - 10_000, end, 1000);
    expect(range.series[0]!.points).toHaveLength(11);
    expect(range.series[0]!.points.every((p) => p.value === 2)).toBe(true);
    await c.close();
  });

  it("reports bad PromQL with the server's error envelope, without retrying", async () => {
    const c = client();
    const e = await failure(c.query("sum(longhorn_volume_actual_size_bytes"));
    expectOneLine(e, /^prometheus at 127\.0\.0\.1:59090: HTTP 400 Bad Request: bad_data: .*parse error.* — check the PromQL/);
    expect(e.message).not.toMatch(/attempts/);
    await c.close();
  });
});

describe("Prometheus client failures", () => {
  it("retries HTTP 503 with backoff, then gives up with one line", async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ status: "error", errorType: "unavailable", error: "too many queries in flight" }));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as AddressInfo).port;
    const c = new PrometheusClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2000, retries: 2 });
    const e = await failure(c.query("up"));
    expectOneLine(e, new RegExp(`^prometheus at 127\\.0\\.0\\.1:${port}: HTTP 503 Service Unavailable: unavailable: too many queries in flight \\(after 3 attempts\\)$`));
    expect(hits).toBe(3);
  });

  it("times out a server that does not answer", async () => {
    const server = createServer(() => {}); // accepts, never answers
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as AddressInfo).port;
    const c = new PrometheusClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 500, retries: 0 });
    expectOneLine(await failure(c.query("up")), /: no answer within 0\.5s — raise prometheus\.timeout or check the server load$/);
  });

  it("says so when nothing listens", async () => {
    const port = await freePort();
    const c = new PrometheusClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2000, retries: 1 });
    expectOneLine(
      await failure(c.query("up")),
      new RegExp(`^prometheus at 127\\.0\\.0\\.1:${port}: connection refused — is Prometheus running there\\? \\(locally: scripts/services\\.sh up prometheus\\) \\(after 2 attempts\\)$`),
    );
  });
});

describe("Prometheus 2.42 behind TLS and basic auth", () => {
  let prom: ChildProcess | undefined;
  let url = "";
  let dir = "";
  const user = "dedup";
  const password = randomBytes(12).toString("hex");
  process.env.DEDUP_TEST_PROM_PASSWORD = password;
  process.env.DEDUP_TEST_PROM_WRONG = "not-the-password";
  process.env.DEDUP_TEST_PROM_TOKEN = "some-token";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dedup-lab-prom-auth-"));
    scratch.push(dir);
    const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }).toString();
    // A CA, and a server certificate for 127.0.0.1 signed by it.
    sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=dedup-lab test CA", "-days", "1"]);
    sh("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    sh("openssl", ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext"]);
    const hash = sh("htpasswd", ["-nbBC", "10", user, password]).trim().split(":")[1]!;
    writeFileSync(join(dir, "web.yml"), `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  ${user}: '${hash}'\n`);
    writeFileSync(join(dir, "prometheus.yml"), "global:\n  scrape_interval: 15s\nscrape_configs: []\n");
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    prom = spawn(
      "prometheus",
      [`--config.file=${dir}/prometheus.yml`, `--web.config.file=${dir}/web.yml`, `--storage.tsdb.path=${dir}/tsdb`, `--web.listen-address=127.0.0.1:${port}`],
      { cwd: dir, stdio: "ignore" },
    );
    const ok = new PrometheusClient({ url, timeoutMs: 2000, retries: 0, caFile: join(dir, "ca.crt"), auth: { user, passwordEnv: "DEDUP_TEST_PROM_PASSWORD" } });
    await waitFor("the TLS + auth Prometheus", async () => (await ok.query("1")).samples.length === 1, 60_000);
    await ok.close();
  });

  afterAll(async () => {
    if (prom?.pid && prom.exitCode === null) {
      prom.kill("SIGTERM");
      await new Promise((r) => prom!.once("exit", r));
    }
  });

  it("queries with the right password over TLS verified against the custom CA", async () => {
    const c = new PrometheusClient({ url, timeoutMs: 5000, retries: 0, caFile: join(dir, "ca.crt"), auth: { user, passwordEnv: "DEDUP_TEST_PROM_PASSWORD" } });
    expect((await c.query("1 + 1")).samples[0]!.value).toBe(2);
    await c.close();
  });

  it("names an authentication failure and never prints the password", async () => {
    for (const auth of [{ user, passwordEnv: "DEDUP_TEST_PROM_WRONG" }, { bearerTokenEnv: "DEDUP_TEST_PROM_TOKEN" }, undefined]) {
      const c = new PrometheusClient({ url, timeoutMs: 5000, retries: 2, caFile: join(dir, "ca.crt"), auth });
      const e = await failure(c.query("1"));
      expectOneLine(e, /^prometheus at 127\.0\.0\.1:\d+: HTTP 401 Unauthorized: authentication failed — check prometheus\.auth \(user \+ passwordEnv, or bearerTokenEnv\)/);
      expect(e.message).not.toMatch(/not-the-password|some-token|attempts/);
      await c.close();
    }
  });

  it("refuses a certificate it cannot verify and points at caFile", async () => {
    const c = new PrometheusClient({ url, timeoutMs: 5000, retries: 2, auth: { user, passwordEnv: "DEDUP_TEST_PROM_PASSWORD" } });
    expectOneLine(await failure(c.query("1")), /^prometheus at 127\.0\.0\.1:\d+: TLS: .* — set prometheus\.caFile to the CA that signed the server certificate$/);
  });

  it("refuses a missing password variable before sending anything", () => {
    expect(() => new PrometheusClient({ url, timeoutMs: 5000, retries: 0, auth: { user, passwordEnv: "DEDUP_TEST_PROM_UNSET" } })).toThrow(
      /^prometheus\.auth\.passwordEnv: environment variable DEDUP_TEST_PROM_UNSET is not set — export it$/,
    );
  });
});
