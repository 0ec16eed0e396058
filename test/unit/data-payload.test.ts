// Real payload types plug into the generator like synthetic ones: staged units are the
// uniques, the duplication planner makes the grades, the dataset manifest verifies.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { verifyDataset, writeDataset } from "../../lib/generators/manifest.js";
import { payloadType } from "../../lib/generators/payloads.js";
import { configureDataLocation, dataLocation } from "../../lib/data/location.js";
import { loadManifests } from "../../lib/data/manifest.js";
import { prepareRealPayloads, registerManifestPayloads, stagedProvenance } from "../../lib/data/payload.js";
import { dataContext, stageData } from "../../lib/data/stage.js";
import { resolveConfig } from "../../lib/runner/config.js";
import { eventLines, tmp, writeManifest } from "../integration/data-fixtures.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("a real payload type", () => {
  const base = tmp();
  const root = join(base, "root");
  const scratch = join(base, "scratch");
  const manifests = join(base, "manifests");
  const events = eventLines(300, 10); // every 10th line repeats the one before it
  const distinct = [...new Set(events)];

  beforeAll(async () => {
    mkdirSync(root);
    writeFileSync(join(root, "events.jsonl"), events.join("\n") + "\n");
    writeManifest(manifests, "test_events", "test_events", [{ id: "hour", path: "events.jsonl", archive: "none" }], { mode: "json", objects: 1 });
    configureDataLocation({ root, scratch, manifests });
    registerManifestPayloads(manifests);
    const [m] = loadManifests(manifests);
    await stageData(dataContext(dataLocation()), m!);
  });
  afterAll(() => configureDataLocation(undefined));

  const spec = (over: Record<string, unknown>) => DatasetSpecSchema.parse({ payload: "test_events", units: 100, size: { min: 4096, max: 4096 }, fraction: 0, ...over });

  it("is registered from its manifest, as kind real, with the staged data's provenance", () => {
    expect(payloadType("test_events").kind).toBe("real");
    const p = stagedProvenance(["test_events", "random_binary"]);
    expect(Object.keys(p)).toEqual(["test_events"]);
    expect(p.test_events).toMatchObject({ manifest: "test_events", units: distinct.length, duplicates_dropped: events.length - distinct.length });
    expect(p.test_events!.sources[0]!.sha256).toBe(createHash("sha256").update(events.join("\n") + "\n").digest("hex"));
    expect(p.test_events!.units_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("offers exactly the distinct staged units", () => {
    const source = payloadType("test_events").open({ seed: Buffer.alloc(32), size: { min: 1, max: 1 } });
    expect(source.available).toBe(distinct.length);
    const got = Array.from({ length: source.available }, (_, k) => {
      const out = Buffer.alloc(source.sizeOf(k));
      source.fill(k, out);
      return out.toString();
    });
    expect(got).toEqual(distinct);
    source.close?.();
  });

  it("U0 at file granularity: every unit distinct, sizes from the cut (not the requested size)", () => {
    const ds = new Dataset(spec({ units: 200 }));
    const hashes = Array.from({ length: ds.length }, (_, i) => sha(ds.payload(i)));
    expect(new Set(hashes).size).toBe(200);
    expect(ds.totals.unique_bytes).toBe(ds.totals.logical_bytes);
    expect(ds.sizeOf(0)).toBe(Buffer.byteLength(distinct[ds.groupOf(0)]!));
    ds.close();
  });

  it("U90 at file granularity: the planner's exact duplicate count, identical bytes per group", () => {
    const ds = new Dataset(spec({ units: 200, fraction: 0.9 }));
    expect(ds.totals.realized_fraction).toBe(0.9);
    const byGroup = new Map<number, string>();
    for (let i = 0; i < ds.length; i++) {
      const h = sha(ds.payload(i));
      const g = ds.groupOf(i);
      if (byGroup.has(g)) expect(byGroup.get(g)).toBe(h);
      byGroup.set(g, h);
    }
    expect(new Set(byGroup.values()).size).toBe(20);
    ds.close();
  });

  it("block granularity: units of the requested size made of distinct real blocks", () => {
    const ds = new Dataset(spec({ units: 4, size: { min: 2048, max: 2048 }, granularity: "block", blockSize: 512 }));
    const blocks = new Set<string>();
    for (let i = 0; i < ds.length; i++) {
      const p = ds.payload(i);
      expect(p.length).toBe(2048);
      expect(p.toString()).toMatch(/"type"|PushEvent|actor|payload|\{|\}/);
      for (let off = 0; off < p.length; off += 512) blocks.add(sha(p.subarray(off, off + 512)));
    }
    expect(blocks.size).toBe(16);
    ds.close();
  });

  it("a plan needing more uniques than the data has is refused up front", () => {
    expect(() => new Dataset(spec({ units: distinct.length + 1 }))).toThrow(/payload test_events has 271 distinct units, the plan needs 272/);
    expect(() => new Dataset(spec({ units: 100, size: { min: 512 * 1000, max: 512 * 1000 }, granularity: "block", blockSize: 512 }))).toThrow(/distinct 512-byte blocks, the plan needs 100000/);
  });

  it("writes a dataset that `datasets verify` accepts (file and block granularity)", async () => {
    for (const over of [{ units: 60, fraction: 0.5 }, { units: 8, fraction: 0.5, size: { min: 2048, max: 2048 }, granularity: "block", blockSize: 512 }]) {
      const dir = join(tmp(), "ds");
      await writeDataset(spec(over), dir);
      const v = await verifyDataset(dir);
      expect(v.problems).toEqual([]);
      expect(v.ok).toBe(true);
    }
  });

  it("the run config takes a data block and refuses a real payload that is not staged", () => {
    const cfg = resolveConfig({ matrix: { systems: ["sqlite"], payloads: ["test_events"] }, data: { scratch, manifests } });
    expect(cfg.payloads).toEqual(["test_events"]);
    expect(() => resolveConfig({ matrix: { systems: ["sqlite"], payloads: ["test_events"] }, data: { scratch: join(base, "empty"), manifests } })).toThrow(
      /payload test_events is not staged .* — run `dedup-lab data stage test_events`/,
    );
    expect(() => resolveConfig({ data: { scrach: "/x" } })).toThrow(/config data: Unrecognized key: "scrach"/);
    expect(() => prepareRealPayloads({ scratch, manifests: join(base, "nope") }, ["test_events"])).toThrow(/cannot read the data-manifest directory .*nope \(ENOENT\)/);
    configureDataLocation({ root, scratch, manifests });
  });
});
