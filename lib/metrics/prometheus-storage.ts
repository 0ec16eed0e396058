// Storage-physical (L3) sizes of Longhorn volumes, read through Prometheus.
// Every replica series of every PVC the system uses is one reading (the runner sums
// them for EDR_cluster); phase boundaries are aligned with sample timestamps, so a
// value older than the phase is flagged instead of silently used; the raw
// size-over-time series of each phase goes to the bundle. See measurement.md §5.8, §6.
import { UsageError } from "../errors.js";
import type { LabSystem } from "../systems/contract.js";
import { PrometheusClient, type PromSample } from "./prometheus-client.js";
import { PrometheusL3Schema, prometheusSettings, type PrometheusL3Spec, type PrometheusSettings } from "./prometheus-config.js";
import { registerStorageLayer, type L3Reading, type PhaseWindow, type StorageLayerSource, type TimeseriesSample } from "./storage-layer.js";

export const METRIC = {
  /** Per replica: space used by one replica of the volume on its node. */
  actual: "longhorn_volume_actual_size_bytes",
  /** Per volume: provisioned size. */
  capacity: "longhorn_volume_capacity_bytes",
  /** kube-state-metrics: PVC → volumename. */
  pvcInfo: "kube_persistentvolumeclaim_info",
  /** kubelet: filesystem usage inside the volume (the filesystem-logical size). */
  fsUsed: "kubelet_volume_stats_used_bytes",
} as const;

/** Window for "what was the last sample at all" when no fresh one arrives (Prometheus' default lookback). */
const STALE_LOOKBACK = "5m";

/** PromQL regex alternation of names already validated as Kubernetes names ('.' is the only metacharacter they may hold). */
export function anyOf(names: string[]): string {
  return `"${[...new Set(names)].map((n) => n.replace(/\./g, "\\\\.")).join("|")}"`;
}

export const promql = {
  pvcInfo: (ns: string, pvcs: string[]) => `${METRIC.pvcInfo}{namespace="${ns}",persistentvolumeclaim=~${anyOf(pvcs)}}`,
  longhornPvcLabels: (ns: string, pvcs: string[]) => `group by (pvc, volume) (${METRIC.actual}{pvc_namespace="${ns}",pvc=~${anyOf(pvcs)}})`,
  actual: (volumes: string[]) => `${METRIC.actual}{volume=~${anyOf(volumes)}}`,
  capacity: (volumes: string[]) => `${METRIC.capacity}{volume=~${anyOf(volumes)}}`,
  fsUsed: (ns: string, pvcs: string[]) => `${METRIC.fsUsed}{namespace="${ns}",persistentvolumeclaim=~${anyOf(pvcs)}}`,
};

const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface VolumeRef {
  pvc: string;
  volume: string | null;
  /** Why `volume` is null. */
  problem: string;
}

/** PVC → Longhorn volume, from kube_persistentvolumeclaim_info first, then Longhorn's own pvc labels. */
export function mapVolumes(ns: string, pvcs: string[], pvcInfo: PromSample[], longhornLabels: PromSample[]): VolumeRef[] {
  return pvcs.map((pvc) => {
    const fromInfo = pvcInfo.filter((s) => s.metric.persistentvolumeclaim === pvc).map((s) => s.metric.volumename ?? "");
    const fromLonghorn = longhornLabels.filter((s) => s.metric.pvc === pvc).map((s) => s.metric.volume ?? "");
    const names = [...new Set((fromInfo.some(Boolean) ? fromInfo : fromLonghorn).filter(Boolean))];
    if (names.length === 0) {
      return { pvc, volume: null, problem: `PVC ${ns}/${pvc} not found in ${METRIC.pvcInfo} nor in the pvc label of ${METRIC.actual} — check systems.*.l3.namespace/pvcs` };
    }
    if (names.length > 1) return { pvc, volume: null, problem: `PVC ${ns}/${pvc} maps to several volumes (${names.join(", ")}) — was it recreated moments ago? retry` };
    if (!K8S_NAME.test(names[0]!)) return { pvc, volume: null, problem: `PVC ${ns}/${pvc}: volume name ${JSON.stringify(names[0])} is not a Kubernetes name` };
    return { pvc, volume: names[0]!, problem: "" };
  });
}

/** Replica id in results: the node; prefixed with the PVC when a system has several volumes. */
export function replicaId(node: string | undefined, pvc: string, severalVolumes: boolean): string {
  const n = node || "unknown-node";
  return severalVolumes ? `${pvc}/${n}` : n;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms))) };

const iso = (ms: number) => new Date(ms).toISOString();

