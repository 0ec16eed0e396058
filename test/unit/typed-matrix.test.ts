// Typed insertion in the matrix (issue 14): config defaults and refusals, the CLI flags, cell ids
// (blob ids unchanged, typed ids distinct), the fingerprint, and the collision rows the runner
// derives from records written vs records held.
import * as aq from "arquero";
import { describe, expect, it } from "vitest";
import { frame, insertionLabel } from "../../lib/analysis/frames.js";
import { systemSeries } from "../../lib/analysis/slices.js";
import { UsageError } from "../../lib/errors.js";
import { overridesFrom } from "../../lib/cli/options.js";
import { loadAndResolve } from "../../lib/runner/config.js";
import { configFingerprint, expandMatrix, planCell } from "../../lib/runner/matrix.js";
import { formatPlan, planRun } from "../../lib/runner/plan.js";
import { CellRows, recordRecords, type TypedStageRecords } from "../../lib/runner/rows.js";
import { rowsToTable } from "../../lib/results/arrow-io.js";
import { RESULTS, type CellDims, type ResultRow } from "../../lib/results/schema.js";
import type { Stage } from "../../lib/systems/contract.js";
import { mainInProcess } from "../helpers/cli-in-process.js";

const base = { matrix: { systems: ["sqlite"], payloads: ["structured_json"], grades: ["U0", "U90"] }, dataset: { units: 20 } };
const resolve = (matrix: Record<string, unknown> = {}, overrides = {}) =>
  loadAndResolve({ ...base, matrix: { ...base.matrix, ...matrix } }, overrides);

async function usageError(p: Promise<unknown>): Promise<UsageError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(UsageError);
  return e as UsageError;
}

