// scripts/volume.sh on real loop devices (root, /dev/loop-control): every profile creates,
// mounts, writes and destroys; the thin-volume trap (space returns only after trim), replica
// growth, compression, duperemove's reduction, crash leftovers swept, and `can`. All under a
// private DEDUP_LAB_STATE, so the running services' volumes are never touched.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExporterConfigSchema, LonghornStyleExporter } from "../../lib/exporter/exporter.js";
import { ROOT } from "../helpers/services-env.js";
import { withTraversableAncestors } from "../helpers/traversable.js";

const SCRIPT = join(ROOT, "scripts", "volume.sh");
const MiB = 1 << 20;
// Under /tmp like the services' state (a loop device's image must not sit on tmpfs quirks elsewhere).
const state = mkdtempSync(join(tmpdir(), "dedup_lab_volumes_test-"));
const env = { ...process.env, DEDUP_LAB_STATE: state };

interface VolumeJson {
  name: string;
  profile: string;
  fs: string;
  mountpoint: string;
  mountOptions: string;
  sizeBytes: number;
  replicas: { id: string; image: string; loop: string }[];
  createdAt: string;
  emptyAllocatedBytes: number[];
  emptyUsedBytes: number;
  mounted?: boolean;
}

function run(args: string[], opts: { env?: NodeJS.ProcessEnv; ok?: boolean } = {}) {
  const r = spawnSync("/bin/bash", [SCRIPT, ...args], { env: opts.env ?? env, encoding: "utf8" });
  if (opts.ok !== false && r.status !== 0) throw new Error(`volume.sh ${args.join(" ")} → ${r.status}: ${r.stderr}${r.stdout}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function sh(cmd: string): string {
  const r = spawnSync("bash", ["-c", cmd], { encoding: "utf8" });
  return r.stdout.trim();
}

const allocated = (f: string) => statSync(f).blocks * 512;
const timings: Record<string, { create: number; destroy: number }> = {};

function create(name: string, profile: string, extra: string[] = []): VolumeJson {
  const mount = join(state, "mnt", name);
  const t0 = performance.now();
  const out = run(["create", name, "--profile", profile, "--mount", mount, ...extra]).stdout.trim();
  (timings[profile] ??= { create: 0, destroy: 0 }).create = (performance.now() - t0) / 1000;
  expect(out).toBe(join(state, "volumes", name, "volume.json"));
  return status(name);
}

function status(name: string): VolumeJson {
  return JSON.parse(run(["status", name]).stdout) as VolumeJson;
}

function destroy(v: VolumeJson) {
  const t0 = performance.now();
  run(["destroy", v.name]);
  timings[v.profile]!.destroy = (performance.now() - t0) / 1000;
  for (const r of v.replicas) expect(sh(`losetup -j '${r.image}'`)).toBe("");
  expect(sh(`findmnt -rn -M '${v.mountpoint}'`)).toBe("");
  expect(existsSync(join(state, "volumes", v.name))).toBe(false);
  run(["destroy", v.name]); // idempotent
}

/** Loops or mounts backed by files under this test's state. */
function leftovers(): string {
  const loops = sh(`losetup -l -n --raw -O NAME,BACK-FILE | awk -v p='${state}/' 'index($2, p) == 1 {print $1}'`);
  const mounts = loops ? loops.split("\n").map((l) => sh(`findmnt -rn -S ${l} -o TARGET`)).filter(Boolean) : [];
  return [loops, ...mounts].filter(Boolean).join("\n");
}

const can = spawnSync("bash", [SCRIPT, "can"], { env, encoding: "utf8" });

beforeAll(() => {
  mkdirSync(join(state, "mnt"), { recursive: true });
});

afterAll(() => {
  run(["sweep"], { ok: false });
  const left = leftovers();
  rmSync(state, { recursive: true, force: true });
  console.log(`volume timings (s): ${JSON.stringify(timings)}`);
  if (left) throw new Error(`sweep left loops/mounts behind:\n${left}`);
});

// No skipping: npm test runs as root with loop devices (the README's set-up); where they are
// missing these tests fail with `can`'s one-line reason rather than pass silently.
describe("scripts/volume.sh on loop devices", () => {
  it("can: exit 0 here; exit 3 with one line naming what is missing", () => {
    expect(can.status, `scripts/volume.sh can: ${can.stdout}${can.stderr}`).toBe(0);
    const noTools = run(["can"], { env: { ...env, PATH: "/usr/bin:/bin" }, ok: false });
    // losetup, mkfs.ext4 and fstrim live in /usr/sbin
    expect(noTools.code).toBe(3);
    expect(noTools.stdout.trim().split("\n")).toHaveLength(1);
    expect(noTools.stdout).toMatch(/missing .*losetup/);
    const nobody = withTraversableAncestors(SCRIPT, () => spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "bash", SCRIPT, "can"], { env, encoding: "utf8", cwd: "/" }));
    expect(nobody.status).toBe(3);
    expect(nobody.stdout.trim().split("\n")).toHaveLength(1);
    expect(nobody.stdout).toMatch(/missing root/);
    expect(run(["can", "--profile", "dedup"]).code).toBe(0);
  });

  it("thin: 16 MiB grows the image; rm does not shrink it (the trap); trim does", () => {
    const v = create("thin-1", "thin");
    expect(v).toMatchObject({ profile: "thin", fs: "ext4", mountOptions: "", mounted: true, sizeBytes: 2 * 1024 * MiB });
    expect(v.replicas).toHaveLength(1);
    expect(existsSync(join(v.mountpoint, "lost+found"))).toBe(false);
    expect(sh(`findmnt -rn -M '${v.mountpoint}' -o OPTIONS`)).not.toMatch(/discard/);
    // ext4's per-CPU group preallocation is one block: its reserved rest is what fstrim skipped (volume.sh).
    expect(readFileSync(`/sys/fs/ext4/${basename(realpathSync(v.replicas[0]!.loop))}/mb_group_prealloc`, "utf8").trim()).toBe("1");
    const img = v.replicas[0]!.image;
    const empty = v.emptyAllocatedBytes[0]!;
    writeFileSync(join(v.mountpoint, "random.bin"), randomBytes(16 * MiB));
    run(["sync", v.name]);
    const written = allocated(img);
    expect(written - empty).toBeGreaterThanOrEqual(16 * MiB);
    unlinkSync(join(v.mountpoint, "random.bin"));
    run(["sync", v.name]);
    const removed = allocated(img);
    expect(removed).toBeGreaterThanOrEqual(written);
    const trim = run(["trim", v.name]).stdout.trim();
    expect(trim).toMatch(/^trimmed \d+$/);
    const trimmed = allocated(img);
    expect(Math.abs(trimmed - empty)).toBeLessThanOrEqual(MiB);
    console.log(`thin: empty ${empty} B; +16 MiB → +${written - empty} B; rm → +${removed - empty} B; ${trim} → ${trimmed - empty >= 0 ? "+" : ""}${trimmed - empty} B`);
    // idempotent create, conflicts
    expect(run(["create", v.name, "--profile", "thin", "--mount", v.mountpoint]).stdout.trim()).toBe(join(state, "volumes", v.name, "volume.json"));
    const other = run(["create", v.name, "--profile", "dedup", "--mount", v.mountpoint], { ok: false });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`scripts/volume.sh destroy ${v.name}`);
    expect(run(["maintain", v.name]).stdout.trim().split("\n")).toHaveLength(1);
    destroy(v);
  });

  it("create refuses a non-empty directory unless --replace-dir", () => {
    const dir = join(state, "mnt", "busy");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "old"), "state from before");
    const r = run(["create", "busy", "--profile", "thin", "--mount", dir], { ok: false });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(join(state, "volumes", "busy"))).toBe(false);
    const v = create("busy", "thin", ["--replace-dir", "--owner", "nobody:nogroup"]);
    expect(existsSync(join(dir, "old"))).toBe(false);
    expect(sh(`stat -c %U:%G '${dir}'`)).toBe("nobody:nogroup");
    destroy(v);
    expect(run(["create", "Bad/Name", "--profile", "thin", "--mount", dir], { ok: false }).code).toBe(2);
  });

  it("replicated --replicas 3: every image grows by at least the bytes written", () => {
    const v = create("repl-3", "replicated", ["--replicas", "3"]);
    expect(v).toMatchObject({ fs: "btrfs", mounted: true });
    expect(v.replicas.map((r) => r.id)).toEqual(["replica-1", "replica-2", "replica-3"]);
    writeFileSync(join(v.mountpoint, "random.bin"), randomBytes(16 * MiB));
    run(["sync", v.name]);
    const growth = v.replicas.map((r, i) => allocated(r.image) - v.emptyAllocatedBytes[i]!);
    console.log(`replicated ×3: 16 MiB written → image growth ${growth.join(", ")} B`);
    for (const g of growth) expect(g).toBeGreaterThanOrEqual(16 * MiB);
    destroy(v);
  });

  it("replicated (default 2 replicas)", () => {
    const v = create("repl-2", "replicated");
    expect(v.replicas).toHaveLength(2);
    writeFileSync(join(v.mountpoint, "f"), "x");
    expect(status(v.name).mounted).toBe(true);
    destroy(v);
  });

  it("exporter: a volume given as images has one series per replica image, at its allocated blocks", async () => {
    const v = create("exp-2", "replicated");
    writeFileSync(join(v.mountpoint, "random.bin"), randomBytes(4 * MiB));
    run(["sync", v.name]); // the exporter reads without syncing
    const exporter = new LonghornStyleExporter({
      volumes: [{ volume: "pvc-x", pvc: "data-x-0", images: v.replicas.map((r) => r.image), mountpoint: v.mountpoint, capacity: v.sizeBytes }],
    });
    await exporter.scan();
    const actual = (await exporter.registry.getSingleMetric("longhorn_volume_actual_size_bytes")!.get()).values;
    expect(actual.map((a) => a.labels.node)).toEqual(["replica-1", "replica-2"]);
    for (const [i, r] of v.replicas.entries()) expect(actual[i]!.value).toBe(allocated(r.image));
    const used = (await exporter.registry.getSingleMetric("kubelet_volume_stats_used_bytes")!.get()).values;
    expect(used[0]!.value).toBeGreaterThanOrEqual(4 * MiB);
    destroy(v);
    await exporter.scan(); // images gone: no series, as for a deleted Longhorn volume
    expect((await exporter.registry.getSingleMetric("longhorn_volume_actual_size_bytes")!.get()).values).toEqual([]);
    // strict and validated
    const base = { volume: "pvc-x", pvc: "data-x-0" };
    expect(() => ExporterConfigSchema.parse({ volumes: [{ ...base, paths: ["/a"], images: ["/b"] }] })).toThrow(/either paths or images/);
    expect(() => ExporterConfigSchema.parse({ volumes: [base] })).toThrow(/either paths or images/);
    expect(() => ExporterConfigSchema.parse({ volumes: [{ ...base, images: ["/a", "/b"], nodes: ["n1"] }] })).toThrow(/one node per image/);
    expect(() => ExporterConfigSchema.parse({ volumes: [{ ...base, images: ["/a"], extra: 1 }] })).toThrow();
    expect(ExporterConfigSchema.parse({ volumes: [{ ...base, paths: ["/a"] }] }).volumes[0]!.nodes).toEqual(["local"]);
  });

  it("compressed: 16 MiB of repetitive text grows the image by less than 1/1.5 of it", () => {
    const v = create("comp", "compressed");
    expect(v.mountOptions).toContain("compress-force=zstd");
    const line = "the quick brown fox jumps over the lazy dog; dedup-lab measures storage. ";
    const text = Buffer.from(line.repeat(Math.ceil((16 * MiB) / line.length)).slice(0, 16 * MiB));
    writeFileSync(join(v.mountpoint, "text.txt"), text);
    run(["sync", v.name]);
    const growth = allocated(v.replicas[0]!.image) - v.emptyAllocatedBytes[0]!;
    console.log(`compressed: 16 MiB text → image growth ${growth} B (ratio ${((16 * MiB) / growth).toFixed(1)})`);
    expect(growth).toBeLessThan((16 * MiB) / 1.5);
    destroy(v);
  });

  it("dedup: maintain (duperemove) brings 1,000 × 16 KiB at 90 % duplicates to ≤ 1/7", () => {
    const v = create("dedup-1", "dedup");
    const uniques = Array.from({ length: 100 }, () => randomBytes(16 * 1024));
    for (let i = 0; i < 1000; i++) writeFileSync(join(v.mountpoint, `f${i}`), uniques[i % 100]!);
    const written = 1000 * 16 * 1024;
    run(["sync", v.name]);
    const img = v.replicas[0]!.image;
    const before = allocated(img) - v.emptyAllocatedBytes[0]!;
    const out = run(["maintain", v.name]).stdout.trim();
    expect(out.split("\n")).toHaveLength(1);
    expect(out).toContain("duperemove");
    expect(existsSync(join(state, "volumes", v.name, "duperemove.hash"))).toBe(true);
    const after = allocated(img) - v.emptyAllocatedBytes[0]!;
    console.log(`dedup: ${written} B written → growth ${before} B before, ${after} B after maintain (1/${(written / after).toFixed(2)})`);
    expect(after).toBeLessThanOrEqual(written / 7);
    destroy(v);
  });

  it("crash leftovers: a volume without volume.json, and a create killed mid-way, are swept", async () => {
    const v = create("crash-1", "dedup");
    unlinkSync(join(state, "volumes", v.name, "volume.json"));
    // kill -9 a create while it works (after its first loop is attached)
    const { spawn } = await import("node:child_process");
    const child = spawn("bash", [SCRIPT, "create", "crash-2", "--profile", "replicated", "--replicas", "3", "--mount", join(state, "mnt", "crash-2")], {
      env,
      stdio: "ignore",
      detached: true,
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !sh(`losetup -j '${join(state, "volumes", "crash-2", "replica-1.img")}'`)) await new Promise((r) => setTimeout(r, 5));
    process.kill(-child.pid!, "SIGKILL"); // the whole group: bash and what it runs
    await new Promise((r) => setTimeout(r, 200));
    expect(leftovers()).not.toBe("");
    expect(JSON.parse(run(["status"]).stdout).map((s: VolumeJson) => s.name)).not.toContain("crash-1");
    run(["sweep"]);
    expect(leftovers()).toBe("");
    expect(existsSync(join(state, "volumes", "crash-1"))).toBe(false);
    expect(existsSync(join(state, "volumes", "crash-2"))).toBe(false);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(state);
  });
});
