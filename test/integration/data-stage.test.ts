// `dedup-lab data stage` on a read-only source tree (the NAS case): every archive format
// is copied to scratch, verified, unpacked as a stream and cut into exactly the expected
// distinct units; the source tree stays byte-identical (listing, modes, mtimes, ctimes,
// sha256 — tests run as root, so chmod alone would prove nothing); the scratch work dir is
// empty after success, after failure and after Ctrl-C; bad input exits 2 with one line.
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, cliAsync } from "../helpers/cli.js";
import { book, eventLines, gz, listTree, randomBytesSeeded, readOnly, sha256, snapshot, tarBz2, tiffLike, tmp, writable, writeManifest, zip } from "./data-fixtures.js";

/** Units staged for a payload, in order, as sha256 hex. */
function stagedUnits(scratch: string, payload: string): { shas: string[]; index: Record<string, unknown>; bin: Buffer } {
  const dir = join(scratch, "staged", payload);
  const idx = readFileSync(join(dir, "units.idx"));
  const bin = readFileSync(join(dir, "units.bin"));
  const shas: string[] = [];
  for (let off = 0; off < idx.length; off += 48) {
    const [o, l] = [idx.readDoubleLE(off), idx.readDoubleLE(off + 8)];
    const unit = bin.subarray(o, o + l);
    expect(sha256(unit)).toBe(idx.subarray(off + 16, off + 48).toString("hex"));
    shas.push(sha256(unit));
  }
  return { shas, index: JSON.parse(readFileSync(join(dir, "index.json"), "utf8")), bin };
}

/** First occurrences only, in order. */
const distinct = (units: Buffer[]) => [...new Set(units.map((u) => sha256(u)))];

/** Independent reference cuts (naive, whole-buffer). */
function fixedPieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + size <= data.length; off += size) out.push(data.subarray(off, off + size));
  return out;
}
function packedLines(data: Buffer, target: number): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 10) (lines.push(data.subarray(start, i + 1)), (start = i + 1));
  if (start < data.length) lines.push(data.subarray(start));
  const out: Buffer[] = [];
  let cur: Buffer[] = [];
  let len = 0;
  for (const l of lines) {
    if (len + l.length > target && cur.length) (out.push(Buffer.concat(cur)), (cur = []), (len = 0));
    cur.push(l);
    len += l.length;
    if (len > target) (out.push(Buffer.concat(cur)), (cur = []), (len = 0));
  }
  if (cur.length) out.push(Buffer.concat(cur));
  return out;
}

const base = tmp();
const root = join(base, "nas");
const manifests = join(base, "manifests");
const files: Record<string, Buffer> = {};
const csv = Buffer.from(Array.from({ length: 2000 }, (_, i) => `${i},${(i * 7919) % 10007},${i % 50 === 0 ? "0,0,0" : `${i * 31},${i * 17},${i * 3}`}\n`).join(""));
const sqliteLike = Buffer.concat([randomBytesSeeded(4096 * 5, "p1"), Buffer.alloc(4096 * 3), randomBytesSeeded(4096 * 4, "p2"), Buffer.alloc(4096 * 2), randomBytesSeeded(1000, "tail")]);
const events = eventLines(400, 10);

function put(rel: string, data: Buffer | string): Buffer {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), buf);
  files[rel] = buf;
  return buf;
}

function expectUsage(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("dedup-lab:"));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).toMatch(/ — /);
}

/** The work area of a scratch dir holds nothing after any command. */
function expectNoWork(scratch: string): void {
  if (existsSync(join(scratch, "work"))) expect(listTree(join(scratch, "work"))).toEqual([]);
}

let before: string[];

beforeAll(() => {
  put("books/pride.txt", book("pride", 20, 40));
  put("gharchive/hour.json.gz", gz(events.join("\n") + "\n"));
  put("bankdataset.xlsx.zip", zip([{ name: "README.txt", data: Buffer.from("not a unit\n") }, { name: "bank/transactions.csv", data: csv }]));
  put("million_post_corpus.tar.bz2", tarBz2({ "million_post_corpus/corpus.sqlite3": sqliteLike, "million_post_corpus/README": "readme\n" }));
  put("nasa/udf.tif", tiffLike(90, 4096));
  const sha = (rel: string) => sha256(files[rel]!);
  writeManifest(manifests, "t_books", "t_books", [{ id: "pride", path: "books/pride.txt", archive: "none", sha256: sha("books/pride.txt"), expected_size: files["books/pride.txt"]!.length, size_exact: true }], { mode: "lines", target: "4KiB" });
  writeManifest(manifests, "t_events", "t_events", [{ id: "hour", path: "gharchive/hour.json.gz", archive: "gz" }], { mode: "json", objects: 1 });
  writeManifest(manifests, "t_bank", "t_bank", [{ id: "bank", path: "bankdataset.xlsx.zip", archive: "zip", members: ["**/*.csv"], sha256: sha("bankdataset.xlsx.zip") }], { mode: "lines", target: 1024 });
  writeManifest(manifests, "t_corpus", "t_corpus", [{ id: "corpus", path: "million_post_corpus.tar.bz2", archive: "tar.bz2", members: ["**/corpus.sqlite3"] }], { mode: "frame", size: 4096 });
  writeManifest(manifests, "t_image", "t_image", [{ id: "udf", path: "nasa/udf.tif", archive: "none", sha256: sha("nasa/udf.tif") }], { mode: "fixed", size: "4KiB", tail: "drop" });
  readOnly(root);
  before = snapshot(root);
});