describe("config: insertion and keys", () => {
  it("default to blob and surrogate; both expands blob first, surrogate first", async () => {
    const d = await resolve();
    expect(d.insertions).toEqual(["blob"]);
    expect(d.keys).toEqual(["surrogate"]);
    const b = await resolve({ insertion: "both", keys: "both" });
    expect(b.insertions).toEqual(["blob", "typed"]);
    expect(b.keys).toEqual(["surrogate", "natural"]);
    expect(b.source.matrix.insertion).toBe("both"); // config.json keeps what --resume needs
    expect(b.source.matrix.keys).toBe("both");
  });

  it("flags override the file", async () => {
    const c = await resolve({ insertion: "blob" }, overridesFrom({ insertion: "typed", keys: "natural" }));
    expect(c.insertions).toEqual(["typed"]);
    expect(c.keys).toEqual(["natural"]);
  });

  it("refuses unknown values and typed block granularity in one line naming the fix, before anything runs", async () => {
    let e = await usageError(resolve({}, overridesFrom({ insertion: "records" })));
    expect(e.message).toBe('unknown insertion "records" — use blob, typed or both');
    e = await usageError(resolve({}, overridesFrom({ keys: "primary" })));
    expect(e.message).toBe('unknown keys "primary" — use surrogate, natural or both');
    e = await usageError(resolve({ insertion: "both", granularities: ["file", "block"] }));
    expect(e.message).toMatch(/typed insertion with block granularity.* — use granularities file/);
    e = await usageError(resolve({ insertion: "typo" }));
    expect(e.message.split("\n")).toHaveLength(1);
    // Blob cells of block granularity stay possible.
    expect((await resolve({ granularities: ["block"] }, { unitSize: "16KiB" })).granularities).toEqual(["block"]);
  });

  it("the CLI answers a bad --insertion or --keys with one line and exit 2", async () => {
    for (const argv of [["plan", "--insertion", "nope"], ["plan", "--keys", "nope"], ["run", "--dry-run", "--insertion", "typed", "--granularities", "block"]]) {
      const r = await mainInProcess(argv);
      expect(r.status, argv.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
    }
    const ok = await mainInProcess(["plan", "--systems", "sqlite", "--payloads", "uuid_keys", "--grades", "U90", "--units", "10", "--insertion", "both", "--keys", "both"]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/sqlite\.\S+\.uuid_keys\.U90\.file\.within\.r1\s+blob/);
    expect(ok.stdout).toMatch(/uuid_keys\.U90\.file\.within\.typed-surrogate\.r1\s+typed·surrogate/);
    expect(ok.stdout).toMatch(/uuid_keys\.U90\.file\.within\.typed-natural\.r1\s+typed·natural/);
  });
});

describe("matrix: typed cells", () => {
  it("blob cell ids, datasets and fingerprints are unchanged; typed cells get distinct ids", async () => {
    const blob = await resolve();
    const both = await resolve({ insertion: "both", keys: "both" });
    const blobCells = expandMatrix(blob, "r");
    const bothCells = expandMatrix(both, "r");
    expect(blobCells.map((c) => c.id)).toEqual(["sqlite.wal.structured_json.U0.file.within.r1", "sqlite.wal.structured_json.U90.file.within.r1"].map((id) => id.replace("wal", blobCells[0]!.variant)));
    expect(bothCells.filter((c) => c.insertion === "blob").map((c) => c.id)).toEqual(blobCells.map((c) => c.id));
    expect(bothCells.filter((c) => c.insertion === "blob").map((c) => c.key)).toEqual(blobCells.map((c) => c.key));
    expect(bothCells.filter((c) => c.insertion === "blob").map((c) => c.dataset)).toEqual(blobCells.map((c) => c.dataset));
    const typed = bothCells.filter((c) => c.insertion === "typed");
    expect(typed.map((c) => c.id.split(".").slice(-2).join("."))).toEqual(["typed-surrogate.r1", "typed-natural.r1", "typed-surrogate.r1", "typed-natural.r1"]);
    expect(new Set(bothCells.map((c) => c.id)).size).toBe(bothCells.length);
    expect(new Set(bothCells.map((c) => c.key)).size).toBe(bothCells.length);
    for (const c of typed) expect(c.dataset.insertion).toBe("typed");
    // keys only matter to typed cells: a blob-only matrix hashes as before, whatever keys says.
    const blobNatural = await resolve({ keys: "natural" });
    expect(configFingerprint(blobNatural)).toBe(configFingerprint(blob));
    expect(configFingerprint(both)).not.toBe(configFingerprint(blob));
    const typedS = await resolve({ insertion: "typed" });
    const typedN = await resolve({ insertion: "typed", keys: "natural" });
    expect(configFingerprint(typedS)).not.toBe(configFingerprint(typedN));
  });

  it("plans typed cells from the records' L0 bytes", async () => {
    const both = await resolve({ insertion: "both" });
    const plans = expandMatrix(both, "p").map((c) => planCell(c, both));
    const [blob, typed] = [plans.find((p) => p.cell.insertion === "blob" && p.cell.grade === "U90")!, plans.find((p) => p.cell.insertion === "typed" && p.cell.grade === "U90")!];
    expect(typed.logicalBytes).not.toBe(blob.logicalBytes);
    expect(typed.idealRatio).toBeGreaterThan(5); // 18 of 20 records are duplicates
    expect(formatPlan(planRun(both))).toMatch(/typed·surrogate/);
  });
});

const DIMS: CellDims = {
  run_id: "r", cell_id: "c", system: "s", variant: "v", payload: "structured_json", unit_size: "1024", n_units: 100, dup_fraction: 0.9,
  grade: "U90", granularity: "file", placement: "within", insertion: "typed", keys: "natural", cache_state: "warm", repeat: 1, storage_profile: "",
};

function derive(stage: Stage, r: Partial<TypedStageRecords>): Record<string, ResultRow> {
  const out = new CellRows(DIMS);
  recordRecords(out, stage, {
    collision: "rejected", keys: "natural", written: 100, before: { count: 0, reason: "" }, after: { count: 10, reason: "" }, ...r,
  });
  return Object.fromEntries(out.rows.map((x) => [x.metric, x]));
}

describe("rows: collisions derived from records written vs records held", () => {
  it("rejected: rejected_duplicates = written − change; replaced_duplicates 0", () => {
    const r = derive("bulk_insert", {});
    expect(r.records_stored!.value).toBe(10);
    expect(r.rejected_duplicates!.value).toBe(90);
    expect(r.replaced_duplicates!.value).toBe(0);
    expect(Object.values(r).every((x) => x.valid)).toBe(true);
  });

  it("replaced: replaced_duplicates = written − change; rejected_duplicates 0", () => {
    const r = derive("perfile_insert", { collision: "replaced" });
    expect(r.replaced_duplicates!.value).toBe(90);
    expect(r.rejected_duplicates!.value).toBe(0);
    expect(r.replaced_duplicates!.valid).toBe(true);
  });

  it("kept: both 0 and every record stays; a missing record there is a reason, never silence", () => {
    const ok = derive("bulk_insert", { collision: "kept", after: { count: 100, reason: "" } });
    expect([ok.rejected_duplicates!.value, ok.replaced_duplicates!.value, ok.records_stored!.value]).toEqual([0, 0, 100]);
    expect(ok.rejected_duplicates!.valid && ok.replaced_duplicates!.valid).toBe(true);
    const lost = derive("bulk_insert", { collision: "kept", after: { count: 97, reason: "" } });
    expect(lost.rejected_duplicates!.valid).toBe(false);
    expect(lost.rejected_duplicates!.reason).toMatch(/3 record\(s\) written but not held/);
  });

  it("surrogate keys never collide: a difference is invalid with its reason", () => {
    const ok = derive("bulk_insert", { keys: "surrogate", after: { count: 100, reason: "" } });
    expect(ok.rejected_duplicates!.value).toBe(0);
    expect(ok.rejected_duplicates!.valid).toBe(true);
    const bad = derive("bulk_insert", { keys: "surrogate", after: { count: 98, reason: "" } });
    expect(bad.rejected_duplicates!.value).toBe(2);
    expect(bad.rejected_duplicates!.valid).toBe(false);
    expect(bad.rejected_duplicates!.reason).toMatch(/surrogate keys never collide/);
  });

  it("maintenance: records gone are replacements where the system replaces (merges, compaction)", () => {
    const r = derive("maintenance", { collision: "replaced", written: 0, before: { count: 40, reason: "" }, after: { count: 10, reason: "" } });
    expect(r.replaced_duplicates!.value).toBe(30);
    expect(r.replaced_duplicates!.valid).toBe(true);
    const odd = derive("maintenance", { collision: "rejected", written: 0, before: { count: 40, reason: "" }, after: { count: 10, reason: "" } });
    expect(odd.rejected_duplicates!.valid).toBe(false);
    expect(odd.rejected_duplicates!.reason).toMatch(/does not replace/);
  });

  it("delete: records_deleted, no collision rows", () => {
    const r = derive("perfile_delete", { written: 0, before: { count: 10, reason: "" }, after: { count: 0, reason: "" } });
    expect(r.records_deleted!.value).toBe(10);
    expect(r.records_stored!.value).toBe(0);
    expect(r.rejected_duplicates).toBeUndefined();
  });

  it("a count the system cannot give: null with the reason, so the rows are invalid", () => {
    const r = derive("bulk_insert", { after: { count: null, reason: "x cannot count the records it holds" } });
    for (const m of ["records_stored", "rejected_duplicates", "replaced_duplicates"]) {
      expect(r[m]!.value, m).toBeNull();
      expect(r[m]!.valid, m).toBe(false);
      expect(r[m]!.reason, m).toMatch(/cannot count/);
    }
  });
});

describe("analysis: blob and typed series", () => {
  const row = (insertion: string | null, keys: string | null): Record<string, unknown> => ({ ...DIMS, insertion, keys, stage: "bulk_insert", metric: "x" });

  it("labels typed series and reads bundles without the columns as blob", () => {
    expect(insertionLabel("typed", "natural")).toBe("typed·natural");
    expect(insertionLabel("blob", "")).toBe("blob");
    expect(insertionLabel(undefined, undefined)).toBe("blob");
    const f = frame(aqTable([row("blob", ""), row("typed", "surrogate"), row("typed", "natural")]));
    expect(systemSeries(f).map((s) => s.label)).toEqual(["s · blob", "s · typed·surrogate", "s · typed·natural"]);
    // An old bundle: no insertion/keys columns → blob, and labels as before.
    const old = frame(aqTable([{ ...row(null, null), insertion: undefined, keys: undefined }], ["insertion", "keys"]));
    expect(old.array("insertion")).toEqual(["blob"]);
    expect(old.array("keys")).toEqual([""]);
    expect(systemSeries(old).map((s) => s.label)).toEqual(["s"]);
    // A cell file written before them (rows without the fields → nulls in the Arrow columns) reads the same.
    const { insertion: _i, keys: _k, ...oldRow } = { ...DIMS, timestamp: 0, stage: "bulk_insert", replica: "", layer: "", phase: "", metric: "x", value: 1, unit: "", valid: true, reason: "" };
    const nulls = frame(rowsToTable(RESULTS, [oldRow as ResultRow]));
    expect(nulls.array("insertion")).toEqual(["blob"]);
    expect(nulls.array("keys")).toEqual([""]);
  });
});

function aqTable(rows: Record<string, unknown>[], drop: string[] = []): ReturnType<typeof aq.from> {
  const cols = Object.keys(rows[0]!).filter((k) => !drop.includes(k));
  return aq.table(Object.fromEntries(cols.map((c) => [c, rows.map((r) => r[c])])));
}
