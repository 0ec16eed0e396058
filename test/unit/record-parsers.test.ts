// Parsers of the real data formats into typed records, on small fixtures in those formats made
// here: every record comes out with the right values (binary intact, nothing dropped), and a
// file in another format is a one-line error naming the file and the expected format.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import ExcelJS from "exceljs";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FORMAT_NAMES,
  GHARCHIVE_SCHEMA,
  openCsv,
  openForumPosts,
  openGhArchive,
  openGutenberg,
  openSqliteTable,
  openXlsx,
  readAllRecords,
  realRecordTotals,
  RECORD_PARSERS,
  sqliteTables,
  type ParsedRecords,
  type RecordFormat,
} from "../../lib/data/records.js";
import { RecordTotalsBuilder } from "../../lib/generators/records.js";
import { TempDirs } from "../helpers/bundles.js";

const temp = new TempDirs("dedup-lab-record-parsers-");
let dir: string;
const files: Record<RecordFormat, string> = { gharchive: "", gutenberg: "", xlsx: "", csv: "", sqlite: "" };

// ---- fixture contents -------------------------------------------------------------------------

const EVENTS = [
  {
    id: "2489651045",
    type: "CreateEvent",
    actor: { id: 665991, login: "petroav", gravatar_id: "", url: "https://api.github.com/users/petroav" },
    repo: { id: 28688495, name: "petroav/6.828", url: "https://api.github.com/repos/petroav/6.828" },
    payload: { ref: "master", ref_type: "branch", master_branch: "master", description: "Solution to homework and assignments", pusher_type: "user" },
    public: true,
    created_at: "2015-01-01T15:00:00Z",
  },
  {
    id: "2489651051",
    type: "PushEvent",
    actor: { id: 3854017, login: "rspt" },
    repo: { id: 28671719, name: "rspt/rspt-theme" },
    payload: { push_id: 536863970, size: 1, commits: [{ sha: "6b08", message: "Fix — main.js ✓", distinct: true }] },
    public: false,
    created_at: "2015-01-01T15:00:01Z",
    org: { id: 9285252, login: "visionmedia" },
  },
  { id: 2489651052, type: "WatchEvent", actor: { id: 1, login: "x" }, repo: { id: 2, name: "y/z" }, payload: { action: "started" }, public: true, created_at: "2015-01-01T15:00:01Z", extra_field: [1, 2] },
];

/** Paragraphs (as lines) of the book fixture; written with CRLF, a BOM and runs of blank lines. */
const PARAGRAPHS = [
  ["The Project Gutenberg eBook of Pride and Prejudice"],
  ["It is a truth universally acknowledged, that a single man in possession", "of a good fortune, must be in want of a wife."],
  ["  “My dear Mr. Bennet,” said his lady to him one day, “have you heard that", "Netherfield Park is let at last?”  "],
  ["Chapter 2 — ünïcödé 😀"],
];

const TX_HEADER = ["Date", "Domain", "Location", "Value", "Transaction_count", "Note"];
const TX_ROWS: (string | number | Date | null)[][] = [
  [new Date(Date.UTC(2022, 0, 1)), "RESTRAUNT", "Bhuj", 365554, 1932, null],
  [new Date(Date.UTC(2022, 0, 1, 13, 45, 10)), "INVESTMENTS", "Ludhiana", 847, 1721, "first"],
  [new Date(Date.UTC(2022, 0, 2)), "RETAIL", "Goa", 1259.75, 1573, "käse"],
];
const TX_ROWS_SHEET2: (string | number | Date | null)[][] = [[new Date(Date.UTC(2022, 5, 30, 23, 59, 59)), "RETAIL", "Goa", 99.5, 7, null]];

const POSTS = [
  { ID_Post: 3326, ID_Parent_Post: null, Headline: "Hallo", Body: "Erster Post", CreatedAt: "2015-06-01 18:28:40.930000", Score: 1.5, Attachment: Buffer.from([0, 255, 0, 1, 0x1f, 0x8b]) },
  { ID_Post: 2n ** 62n + 1n, ID_Parent_Post: 3326, Headline: null, Body: "", CreatedAt: "2015-06-01 19:00:00", Score: -2, Attachment: Buffer.alloc(0) },
  { ID_Post: 3328, ID_Parent_Post: 3326, Headline: "Hallo", Body: "Erster Post", CreatedAt: "2015-06-01 18:28:40.930000", Score: 0.25, Attachment: Buffer.from("binär", "utf8") },
];

const CSV_TEXT = 'id,value,ratio,label\r\n1,42,0.5,"a, quoted"\r\n2,-7,1e3,plain\r\n3,9007199254740993,,\r\n';