export class LonghornSource implements StorageLayerSource {
  readonly kind = "prometheus";
  readonly profile = "longhorn";
  private refs?: VolumeRef[];
  /** Prometheus clock − runner clock, measured once (ms). */
  private offset?: number;
  /** Server time of the samples each boundary read used ("<stage>:before|after"): the span of the phase's series. */
  private readAt = new Map<string, number>();

  constructor(
    readonly systemName: string,
    private readonly spec: PrometheusL3Spec,
    private readonly settings: PrometheusSettings,
    private readonly client: PrometheusClient,
    private readonly clock: Clock = realClock,
  ) {}

  async read(_system: LabSystem, phase: PhaseWindow, point: "before" | "after"): Promise<L3Reading[]> {
    const refs = await this.volumes();
    const unmapped: L3Reading[] = refs.filter((r) => !r.volume).map((r) => ({ replica: r.pvc, volume: "", bytes: null, valid: false, reason: r.problem }));
    const mapped = refs.filter((r): r is VolumeRef & { volume: string } => r.volume !== null);
    if (mapped.length === 0) return unmapped;
    const several = refs.length > 1;
    const pvcOf = new Map(mapped.map((r) => [r.volume, r.pvc]));
    const offset = await this.clockOffset();

    // A sample counts only if Prometheus took it after the boundary (+ exporter lag), on its own clock.
    const boundary = point === "after" ? (phase.end ?? this.clock.now()) : phase.start;
    const threshold = boundary + offset + this.settings.exporterLagMs;
    const sel = promql.actual(mapped.map((r) => r.volume));
    const pollMs = Math.min(5000, Math.max(100, this.settings.scrapeIntervalMs / 5));
    const firstPoll = threshold - offset; // runner clock
    await this.clock.sleep(firstPoll - this.clock.now());
    const deadline = Math.max(this.clock.now(), firstPoll) + this.settings.maxWaitMs;

    for (;;) {
      const ts = await this.client.query(`timestamp(${sel})`);
      const covered = mapped.every((r) => ts.samples.some((s) => s.metric.volume === r.volume));
      if (covered && ts.samples.every((s) => s.value * 1000 > threshold)) {
        // Evaluate at the newest confirmed sample time: exactly the samples just confirmed.
        const at = Math.max(...ts.samples.map((s) => Math.round(s.value * 1000)));
        const values = await this.client.query(sel, at);
        this.readAt.set(`${phase.stage}:${point}`, at);
        const warn = [...ts.warnings, ...values.warnings].map((w) => `prometheus warning: ${w}`).join("; ");
        return [
          ...unmapped,
          ...values.samples.map((s) => ({
            replica: replicaId(s.metric.node, pvcOf.get(s.metric.volume!) ?? "", several),
            volume: s.metric.volume ?? "",
            bytes: s.value,
            valid: true,
            reason: warn,
          })),
        ];
      }
      if (this.clock.now() >= deadline) break;
      await this.clock.sleep(pollMs);
    }
    return [...unmapped, ...(await this.staleReadings(sel, mapped, pvcOf, several, threshold, boundary, point))];
  }

  /** No fresh sample within maxWait: the newest one there is, flagged (or null when there is none). */
  private async staleReadings(
    sel: string,
    mapped: { pvc: string; volume: string }[],
    pvcOf: Map<string, string>,
    several: boolean,
    threshold: number,
    boundary: number,
    point: "before" | "after",
  ): Promise<L3Reading[]> {
    const raw = await this.client.query(`${sel}[${STALE_LOOKBACK}]`);
    const waited = `${(this.settings.maxWaitMs / 1000).toFixed(1)}s`;
    const lag = this.settings.exporterLagMs ? ` + exporter lag ${this.settings.exporterLagMs / 1000}s` : "";
    const out: L3Reading[] = [];
    for (const s of raw.series) {
      const last = s.points.at(-1);
      if (!last) continue;
      const fresh = last.t > threshold;
      out.push({
        replica: replicaId(s.metric.node, pvcOf.get(s.metric.volume!) ?? "", several),
        volume: s.metric.volume ?? "",
        bytes: last.value,
        valid: fresh,
        reason: fresh
          ? ""
          : `stale: newest ${METRIC.actual} sample (${iso(last.t)}) is not newer than the phase ${point === "after" ? "end" : "start"} (${iso(boundary)}${lag}) after waiting ${waited} — is the exporter target up? raise prometheus.maxWait/exporterLag`,
      });
    }
    for (const r of mapped) {
      if (!raw.series.some((s) => s.metric.volume === r.volume)) {
        out.push({ replica: r.pvc, volume: r.volume, bytes: null, valid: false, reason: `stale: no ${METRIC.actual} sample for volume ${r.volume} (PVC ${this.spec.namespace}/${r.pvc}) in the last ${STALE_LOOKBACK} — is the Longhorn/exporter target up?` });
      }
    }
    return out;
  }

