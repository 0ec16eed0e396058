// A small client for the Prometheus HTTP API (/api/v1/query, /api/v1/query_range):
// the {status, data, errorType, error, warnings} envelope, per-request timeouts,
// bounded retries with exponential backoff, basic or bearer auth from environment
// variables, and a custom CA (undici Agent). Sample values are parsed to float64.
import { readFileSync } from "node:fs";
import { Agent, fetch } from "undici";
import { SystemError, UsageError } from "../errors.js";
import type { PrometheusSettings } from "./prometheus-config.js";

export interface PromSample {
  metric: Record<string, string>;
  /** Epoch ms. */
  t: number;
  value: number;
}

export interface PromSeries {
  metric: Record<string, string>;
  points: { t: number; value: number }[];
}

export interface InstantResult {
  /** Instant-vector items (also a scalar, as one item without labels). */
  samples: PromSample[];
  /** Range-vector items (an instant query of `metric[5m]` returns raw samples). */
  series: PromSeries[];
  warnings: string[];
}

export interface RangeResult {
  series: PromSeries[];
  warnings: string[];
}

/** Prometheus writes +Inf, -Inf and NaN as strings that Number() does not all take. */
export function parseSampleValue(v: string): number {
  if (v === "+Inf" || v === "Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  if (v === "NaN") return NaN;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`not a sample value: ${JSON.stringify(v).slice(0, 40)}`);
  return n;
}

type RawPair = [number, string];
interface Envelope {
  status?: "success" | "error";
  data?: { resultType: "vector" | "matrix" | "scalar" | "string"; result: unknown };
  errorType?: string;
  error?: string;
  warnings?: string[];
}

const oneLine = (s: string, max = 240) => {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
};

const RETRY_STATUS = new Set([429, 502, 503, 504]);
const TLS_CODES = /CERT|SSL|TLS|UNABLE_TO_VERIFY|SELF_SIGNED/;

/** Why a request failed, and whether trying again could help. */
class Attempt extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** Injected for tests of the backoff schedule; default: real timers. */
  sleep?: (ms: number) => Promise<void>;
  env?: NodeJS.ProcessEnv;
}