beforeAll(async () => {
  dir = temp.make();
  files.gharchive = join(dir, "2015-01-01-15.json.gz");
  // two gzip members, as GH Archive's concatenated hours are: both must be read
  const lines = EVENTS.map((e) => JSON.stringify(e) + "\n");
  writeFileSync(files.gharchive, Buffer.concat([gzipSync(lines.slice(0, 2).join("")), gzipSync(lines.slice(2).join(""))]));

  files.gutenberg = join(dir, "pg1342.txt");
  writeFileSync(files.gutenberg, "\uFEFF\r\n" + PARAGRAPHS.map((p) => p.join("\r\n")).join("\r\n\r\n   \r\n\r\n") + "\r\n\r\n");

  files.xlsx = join(dir, "bankdataset.xlsx");
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet("Sheet1");
  ws.addRow(TX_HEADER);
  for (const r of TX_ROWS) ws.addRow(r);
  const ws2 = wb.addWorksheet("Sheet2");
  ws2.addRow(TX_HEADER);
  for (const r of TX_ROWS_SHEET2) ws2.addRow(r);
  wb.addWorksheet("Empty");
  await wb.xlsx.writeFile(files.xlsx);

  files.sqlite = join(dir, "corpus.sqlite3");
  const db = new Database(files.sqlite);
  db.exec("CREATE TABLE Posts (ID_Post INTEGER, ID_Parent_Post INTEGER, Headline TEXT, Body TEXT, CreatedAt TIMESTAMP, Score REAL, Attachment BLOB)");
  db.exec("CREATE TABLE Articles (ID_Article INTEGER PRIMARY KEY, Title TEXT)");
  db.prepare("INSERT INTO Articles VALUES (1, 'Eins')").run();
  const ins = db.prepare("INSERT INTO Posts VALUES (?, ?, ?, ?, ?, ?, ?)");
  for (const p of POSTS) ins.run(BigInt(p.ID_Post), p.ID_Parent_Post, p.Headline, p.Body, p.CreatedAt, p.Score, p.Attachment);
  db.close();

  files.csv = join(dir, "random-numbers.csv");
  writeFileSync(files.csv, CSV_TEXT);
});

afterAll(() => temp.removeAll());

const OPEN: Record<RecordFormat, (p: string) => Promise<ParsedRecords>> = {
  gharchive: openGhArchive,
  gutenberg: openGutenberg,
  xlsx: (p) => openXlsx(p),
  csv: (p) => openCsv(p),
  sqlite: (p) => openForumPosts(p),
};

