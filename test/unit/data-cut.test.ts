// Cutting sources into units: exact boundaries per cut mode, independent of how the bytes
// arrive in chunks; duplicates dropped at staging so every staged unit is distinct.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../lib/errors.js";
import { cutBuffer } from "../../lib/data/cut.js";
import type { CutSpec } from "../../lib/data/manifest.js";
import { globToRegExp } from "../../lib/data/members.js";
import { StagedUnits, StagedWriter, INDEX_RECORD_BYTES } from "../../lib/data/staged.js";
import { randomBytesSeeded, tmp } from "../integration/data-fixtures.js";

const text = (units: Buffer[]) => units.map((u) => u.toString("latin1"));
const CHUNKS = [1, 2, 3, 7, 64, 4096, 1 << 20];

/** The cut must not depend on chunking: every chunk size gives the same units. */
function cutAll(cut: CutSpec, data: Buffer | string): { units: string[]; dropped: number } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, "latin1");
  const first = cutBuffer(cut, buf, CHUNKS[0]);
  for (const c of CHUNKS.slice(1)) {
    const again = cutBuffer(cut, buf, c);
    expect(text(again.units), `chunk size ${c}`).toEqual(text(first.units));
    expect(again.dropped, `chunk size ${c}`).toBe(first.dropped);
  }
  return { units: text(first.units), dropped: first.dropped };
}

describe("fixed and frame cuts", () => {
  it("fixed: consecutive pieces, the short tail dropped or kept", () => {
    expect(cutAll({ mode: "fixed", size: 4, tail: "drop" }, "0123456789")).toEqual({ units: ["0123", "4567"], dropped: 2 });
    expect(cutAll({ mode: "fixed", size: 4, tail: "keep" }, "0123456789")).toEqual({ units: ["0123", "4567", "89"], dropped: 0 });
    expect(cutAll({ mode: "fixed", size: 5, tail: "drop" }, "0123456789")).toEqual({ units: ["01234", "56789"], dropped: 0 });
    expect(cutAll({ mode: "fixed", size: 4, tail: "drop" }, "")).toEqual({ units: [], dropped: 0 });
  });

  it("fixed: sizes as text, boundaries at every multiple of the size", () => {
    const data = randomBytesSeeded(10 * 1024 + 100, "fixed");
    const { units, dropped } = cutAll({ mode: "fixed", size: "1KiB", tail: "drop" }, data);
    expect(units).toHaveLength(10);
    expect(dropped).toBe(100);
    units.forEach((u, i) => expect(u).toBe(data.subarray(i * 1024, (i + 1) * 1024).toString("latin1")));
  });

  it("frame: skips the header, keeps only whole frames", () => {
    expect(cutAll({ mode: "frame", size: 3, header: 2 }, "HH012345678")).toEqual({ units: ["012", "345", "678"], dropped: 2 });
    expect(cutAll({ mode: "frame", size: 3, header: 0 }, "0123456")).toEqual({ units: ["012", "345"], dropped: 1 });
    expect(cutAll({ mode: "frame", size: 3, header: 10 }, "HHHH")).toEqual({ units: [], dropped: 4 });
  });

  it("refuses sizes outside 1 B … 256 MiB", () => {
    expect(() => cutBuffer({ mode: "fixed", size: "512MiB", tail: "drop" }, Buffer.from("x"))).toThrow(UsageError);
  });
});

