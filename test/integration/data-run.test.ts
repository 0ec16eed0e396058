// Done-when for real data: `dedup-lab data stage gutenberg_text --root DIR` stages a local
// book, and `dedup-lab run --payloads gutenberg_text --systems sqlite` runs it end to end —
// the real type plugs into the planner, the manifest and `datasets verify` like a synthetic one.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { tableRows } from "../../lib/results/arrow-io.js";
import { loadBundles } from "../../lib/results/bundle.js";
import type { ResultRow } from "../../lib/results/schema.js";
import { cli } from "../helpers/cli.js";
import { book, listTree, readOnly, sha256, snapshot, tmp, writable, writeManifest } from "./data-fixtures.js";

const base = tmp();
const root = join(base, "library");
const manifests = join(base, "manifests");
const scratch = join(base, "scratch");
const text = book("pride", 40, 40);

beforeAll(() => {
  mkdirSync(join(root, "books"), { recursive: true });
  writeFileSync(join(root, "books", "pride.txt"), text);
  writeManifest(manifests, "gutenberg", "gutenberg_text", [{ id: "pride", path: "books/pride.txt", archive: "none", sha256: sha256(text) }], { mode: "lines", target: "1KiB" });
  readOnly(root);
});

describe("real data end to end", () => {
  it("a real payload that is not staged is refused before the run starts", () => {
    const out = join(tmp(), "bundle");
    const r = cli(["run", "--payloads", "gutenberg_text", "--systems", "sqlite", "--units", "10", "--out", out], { env: { DEDUP_DATA_SCRATCH: join(tmp(), "empty"), DEDUP_DATA_MANIFESTS: manifests } });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(/^dedup-lab: payload gutenberg_text is not staged .* — run `dedup-lab data stage gutenberg_text` with the same --scratch/);
    expect(existsSync(out)).toBe(false);
  });

  it("stages a local book and runs it on sqlite; U0 is truly unique, U50 has the planned duplicates", async () => {
    const before = snapshot(root);
    const s = cli(["data", "stage", "gutenberg_text", "--root", root, "--scratch", scratch, "--manifests", manifests]);
    expect(s.status, s.stderr).toBe(0);
    const staged = s.stdout.match(/gutenberg: payload gutenberg_text staged — (\d+) distinct units/);
    expect(staged, s.stdout).not.toBeNull();
    const available = Number(staged![1]);
    expect(available).toBeGreaterThan(40);
    expect(listTree(join(scratch, "work"))).toEqual([]);

    const config = join(base, "run.yaml");
    writeFileSync(config, stringify({ matrix: { systems: ["sqlite"], payloads: ["gutenberg_text"], grades: ["U0", "U50"] }, dataset: { units: 40 }, data: { scratch, manifests } }));
    const out = join(tmp(), "bundle");
    const r = cli(["run", "--config", config, "--out", out, "--quiet"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 cells done, 0 failed/);

    const rows = tableRows<ResultRow>((await loadBundles([out])).results);
    const value = (grade: string, metric: string) => rows.find((x) => x.grade === grade && x.stage === "dataset" && x.metric === metric)!.value;
    expect(new Set(rows.map((x) => x.payload))).toEqual(new Set(["gutenberg_text"]));
    expect(rows.some((x) => x.metric === "error")).toBe(false);
    expect(value("U0", "unique_bytes")).toBe(value("U0", "logical_bytes"));
    expect(value("U0", "realized_fraction")).toBe(0);
    expect(value("U50", "realized_fraction")).toBe(0.5);
    expect(value("U50", "ideal_ratio")!).toBeGreaterThan(1.5);

    // The bundle's dataset manifests hold the real units: distinct at U0, 20 groups at U50.
    const manifestsDir = join(out, "manifests");
    const units = readdirSync(manifestsDir).map((f) => JSON.parse(readFileSync(join(manifestsDir, f), "utf8")) as { spec: { fraction: number }; units: { sha256: string; size: number }[] });
    const u0 = units.find((m) => m.spec.fraction === 0)!;
    expect(new Set(u0.units.map((u) => u.sha256)).size).toBe(40);
    expect(u0.units.every((u) => u.size <= 1024)).toBe(true);
    const u50 = units.find((m) => m.spec.fraction === 0.5)!;
    expect(new Set(u50.units.map((u) => u.sha256)).size).toBe(20);
    expect(snapshot(root)).toEqual(before);
  });

  it("datasets generate/verify work on the staged real payload", () => {
    const out = join(tmp(), "ds");
    const env = { DEDUP_DATA_SCRATCH: scratch, DEDUP_DATA_MANIFESTS: manifests };
    const g = cli(["datasets", "generate", "--payload", "gutenberg_text", "--units", "30", "--fraction", "U90", "--out", out], { env });
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/30 units, .* realized 0.9,/);
    const v = cli(["datasets", "verify", out], { env });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/OK — 30 units/);
  });

  it("the shipped Gutenberg manifest stages from a local mirror under the data root", () => {
    const mirror = join(tmp(), "mirror");
    mkdirSync(join(mirror, "gutenberg"), { recursive: true });
    writeFileSync(join(mirror, "gutenberg", "pg1342.txt"), book("pride and prejudice", 10, 30));
    writeFileSync(join(mirror, "gutenberg", "pg2701.txt"), book("moby-dick", 10, 30));
    readOnly(mirror);
    const before = snapshot(mirror);
    const own = join(tmp(), "scratch");
    const r = cli(["data", "stage", "gutenberg_text", "--root", mirror, "--scratch", own]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/gutenberg\/pride-and-prejudice: copying .*gutenberg\/pg1342.txt/);
    expect(r.stderr).toMatch(/gutenberg\/moby-dick: sha256 [0-9a-f]{64} recorded \(first fetch; the manifest has no sha256\)/);
    expect(r.stdout).toMatch(/gutenberg: payload gutenberg_text staged — \d+ distinct units/);
    expect(snapshot(mirror)).toEqual(before);
    writable(mirror);
  });
});