export class PrometheusClient {
  /** host:port of the server, for error messages (never credentials). */
  readonly endpoint: string;
  private readonly base: string;
  private readonly agent?: Agent;
  private readonly authHeader?: string;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly settings: Pick<PrometheusSettings, "url" | "timeoutMs" | "retries" | "auth" | "caFile">,
    opts: ClientOptions = {},
  ) {
    const url = new URL(settings.url);
    this.endpoint = url.host;
    this.base = settings.url.replace(/\/+$/, "");
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const env = opts.env ?? process.env;
    const auth = settings.auth;
    if (auth?.bearerTokenEnv) {
      const token = env[auth.bearerTokenEnv];
      if (!token) throw new UsageError(`prometheus.auth.bearerTokenEnv: environment variable ${auth.bearerTokenEnv} is not set`, "export it");
      this.authHeader = `Bearer ${token}`;
    } else if (auth?.user && auth.passwordEnv) {
      const pw = env[auth.passwordEnv];
      if (pw === undefined) throw new UsageError(`prometheus.auth.passwordEnv: environment variable ${auth.passwordEnv} is not set`, "export it");
      this.authHeader = `Basic ${Buffer.from(`${auth.user}:${pw}`).toString("base64")}`;
    }
    if (settings.caFile) {
      let ca: string;
      try {
        ca = readFileSync(settings.caFile, "utf8");
      } catch (e) {
        throw new UsageError(`prometheus.caFile: cannot read ${settings.caFile} (${(e as NodeJS.ErrnoException).code})`, "point it at the PEM file of the CA");
      }
      this.agent = new Agent({ connect: { ca } });
    }
  }

  /** Instant query, evaluated at `timeMs` (epoch ms) or at the server's current time. */
  async query(promql: string, timeMs?: number): Promise<InstantResult> {
    const params: Record<string, string> = { query: promql };
    if (timeMs !== undefined) params.time = (timeMs / 1000).toFixed(3);
    const env = await this.request("query", params);
    return { ...toResult(env), warnings: env.warnings ?? [] };
  }

  /** Range query from `startMs` to `endMs` at `stepMs` (server cap: 11,000 points per series). */
  async queryRange(promql: string, startMs: number, endMs: number, stepMs: number): Promise<RangeResult> {
    const step = Math.max(stepMs, Math.ceil((endMs - startMs) / 11_000), 1);
    const env = await this.request("query_range", {
      query: promql,
      start: (startMs / 1000).toFixed(3),
      end: (endMs / 1000).toFixed(3),
      step: (step / 1000).toFixed(3),
    });
    return { series: toResult(env).series, warnings: env.warnings ?? [] };
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }

  private async request(api: "query" | "query_range", params: Record<string, string>): Promise<Envelope> {
    const timeoutS = Math.max(1, Math.ceil(this.settings.timeoutMs / 1000));
    const body = new URLSearchParams({ ...params, timeout: `${timeoutS}s` }).toString();
    let last: Attempt | undefined;
    for (let attempt = 0; attempt <= this.settings.retries; attempt++) {
      if (attempt > 0) await this.sleep(Math.min(5000, 250 * 2 ** (attempt - 1)));
      try {
        return await this.once(api, body);
      } catch (e) {
        if (!(e instanceof Attempt)) throw e;
        last = e;
        if (!e.retry) break;
      }
    }
    const tries = this.settings.retries + 1;
    const suffix = last!.retry && tries > 1 ? ` (after ${tries} attempts)` : "";
    throw new SystemError("prometheus", this.endpoint, `${last!.message}${suffix}`);
  }

  private async once(api: string, body: string): Promise<Envelope> {
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if (this.authHeader) headers.authorization = this.authHeader;
    let res: Awaited<ReturnType<typeof fetch>>;
    let text: string;
    try {
      res = await fetch(`${this.base}/api/v1/${api}`, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        dispatcher: this.agent,
      });
      text = await res.text();
    } catch (e) {
      throw networkProblem(e, this.settings.timeoutMs);
    }
    let env: Envelope | undefined;
    try {
      env = JSON.parse(text) as Envelope;
    } catch {
      env = undefined;
    }
    if (env?.status === "success" && res.ok) return env;
    const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    if (env?.status === "error") {
      const fix = res.status === 400 || res.status === 422 ? " — check the PromQL (and the l3 mapping it was built from)" : "";
      throw new Attempt(`${status}: ${env.errorType ?? "error"}: ${oneLine(env.error ?? "")}${fix}`, RETRY_STATUS.has(res.status));
    }
    if (res.status === 401 || res.status === 403) {
      throw new Attempt(`${status}: authentication failed — check prometheus.auth (user + passwordEnv, or bearerTokenEnv) and the variable's value`, false);
    }
    if (res.status === 404) throw new Attempt(`${status} at /api/v1/${api} — is prometheus.url the Prometheus base URL?`, false);
    if (RETRY_STATUS.has(res.status)) throw new Attempt(`${status}: server unavailable or overloaded — retry later or raise prometheus.timeout`, true);
    throw new Attempt(`${status}: not a Prometheus API answer: ${oneLine(text, 120)}`, false);
  }
}

function networkProblem(e: unknown, timeoutMs: number): Attempt {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError" || err.name === "AbortError") {
    return new Attempt(`no answer within ${timeoutMs / 1000}s — raise prometheus.timeout or check the server load`, true);
  }
  const code = err.cause?.code ?? "";
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER") return new Attempt("TLS handshake failed: the server does not speak TLS — use http:// in prometheus.url", false);
  if (TLS_CODES.test(code)) {
    return new Attempt(`TLS: ${oneLine(err.cause?.message ?? code)} (${code}) — set prometheus.caFile to the CA that signed the server certificate`, false);
  }
  if (code === "ECONNREFUSED") return new Attempt("connection refused — is Prometheus running there? (locally: scripts/services.sh up prometheus)", true);
  return new Attempt(`cannot reach the server: ${oneLine(err.cause?.message ?? err.message)}${code ? ` (${code})` : ""} — check prometheus.url`, true);
}

function toResult(env: Envelope): Omit<InstantResult, "warnings"> {
  const data = env.data;
  const out: Omit<InstantResult, "warnings"> = { samples: [], series: [] };
  if (!data) return out;
  switch (data.resultType) {
    case "vector":
      for (const item of data.result as { metric: Record<string, string>; value: RawPair }[]) {
        out.samples.push({ metric: item.metric, t: Math.round(item.value[0] * 1000), value: parseSampleValue(item.value[1]) });
      }
      break;
    case "scalar": {
      const [t, v] = data.result as RawPair;
      out.samples.push({ metric: {}, t: Math.round(t * 1000), value: parseSampleValue(v) });
      break;
    }
    case "matrix":
      for (const item of data.result as { metric: Record<string, string>; values: RawPair[] }[]) {
        out.series.push({ metric: item.metric, points: item.values.map(([t, v]) => ({ t: Math.round(t * 1000), value: parseSampleValue(v) })) });
      }
      break;
    case "string":
      break;
  }
  return out;
}
