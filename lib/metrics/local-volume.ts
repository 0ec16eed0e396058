// The local storage layer: a volume is one filesystem on loop devices backed by sparse
// image files, one image per replica (scripts/volume.sh makes them) — the local stand-in
// for a Longhorn volume. L3 = allocated bytes (st_blocks × 512) of each replica image after
// the volume's sync, so L3 is measured below the filesystem, independently of L2.
// Servers name the volume scripts/services.sh made for them; embedded systems get a new
// volume per cell mounted at the cell's work directory (a fresh baseline by construction).
// Without root or loop devices the source says so once and falls back to file blocks,
// with a reason on every L3 row (L3 equals L2 there).
import { execFile } from "node:child_process";
import { readFile, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { z } from "zod";
import { parseBytes } from "../bytes.js";
import { UsageError } from "../errors.js";
import { blockUsage } from "../fs-blocks.js";
import type { LabSystem } from "../systems/contract.js";
import { registerStorageLayer, type L3Reading, type StorageLayerContext, type StorageLayerSource } from "./storage-layer.js";

const run = promisify(execFile);
export const VOLUME_SCRIPT = fileURLToPath(new URL("../../scripts/volume.sh", import.meta.url));
export const PROFILES = ["thin", "replicated", "compressed", "dedup"] as const;
export type VolumeProfile = (typeof PROFILES)[number];

/** Where volumes live: the local services' state directory (never a lab-prefixed path). */
export function volumeStateDir(): string {
  return process.env.DEDUP_LAB_STATE || "/tmp/dedup_lab_services";
}

export interface VolumeRecord {
  name: string;
  profile: VolumeProfile;
  fs: string;
  mountpoint: string;
  mountOptions: string;
  sizeBytes: number;
  replicas: { id: string; image: string; loop: string }[];
  createdAt: string;
  /** Allocated bytes of each image right after mkfs + mount + sync. */
  emptyAllocatedBytes: number[];
  /** Filesystem used bytes (statfs) right after creation. */
  emptyUsedBytes: number;
}

export const LocalVolumeSpecSchema = z
  .object({
    kind: z.literal("local-volume"),
    /** A volume made by scripts/services.sh (servers): its name, e.g. "postgres". */
    volume: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, { message: "expected a volume name like postgres" }).optional(),
    /** Embedded systems: the profile of the per-cell volume. */
    profile: z.enum(PROFILES).default("thin"),
    replicas: z.number().int().min(1).max(3).optional(),
    size: z.union([z.number().int().positive(), z.string()]).optional(),
    /** Trim before every fresh baseline (false reproduces the thin-volume trap on purpose). */
    trim: z.boolean().default(true),
  })
  .strict();
export type LocalVolumeSpec = z.output<typeof LocalVolumeSpecSchema>;

async function script(args: string[], timeoutMs = 600_000): Promise<string> {
  try {
    const { stdout } = await run("bash", [VOLUME_SCRIPT, ...args], { timeout: timeoutMs, env: { ...process.env, DEDUP_LAB_STATE: volumeStateDir() } });
    return stdout.trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`scripts/volume.sh ${args[0]}: ${(err.stderr || err.message).trim().split("\n").pop()}`);
  }
}

/** "" when volumes of this profile can be made here, else the one-line reason why not. */
export async function volumesUnavailable(profile: VolumeProfile): Promise<string> {
  try {
    await run("bash", [VOLUME_SCRIPT, "can", "--profile", profile], { timeout: 60_000 });
    return "";
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    return (err.stdout || err.stderr || err.message).trim().split("\n")[0] ?? "volumes unavailable";
  }
}

export async function readVolume(name: string): Promise<VolumeRecord | null> {
  try {
    return JSON.parse(await readFile(join(volumeStateDir(), "volumes", name, "volume.json"), "utf8")) as VolumeRecord;
  } catch {
    return null;
  }
}

/** Allocated bytes of each replica image after the volume's sync. */
export async function imageBytes(v: VolumeRecord, sync = true): Promise<number[]> {
  // syncfs of the mounted filesystem (a btrfs transaction commit included): the loop devices
  // then have written every block to the images. `sync -f` directly: cheaper than the script.
  if (sync) await run("sync", ["-f", v.mountpoint], { timeout: 120_000 });
  return Promise.all(v.replicas.map(async (r) => (await stat(r.image)).blocks * 512));
}

/** Bytes the filesystem counts as used (statfs), the same way scripts/volume.sh records emptyUsedBytes. */
async function usedBytes(mountpoint: string): Promise<number> {
  const s = await statfs(mountpoint);
  return (s.blocks - s.bfree) * s.bsize;
}

const joinNonEmpty = (...parts: string[]): string => parts.filter(Boolean).join("; ");

let warnedFallback = false;
let cellVolumes = 0;

class LocalVolumeSource implements StorageLayerSource {
  readonly kind = "local-volume";
  private volume?: VolumeRecord;
  /** Why there is no volume (the file-block fallback), once known. */
  private fallback = "";
  private owned = false;

  constructor(
    private readonly spec: LocalVolumeSpec,
    private readonly ctx: StorageLayerContext,
  ) {}

  get replicas(): number | undefined {
    return this.volume?.replicas.length;
  }

  get profile(): string {
    const v = this.volume;
    return v ? `${v.profile}${v.replicas.length > 1 ? `×${v.replicas.length}` : ""}` : "file-blocks";
  }

  get description(): string {
    const v = this.volume;
    return v ? `${v.profile}: ${v.fs} on ${v.replicas.length} sparse image${v.replicas.length > 1 ? "s" : ""} (volume ${v.name})` : `no volume: ${this.fallback}`;
  }

