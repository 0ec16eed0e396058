import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { verifyDataset, writeDataset } from "../../lib/generators/manifest.js";
import { SYNTHETIC_PAYLOADS } from "../../lib/generators/payloads.js";
import { parseGrade, planDuplicates } from "../../lib/generators/plan.js";
import { Xoshiro128ss, fillKeystream, seedFrom } from "../../lib/generators/prng.js";
import { parseSizeSpec } from "../../lib/generators/sizes.js";
import { UsageError } from "../../lib/errors.js";

const spec = (over: Record<string, unknown> = {}) =>
  DatasetSpecSchema.parse({ payload: "random_binary", units: 200, size: { min: 4096, max: 4096 }, fraction: 0.9, ...over });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const tmp = () => mkdtempSync(join(tmpdir(), "dedup-lab-test-"));

describe("PRNG", () => {
  it("xoshiro128** matches the reference first output for state {1,2,3,4}", () => {
    const seed = Buffer.alloc(16);
    [1, 2, 3, 4].forEach((v, i) => seed.writeUInt32LE(v, i * 4));
    expect(new Xoshiro128ss(seed).next()).toBe(11520);
  });
  it("is identical across runs for the same labels (golden values)", () => {
    const s = seedFrom("golden", 1);
    expect(s.toString("hex")).toBe("b2789c6911a08316deb3ec60556544c4422b1ea2c7ac8e755c0444fc0b0afa0b");
    const r = new Xoshiro128ss(s);
    expect([r.next(), r.next(), r.next()]).toEqual([2442231928, 3841097543, 1637732090]);
    const b = Buffer.alloc(16);
    fillKeystream(b, s);
    expect(b.toString("hex")).toBe("d5acb7a3c2635e17633f9d3d021248df");
  });
  it("int(n) stays in range and covers it", () => {
    const r = new Xoshiro128ss(seedFrom("range"));
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const v = r.int(7);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(7);
      seen.add(v);
    }
    expect(seen.size).toBe(7);
  });
});

describe("duplication planner", () => {
  it.each([
    [500, 0.9, 50],
    [500, 0.5, 250],
    [500, 0, 500],
    [1000, 0.95, 50],
    [1000, 0.99, 10],
    [7, 0.5, 3], // round(3.5) = 4 duplicates
  ])("n=%i d=%f gives exactly %i uniques", (n, d, uniques) => {
    const plan = planDuplicates(n, d, "uniform", seedFrom("p"));
    expect(plan.uniques).toBe(uniques);
    expect(plan.duplicates).toBe(n - uniques);
    expect(plan.realizedFraction).toBe((n - uniques) / n);
    // every group appears, numbered by first appearance; originals precede their copies
    const first = new Map<number, number>();
    plan.group.forEach((g, i) => first.has(g) || first.set(g, i));
    expect(first.size).toBe(uniques);
    expect([...first.keys()]).toEqual([...Array(uniques).keys()]);
    let originals = 0;
    for (let i = 0; i < n; i++) if (plan.isOriginal(i)) originals++;
    expect(originals).toBe(uniques);
  });
  it("U90 of 500 is 90 % exactly (the original gave 90.2 %)", () => {
    expect(planDuplicates(500, parseGrade("U90"), "uniform", seedFrom("x")).realizedFraction).toBe(0.9);
  });
  it("round_robin gives equal group sizes", () => {
    const plan = planDuplicates(100, 0.9, "round_robin", seedFrom("rr"));
    const sizes = new Map<number, number>();
    plan.group.forEach((g) => sizes.set(g, (sizes.get(g) ?? 0) + 1));
    expect(new Set(sizes.values())).toEqual(new Set([10]));
  });
  it("refuses a grade that leaves no unique unit, naming the fix", () => {
    expect(() => planDuplicates(50, 0.99, "uniform", seedFrom("x"))).toThrow(/at least 100 units/);
  });
  it("parses presets, fractions and percentages; refuses values outside [0, 1)", () => {
    expect(parseGrade("U95")).toBe(0.95);
    expect(parseGrade("0.3")).toBe(0.3);
    expect(parseGrade("75%")).toBe(0.75);
    expect(() => parseGrade("1")).toThrow(UsageError);
    expect(() => parseGrade("-0.1")).toThrow(/outside \[0, 1\)/);
    expect(() => parseGrade("U42x")).toThrow(/unknown grade/);
  });
});

