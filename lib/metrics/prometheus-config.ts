// Config blocks for reading the storage layer through Prometheus: the top-level
// `prometheus` connection and the per-system `l3` mapping. Validation only, no
// transforms, so a resolved config re-parses to itself (config.json, --resume).
import { LocalVolumeSpecSchema } from "./local-volume.js";
import { z } from "zod";
import { UsageError } from "../errors.js";

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "500ms", "1s", "2m", "1h", or a number of seconds → milliseconds. */
export function durationMs(value: string | number): number {
  if (typeof value === "number") return value * 1000;
  const m = DURATION_RE.exec(value.trim());
  if (!m) throw new UsageError(`invalid duration "${value}"`, 'write e.g. "500ms", "15s", "2m" or a number of seconds');
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

/** True unless the URL carries user:password (an unparsable URL is the url check's business). */
export function withoutCredentials(u: string): boolean {
  try {
    const url = new URL(u);
    return !url.username && !url.password;
  } catch {
    return true;
  }
}

const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(DURATION_RE, { message: 'expected a duration like "500ms", "15s", "2m" (or a number of seconds)' }),
]);

/** Kubernetes object names (DNS-1123); also keeps them safe inside PromQL label matchers. */
const k8sName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { message: "expected a Kubernetes name (lowercase letters, digits, '-', '.')" });

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "expected the NAME of an environment variable" });

export const PrometheusConfigSchema = z
  .object({
    /** Base URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090 (a kubectl port-forward on a cluster). */
    url: z
      .url({ protocol: /^https?$/, message: "expected an http(s) URL like http://127.0.0.1:9090" })
      .refine(withoutCredentials, {
        message: "credentials do not belong in the URL — use auth: { user, passwordEnv } or { bearerTokenEnv }",
      }),
    /** Scrape interval of the job that scrapes Longhorn (or the local exporter). */
    scrapeInterval: duration.default("15s"),
    /** How long the exporter itself lags behind the disk (Longhorn refreshes actual size periodically). */
    exporterLag: duration.default("0s"),
    /** Longest wait for a sample newer than a phase boundary; default 2 × scrapeInterval + 5 s. */
    maxWait: duration.optional(),
    /** Per-request timeout (also sent as the query `timeout`). */
    timeout: duration.default("10s"),
    /** Retries after a network error, timeout, HTTP 429 or 5xx (exponential backoff, capped). */
    retries: z.number().int().min(0).max(10).default(3),
    auth: z
      .object({ bearerTokenEnv: envName.optional(), user: z.string().min(1).optional(), passwordEnv: envName.optional() })
      .strict()
      .refine((a) => (a.bearerTokenEnv ? !a.user && !a.passwordEnv : !!a.user && !!a.passwordEnv), {
        message: "use either { bearerTokenEnv } or { user, passwordEnv }",
      })
      .optional(),
    /** PEM file of the CA that signed the server certificate (https URLs). */
    caFile: z.string().min(1).optional(),
  })
  .strict();

export type PrometheusConfig = z.infer<typeof PrometheusConfigSchema>;

/** `systems.<name>.l3: { kind: prometheus, namespace, pvcs }`: every PVC that holds the system's data. */
export const PrometheusL3Schema = z
  .object({
    kind: z.literal("prometheus"),
    namespace: k8sName,
    /** All PVCs of the system (every pod of a multi-pod system). */
    pvcs: z.array(k8sName).min(1),
  })
  .strict();

export type PrometheusL3Spec = z.infer<typeof PrometheusL3Schema>;

/** The per-system `l3` setting: "local", "none" or a Prometheus mapping. */
export const StorageLayerSpecSchema = z.preprocess(
  (v) => (typeof v === "string" ? { kind: v } : v),
  z.discriminatedUnion("kind", [z.object({ kind: z.literal("local") }).strict(), z.object({ kind: z.literal("none") }).strict(), LocalVolumeSpecSchema, PrometheusL3Schema], {
    error: (issue) => (issue.code === "invalid_union" ? 'unknown l3 kind: use "local-volume", "local", "none" or { kind: prometheus, namespace, pvcs: [...] }' : undefined),
  }),
);

export interface PrometheusSettings {
  url: string;
  scrapeIntervalMs: number;
  exporterLagMs: number;
  maxWaitMs: number;
  timeoutMs: number;
  retries: number;
  auth?: PrometheusConfig["auth"];
  caFile?: string;
}

/** Validated block → milliseconds. `where` names the block in errors. */
export function prometheusSettings(raw: unknown, where = "prometheus"): PrometheusSettings {
  const parsed = PrometheusConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join(".");
    throw new UsageError(`${where}${path ? `.${path}` : ""}: ${issue.message}`, "fix the prometheus block (see README, Storage layer)");
  }
  const c = parsed.data;
  const scrapeIntervalMs = durationMs(c.scrapeInterval);
  if (scrapeIntervalMs <= 0) throw new UsageError(`${where}.scrapeInterval must be > 0`, "set it to the scrape interval of the Longhorn job, e.g. 15s");
  return {
    url: c.url.replace(/\/+$/, ""),
    scrapeIntervalMs,
    exporterLagMs: durationMs(c.exporterLag),
    maxWaitMs: c.maxWait === undefined ? 2 * scrapeIntervalMs + 5000 : durationMs(c.maxWait),
    timeoutMs: durationMs(c.timeout),
    retries: c.retries,
    auth: c.auth,
    caFile: c.caFile,
  };
}
