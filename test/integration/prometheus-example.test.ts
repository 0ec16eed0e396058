// examples/local-prometheus.yaml end to end with the local services (prometheus,
// pushgateway, exporter): L3 rows per replica, EDR_cluster/EDR_replica and size-over-time
// series in the bundle; live /metrics served during the run and pushed per cell, then
// visible in Prometheus through the Pushgateway (honor_labels keeps run_id).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveMetrics, liveMetricsConfig } from "../../lib/runner/live-metrics.js";
import { PrometheusClient } from "../../lib/metrics/prometheus-client.js";
import { tableRows } from "../../lib/results/arrow-io.js";
import { loadBundles } from "../../lib/results/bundle.js";
import type { ResultRow, TimeseriesRow } from "../../lib/results/schema.js";
import { loadConfig } from "../../lib/runner/config.js";
import type { RunEvents } from "../../lib/runner/events.js";
import { runMatrix } from "../../lib/runner/run.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { promUrl, waitFor } from "../helpers/prometheus-targets.js";

let out = "";

beforeAll(() => {
  loadServicesEnv();
  out = mkdtempSync(join(tmpdir(), "dedup-lab-prom-example-"));
});

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

describe("examples/local-prometheus.yaml", () => {
  it("writes per-replica L3 rows, EDR_cluster, EDR_replica and size-over-time series; serves and pushes live metrics", async () => {
    const cfg = await loadConfig(join(ROOT, "examples/local-prometheus.yaml"), { grades: ["U90"] });
    const metrics = liveMetricsConfig(cfg.metrics)!;
    expect(metrics.pushgateway).toBe(process.env.DEDUP_PUSHGATEWAY_URL);
    // Port 0: the example's fixed 9464 may be in use by a run on this machine.
    const live = new LiveMetrics({ ...metrics, listen: "127.0.0.1:0" }, (line) => {
      throw new Error(`unexpected warning: ${line}`);
    });
    const at = await live.start();
    let scraped = "";
    // Scrape /metrics mid-run, as Prometheus would, right after the first stage.
    const scraper: RunEvents = {
      stageEnd: async (_c, stage) => {
        if (stage === "bulk_insert") scraped = await (await fetch(`http://${at}/metrics`)).text();
      },
    };
    const result = await runMatrix(cfg, { dir: join(out, "run"), events: [live, scraper] });
    const final = await (await fetch(`http://${at}/metrics`)).text();
    await live.close();
    expect(result).toMatchObject({ done: 1, failed: 0 });

    const b = await loadBundles([result.dir]);
    const rows = tableRows(b.results) as unknown as ResultRow[];
    for (const stage of ["bulk_insert", "perfile_insert"]) {
      // Three real replica images of a btrfs raid1c3 volume, one series each.
      const after = rows.filter((r) => r.stage === stage && r.layer === "L3" && r.metric === "size_bytes" && r.phase === "after");
      expect(after.map((r) => r.replica).sort()).toEqual(["all", "replica-1", "replica-2", "replica-3"]);
      expect(after.every((r) => r.valid)).toBe(true);
      const images = after.filter((r) => r.replica !== "all").reduce((a, r) => a + r.value!, 0);
      expect(after.find((r) => r.replica === "all")!.value).toBe(images);
      const cluster = rows.find((r) => r.stage === stage && r.metric === "edr_cluster")!;
      const replica = rows.find((r) => r.stage === stage && r.metric === "edr_replica")!;
      expect(replica.value!).toBeCloseTo(cluster.value! * 3, 12);
    }
    // The cell starts from a trimmed volume (preCellHook): 64 random 16 KiB files, every replica
    // stores every byte plus btrfs metadata (EDR_replica 0.79–0.83 measured alone; 0.56 once inside the
    // full suite — presumably a transaction commit during the stage copying the trees once more). Above 0.5:
    // a replica storing the data twice (≈ 0.44 with its metadata) still fails.
    const bulk = rows.find((r) => r.stage === "bulk_insert" && r.metric === "edr_replica")!;
    expect(bulk.valid, bulk.reason).toBe(true);
    expect(bulk.value!).toBeGreaterThan(0.5);
    expect(bulk.value!).toBeLessThanOrEqual(1.01);
    // The thin-volume trap, seen through Prometheus: within the cell nothing trims, so the per-unit
    // insert after the reset reuses the bulk load's freed blocks — caught, never a valid EDR.
    const perUnit = rows.find((r) => r.stage === "perfile_insert" && r.metric === "edr_cluster")!;
    expect(perUnit.valid).toBe(false);
    expect(perUnit.reason).toMatch(/baseline not fresh: L3 is \d+ B above the empty cell's/);
    // … and a delete returns nothing at L3 while L2 reclaims everything.
    const reclaimed = (layer: string) => rows.find((r) => r.stage === "perfile_delete" && r.layer === layer && r.metric === "reclaimed_bytes")!.value!;
    expect(reclaimed("L2")).toBeGreaterThanOrEqual(64 * 16384);
    expect(reclaimed("L3")).toBeLessThanOrEqual(0);
    const ts = tableRows(b.timeseries) as unknown as TimeseriesRow[];
    for (const stage of cfg.stages) {
      const s = ts.filter((t) => t.stage === stage && t.metric === "longhorn_volume_actual_size_bytes");
      expect(new Set(s.map((t) => t.replica))).toEqual(new Set(["replica-1", "replica-2", "replica-3"]));
      expect(s.every((t) => t.source === "prometheus" && t.volume === "pvc-dedup-lab-embedded")).toBe(true);
    }

    const runId = result.runId;
    expect(scraped).toContain(`dedup_lab_current_stage{run_id="${runId}",cell="${rows[0]!.cell_id}",system="directory",stage="bulk_insert"} 1`);
    expect(scraped).toContain(`dedup_lab_bytes_written_total{run_id="${runId}"} ${64 * 16384}`);
    expect(final).toContain(`dedup_lab_cells_done_total{run_id="${runId}",status="done"} 1`);
    expect(final).toContain(`dedup_lab_op_latency_seconds_count{run_id="${runId}",system="directory",stage="perfile_insert"} 64`);

    // The Pushgateway got the cell's push, and Prometheus scraped it with run_id intact.
    const pushed = await (await fetch(`${process.env.DEDUP_PUSHGATEWAY_URL}/metrics`)).text();
    expect(pushed).toMatch(new RegExp(`dedup_lab_cells_done_total\\{instance="",job="dedup-lab",run_id="${runId}",status="done"\\} 1`));
    const prom = new PrometheusClient({ url: promUrl(), timeoutMs: 5000, retries: 1 });
    await waitFor("the pushed run in Prometheus", async () => {
      const r = await prom.query(`dedup_lab_cells_done_total{job="dedup-lab",run_id="${runId}",status="done"}`);
      return r.samples.length === 1 && r.samples[0]!.value === 1;
    });
    await prom.close();
  });
});