  /** Before the system prepares its cell: find the server's volume, or make the cell's own. */
  async provision(workDir: string, sizeHint: number, log: (m: string) => void): Promise<void> {
    if (this.spec.volume) {
      this.volume = (await readVolume(this.spec.volume)) ?? undefined;
      if (!this.volume) {
        this.fallback = `volume "${this.spec.volume}" not found under ${volumeStateDir()}/volumes (was the service started by scripts/services.sh as root?)`;
        this.warnOnce(log);
      }
      return;
    }
    if (!this.ctx.embedded) {
      throw new UsageError(`systems.${this.ctx.systemName}.l3: a server's local-volume needs volume: <name>`, `use l3: { kind: local-volume, volume: ${this.ctx.systemName} } (the volume scripts/services.sh made)`);
    }
    const why = await volumesUnavailable(this.spec.profile);
    if (why) {
      this.fallback = why;
      this.warnOnce(log);
      return;
    }
    const size = this.spec.size === undefined ? Math.max(1 << 30, 3 * sizeHint + (256 << 20)) : typeof this.spec.size === "number" ? this.spec.size : parseBytes(this.spec.size, "l3.size");
    const name = `cell-${process.pid}-${++cellVolumes}-${Math.random().toString(36).slice(2, 8)}`;
    const args = ["create", name, "--profile", this.spec.profile, "--mount", workDir, "--size", String(size)];
    if (this.spec.replicas) args.push("--replicas", String(this.spec.replicas));
    await script(args);
    this.owned = true;
    this.volume = (await readVolume(name)) ?? undefined;
    if (!this.volume) throw new Error(`scripts/volume.sh create ${name} wrote no volume.json`);
  }

  private warnOnce(log: (m: string) => void): void {
    if (warnedFallback) return;
    warnedFallback = true;
    log(`warning: storage layer: no loop-device volume (${this.fallback}); L3 falls back to file blocks and equals L2 — those rows say so`);
  }

  async read(system: LabSystem, _phase?: unknown, _point?: unknown, opts: { duringStage?: boolean } = {}): Promise<L3Reading[]> {
    if (!this.volume) {
      const paths = system.storagePaths?.() ?? [];
      const reason = `L3 equals L2 here: no loop-device volume (${this.fallback}); file blocks read instead`;
      if (paths.length === 0) return [{ replica: "local", volume: "", bytes: null, valid: false, reason }];
      return [{ replica: "local", volume: paths[0]!, bytes: (await blockUsage(paths)).allocated, valid: false, reason }];
    }
    const v = this.volume;
    const bytes = await imageBytes(v, !opts.duringStage);
    return v.replicas.map((r, i) => ({ replica: r.id, volume: v.name, bytes: bytes[i]!, valid: true, reason: "" }));
  }

  /**
   * Freed but still allocated bytes per image: growth of the image beyond what the
   * filesystem uses, against the empty volume. A baseline holding such space is not fresh —
   * new writes may reuse it without growing the image (the thin-volume trap).
   */
  async untrimmedBytes(): Promise<number | null> {
    const v = this.volume;
    if (!v) return null;
    const bytes = await imageBytes(v);
    const used = (await usedBytes(v.mountpoint)) - v.emptyUsedBytes;
    return Math.max(...bytes.map((b, i) => b - v.emptyAllocatedBytes[i]! - used));
  }

  /** The fresh-baseline step: trim, unless the config keeps the trap on purpose. */
  async freshen(): Promise<string> {
    if (!this.volume || !this.spec.trim) return "";
    // A server may still be deleting in the background (MinIO purges its trash, ClickHouse old
    // parts): blocks freed after the trim would be reused by the next insert without growing the
    // image. Wait until the filesystem's used bytes hold still (bounded), then trim.
    const waited = this.spec.volume ? await this.usedAtRest(this.volume.mountpoint) : "";
    return joinNonEmpty(await script(["trim", this.volume.name]), waited);
  }

  private async usedAtRest(mountpoint: string, stableMs = 1500, timeoutMs = 30_000): Promise<string> {
    const t0 = Date.now();
    let last = await usedBytes(mountpoint);
    let since = Date.now();
    while (Date.now() - since < stableMs) {
      if (Date.now() - t0 > timeoutMs) return `filesystem still changing after ${timeoutMs / 1000} s`;
      await new Promise((r) => setTimeout(r, 250));
      const now = await usedBytes(mountpoint);
      if (Math.abs(now - last) > 65_536) since = Date.now();
      last = now;
    }
    const s = (Date.now() - t0) / 1000;
    return s > 2 * (stableMs / 1000) ? `waited ${s.toFixed(1)} s for background deletes` : "";
  }

  /** The storage layer's maintenance (trim; a dedup volume's offline deduplication first). */
  async maintain(): Promise<string> {
    if (!this.volume) return "";
    return script(["maintain", this.volume.name], 1_800_000);
  }

  async close(): Promise<void> {
    if (this.owned && this.volume) await script(["destroy", this.volume.name]);
    this.volume = undefined;
  }
}

registerStorageLayer("local-volume", (spec, ctx) => {
  const parsed = LocalVolumeSpecSchema.safeParse(typeof spec === "string" ? { kind: spec } : spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`systems.${ctx.systemName}.l3.${issue.path.join(".")}: ${issue.message}`, `e.g. l3: { kind: local-volume, profile: thin } (profiles: ${PROFILES.join(", ")})`);
  }
  return new LocalVolumeSource(parsed.data, ctx);
});
