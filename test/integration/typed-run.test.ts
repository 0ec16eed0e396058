// Typed insertion end to end through the real runner (issue 14): an embedded system runs a matrix
// with insertion both × keys both at U0 and U90; the bundle holds blob and typed cells side by
// side, typed rows count the records held and natural-key collisions (equal to the manifest's
// duplicate count), and the summary and EDR table keep blob and typed apart.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { edrTable } from "../../lib/analysis/edr.js";
import { loadFrames, rowsOf } from "../../lib/analysis/frames.js";
import { formatSummary, summaryLines } from "../../lib/analysis/summary.js";
import { thesisFigures } from "../../lib/analysis/thesis.js";
import { Dataset } from "../../lib/generators/dataset.js";
import { tableRows } from "../../lib/results/arrow-io.js";
import { loadBundles } from "../../lib/results/bundle.js";
import type { ResultRow } from "../../lib/results/schema.js";
import { loadAndResolve } from "../../lib/runner/config.js";
import { expandMatrix } from "../../lib/runner/matrix.js";
import { runMatrix } from "../../lib/runner/run.js";
import { systemDefinition } from "../../lib/systems/registry.js";

// SQLite and DuckDB reject a colliding natural key, the directory replaces it (file rewrite): both derivations run.
const SYSTEMS = (process.env.DEDUP_LAB_TYPED_RUN_SYSTEMS ?? "sqlite,duckdb,directory").split(",");
const UNITS = 60;
const root = mkdtempSync(join(tmpdir(), "dedup-lab-typed-run-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.each(SYSTEMS)("a typed run on %s (insertion both, keys both)", (SYSTEM) => {
  it("runs blob and typed cells side by side; natural keys count exactly the manifest's duplicates", async () => {
    const cfg = await loadAndResolve({
      matrix: {
        systems: [SYSTEM], payloads: ["structured_json", "random_binary"], grades: ["U0", "U90"], insertion: "both", keys: "both",
        stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
      },
      dataset: { units: UNITS, unitSize: "1KiB" },
      workDir: root,
    });
    const collision = systemDefinition(SYSTEM).capabilities.typed?.collision;
    expect(collision, `${SYSTEM} declares capabilities.typed`).toBeDefined();
    const cells = expandMatrix(cfg, "t");
    // 2 payloads × 2 grades × (blob + typed·surrogate + typed·natural); blob ids as before typed insertion.
    expect(cells.length).toBe(12);
    expect(cells.filter((c) => c.insertion === "blob").map((c) => c.id)).toContain(`${SYSTEM}.${cells[0]!.variant}.structured_json.U90.file.within.r1`);
    expect(cells.filter((c) => c.insertion === "typed").map((c) => c.id)).toContain(`${SYSTEM}.${cells[0]!.variant}.structured_json.U90.file.within.typed-natural.r1`);

    const dir = join(root, `bundle-${SYSTEM}`);
    const r = await runMatrix(cfg, { dir });
    expect(r.failed).toBe(0);
    expect(r.done).toBe(12);
    const rows = tableRows<ResultRow>((await loadBundles([dir])).results);
    expect(rows.filter((x) => x.metric === "error")).toEqual([]);
    expect(new Set(rows.map((x) => `${x.insertion}/${x.keys}`))).toEqual(new Set(["blob/", "typed/surrogate", "typed/natural"]));
    // Blob cells carry no record rows; typed cells no stage marked not implemented.
    expect(rows.filter((x) => x.insertion === "blob" && /records|duplicates/.test(x.metric))).toEqual([]);
    expect(rows.filter((x) => x.insertion === "typed" && x.metric === "stage_status")).toEqual([]);

    for (const cell of cells.filter((c) => c.insertion === "typed")) {
      const ds = new Dataset(cell.dataset);
      const dups = ds.totals.duplicate_items;
      const distinct = UNITS - dups;
      ds.close();
      expect(dups).toBe(cell.fraction === 0 ? 0 : Math.round(UNITS * 0.9));
      const of = (stage: string, metric: string) => {
        const m = rows.filter((x) => x.cell_id === cell.id && x.stage === stage && x.metric === metric);
        expect(m, `${cell.id} ${stage} ${metric}`).toHaveLength(1);
        expect(m[0]!.valid, `${cell.id} ${stage} ${metric}: ${m[0]!.reason}`).toBe(true);
        return m[0]!.value;
      };
      expect(of("dataset", "duplicate_records")).toBe(dups);
      const collides = cell.keys === "natural" && collision !== "kept";
      for (const stage of ["bulk_insert", "perfile_insert"]) {
        expect(of(stage, "records_stored"), `${cell.id} ${stage}`).toBe(collides ? distinct : UNITS);
        const kind = collision === "replaced" ? "replaced_duplicates" : "rejected_duplicates";
        const other = kind === "replaced_duplicates" ? "rejected_duplicates" : "replaced_duplicates";
        expect(of(stage, kind), `${cell.id} ${stage} ${kind}`).toBe(collides ? dups : 0);
        expect(of(stage, other)).toBe(0);
      }
      // The delete stage removes every record held; maintenance finds none left to replace.
      expect(of("perfile_delete", "records_deleted")).toBe(collides ? distinct : UNITS);
      expect(of("perfile_delete", "records_stored")).toBe(0);
      expect(of("maintenance", "records_stored")).toBe(0);
    }

    // L0 of a typed cell is the records' bytes, not the blob's.
    const l0 = (insertion: string, payload: string) =>
      rows.find((x) => x.insertion === insertion && x.payload === payload && x.grade === "U0" && x.stage === "dataset" && x.metric === "logical_bytes")!.value;
    expect(l0("typed", "structured_json")).not.toBe(l0("blob", "structured_json"));

    // Analysis keeps them apart: one summary line and one EDR row per insertion·keys.
    const frames = await loadFrames([dir]);
    const lines = summaryLines(frames).filter((l) => l.payload === "structured_json" && l.grade === "U90" && l.stage === "bulk_insert");
    expect(lines.map((l) => l.insertion).sort()).toEqual(["blob", "typed·natural", "typed·surrogate"]);
    const natural = lines.find((l) => l.insertion === "typed·natural")!;
    expect(collision === "replaced" ? natural.replaced_duplicates : natural.rejected_duplicates).toBe(collision === "kept" ? 0 : 54);
    expect(natural.records_stored).toBe(collision === "kept" ? UNITS : 6);
    const text = formatSummary(summaryLines(frames));
    expect(text).toMatch(/insertion/);
    expect(text).toMatch(/typed·natural/);
    expect(text).toMatch(/records \(dups\)/);
    const edr = rowsOf<{ insertion: string; keys: string; payload: string; grade: string; stage: string; metric: string }>(edrTable(frames.results))
      .filter((x) => x.payload === "structured_json" && x.grade === "U90" && x.stage === "bulk_insert" && x.metric === "edr_cluster");
    expect(edr.map((x) => `${x.insertion}/${x.keys}`).sort()).toEqual(["blob/", "typed/natural", "typed/surrogate"]);
    // Figures: one legend entry per insertion·keys series.
    const edrFig = thesisFigures(frames).figures.find((f) => f.name === "edr-cluster-structured_json")!;
    const legend = JSON.stringify(edrFig);
    for (const label of [`${SYSTEM} · blob`, `${SYSTEM} · typed·surrogate`, `${SYSTEM} · typed·natural`]) expect(legend).toContain(label);
  }, 600_000);
});
