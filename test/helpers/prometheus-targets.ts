// Integration-test exporters scraped by the real local Prometheus: a LonghornStyleExporter
// on a free port, registered through the file_sd directory the prometheus service watches
// ($DEDUP_PROM_TARGETS_DIR), ready once Prometheus has scraped it.
import { randomBytes } from "node:crypto";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LonghornStyleExporter, type ExporterConfig } from "../../lib/exporter/exporter.js";
import { PrometheusClient } from "../../lib/metrics/prometheus-client.js";

export function promUrl(): string {
  const url = process.env.DEDUP_PROM_URL;
  if (!url) throw new Error("DEDUP_PROM_URL not set — run: scripts/services.sh up prometheus");
  return url;
}

/** Short random suffix for names that must not collide with earlier runs' series. */
export const uniq = () => randomBytes(3).toString("hex");

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface RegisteredExporter {
  exporter: LonghornStyleExporter;
  /** host:port Prometheus scrapes. */
  target: string;
  /** Stop serving (Prometheus keeps trying: its samples go stale). */
  stop(): Promise<void>;
  /** Stop and remove the target file. */
  remove(): Promise<void>;
}

export async function registeredExporter(name: string, volumes: NonNullable<ExporterConfig["volumes"]>): Promise<RegisteredExporter> {
  const dir = process.env.DEDUP_PROM_TARGETS_DIR;
  if (!dir) throw new Error("DEDUP_PROM_TARGETS_DIR not set — run: scripts/services.sh up prometheus");
  const exporter = new LonghornStyleExporter({ listen: "127.0.0.1:0", volumes });
  const target = await exporter.start();
  const file = join(dir, `${name}.json`);
  // Prometheus watches the directory: write whole files only.
  writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: [target], labels: { dedup_test: name } }]));
  renameSync(`${file}.tmp`, file);
  const client = new PrometheusClient({ url: promUrl(), timeoutMs: 5000, retries: 0 });
  const selector = `longhorn_volume_actual_size_bytes{instance="${target}"}`;
  await waitFor(`Prometheus to scrape ${target}`, async () => (await client.query(`count(${selector})`)).samples[0]?.value === volumes.reduce((a, v) => a + (v.nodes?.length ?? 1), 0));
  await client.close();
  return {
    exporter,
    target,
    stop: () => exporter.stop(),
    remove: async () => {
      await exporter.stop();
      rmSync(file, { force: true });
    },
  };
}
