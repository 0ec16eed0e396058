// Pure parts of the Prometheus storage layer: config validation, PromQL text, PVC → volume
// mapping, replica ids, sample parsing, the live-metrics config block.
import { beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../lib/errors.js";
import { liveMetricsConfig } from "../../lib/runner/live-metrics.js";
import { parseSampleValue } from "../../lib/metrics/prometheus-client.js";
import { durationMs, prometheusSettings, StorageLayerSpecSchema } from "../../lib/metrics/prometheus-config.js";
import { anyOf, mapVolumes, promql, replicaId } from "../../lib/metrics/prometheus-storage.js";
import { resolveConfig } from "../../lib/runner/config.js";
import { loadSystems } from "../../lib/systems/registry.js";

beforeAll(async () => {
  await loadSystems(["directory"]);
});

const sample = (metric: Record<string, string>) => ({ metric, t: 0, value: 1 });

describe("prometheus config", () => {
  it("parses durations as milliseconds", () => {
    expect(durationMs("500ms")).toBe(500);
    expect(durationMs("15s")).toBe(15_000);
    expect(durationMs("2m")).toBe(120_000);
    expect(durationMs(1.5)).toBe(1500);
    expect(() => durationMs("15 sec")).toThrow(UsageError);
  });

  it("fills defaults and derives maxWait from the scrape interval", () => {
    const s = prometheusSettings({ url: "http://127.0.0.1:9090/", scrapeInterval: "1s" });
    expect(s).toMatchObject({ url: "http://127.0.0.1:9090", scrapeIntervalMs: 1000, exporterLagMs: 0, maxWaitMs: 7000, timeoutMs: 10_000, retries: 3 });
    expect(prometheusSettings({ url: "http://p:9090", scrapeInterval: 15, maxWait: "40s" }).maxWaitMs).toBe(40_000);
  });

  it("refuses credentials in the URL, half-configured auth and unknown keys, in one line", () => {
    const cases: [unknown, RegExp][] = [
      [{ url: "http://admin:pw@127.0.0.1:9090" }, /credentials do not belong in the URL/],
      [{ url: "http://127.0.0.1:9090", auth: { user: "admin" } }, /either \{ bearerTokenEnv \} or \{ user, passwordEnv \}/],
      [{ url: "http://127.0.0.1:9090", auth: { bearerTokenEnv: "T", user: "u", passwordEnv: "P" } }, /either/],
      [{ url: "http://127.0.0.1:9090", scrapeInterval: "fast" }, /prometheus\.scrapeInterval: expected a duration/],
      [{ url: "ftp://127.0.0.1:9090" }, /prometheus\.url: expected an http\(s\) URL/],
      [{ url: "http://127.0.0.1:9090", scrape: "1s" }, /Unrecognized key/],
    ];
    for (const [raw, message] of cases) {
      let err: unknown;
      try {
        prometheusSettings(raw);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain("\n");
      expect((err as Error).message).not.toContain(":pw@");
    }
  });

  it("normalizes the per-system l3 setting and names the bad field", () => {
    expect(StorageLayerSpecSchema.parse("local")).toEqual({ kind: "local" });
    expect(StorageLayerSpecSchema.parse({ kind: "prometheus", namespace: "db", pvcs: ["data-pg-0", "data-pg-1"] })).toEqual({
      kind: "prometheus",
      namespace: "db",
      pvcs: ["data-pg-0", "data-pg-1"],
    });
    const bad = StorageLayerSpecSchema.safeParse({ kind: "prometheus", namespace: "db", pvcs: "data-pg-0" });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(["pvcs"]);
    const injection = StorageLayerSpecSchema.safeParse({ kind: "prometheus", namespace: "db", pvcs: ['x"} or vector(1) #'] });
    expect(injection.success).toBe(false);
    expect(StorageLayerSpecSchema.safeParse("longhorn").error!.issues[0]!.message).toMatch(/unknown l3 kind/);
  });

  it("refuses a Prometheus l3 mapping without a prometheus block, before anything connects", () => {
    const raw = { matrix: { systems: ["directory"] }, systems: { directory: { l3: { kind: "prometheus", namespace: "ns", pvcs: ["p"] } } } };
    expect(() => resolveConfig(raw)).toThrow(/systems\.directory\.l3 reads Prometheus but there is no prometheus block — add prometheus:/);
    const ok = resolveConfig({ ...raw, prometheus: { url: "http://127.0.0.1:59090", scrapeInterval: "1s" } });
    expect(ok.systems[0]!.l3).toEqual({ kind: "prometheus", namespace: "ns", pvcs: ["p"] });
    // A resolved config re-parses to itself (config.json, --resume).
    expect(resolveConfig(ok.source).source.prometheus).toEqual(ok.source.prometheus);
  });
});

describe("PromQL text", () => {
  it("escapes the dots of Kubernetes names inside regex matchers", () => {
    expect(anyOf(["data-pg-0", "data.pg.1", "data-pg-0"])).toBe('"data-pg-0|data\\\\.pg\\\\.1"');
    expect(promql.actual(["pvc-a", "pvc-b"])).toBe('longhorn_volume_actual_size_bytes{volume=~"pvc-a|pvc-b"}');
    expect(promql.pvcInfo("db", ["data-pg-0"])).toBe('kube_persistentvolumeclaim_info{namespace="db",persistentvolumeclaim=~"data-pg-0"}');
    expect(promql.longhornPvcLabels("db", ["p"])).toBe('group by (pvc, volume) (longhorn_volume_actual_size_bytes{pvc_namespace="db",pvc=~"p"})');
    expect(promql.fsUsed("db", ["p"])).toBe('kubelet_volume_stats_used_bytes{namespace="db",persistentvolumeclaim=~"p"}');
  });
});

describe("PVC → volume mapping", () => {
  it("prefers kube_persistentvolumeclaim_info, falls back to Longhorn's pvc label, and says what is missing", () => {
    const info = [sample({ persistentvolumeclaim: "data-0", volumename: "pvc-aaa" })];
    const longhorn = [sample({ pvc: "data-1", volume: "pvc-bbb" }), sample({ pvc: "data-0", volume: "pvc-zzz" })];
    const refs = mapVolumes("db", ["data-0", "data-1", "data-2"], info, longhorn);
    expect(refs[0]).toEqual({ pvc: "data-0", volume: "pvc-aaa", problem: "" });
    expect(refs[1]).toEqual({ pvc: "data-1", volume: "pvc-bbb", problem: "" });
    expect(refs[2]!.volume).toBeNull();
    expect(refs[2]!.problem).toMatch(/^PVC db\/data-2 not found in kube_persistentvolumeclaim_info nor in the pvc label/);
  });

  it("refuses a PVC that maps to two volumes at once", () => {
    const info = [sample({ persistentvolumeclaim: "data-0", volumename: "pvc-old" }), sample({ persistentvolumeclaim: "data-0", volumename: "pvc-new" })];
    const [ref] = mapVolumes("db", ["data-0"], info, []);
    expect(ref!.volume).toBeNull();
    expect(ref!.problem).toMatch(/maps to several volumes \(pvc-old, pvc-new\)/);
  });

  it("names replicas by node, qualified by PVC when a system has several volumes", () => {
    expect(replicaId("node-a", "data-0", false)).toBe("node-a");
    expect(replicaId("node-a", "data-0", true)).toBe("data-0/node-a");
    expect(replicaId(undefined, "data-0", false)).toBe("unknown-node");
  });
});

describe("sample values", () => {
  it("parses Prometheus' number strings as float64", () => {
    expect(parseSampleValue("1073741824")).toBe(1073741824);
    expect(parseSampleValue("1.5e+09")).toBe(1.5e9);
    expect(parseSampleValue("+Inf")).toBe(Infinity);
    expect(parseSampleValue("-Inf")).toBe(-Infinity);
    expect(parseSampleValue("NaN")).toBeNaN();
    expect(() => parseSampleValue("abc")).toThrow(/not a sample value/);
  });
});

describe("live metrics config", () => {
  it("accepts listen + pushgateway and refuses bad values in one line", () => {
    expect(liveMetricsConfig(undefined)).toBeUndefined();
    expect(liveMetricsConfig({ listen: "127.0.0.1:9464", pushgateway: "http://127.0.0.1:59091" })).toEqual({
      listen: "127.0.0.1:9464",
      pushgateway: "http://127.0.0.1:59091",
      job: "dedup-lab",
    });
    expect(() => liveMetricsConfig({ listen: 9464 })).toThrow(/^metrics\.listen: .*— write metrics: \{ listen: "127\.0\.0\.1:9464"/);
    expect(() => liveMetricsConfig({ pushgateway: "127.0.0.1:59091" })).toThrow(/metrics\.pushgateway: expected an http\(s\) URL/);
    expect(() => liveMetricsConfig({ listen: "127.0.0.1:9464", push: "x" })).toThrow(/Unrecognized key/);
  });
});
