// A small Longhorn-style exporter for local runs: the metrics the Prometheus storage-layer
// source reads on a cluster, computed from the allocated blocks of local directories, so
// the very same collector path (PVC mapping, per-replica sums, phase alignment) runs here.
// Several `nodes` per volume stand for synthetic Longhorn replicas holding the same data; a
// volume given as `images` (scripts/volume.sh) has one real series per replica image.
import { statfsSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Gauge, Registry } from "prom-client";
import { z } from "zod";
import { parseBytes } from "../bytes.js";
import { blockUsageSync, type BlockUsage } from "../fs-blocks.js";

const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { message: "expected a Kubernetes name" });

export const ExporterVolumeSchema = z
  .object({
    volume: k8sName,
    pvc: k8sName,
    namespace: k8sName.default("dedup-lab"),
    /** Directories (or files) whose allocated blocks are the volume's actual size (one value for every node). */
    paths: z.array(z.string().min(1)).min(1).optional(),
    /**
     * Instead of `paths`: one replica image per series (scripts/volume.sh), valued at that
     * image's allocated blocks (st_blocks × 512). Read-only: the scan does not sync the
     * filesystem inside, so writes still in its page cache are not counted yet (run
     * `scripts/volume.sh sync NAME` at a phase boundary, as the runner does).
     */
    images: z.array(z.string().min(1)).min(1).optional(),
    /** Where the volume's filesystem is mounted: its statfs used bytes become kubelet_volume_stats_used_bytes. */
    mountpoint: z.string().min(1).optional(),
    /** One series per node: synthetic replicas of the same data (`paths`), or the images' nodes (`images`, default replica-1…). */
    nodes: z.array(z.string().min(1)).min(1).optional(),
    capacity: z.union([z.number().int().positive(), z.string()]).default("10GiB"),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.paths === undefined) === (v.images === undefined)) {
      ctx.addIssue({ code: "custom", message: `volume ${v.volume}: give either paths or images`, path: ["paths"] });
    }
    if (v.images && v.nodes && v.nodes.length !== v.images.length) {
      ctx.addIssue({ code: "custom", message: `volume ${v.volume}: ${v.nodes.length} nodes for ${v.images.length} images (one node per image)`, path: ["nodes"] });
    }
    if (v.nodes && new Set(v.nodes).size !== v.nodes.length) {
      ctx.addIssue({ code: "custom", message: `volume ${v.volume}: node names must be distinct`, path: ["nodes"] });
    }
  })
  .transform((v) => ({ ...v, nodes: v.nodes ?? (v.images ? v.images.map((_, i) => `replica-${i + 1}`) : ["local"]) }));

export const ExporterConfigSchema = z
  .object({
    listen: z.string().regex(/^[^:]+:\d+$/, { message: 'expected "host:port"' }).default("127.0.0.1:59400"),
    volumes: z.array(ExporterVolumeSchema).default([]),
  })
  .strict();

export type ExporterConfig = z.input<typeof ExporterConfigSchema>;
type Volume = z.output<typeof ExporterVolumeSchema>;

interface VolumeReading {
  /** node → actual size; a replica image that does not exist (volume destroyed) has no series, as on Longhorn. */
  perNode: [string, number][];
  used?: number;
}

const missing = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT";

/** statfs used bytes of a mounted filesystem ((f_blocks − f_bfree) × f_bsize), or undefined when it is gone. */
function statfsUsed(mountpoint: string): number | undefined {
  try {
    const s = statfsSync(mountpoint);
    return (s.blocks - s.bfree) * s.bsize;
  } catch (e) {
    if (missing(e)) return undefined;
    throw e;
  }
}

function readVolume(v: Volume): VolumeReading {
  if (v.images) {
    const perNode: [string, number][] = [];
    v.images.forEach((image, i) => {
      try {
        perNode.push([v.nodes[i]!, statSync(image).blocks * 512]);
      } catch (e) {
        if (!missing(e)) throw e;
      }
    });
    return { perNode, used: v.mountpoint !== undefined && perNode.length > 0 ? statfsUsed(v.mountpoint) : undefined };
  }
  const u: BlockUsage = blockUsageSync(v.paths!);
  return { perNode: v.nodes.map((n) => [n, u.allocated]), used: v.mountpoint !== undefined ? statfsUsed(v.mountpoint) : u.apparent };
}

export class LonghornStyleExporter {
  readonly registry = new Registry();
  private readonly volumes: Volume[];
  private readonly listen: string;
  private server?: Server;
  private scanning?: Promise<void>;
  private readonly actual: Gauge;
  private readonly capacity: Gauge;
  private readonly pvcInfo: Gauge;
  private readonly fsUsed: Gauge;

  constructor(config: ExporterConfig) {
    const c = ExporterConfigSchema.parse(config);
    this.volumes = c.volumes;
    this.listen = c.listen;
    const labels = ["volume", "node", "pvc", "pvc_namespace"];
    const registers = [this.registry];
    this.actual = new Gauge({ name: "longhorn_volume_actual_size_bytes", help: "Actual space used by each replica of the volume on the corresponding node", labelNames: labels, registers });
    this.capacity = new Gauge({ name: "longhorn_volume_capacity_bytes", help: "Configured size in bytes for this volume", labelNames: labels, registers });
    this.pvcInfo = new Gauge({ name: "kube_persistentvolumeclaim_info", help: "Information about persistent volume claim", labelNames: ["namespace", "persistentvolumeclaim", "storageclass", "volumename"], registers });
    this.fsUsed = new Gauge({ name: "kubelet_volume_stats_used_bytes", help: "Number of used bytes in the volume (apparent file sizes here)", labelNames: ["namespace", "persistentvolumeclaim"], registers });
  }

  /** Current sizes, recomputed per scrape (concurrent scrapes share one scan). */
  async scan(): Promise<void> {
    this.scanning ??= this.scanOnce().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const readings = new Map<Volume, VolumeReading>();
    for (const v of this.volumes) readings.set(v, readVolume(v));
    for (const g of [this.actual, this.capacity, this.pvcInfo, this.fsUsed]) g.reset();
    for (const v of this.volumes) {
      const r = readings.get(v)!;
      const capacity = typeof v.capacity === "number" ? v.capacity : parseBytes(v.capacity, `capacity of ${v.volume}`);
      for (const [node, bytes] of r.perNode) this.actual.set({ volume: v.volume, node, pvc: v.pvc, pvc_namespace: v.namespace }, bytes);
      this.capacity.set({ volume: v.volume, node: v.nodes[0]!, pvc: v.pvc, pvc_namespace: v.namespace }, capacity);
      this.pvcInfo.set({ namespace: v.namespace, persistentvolumeclaim: v.pvc, storageclass: "longhorn", volumename: v.volume }, 1);
      if (r.used !== undefined) this.fsUsed.set({ namespace: v.namespace, persistentvolumeclaim: v.pvc }, r.used);
    }
  }

  /** Serve GET /metrics; resolves with the bound "host:port" (port 0 picks a free one). */
  async start(): Promise<string> {
    const [host, port] = [this.listen.slice(0, this.listen.lastIndexOf(":")), Number(this.listen.slice(this.listen.lastIndexOf(":") + 1))];
    this.server = createServer((req, res) => {
      if (req.method !== "GET" || !req.url?.startsWith("/metrics")) {
        res.writeHead(404).end("not found: GET /metrics\n");
        return;
      }
      this.scan()
        .then(() => this.registry.metrics())
        .then((text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text))
        .catch((e: Error) => res.writeHead(500).end(`scan failed: ${e.message}\n`));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    return `${host}:${a.port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