  /** Raw size-over-time of the phase (query_range, step = scrape interval): replicas, capacity, filesystem usage. */
  async series(_system: LabSystem, phase: PhaseWindow): Promise<TimeseriesSample[]> {
    const refs = (await this.volumes()).filter((r): r is VolumeRef & { volume: string } => r.volume !== null);
    if (refs.length === 0) return [];
    const offset = await this.clockOffset();
    // From the baseline sample (before) to the sample the after value came from, with the
    // evaluation grid anchored at that end so the last point is exactly the recorded value.
    const end = this.readAt.get(`${phase.stage}:after`) ?? (phase.end ?? this.clock.now()) + offset + this.settings.scrapeIntervalMs;
    const begin = Math.min(this.readAt.get(`${phase.stage}:before`) ?? Infinity, phase.start + offset);
    const step = Math.max(this.settings.scrapeIntervalMs, Math.ceil((end - begin) / 10_000));
    const start = end - Math.max(1, Math.ceil((end - begin) / step)) * step;
    const several = refs.length > 1;
    const pvcOf = new Map(refs.map((r) => [r.volume, r.pvc]));
    const volumes = refs.map((r) => r.volume);
    const out: TimeseriesSample[] = [];
    const add = async (query: string, replicaOf: (m: Record<string, string>) => string, volumeOf: (m: Record<string, string>) => string) => {
      const r = await this.client.queryRange(query, start, end, step);
      for (const s of r.series) {
        const metric = s.metric.__name__ ?? query.slice(0, query.indexOf("{"));
        for (const p of s.points) out.push({ source: "prometheus", metric, replica: replicaOf(s.metric), volume: volumeOf(s.metric), t: p.t - offset, value: Number.isFinite(p.value) ? p.value : null });
      }
    };
    await add(promql.actual(volumes), (m) => replicaId(m.node, pvcOf.get(m.volume!) ?? "", several), (m) => m.volume ?? "");
    await add(promql.capacity(volumes), () => "", (m) => m.volume ?? "");
    const volumeOfPvc = new Map(refs.map((r) => [r.pvc, r.volume]));
    await add(promql.fsUsed(this.spec.namespace, refs.map((r) => r.pvc)), () => "", (m) => volumeOfPvc.get(m.persistentvolumeclaim!) ?? m.persistentvolumeclaim ?? "");
    return out;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** PVC → volume, kept for the cell once complete (a pre-cell hook may have recreated the PVC
   * just before: an incomplete or ambiguous mapping is asked again at the next boundary). */
  private async volumes(): Promise<VolumeRef[]> {
    if (this.refs) return this.refs;
    const { namespace, pvcs } = this.spec;
    const info = await this.client.query(promql.pvcInfo(namespace, pvcs));
    const unmapped = pvcs.filter((p) => !info.samples.some((s) => s.metric.persistentvolumeclaim === p && s.metric.volumename));
    const labels = unmapped.length ? (await this.client.query(promql.longhornPvcLabels(namespace, unmapped))).samples : [];
    const refs = mapVolumes(namespace, pvcs, info.samples, labels);
    if (refs.every((r) => r.volume !== null)) this.refs = refs;
    return refs;
  }

  private async clockOffset(): Promise<number> {
    if (this.offset === undefined) {
      const sent = this.clock.now();
      const r = await this.client.query("time()");
      const server = r.samples[0]?.t;
      // time() is evaluated on the server's clock somewhere after `sent`: server − sent is the
      // largest offset consistent with it, so a sample taken before a boundary is never taken for after it.
      this.offset = server === undefined ? 0 : server - sent;
    }
    return this.offset;
  }
}

registerStorageLayer("prometheus", (spec, ctx) => {
  const parsed = PrometheusL3Schema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`systems.${ctx.systemName}.l3${issue.path.length ? `.${issue.path.join(".")}` : ""}: ${issue.message}`, "write l3: { kind: prometheus, namespace: NS, pvcs: [PVC, …] }");
  }
  if (ctx.prometheus === undefined) {
    throw new UsageError(`systems.${ctx.systemName}.l3 reads Prometheus but the config has no prometheus block`, "add prometheus: { url: http://127.0.0.1:9090, scrapeInterval: 15s }");
  }
  const settings = prometheusSettings(ctx.prometheus);
  return new LonghornSource(ctx.systemName, parsed.data, settings, new PrometheusClient(settings));
});