afterAll(() => {
  // The tree must be unchanged after everything this file did to it.
  expect(snapshot(root)).toEqual(before);
  writable(root);
});

describe("data stage from a read-only source tree", () => {
  it("stages zip, tar.bz2, gz and plain files into exactly the expected distinct units", () => {
    const scratch = join(tmp(), "scratch");
    // Every open/change of a path is logged by a preloaded hook: sources may only be opened read-only.
    const fsLog = join(tmp(), "fs.log");
    const r = cli(["data", "stage", "t_books", "t_events", "t_bank", "t_corpus", "t_image", "--root", root, "--scratch", scratch, "--manifests", manifests], {
      env: { NODE_OPTIONS: `--require ${join(import.meta.dirname, "data-fs-hook.cjs")}`, DEDUP_FS_LOG: fsLog },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(snapshot(root)).toEqual(before);
    expectNoWork(scratch);
    const touched = readFileSync(fsLog, "utf8").split("\n").filter((l) => l.split("\t")[1]?.startsWith(root + "/") || l.split("\t")[1] === root);
    expect(touched.sort()).toEqual(Object.keys(files).map((rel) => `open\t${join(root, rel)}\tr`).sort());

    // Plain text, lines packed up to 4 KiB.
    const b = stagedUnits(scratch, "t_books");
    expect(b.shas).toEqual(distinct(packedLines(files["books/pride.txt"]!, 4096)));
    expect(b.bin.length).toBe(files["books/pride.txt"]!.length); // no repeats in this book
    // gz JSON lines: one event per unit; every 10th event repeated its predecessor and is dropped.
    const e = stagedUnits(scratch, "t_events");
    expect(e.shas).toEqual(distinct(events.map((l) => Buffer.from(l))));
    expect(e.shas).toHaveLength(400 - 39);
    expect(e.index).toMatchObject({ units: 361, duplicates_dropped: 39 });
    // zip: only the CSV member, lines up to 1 KiB; the README is not a unit.
    const z = stagedUnits(scratch, "t_bank");
    expect(z.shas).toEqual(distinct(packedLines(csv, 1024)));
    expect(z.bin.includes("not a unit")).toBe(false);
    expect((z.index.sources as { members: { name: string }[] }[])[0]!.members.map((m) => m.name)).toEqual(["bank/transactions.csv"]);
    // tar.bz2: 4 KiB frames of the database, the three zero pages become one unit, the 1000-byte tail is dropped.
    const c = stagedUnits(scratch, "t_corpus");
    expect(c.shas).toEqual(distinct(fixedPieces(sqliteLike, 4096)));
    expect(c.shas).toHaveLength(5 + 1 + 4);
    expect(c.index).toMatchObject({ units: 10, duplicates_dropped: 4, dropped_bytes: 1000 });
    // TIFF-like: fixed 4 KiB pieces; the black rows collapse into one unit.
    const t = stagedUnits(scratch, "t_image");
    expect(t.shas).toEqual(distinct(fixedPieces(files["nasa/udf.tif"]!, 4096)));
    expect(new Set(t.shas).size).toBe(t.shas.length);

    // Checksums: verified against the manifest, or recorded on first fetch.
    expect(r.stderr).toMatch(/t_books\/pride: sha256 [0-9a-f]{64} matches the manifest/);
    expect(r.stderr).toMatch(/t_events\/hour: sha256 [0-9a-f]{64} recorded \(first fetch/);
    const recorded = JSON.parse(readFileSync(join(scratch, "recorded", "t_events.json"), "utf8"));
    expect(recorded.hour.sha256).toBe(sha256(files["gharchive/hour.json.gz"]!));
    expect(r.stdout).toMatch(/t_corpus: payload t_corpus staged — 10 distinct units, .* 4 duplicate units dropped, 1000 B outside units/);

    // verify hashes in place (read-only) and matches both kinds; clean removes only scratch data.
    const v = cli(["data", "verify", "t_books", "t_events", "--root", root, "--scratch", scratch, "--manifests", manifests]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/t_events: OK — hour [0-9a-f]{64} \(recorded\)/);
    const clean = cli(["data", "clean", "t_books", "t_events", "t_bank", "t_corpus", "t_image", "--root", root, "--scratch", scratch, "--manifests", manifests]);
    expect(clean.status, clean.stderr).toBe(0);
    expect(listTree(join(scratch, "staged"))).toEqual([]);
    expect(snapshot(root)).toEqual(before);
  });

  it("a checksum mismatch stages nothing and leaves no work files", () => {
    const scratch = join(tmp(), "scratch");
    const bad = join(tmp(), "manifests");
    writeManifest(bad, "t_books", "t_books", [{ id: "pride", path: "books/pride.txt", archive: "none", sha256: "0".repeat(64) }], { mode: "lines", target: "4KiB" });
    const r = cli(["data", "stage", "t_books", "--root", root, "--scratch", scratch, "--manifests", bad]);
    expectUsage(r, /t_books\/pride: sha256 of .*pride.txt is [0-9a-f]{64}, the manifest says 0{64} — nothing staged/);
    expect(existsSync(join(scratch, "staged", "t_books"))).toBe(false);
    expectNoWork(scratch);
    expect(snapshot(root)).toEqual(before);
  });

  it("a changed source no longer matches the hash recorded on first fetch", () => {
    const own = join(tmp(), "own");
    mkdirSync(own);
    writeFileSync(join(own, "a.txt"), "first version\n".repeat(100));
    const m = join(tmp(), "manifests");
    writeManifest(m, "t_rec", "t_rec", [{ id: "a", path: "a.txt", archive: "none" }], { mode: "lines", lines: 10 });
    const scratch = join(tmp(), "scratch");
    const args = ["data", "stage", "t_rec", "--root", own, "--scratch", scratch, "--manifests", m];
    expect(cli(args).status).toBe(0);
    writeFileSync(join(own, "a.txt"), "second version\n".repeat(100));
    expectUsage(cli(args), /t_rec\/a: sha256 of .* but [0-9a-f]{64} was recorded on first fetch .* — nothing staged/);
    expect(stagedUnits(scratch, "t_rec").shas).toHaveLength(1); // the first staging is still there
    expect(cli(["data", "clean", "t_rec", "--records", "--scratch", scratch, "--manifests", m]).status).toBe(0);
    expect(cli(args).status).toBe(0);
  });
});

describe("data commands: bad input", () => {
  const run = (args: string[], scratch = join(tmp(), "scratch")) => ({ r: cli(["data", ...args, "--scratch", scratch]), scratch });

  it("an invalid manifest lists its problems with their paths", () => {
    const m = join(tmp(), "manifests");
    mkdirSync(m);
    writeFileSync(join(m, "t_bad.yaml"), "format: dedup-lab.data-manifest/1\nname: t_bad\ntitle: x\npayload: t_bad\ndescription: x\nlicence: x\nsources:\n  - id: a\n    path: a.zip\n    expected_size: null\n    sha256: nothex\n    verify: sha256\n    archive: rar\ncut: { mode: fixed, size: 4KiB }\n");
    const { r } = run(["stage", "t_bad", "--manifests", m, "--root", root]);
    expectUsage(r, /data-manifest .*t_bad.yaml is invalid: sources\[0\]\.sha256: 64 lower-case hex digits; sources\[0\]\.archive: unsupported archive "rar" \(supported: zip, tar.bz2, gz, none\)/);
    const list = cli(["data", "list", "--manifests", m]);
    expect(list.status).toBe(2);
    expect(list.stdout).toMatch(/INVALID: data-manifest .*t_bad.yaml is invalid/);
  });

  it("an unknown data set is named with the known ones", () => {
    expectUsage(run(["stage", "imdb", "--manifests", manifests, "--root", root]).r, /unknown data set "imdb" in .* — use one of: t_bank \(t_bank\)/);
  });

  it("a missing source path, and a path source without a data root", () => {
    const m = join(tmp(), "manifests");
    writeManifest(m, "t_missing", "t_missing", [{ id: "gone", path: "not/there.zip", archive: "zip" }], { mode: "fixed", size: 4096 });
    const { r, scratch } = run(["stage", "t_missing", "--manifests", m, "--root", root]);
    expectUsage(r, /t_missing\/gone: source .*nas\/not\/there.zip is missing — place the file there/);
    expect(existsSync(scratch)).toBe(false);
    expectUsage(cli(["data", "stage", "t_missing", "--manifests", m, "--scratch", scratch], { env: { DEDUP_DATA_ROOT: "" } }), /no data root is set — pass --root DIR/);
  });

  it("a file that is not the declared archive fails cleanly: exit 2, no work files, source untouched", () => {
    const m = join(tmp(), "manifests");
    writeManifest(m, "t_fakezip", "t_fakezip", [{ id: "x", path: "nasa/udf.tif", archive: "zip" }], { mode: "fixed", size: 4096 });
    writeManifest(m, "t_fakebz", "t_fakebz", [{ id: "x", path: "books/pride.txt", archive: "tar.bz2" }], { mode: "fixed", size: 4096 });
    writeManifest(m, "t_fakegz", "t_fakegz", [{ id: "x", path: "bankdataset.xlsx.zip", archive: "gz" }], { mode: "fixed", size: 4096 });
    for (const [name, what] of [["t_fakezip", "zip archive"], ["t_fakebz", "tar.bz2 archive"], ["t_fakegz", "gzip file"]]) {
      const { r, scratch } = run(["stage", name!, "--manifests", m, "--root", root]);
      expectUsage(r, new RegExp(`${name}/x: .* is not a valid ${what} \\(`));
      expectNoWork(scratch);
      expect(existsSync(join(scratch, "staged", name!))).toBe(false);
    }
    expect(snapshot(root)).toEqual(before);
  });

  it("too little disk space is refused before anything is written", () => {
    const big = join(tmp(), "big");
    mkdirSync(big);
    // A sparse file larger than the free space: it costs nothing, but copying it could not fit.
    const free = Number(statfsSync(big).bavail) * Number(statfsSync(big).bsize);
    writeFileSync(join(big, "huge.bin"), "");
    truncateSync(join(big, "huge.bin"), free * 2 + 1e9);
    const m = join(tmp(), "manifests");
    writeManifest(m, "t_huge", "t_huge", [{ id: "h", path: "huge.bin", archive: "none" }], { mode: "fixed", size: "1MiB" });
    const { r, scratch } = run(["stage", "t_huge", "--manifests", m, "--root", big]);
    expectUsage(r, /not enough disk space to stage t_huge: about .* needed \(copies \+ units\), .* free for .* — nothing written — free space, or pass --scratch DIR/);
    expect(existsSync(scratch)).toBe(false);
    rmSync(big, { recursive: true, force: true }); // no blocks, but a huge apparent size
  });

  it("a scratch directory inside the data root is refused", () => {
    expectUsage(run(["stage", "t_books", "--manifests", manifests, "--root", root], join(root, "scratch")).r, /scratch directory .* lies inside the data root .* — sources are read-only/);
    expectUsage(run(["stage", "t_books", "--manifests", manifests, "--root", root], base).r, /data root .* lies inside the scratch directory/);
  });

  it("a non-empty directory that is not a scratch dir is not adopted", () => {
    const other = tmp();
    writeFileSync(join(other, "precious.txt"), "keep");
    expectUsage(run(["stage", "t_books", "--manifests", manifests, "--root", root], other).r, /scratch directory .* is not empty and has no .dedup-lab-scratch marker/);
    expect(listTree(other)).toEqual(["precious.txt"]);
    expectUsage(cli(["data", "clean", "t_books", "--manifests", manifests, "--scratch", other]), /is not a dedup-lab scratch directory/);
    expect(listTree(other)).toEqual(["precious.txt"]);
  });
});

describe("Ctrl-C while staging", () => {
  it("stops, removes the work files, stages nothing and leaves the source as it was", async () => {
    const own = join(tmp(), "slow");
    mkdirSync(own);
    // bzip2 decoding in JavaScript is slow (about 1 MB/s): 3 MB of hex lines keep the cut busy
    // for seconds, and compress to more than one 900 kB block, so the decoder yields between blocks.
    const lines = randomBytesSeeded(1_500_000, "slow").toString("hex").replace(/(.{64})/g, "$1\n");
    writeFileSync(join(own, "slow.tar.bz2"), tarBz2({ "slow/data.txt": lines }));
    readOnly(own);
    const ownBefore = snapshot(own);
    const m = join(tmp(), "manifests");
    writeManifest(m, "t_slow", "t_slow", [{ id: "s", path: "slow.tar.bz2", archive: "tar.bz2" }], { mode: "lines", lines: 3 });
    const scratch = join(tmp(), "scratch");
    const child = cliAsync(["data", "stage", "t_slow", "--root", own, "--scratch", scratch, "--manifests", m]);
    let stderr = "";
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("cutting")) resolve();
      });
      child.on("exit", () => reject(new Error(`exited before cutting: ${stderr}`)));
    });
    // Mid-cut: the work dir exists right now.
    expect(listTree(join(scratch, "work")).length).toBeGreaterThan(0);
    child.kill("SIGINT");
    expect(await exit).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping, removing work files/);
    expect(stderr).toMatch(/interrupted: work files removed, nothing new staged/);
    expectNoWork(scratch);
    expect(existsSync(join(scratch, "staged", "t_slow"))).toBe(false);
    expect(snapshot(own)).toEqual(ownBefore);
    writable(own);
  });
});
