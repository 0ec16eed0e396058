// Connecting over the PostgreSQL wire protocol (PostgreSQL, and CockroachDB reusing it as
// Kysely's cockroach dialect reuses the postgres driver): client settings and TLS, error
// wording, and PgConnection — one connection reopened with bounded exponential backoff.
// Errors are one line naming system and endpoint; the password never appears.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import pg from "pg";
import { SystemError, errorMessage } from "../../errors.js";
import { maskSecrets } from "../../masking.js";
import { backoffDelayMs, sleep } from "../reconnect.js";
import { parseServerVersion, type ServerInfo } from "./postgres-sql.js";

export interface SslOptions {
  mode: "disable" | "verify-full";
  /** CA certificate (PEM) that issued the server certificate. */
  caFile?: string;
  /** Name the server certificate must carry (default: host). */
  serverName?: string;
}

/** What a connection over the PostgreSQL wire protocol needs (postgres-options.ts validates it). */
export interface WireOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  passwordEnv: string;
  ssl: SslOptions;
  connectTimeoutMs: number;
  reconnect: { attempts: number; baseDelayMs: number };
}

export function endpointOf(o: { host: string; port: number }): string {
  return `${o.host}:${o.port}`;
}

/** The pg client configuration; reads the password from the environment and the CA from disk. */
export function clientConfig(system: string, o: WireOptions): pg.ClientConfig {
  const endpoint = endpointOf(o);
  const password = process.env[o.passwordEnv];
  if (password === undefined || password === "") {
    throw new SystemError(system, endpoint, `environment variable ${o.passwordEnv} (passwordEnv) is not set — export it (for the local servers: set -a; . .services/env; set +a)`);
  }
  let ssl: pg.ClientConfig["ssl"] = false;
  if (o.ssl.mode === "verify-full") {
    let ca: Buffer;
    try {
      ca = readFileSync(o.ssl.caFile!);
    } catch (e) {
      throw new SystemError(system, endpoint, `cannot read ssl.caFile "${o.ssl.caFile}": ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
    }
    const name = o.ssl.serverName ?? o.host;
    ssl = {
      ca,
      rejectUnauthorized: true,
      // SNI must not be an IP address; the identity check below covers IP names too.
      ...(isIP(name) === 0 ? { servername: name } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
    };
  }
  return {
    host: o.host,
    port: o.port,
    database: o.database,
    user: o.user,
    password,
    ssl,
    application_name: "dedup-lab",
    connectionTimeoutMillis: o.connectTimeoutMs,
    keepAlive: true,
  };
}

const CONNECTION_LOST_CODES = new Set([
  "ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH",
  "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004",
]);

/** True for errors after which a fresh connection may succeed (server restart, dropped socket). */
export function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e?.code && CONNECTION_LOST_CODES.has(e.code)) return true;
  const m = e?.message ?? "";
  return /Connection terminated|not queryable|connection error|timeout expired|Client was closed/i.test(m);
}

const TLS_CA_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_SIGNATURE_FAILURE",
]);

/** One line describing what went wrong and, where known, how to fix it. */
export function describeWireError(err: unknown, o: WireOptions, secret?: string): string {
  const e = err as { code?: string; message?: string; reason?: string; cert?: PeerCertificate };
  const raw = (e?.message ?? String(err)).replace(/\s+/g, " ").trim();
  let msg: string;
  if (e?.code === "ECONNREFUSED") {
    msg = "connection refused — is the server running and listening there? (local servers: scripts/services.sh up)";
  } else if (e?.code === "ENOTFOUND" || e?.code === "EAI_AGAIN") {
    msg = `host "${o.host}" not found — check options.host`;
  } else if (e?.code === "ETIMEDOUT" || /timeout expired/i.test(raw)) {
    msg = `no answer within ${o.connectTimeoutMs} ms — check host, port and firewall`;
  } else if (e?.code === "28P01") {
    msg = `password authentication failed for user "${o.user}" — check the password in $${o.passwordEnv}`;
  } else if (e?.code === "28000" && /no encryption/i.test(raw)) {
    msg = "server rejects plaintext connections (pg_hba: no encryption) — set ssl: { mode: verify-full, caFile, serverName }";
  } else if (/does not support SSL/i.test(raw)) {
    msg = "TLS requested but the server does not offer TLS — set ssl.mode: disable or enable TLS on the server";
  } else if (e?.code && TLS_CA_CODES.has(e.code)) {
    msg = `TLS: server certificate is not trusted by the CA in ${o.ssl.caFile} (${e.code}) — point ssl.caFile at the CA that issued the server certificate`;
  } else if (e?.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const names = e.cert?.subjectaltname ? ` (certificate names ${e.cert.subjectaltname})` : "";
    msg = `TLS: server certificate does not match server name "${o.ssl.serverName ?? o.host}"${names} — set ssl.serverName to a name in the certificate`;
  } else if (e?.code === "CERT_HAS_EXPIRED") {
    msg = "TLS: server certificate has expired";
  } else if (e?.code === "3D000") {
    msg = `${raw} — check options.database`;
  } else if (e?.code === "42501") {
    msg = `${raw} (SQLSTATE 42501: the lab role lacks a privilege)`;
  } else if (e?.code && /^[0-9A-Z]{5}$/.test(e.code)) {
    msg = `${raw} (SQLSTATE ${e.code})`;
  } else {
    msg = raw + (e?.code && !raw.includes(e.code) ? ` (${e.code})` : "");
  }
  return maskSecrets(msg, [secret]);
}

export function wireError(system: string, o: WireOptions, doing: string, err: unknown): SystemError {
  if (err instanceof SystemError) return err;
  const what = describeWireError(err, o, process.env[o.passwordEnv]);
  return new SystemError(system, endpointOf(o), doing ? `${doing}: ${what}` : what, { cause: err });
}

type Row = Record<string, unknown>;

/**
 * One client to the server, reopened after a drop: `retrying` runs idempotent calls again on a
 * fresh connection (bounded exponential backoff), `once` runs measured calls a single time.
 * Every reconnect is kept (`reconnects`) for the snapshot.
 */
export class PgConnection {
  /** What `SELECT version()` said on the last (re)connect. */
  server: ServerInfo & { versionNum: number } = { kind: "unknown", version: "", display: "", versionNum: 0 };
  readonly reconnects: { doing: string; error: string }[] = [];
  private conn?: pg.Client;
  private broken = true;
  /** Why the current connection was lost (set by its error/end events), until reopened. */
  private lost?: string;

  constructor(
    private readonly system: string,
    private readonly o: WireOptions,
  ) {}

  /** A new client of its own (extra COPY streams use one each); an idle socket error marks the main one broken. */
  async newClient(): Promise<pg.Client> {
    const c = new pg.Client(clientConfig(this.system, this.o));
    // An idle client that loses its socket emits 'error'; without a listener that would crash the run.
    c.on("error", (e) => {
      if (c !== this.conn) return;
      this.broken = true;
      this.lost = wireError(this.system, this.o, "", e).message;
    });
    await c.connect();
    return c;
  }

  private async open(): Promise<void> {
    const old = this.conn;
    this.conn = undefined;
    old?.end().catch(() => {});
    const c = await this.newClient();
    try {
      const v = await c.query("SELECT version() AS v");
      const n = await c.query("SHOW server_version_num");
      this.server = { ...parseServerVersion(String(v.rows[0].v)), versionNum: Number(Object.values(n.rows[0] as Row)[0] ?? 0) };
    } catch (e) {
      await c.end().catch(() => {});
      throw e;
    }
    c.on("end", () => {
      if (c !== this.conn) return;
      this.broken = true;
      this.lost ??= "connection ended";
    });
    this.conn = c;
    this.broken = false;
  }

  /** A live client: reopens a dropped connection with bounded exponential backoff. */
  async client(doing: string): Promise<pg.Client> {
    if (this.conn && !this.broken) return this.conn;
    if (this.lost) this.reconnects.push({ doing, error: this.lost });
    this.lost = undefined;
    const { attempts, baseDelayMs } = this.o.reconnect;
    for (let k = 0; ; k++) {
      try {
        await this.open();
        return this.conn!;
      } catch (e) {
        if (!isConnectionLost(e) || k >= attempts) throw wireError(this.system, this.o, k > 0 ? `${doing} (after ${k + 1} connection attempts)` : doing, e);
        this.reconnects.push({ doing, error: wireError(this.system, this.o, "", e).message });
        await sleep(backoffDelayMs(baseDelayMs, k));
      }
    }
  }

  /** Run an idempotent call; a dropped connection is reopened and the call retried (bounded). */
  async retrying<T>(doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const { attempts, baseDelayMs } = this.o.reconnect;
    for (let k = 0; ; k++) {
      const c = await this.client(doing);
      try {
        return await fn(c);
      } catch (e) {
        if (!isConnectionLost(e) || k >= attempts) throw wireError(this.system, this.o, doing, e);
        this.broken = true;
        this.lost = wireError(this.system, this.o, "", e).message;
        await sleep(backoffDelayMs(baseDelayMs, k));
      }
    }
  }

  /** Run a measured, non-idempotent call once (reconnecting first if the connection was lost). */
  async once<T>(doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.client(doing);
    try {
      return await fn(c);
    } catch (e) {
      this.noteIfLost(e);
      throw wireError(this.system, this.o, doing, e);
    }
  }

  /** After a failed call: if the connection is gone, the next call reopens it. */
  noteIfLost(err: unknown): void {
    if (!isConnectionLost(err)) return;
    this.broken = true;
    this.lost ??= wireError(this.system, this.o, "", err).message;
  }

  /** Is `c` the main connection (not an extra client of newClient())? */
  isMain(c: pg.Client): boolean {
    return c === this.conn;
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.broken = true;
    await c?.end().catch(() => {});
  }
}
