// The Prometheus (Longhorn) storage-layer source against the real local Prometheus 2.42,
// scraping real longhorn-style exporters every second: sizes agree with the allocated
// blocks of the data directory, replicas and PVCs are summed, EDR_replica = EDR_cluster × R,
// stale samples are flagged, an insert that does not grow L3 is invalid.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockUsage } from "../../lib/fs-blocks.js";
import { storageLayerFor, type PhaseWindow, type StorageLayerSource } from "../../lib/metrics/storage-layer.js";
import "../../lib/metrics/prometheus-storage.js";
import { loadBundles } from "../../lib/results/bundle.js";
import { tableRows } from "../../lib/results/arrow-io.js";
import type { ResultRow, TimeseriesRow } from "../../lib/results/schema.js";
import { resolveConfig } from "../../lib/runner/config.js";
import { runMatrix } from "../../lib/runner/run.js";
import type { LabSystem } from "../../lib/systems/contract.js";
import { loadSystems } from "../../lib/systems/registry.js";
import { promUrl, registeredExporter, uniq, type RegisteredExporter } from "../helpers/prometheus-targets.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const NS = "dedup-lab-test";
const noSystem = {} as LabSystem; // the Prometheus source reads by PVC, not through the system
const scratch: string[] = [];
const exporters: RegisteredExporter[] = [];
const tmp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), `dedup-lab-${p}-`));
  scratch.push(d);
  return d;
};

function source(pvcs: string[], extra: Record<string, unknown> = {}): StorageLayerSource {
  return storageLayerFor(
    { kind: "prometheus", namespace: NS, pvcs },
    { systemName: "directory", embedded: true, prometheus: { url: promUrl(), scrapeInterval: "1s", maxWait: "8s", ...extra } },
  );
}

const phase = (stage: string, start: number, end?: number): PhaseWindow => ({ cellId: "test", system: "directory", stage, start, end });

beforeAll(async () => {
  loadServicesEnv();
  await loadSystems(["directory"]);
});