describe("line cuts", () => {
  const lines = "aa\nbbbb\nc\n\nddddddddd\ne";

  it("N lines per unit, terminators kept, a last line without terminator counts", () => {
    expect(cutAll({ mode: "lines", lines: 2 }, lines)).toEqual({ units: ["aa\nbbbb\n", "c\n\n", "ddddddddd\ne"], dropped: 0 });
    expect(cutAll({ mode: "lines", lines: 1 }, lines).units).toEqual(["aa\n", "bbbb\n", "c\n", "\n", "ddddddddd\n", "e"]);
    expect(cutAll({ mode: "lines", lines: 10 }, lines).units).toEqual([lines]);
  });

  it("target: whole lines packed up to the target, a longer line alone, never split", () => {
    expect(cutAll({ mode: "lines", target: 8 }, lines).units).toEqual(["aa\nbbbb\n", "c\n\n", "ddddddddd\n", "e"]);
    expect(cutAll({ mode: "lines", target: 3 }, lines).units).toEqual(["aa\n", "bbbb\n", "c\n\n", "ddddddddd\n", "e"]);
    expect(cutAll({ mode: "lines", target: 100 }, lines).units).toEqual([lines]);
  });

  it("CRLF text: units end after \\n, so \\r stays with its line", () => {
    const crlf = "one\r\ntwo\r\nthree\r\n";
    expect(cutAll({ mode: "lines", target: 10 }, crlf).units).toEqual(["one\r\ntwo\r\n", "three\r\n"]);
  });

  it("units are the input, in order, without gaps", () => {
    const data = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(i % 37)}\n`).join("");
    for (const cut of [{ mode: "lines", target: 333 }, { mode: "lines", lines: 7 }] as CutSpec[]) {
      const { units, dropped } = cutAll(cut, data);
      expect(units.join("")).toBe(data);
      expect(dropped).toBe(0);
      for (const u of units) expect(u.endsWith("\n")).toBe(true);
      if ("target" in cut) for (const u of units) expect(u.length).toBeLessThanOrEqual(333);
    }
  });
});

describe("JSON cuts", () => {
  const nd = '{"a":1}\n{"b":[2,3]}\n\n{"c":"}"}\n';
  const arr = ' [ {"a":1,"b":"x}\\"]"} , {"c":[1,2,{"d":"\\\\"}]}, 42, "s\\"]", null ]  ';

  it("one value per unit from JSON lines; separators belong to no unit", () => {
    const { units, dropped } = cutAll({ mode: "json", objects: 1 }, nd);
    expect(units).toEqual(['{"a":1}', '{"b":[2,3]}', '{"c":"}"}']);
    expect(dropped).toBe(4);
    for (const u of units) expect(() => JSON.parse(u)).not.toThrow();
  });

  it("the elements of one top-level array, strings with brackets and escapes handled", () => {
    const { units } = cutAll({ mode: "json", objects: 1 }, arr);
    expect(units).toEqual(['{"a":1,"b":"x}\\"]"}', '{"c":[1,2,{"d":"\\\\"}]}', "42", '"s\\"]"', "null"]);
    for (const u of units) expect(() => JSON.parse(u)).not.toThrow();
  });

  it("N values per unit span from the first value's first byte to the last value's last byte", () => {
    expect(cutAll({ mode: "json", objects: 2 }, nd).units).toEqual(['{"a":1}\n{"b":[2,3]}', '{"c":"}"}']);
  });

  it("target packs whole values", () => {
    expect(cutAll({ mode: "json", target: 20 }, nd).units).toEqual(['{"a":1}\n{"b":[2,3]}', '{"c":"}"}']);
    expect(cutAll({ mode: "json", target: 5 }, nd).units).toEqual(['{"a":1}', '{"b":[2,3]}', '{"c":"}"}']);
  });

  it("broken JSON is an error naming the byte", () => {
    expect(() => cutBuffer({ mode: "json" }, Buffer.from('{"a":[1}'))).toThrow(/not valid JSON at byte 7 \(mismatched bracket\)/);
    expect(() => cutBuffer({ mode: "json" }, Buffer.from('{"a":[1]'))).toThrow(/ends inside a value/);
    expect(() => cutBuffer({ mode: "json" }, Buffer.from("[1,2"))).toThrow(/top-level array is not closed/);
    expect(() => cutBuffer({ mode: "json" }, Buffer.from("[1] 2"))).toThrow(/after the closing/);
  });
});

describe("member selection", () => {
  it("globs: * within a segment, ** across, **/ also matches the top level", () => {
    expect(globToRegExp("*.csv").test("a.csv")).toBe(true);
    expect(globToRegExp("*.csv").test("dir/a.csv")).toBe(false);
    expect(globToRegExp("**/*.csv").test("a.csv")).toBe(true);
    expect(globToRegExp("**/*.csv").test("x/y/a.csv")).toBe(true);
    expect(globToRegExp("**/corpus.sqlite3").test("million_post_corpus/corpus.sqlite3")).toBe(true);
    expect(globToRegExp("data?.bin").test("data1.bin")).toBe(true);
    expect(globToRegExp("a.b").test("axb")).toBe(false);
  });
});

describe("staged units", () => {
  it("keep the first of identical units, record offsets, lengths and digests, read back exactly", () => {
    const dir = join(tmp(), "staged");
    mkdirSync(dir);
    const w = new StagedWriter(dir);
    const inputs = ["alpha", "beta", "alpha", "", "gamma", "beta"].map((s) => Buffer.from(s));
    expect(inputs.map((u) => w.add(u))).toEqual([true, true, false, false, true, false]);
    const index = w.finish({ manifest: "m", payload: "p", title: "t", cut: { mode: "lines", lines: 1 }, sources: [], dropped_bytes: 0 });
    expect(index).toMatchObject({ units: 3, bytes: 14, duplicates_dropped: 2, duplicate_bytes_dropped: 9, min_unit: 4, max_unit: 5 });
    expect(readFileSync(join(dir, "units.bin"), "latin1")).toBe("alphabetagamma");
    expect(index.units_sha256).toBe(createHash("sha256").update("alphabetagamma").digest("hex"));
    const idx = readFileSync(join(dir, "units.idx"));
    expect(idx.length).toBe(3 * INDEX_RECORD_BYTES);
    expect([0, 1, 2].map((i) => [idx.readDoubleLE(i * 48), idx.readDoubleLE(i * 48 + 8)])).toEqual([[0, 5], [5, 4], [9, 5]]);
    expect(idx.subarray(16, 48).toString("hex")).toBe(createHash("sha256").update("alpha").digest("hex"));

    const units = StagedUnits.open(dir, "p");
    expect(units.count).toBe(3);
    const out = Buffer.alloc(units.sizeOf(2));
    units.read(2, out);
    expect(out.toString()).toBe("gamma");
    expect(() => units.read(1, Buffer.alloc(3))).toThrow(RangeError);
    expect(() => units.read(3, Buffer.alloc(5))).toThrow(RangeError);
    units.close();
  });

  it("distinct blocks: the staged stream in block-size pieces, repeats and the tail left out, cached", () => {
    const dir = join(tmp(), "staged");
    mkdirSync(dir);
    const w = new StagedWriter(dir);
    const a = randomBytesSeeded(512, "a");
    const b = randomBytesSeeded(512, "b");
    // One unit whose 512-byte blocks are a, b, a, b, a plus a 100-byte tail.
    w.add(Buffer.concat([a, b, a, b, a, randomBytesSeeded(100, "tail")]));
    w.finish({ manifest: "m", payload: "p", title: "t", cut: { mode: "fixed", size: 2660, tail: "keep" }, sources: [], dropped_bytes: 0 });
    const units = StagedUnits.open(dir, "p");
    expect(Array.from(units.distinctBlocks(512))).toEqual([0, 512]);
    expect(readFileSync(join(dir, "blocks-512.idx")).length).toBe(16);
    expect(Array.from(units.distinctBlocks(512))).toEqual([0, 512]); // from the cache
    expect(units.distinctBlocks(1024).length).toBe(1); // [a b] twice
    units.close();
  });

  it("an unstaged payload says how to stage it", () => {
    expect(() => StagedUnits.open(join(tmp(), "none"), "gutenberg_text")).toThrow(/payload gutenberg_text is not staged .* — run `dedup-lab data stage gutenberg_text`/);
  });
});
