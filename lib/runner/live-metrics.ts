// Live run metrics, as a RunEvents listener: `metrics.listen` serves /metrics
// (prom-client) while the run goes on, `metrics.pushgateway` receives the run's metrics
// at the end of every cell (grouped by run_id, so repeats and runs never overwrite each
// other). For watching a run, not for thesis numbers: those are in the bundle.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Pushgateway, Registry } from "prom-client";
import { z } from "zod";
import { errorMessage, UsageError } from "../errors.js";
import type { RunEvents } from "./events.js";
import { withoutCredentials } from "../metrics/prometheus-config.js";

export const LiveMetricsConfigSchema = z
  .object({
    /** host:port to serve GET /metrics on, e.g. 127.0.0.1:9464. */
    listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: 'expected "host:port", e.g. "127.0.0.1:9464"' }).optional(),
    /** Pushgateway base URL, e.g. http://127.0.0.1:9091. */
    pushgateway: z
      .url({ protocol: /^https?$/, message: "expected an http(s) URL like http://127.0.0.1:9091" })
      .refine(withoutCredentials, { message: "credentials do not belong in the URL" })
      .optional(),
    /** Pushgateway job name. */
    job: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/).default("dedup-lab"),
  })
  .strict();

export type LiveMetricsConfig = z.infer<typeof LiveMetricsConfigSchema>;

/** The run config's `metrics` block → settings (undefined when absent); one-line error otherwise. */
export function liveMetricsConfig(raw: unknown, where = "metrics"): LiveMetricsConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = LiveMetricsConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UsageError(`${where}${issue.path.length ? `.${issue.path.join(".")}` : ""}: ${issue.message}`, 'write metrics: { listen: "127.0.0.1:9464", pushgateway: "http://127.0.0.1:9091" }');
  }
  return r.data;
}

/** Latency buckets (seconds): 50 µs … ~26 s, ×2 — Prometheus context only; percentiles come from the bundle's HdrHistograms. */
const LATENCY_BUCKETS = Array.from({ length: 20 }, (_, i) => 50e-6 * 2 ** i);

export class LiveMetrics implements RunEvents {
  readonly registry = new Registry();
  private runId = "";
  private server?: Server;
  private gateway?: Pushgateway<"text/plain; version=0.0.4; charset=utf-8">;
  private readonly cellsTotal: Gauge;
  private readonly cellsDone: Counter;
  private readonly bytesWritten: Counter;
  private readonly stage: Gauge;
  private readonly latency: Histogram;
  private readonly stageDuration: Gauge;

  constructor(
    private readonly config: LiveMetricsConfig,
    private readonly warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {
    const registers = [this.registry];
    this.cellsTotal = new Gauge({ name: "dedup_lab_cells_total", help: "Cells in the run's matrix", labelNames: ["run_id"], registers });
    this.cellsDone = new Counter({ name: "dedup_lab_cells_done_total", help: "Cells finished in this process, by status", labelNames: ["run_id", "status"], registers });
    this.bytesWritten = new Counter({ name: "dedup_lab_bytes_written_total", help: "Payload bytes written by insert stages (duplicates included)", labelNames: ["run_id"], registers });
    this.stage = new Gauge({ name: "dedup_lab_current_stage", help: "1 for the stage running now (cell, system, stage)", labelNames: ["run_id", "cell", "system", "stage"], registers });
    this.latency = new Histogram({ name: "dedup_lab_op_latency_seconds", help: "Per-operation latency of the timed client calls", labelNames: ["run_id", "system", "stage"], buckets: LATENCY_BUCKETS, registers });
    this.stageDuration = new Gauge({ name: "dedup_lab_stage_duration_seconds", help: "Duration of the last finished stage", labelNames: ["run_id", "system", "stage"], registers });
    if (config.pushgateway) this.gateway = new Pushgateway(config.pushgateway, { timeout: 5000 }, this.registry);
  }

  /** Start serving /metrics (if `listen` is set); resolves with the bound host:port. */
  async start(): Promise<string | undefined> {
    if (!this.config.listen) return undefined;
    const i = this.config.listen.lastIndexOf(":");
    const [host, port] = [this.config.listen.slice(0, i), Number(this.config.listen.slice(i + 1))];
    const server = createServer((req, res) => {
      if (req.method !== "GET" || !req.url?.startsWith("/metrics")) {
        res.writeHead(404).end("not found: GET /metrics\n");
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(`${errorMessage(e)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(new UsageError(`metrics.listen ${this.config.listen}: cannot serve /metrics (${e.code ?? e.message})`, "pick a free port or remove metrics.listen")),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return `${host}:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  runStart: NonNullable<RunEvents["runStart"]> = (info) => {
    this.runId = info.runId;
    this.cellsTotal.set({ run_id: info.runId }, info.cells);
    this.cellsDone.inc({ run_id: info.runId, status: "done" }, 0);
    this.cellsDone.inc({ run_id: info.runId, status: "failed" }, 0);
    this.bytesWritten.inc({ run_id: info.runId }, 0);
  };

  stageStart: NonNullable<RunEvents["stageStart"]> = (cell, stage) => {
    this.stage.reset();
    this.stage.set({ run_id: this.runId, cell: cell.id, system: cell.system.name, stage }, 1);
  };

  stageEnd: NonNullable<RunEvents["stageEnd"]> = (cell, stage, m) => {
    const labels = { run_id: this.runId, system: cell.system.name, stage };
    if (stage === "bulk_insert" || stage === "perfile_insert") this.bytesWritten.inc({ run_id: this.runId }, m.bytes);
    this.stageDuration.set(labels, m.durationNs / 1e9);
    const h = this.latency.labels(labels);
    for (const ns of m.samples) h.observe(ns / 1e9);
  };

  cellEnd: NonNullable<RunEvents["cellEnd"]> = async (cell, record) => {
    this.stage.reset();
    this.cellsDone.inc({ run_id: this.runId, status: record.status });
    if (!this.gateway) return;
    try {
      await this.gateway.push({ jobName: this.config.job, groupings: { run_id: this.runId } });
    } catch (e) {
      // A monitoring hiccup must not fail the measurement: one line, and the run goes on.
      this.warn(`metrics: push to the Pushgateway at ${new URL(this.config.pushgateway!).host} after cell ${cell.id} failed: ${errorMessage(e).replace(/\s+/g, " ").slice(0, 200)}`);
    }
  };
}

/** Listener for the CLI: validated block → started LiveMetrics (or undefined when not configured). */
export async function startLiveMetrics(raw: unknown, warn?: (line: string) => void): Promise<LiveMetrics | undefined> {
  const config = liveMetricsConfig(raw);
  if (!config || (!config.listen && !config.pushgateway)) return undefined;
  const live = new LiveMetrics(config, warn);
  await live.start();
  return live;
}