describe("datasets", () => {
  it.each(SYNTHETIC_PAYLOADS)("%s: units of one group are identical, different groups differ, content is reproducible", (payload) => {
    const ds = new Dataset(spec({ payload, units: 60, fraction: 0.5 }));
    const byGroup = new Map<number, string>();
    const groupOfHash = new Map<string, number>();
    for (const u of ds.units()) {
      const h = sha(u.payload);
      expect(u.payload.length).toBe(4096);
      expect(u.sha256.toString("hex")).toBe(h);
      if (byGroup.has(u.group)) expect(byGroup.get(u.group)).toBe(h);
      byGroup.set(u.group, h);
      if (groupOfHash.has(h)) expect(groupOfHash.get(h)).toBe(u.group);
      groupOfHash.set(h, u.group);
    }
    expect(byGroup.size).toBe(30);
    expect(ds.totals.unique_bytes).toBe(30 * 4096);
    expect(ds.totals.dedup_ratio).toBe(2);
    // regenerate one unit alone
    const again = new Dataset(spec({ payload, units: 60, fraction: 0.5 }));
    expect(sha(again.payload(37))).toBe(sha(ds.payload(37)));
  });
  it("structured payloads are valid JSON and compressible text is text", () => {
    const json = new Dataset(spec({ payload: "structured_json", units: 1, fraction: 0 })).payload(0);
    expect(Array.isArray(JSON.parse(json.toString("utf8")))).toBe(true);
    const text = new Dataset(spec({ payload: "text_document", units: 1, fraction: 0 })).payload(0).toString("latin1");
    expect(text).toMatch(/^[A-Z][a-z ]+/);
  });
  it("variable unit sizes stay within the range, duplicates keep their original's size", () => {
    const ds = new Dataset(spec({ size: parseSizeSpec("1KiB..8KiB"), units: 100 }));
    for (let i = 0; i < 100; i++) {
      expect(ds.sizeOf(i)).toBeGreaterThanOrEqual(1024);
      expect(ds.sizeOf(i)).toBeLessThanOrEqual(8192);
    }
    const sizeOfGroup = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      const g = ds.groupOf(i);
      if (sizeOfGroup.has(g)) expect(ds.sizeOf(i)).toBe(sizeOfGroup.get(g));
      sizeOfGroup.set(g, ds.sizeOf(i));
    }
  });
  it("block granularity: the declared fraction of blocks repeats earlier blocks", () => {
    const ds = new Dataset(spec({ granularity: "block", blockSize: 1024, units: 50, fraction: 0.75 }));
    const blocks = new Set<string>();
    let total = 0;
    for (const u of ds.units()) for (let o = 0; o < u.size; o += 1024, total++) blocks.add(sha(u.payload.subarray(o, o + 1024)));
    expect(total).toBe(200);
    expect(blocks.size).toBe(50);
    expect(ds.totals.unique_bytes).toBe(50 * 1024);
    expect(ds.totals.realized_fraction).toBe(0.75);
  });
  it("across placement spreads units over the containers; within keeps one", () => {
    const across = new Dataset(spec({ placement: "across", containers: 3, units: 30 }));
    expect(new Set([...across.units()].map((u) => u.container))).toEqual(new Set([0, 1, 2]));
    expect(across.containers).toBe(3);
    const within = new Dataset(spec({ units: 30 }));
    expect(new Set([...within.units()].map((u) => u.container))).toEqual(new Set([0]));
  });
  it("batches keep memory flat: no batch exceeds the byte budget by more than one unit", () => {
    const ds = new Dataset(spec({ units: 100 }));
    let n = 0;
    for (const b of ds.batches(16 * 1024)) {
      expect(b.reduce((a, u) => a + u.size, 0)).toBeLessThanOrEqual(16 * 1024);
      n += b.length;
    }
    expect(n).toBe(100);
  });
});

describe("manifest and verify", () => {
  it("generate → verify agrees exactly, for file and block granularity", async () => {
    for (const granularity of ["file", "block"] as const) {
      const dir = join(tmp(), "ds");
      const m = await writeDataset(spec({ granularity, units: 40 }), dir);
      expect(m.units).toHaveLength(40);
      expect(readdirSync(dir)).toHaveLength(41);
      const v = await verifyDataset(dir);
      expect(v.problems).toEqual([]);
      expect(v.ok).toBe(true);
      expect(v.realizedFraction).toBe(0.9);
      expect(v.uniqueBytes).toBe(m.totals.unique_bytes);
    }
  });
  it("a changed byte is found and the unit is named", async () => {
    const dir = join(tmp(), "ds");
    const m = await writeDataset(spec({ units: 20 }), dir);
    const victim = m.units[7]!;
    const bytes = Buffer.alloc(victim.size, 1);
    writeFileSync(join(dir, victim.file), bytes);
    const v = await verifyDataset(dir);
    expect(v.ok).toBe(false);
    expect(v.problems.join("\n")).toContain(`unit ${victim.id}: sha256`);
  });
  it("refuses to generate into a non-empty directory (no silent accumulation)", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "old.dat"), "x");
    await expect(writeDataset(spec(), dir)).rejects.toThrow(/not empty/);
    expect(readdirSync(dir)).toEqual(["old.dat"]);
  });
});