afterAll(async () => {
  for (const e of exporters) await e.remove();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe("Longhorn sizes through Prometheus", () => {
  it("agree with the data directory's allocated blocks at every phase end", async () => {
    const id = uniq();
    const dir = tmp("vol");
    const pvc = `data-agree-${id}-0`;
    exporters.push(await registeredExporter(`agree-${id}`, [{ volume: `pvc-agree-${id}`, pvc, namespace: NS, paths: [dir], nodes: ["node-1"] }]));
    const l3 = source([pvc]);
    let previous = -1;
    for (let round = 0; round < 3; round++) {
      const start = Date.now();
      // Files of odd sizes and a sparse file: allocated blocks differ from apparent sizes.
      for (let i = 0; i < 5; i++) writeFileSync(join(dir, `r${round}-${i}`), randomBytes(1000 + 7919 * (i + round)));
      writeFileSync(join(dir, `sparse-${round}`), randomBytes(4096));
      truncateSync(join(dir, `sparse-${round}`), 1 << 20);
      const end = Date.now();
      const readings = await l3.read(noSystem, phase("bulk_insert", start, end), "after");
      const disk = await blockUsage([dir]);
      expect(readings).toEqual([{ replica: "node-1", volume: `pvc-agree-${id}`, bytes: disk.allocated, valid: true, reason: "" }]);
      // Every round grows the volume, so a sample from before the phase end could not pass.
      expect(disk.allocated).toBeGreaterThan(previous);
      previous = disk.allocated;
    }
    const series = await l3.series!(noSystem, phase("bulk_insert", Date.now() - 5000, Date.now()));
    expect(series.filter((s) => s.metric === "longhorn_volume_actual_size_bytes").at(-1)?.value).toBe(previous);
    expect(series.some((s) => s.metric === "longhorn_volume_capacity_bytes" && s.value === 10 * 1024 ** 3)).toBe(true);
    expect(series.some((s) => s.metric === "kubelet_volume_stats_used_bytes")).toBe(true);
    await l3.close?.();
  });

  it("sums every replica of every PVC: a 3-replica volume and a second PVC, EDR_cluster and EDR_replica in the bundle", async () => {
    const id = uniq();
    const root = tmp("root");
    const other = tmp("other");
    writeFileSync(join(other, "static"), randomBytes(12_345));
    const [pvcA, pvcB] = [`data-multi-${id}-0`, `data-multi-${id}-1`];
    exporters.push(
      await registeredExporter(`multi-${id}`, [
        { volume: `pvc-multi-${id}-a`, pvc: pvcA, namespace: NS, paths: [root], nodes: ["node-1", "node-2", "node-3"] },
        { volume: `pvc-multi-${id}-b`, pvc: pvcB, namespace: NS, paths: [other], nodes: ["node-2"] },
      ]),
    );
    const cfg = resolveConfig({
      matrix: { systems: ["directory"], payloads: ["random_binary"], grades: ["U50"], stages: ["bulk_insert", "perfile_insert"] },
      dataset: { units: 32, unitSize: "16KiB", containers: 2, seed: "7" },
      prometheus: { url: promUrl(), scrapeInterval: "1s", maxWait: "8s" },
      systems: {
        directory: {
          replication: { app: 1, storage: 3 },
          options: { root },
          l3: { kind: "prometheus", namespace: NS, pvcs: [pvcA, pvcB] },
        },
      },
    });
    const out = tmp("bundle");
    const result = await runMatrix(cfg, { dir: join(out, "run") });
    expect(result.failed).toBe(0);
    const b = await loadBundles([result.dir]);
    const rows = tableRows(b.results) as unknown as ResultRow[];
    for (const stage of ["bulk_insert", "perfile_insert"]) {
      const l3 = rows.filter((r) => r.stage === stage && r.layer === "L3" && r.metric === "size_bytes");
      const per = (phase: string, replica: string) => l3.find((r) => r.phase === phase && r.replica === replica)!;
      const replicas = [`${pvcA}/node-1`, `${pvcA}/node-2`, `${pvcA}/node-3`, `${pvcB}/node-2`];
      expect(new Set(l3.filter((r) => r.phase === "after" && r.replica !== "all").map((r) => r.replica))).toEqual(new Set(replicas));
      for (const r of replicas) expect(per("after", r).valid).toBe(true);
      const grow = (r: string) => per("after", r).value! - per("before", r).value!;
      // 32 random 16 KiB files: 16 KiB of blocks each, on every synthetic replica; the other PVC stays put.
      for (const n of [1, 2, 3]) expect(grow(`${pvcA}/node-${n}`)).toBe(32 * 16384);
      expect(grow(`${pvcB}/node-2`)).toBe(0);
      expect(per("after", `${pvcB}/node-2`).value).toBeGreaterThanOrEqual(12_345);
      const delta = per("delta", "all");
      expect(delta.value).toBe(3 * 32 * 16384);
      expect(delta.valid).toBe(true);
      const logical = rows.find((r) => r.stage === stage && r.metric === "logical_bytes")!.value!;
      expect(logical).toBe(32 * 16384);
      const edrCluster = rows.find((r) => r.stage === stage && r.metric === "edr_cluster")!;
      const edrReplica = rows.find((r) => r.stage === stage && r.metric === "edr_replica")!;
      expect(edrCluster.valid).toBe(true);
      expect(edrCluster.value).toBeCloseTo(logical / (3 * 32 * 16384), 12);
      expect(edrReplica.value).toBeCloseTo(edrCluster.value! * 3, 12);
      expect(edrReplica.value).toBeCloseTo(1, 12); // a plain file system: no reduction below the DB
      expect(rows.find((r) => r.stage === stage && r.metric === "replication_factor")!.value).toBe(3);
    }
    const ts = tableRows(b.timeseries) as unknown as TimeseriesRow[];
    const bulk = ts.filter((t) => t.stage === "bulk_insert" && t.metric === "longhorn_volume_actual_size_bytes");
    expect(new Set(bulk.map((t) => t.replica))).toEqual(new Set([`${pvcA}/node-1`, `${pvcA}/node-2`, `${pvcA}/node-3`, `${pvcB}/node-2`]));
    const node1 = bulk.filter((t) => t.replica === `${pvcA}/node-1`).sort((x, y) => x.t - y.t);
    const l3rows = rows.filter((r) => r.stage === "bulk_insert" && r.layer === "L3" && r.replica === `${pvcA}/node-1`);
    // The series runs from the baseline sample to the sample the after value came from.
    expect(node1[0]!.value).toBe(l3rows.find((r) => r.phase === "before")!.value);
    expect(node1.at(-1)!.value).toBe(l3rows.find((r) => r.phase === "after")!.value);
  });

  it("marks an insert that did not grow the volume invalid (the thin-volume trap)", async () => {
    const id = uniq();
    const watched = tmp("watched");
    const elsewhere = tmp("elsewhere");
    writeFileSync(join(watched, "old-data"), randomBytes(65_536));
    const pvc = `data-thin-${id}-0`;
    exporters.push(await registeredExporter(`thin-${id}`, [{ volume: `pvc-thin-${id}`, pvc, namespace: NS, paths: [watched], nodes: ["node-1"] }]));
    // The system writes where the volume does not grow: what a rewrite into already
    // allocated blocks of a reused thin volume looks like from the outside.
    const cfg = resolveConfig({
      matrix: { systems: ["directory"], payloads: ["random_binary"], grades: ["U0"], stages: ["bulk_insert"] },
      dataset: { units: 8, unitSize: "8KiB", containers: 1 },
      prometheus: { url: promUrl(), scrapeInterval: "1s", maxWait: "8s" },
      systems: { directory: { options: { root: elsewhere }, l3: { kind: "prometheus", namespace: NS, pvcs: [pvc] } } },
    });
    const result = await runMatrix(cfg, { dir: join(tmp("bundle"), "run") });
    const rows = tableRows((await loadBundles([result.dir])).results) as unknown as ResultRow[];
    const delta = rows.find((r) => r.layer === "L3" && r.metric === "size_bytes" && r.phase === "delta")!;
    expect(delta.value).toBe(0);
    for (const metric of ["edr_cluster", "edr_replica"]) {
      const r = rows.find((x) => x.metric === metric)!;
      expect(r.valid).toBe(false);
      expect(r.value).toBeNull();
      expect(r.reason).toMatch(/physical delta 0 B ≤ 0 \(reused or untrimmed volume\?\)/);
    }
  });

  it("flags samples older than the phase as stale instead of using them silently", async () => {
    const id = uniq();
    const dir = tmp("stale");
    writeFileSync(join(dir, "a"), randomBytes(20_000));
    const pvc = `data-stale-${id}-0`;
    const exp = await registeredExporter(`stale-${id}`, [{ volume: `pvc-stale-${id}`, pvc, namespace: NS, paths: [dir], nodes: ["node-1", "node-2"] }]);
    exporters.push(exp);
    const l3 = source([pvc], { maxWait: "3s" });
    const fresh = await l3.read(noSystem, phase("bulk_insert", Date.now()), "before");
    expect(fresh.map((r) => r.valid)).toEqual([true, true]);
    const known = fresh[0]!.bytes!;

    await exp.stop(); // the exporter target goes down; Prometheus keeps the old samples
    writeFileSync(join(dir, "b"), randomBytes(50_000));
    const start = Date.now();
    const stale = await l3.read(noSystem, phase("bulk_insert", start - 100, start), "after");
    expect(stale).toHaveLength(2);
    for (const r of stale) {
      expect(r.valid).toBe(false);
      expect(r.bytes).toBe(known); // the newest value there is, kept for inspection but flagged
      expect(r.reason).toMatch(/^stale: newest longhorn_volume_actual_size_bytes sample \(.+Z\) is not newer than the phase end \(.+Z\) after waiting 3\.0s — is the exporter target up\?/);
    }
    await l3.close?.();
  });

  it("says which PVC it cannot find", async () => {
    const l3 = source([`data-missing-${uniq()}-0`]);
    const [r] = await l3.read(noSystem, phase("bulk_insert", Date.now()), "before");
    expect(r).toMatchObject({ bytes: null, valid: false });
    expect(r!.reason).toMatch(/^PVC dedup-lab-test\/data-missing-\w+-0 not found in kube_persistentvolumeclaim_info nor in the pvc label of longhorn_volume_actual_size_bytes/);
    await l3.close?.();
  });
});