describe("GH Archive events (.json.gz)", () => {
  it("gunzips every member and parses one record per event line, nothing dropped", async () => {
    const parsed = await openGhArchive(files.gharchive);
    expect(parsed.schema).toBe(GHARCHIVE_SCHEMA);
    const recs = await readAllRecords(parsed);
    expect(recs.length).toBe(EVENTS.length);
    recs.forEach((r, i) => {
      const e = EVENTS[i] as Record<string, unknown>;
      const known = new Set(GHARCHIVE_SCHEMA.fields.map((f) => f.name));
      const rest = Object.fromEntries(Object.entries(e).filter(([k]) => !known.has(k)));
      const j = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
      expect(r).toEqual([
        BigInt(e.id as string),
        e.type,
        j(e.actor),
        j(e.repo),
        j(e.org),
        j(e.payload),
        e.public,
        BigInt(Date.parse(e.created_at as string)) * 1000n,
        Object.keys(rest).length ? JSON.stringify(rest) : null,
      ]);
      // every key of the event is somewhere in the record
      const back = { ...JSON.parse((r[8] as string | null) ?? "{}") };
      for (const k of Object.keys(e)) expect(known.has(k) || k in back).toBe(true);
    });
  });

  it("a repeated event is a duplicate record in the totals; bytes equal a recount", async () => {
    const p = join(dir, "repeated.json.gz");
    const lines = [EVENTS[0], EVENTS[1], EVENTS[0], EVENTS[2], EVENTS[0]].map((e) => JSON.stringify(e)).join("\n");
    writeFileSync(p, gzipSync(lines + "\n"));
    const parsed = await openGhArchive(p);
    const recs = await readAllRecords(parsed);
    // independent recount: L0 bytes from the definition, distinct by the JSON of the values
    const bytesOf = (r: unknown[]) =>
      r.reduce<number>((s, v, k) => {
        const t = GHARCHIVE_SCHEMA.fields[k]!.type;
        if (v === null) return s;
        if (t === "int64" || t === "timestamp") return s + 8;
        if (t === "bool") return s + 1;
        return s + Buffer.byteLength(v as string);
      }, 0);
    const seen = new Set<string>();
    let unique = 0;
    for (const r of recs) {
      const k = JSON.stringify(r, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
      if (!seen.has(k)) (seen.add(k), (unique += bytesOf(r)));
    }
    const t = await realRecordTotals(parsed);
    expect([t.records, t.distinct_records, t.duplicate_records]).toEqual([recs.length, seen.size, recs.length - seen.size]);
    expect(t.duplicate_records).toBe(2);
    expect(t.logical_bytes).toBe(recs.reduce((s, r) => s + bytesOf(r), 0));
    expect(t.unique_logical_bytes).toBe(unique);
    expect(t.ideal_ratio).toBe(t.logical_bytes / unique);
  });

  it("a bad line is an error naming the file and the line", async () => {
    const p = join(dir, "bad.json.gz");
    writeFileSync(p, gzipSync(JSON.stringify(EVENTS[0]) + "\n{not json\n"));
    await expect(readAllRecords(await openGhArchive(p))).rejects.toThrow(new RegExp(`${p}.*line 2: not JSON`));
    const empty = join(dir, "empty.json.gz");
    writeFileSync(empty, gzipSync(""));
    await expect(readAllRecords(await openGhArchive(empty))).rejects.toThrow(/no events found/);
  });
});

describe("Gutenberg texts", () => {
  it("one record per paragraph, lines joined by \\n, text exact", async () => {
    const recs = await readAllRecords(await openGutenberg(files.gutenberg));
    expect(recs).toEqual(PARAGRAPHS.map((lines, i) => ["pg1342", BigInt(i), lines.join("\n")]));
  });

  it("invalid UTF-8 is an error, not replacement characters", async () => {
    const p = join(dir, "latin1.txt");
    writeFileSync(p, Buffer.concat([Buffer.from("ok line\n"), Buffer.from([0x4b, 0xe4, 0x73, 0x65, 0x0a])]));
    await expect(readAllRecords(await openGutenberg(p))).rejects.toThrow(new RegExp(`${p} is not a UTF-8 plain-text book: invalid UTF-8`));
  });
});

describe("bank transactions (.xlsx)", () => {
  it("header row → schema with inferred types; every row of every sheet is a record", async () => {
    const parsed = await openXlsx(files.xlsx);
    expect(parsed.schema.fields.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ["Date", "timestamp", false],
      ["Domain", "text", false],
      ["Location", "text", false],
      ["Value", "float64", false],
      ["Transaction_count", "int64", false],
      ["Note", "text", true],
    ]);
    const recs = await readAllRecords(parsed);
    const all = [...TX_ROWS, ...TX_ROWS_SHEET2];
    expect(recs.length).toBe(all.length);
    expect(recs).toEqual(all.map((r) => [BigInt((r[0] as Date).getTime()) * 1000n, r[1], r[2], r[3], BigInt(r[4] as number), r[5]]));
  });

  it("formula cells give their result, rich text its text, hyperlinks their text", async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet("S");
    ws.addRow(["a", "b", "c"]);
    ws.addRow([2, { formula: "A2*2", result: 4 }, { richText: [{ text: "fett", font: { bold: true } }, { text: " und normal" }] }]);
    ws.addRow([3, { formula: "A3*2", result: 6 }, { text: "link", hyperlink: "https://example.org/" }]);
    const p = join(dir, "cells.xlsx");
    await wb.xlsx.writeFile(p);
    const parsed = await openXlsx(p);
    expect(parsed.schema.fields.map((f) => f.type)).toEqual(["int64", "int64", "text"]);
    expect(await readAllRecords(parsed)).toEqual([
      [2n, 4n, "fett und normal"],
      [3n, 6n, "link"],
    ]);
  });

  it("a sheet with another header is an error, not dropped", async () => {
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet("A").addRows([["x", "y"], [1, 2]]);
    wb.addWorksheet("B").addRows([["x", "z"], [3, 4]]);
    const p = join(dir, "two-headers.xlsx");
    await wb.xlsx.writeFile(p);
    await expect(openXlsx(p)).rejects.toThrow(/sheet "B" has another header/);
  });
});

