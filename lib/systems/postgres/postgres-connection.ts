// Connection options, TLS and error wording for the PostgreSQL wire protocol (PostgreSQL and
// CockroachDB). Errors are one line naming system and endpoint; the password never appears.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import pg from "pg";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const sslSchema = z
  .object({
    mode: z.enum(["disable", "verify-full"]),
    /** CA certificate (PEM) that issued the server certificate. */
    caFile: z.string().min(1).optional(),
    /** Name the server certificate must carry (default: host). */
    serverName: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => s.mode === "disable" || s.caFile !== undefined, {
    message: "ssl.mode verify-full needs ssl.caFile (the CA that issued the server certificate)",
  });

/** Options shared by the postgres and cockroach connectors. */
export const wireOptionsShape = {
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(1).max(65535),
  /** Database to connect to (the lab namespace lives inside it, or next to it on CockroachDB). */
  database: z.string().min(1),
  user: z.string().min(1),
  /** Name of the environment variable holding the password (never the password itself). */
  passwordEnv: z.string().regex(ENV_NAME, "must be an environment variable name, e.g. DEDUP_PG_PASSWORD"),
  connectTimeoutMs: z.coerce.number().int().min(100).default(10_000),
  /** Bounded reconnects (exponential backoff) for idempotent calls after a dropped connection. */
  reconnect: z
    .object({ attempts: z.number().int().min(0).max(20).default(4), baseDelayMs: z.number().int().min(10).default(250) })
    .strict()
    .default({ attempts: 4, baseDelayMs: 250 }),
};

export const sslOptions = sslSchema;
export type SslOptions = z.infer<typeof sslSchema>;

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
  return secret ? msg.split(secret).join("***") : msg;
}

export function wireError(system: string, o: WireOptions, doing: string, err: unknown): SystemError {
  if (err instanceof SystemError) return err;
  const what = describeWireError(err, o, process.env[o.passwordEnv]);
  return new SystemError(system, endpointOf(o), doing ? `${doing}: ${what}` : what, { cause: err });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