describe("forum posts dump (SQLite)", () => {
  it("reads the Posts table read-only: types from the values, int64 exact, binary intact", async () => {
    expect(await sqliteTables(files.sqlite)).toEqual(["Articles", "Posts"]);
    const parsed = await openForumPosts(files.sqlite);
    expect(parsed.schema.fields.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ["ID_Post", "int64", false],
      ["ID_Parent_Post", "int64", true],
      ["Headline", "text", true],
      ["Body", "text", false],
      ["CreatedAt", "text", false],
      ["Score", "float64", false],
      ["Attachment", "bytes", false],
    ]);
    const recs = await readAllRecords(parsed);
    expect(recs).toEqual(POSTS.map((p) => [BigInt(p.ID_Post), p.ID_Parent_Post === null ? null : BigInt(p.ID_Parent_Post), p.Headline, p.Body, p.CreatedAt, p.Score, p.Attachment]));
    expect(recs[1]![0]).toBe(2n ** 62n + 1n); // beyond 2^53: not rounded through a double
    // the two posts with equal text are still distinct records (different ids)
    const totals = RecordTotalsBuilder.distinct(parsed.schema);
    for (const r of recs) totals.add(r);
    expect(totals.totals().duplicate_records).toBe(0);
    expect((await readAllRecords(await openSqliteTable(files.sqlite, "Articles"))).length).toBe(1);
  });

  it("a missing table names the tables there are", async () => {
    await expect(openSqliteTable(files.sqlite, "Nope")).rejects.toThrow(/no table "Nope" \(tables: Articles, Posts\)/);
  });
});

describe("random numbers (CSV)", () => {
  it("header detected, types inferred, quoted fields kept, empty → null", async () => {
    const parsed = await openCsv(files.csv);
    expect(parsed.schema.fields.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ["id", "int64", false],
      ["value", "int64", false],
      ["ratio", "float64", true],
      ["label", "text", true],
    ]);
    const recs = await readAllRecords(parsed);
    expect(recs).toEqual([
      [1n, 42n, 0.5, "a, quoted"],
      [2n, -7n, 1000, "plain"],
      [3n, 9007199254740993n, null, null],
    ]);
  });

  it("a headerless numeric CSV names its columns c1…; a ragged row is an error naming the file", async () => {
    const p = join(dir, "plain.csv");
    writeFileSync(p, "1,2.5\n3,4\n");
    const parsed = await openCsv(p);
    expect(parsed.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ["c1", "int64"],
      ["c2", "float64"],
    ]);
    expect(await readAllRecords(parsed)).toEqual([
      [1n, 2.5],
      [3n, 4],
    ]);
    const ragged = join(dir, "ragged.csv");
    writeFileSync(ragged, "a,b\n1,2\n3\n");
    await expect(openCsv(ragged)).rejects.toThrow(new RegExp(`${ragged} is not a CSV text file`));
    const headerOnly = join(dir, "header-only.csv");
    writeFileSync(headerOnly, "a,b\n");
    await expect(openCsv(headerOnly)).rejects.toThrow(/no data rows found/);
  });
});

describe("sources and data sets", () => {
  it("every parser's payload is a real data set's payload in data-manifests/", () => {
    const manifests = resolve(new URL("../../data-manifests", import.meta.url).pathname);
    const payloads = readdirSync(manifests)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => (parseYaml(readFileSync(join(manifests, f), "utf8")) as { payload: string }).payload);
    for (const name of Object.keys(RECORD_PARSERS)) expect(payloads).toContain(name);
    expect(Object.keys(RECORD_PARSERS).length).toBe(5);
  });

  it("parsing leaves every source byte-identical", async () => {
    const hash = () => Object.values(files).map((f) => createHash("sha256").update(readFileSync(f)).digest("hex"));
    const before = hash();
    for (const f of Object.keys(files) as RecordFormat[]) await readAllRecords(await OPEN[f](files[f]));
    expect(hash()).toEqual(before);
  });
});

describe("a file in another format: one-line error naming the file and the expected format", () => {
  // Text formats can legitimately read each other (a CSV is also plain text), so those pairs are not wrong formats.
  const TEXT = new Set<RecordFormat>(["gutenberg", "csv"]);
  const formats = Object.keys(files) as RecordFormat[];
  for (const parser of formats) {
    for (const fixture of formats) {
      if (parser === fixture || (TEXT.has(parser) && TEXT.has(fixture))) continue;
      it(`${parser} parser on the ${fixture} fixture`, async () => {
        const path = files[fixture];
        const err = await (async () => {
          try {
            await readAllRecords(await OPEN[parser](path));
          } catch (e) {
            return e as Error;
          }
          return null;
        })();
        expect(err, "parsed without an error").not.toBeNull();
        expect(err!.message).not.toContain("\n");
        expect(err!.message).toContain(path);
        expect(err!.message).toContain(FORMAT_NAMES[parser]);
      });
    }
  }
});
