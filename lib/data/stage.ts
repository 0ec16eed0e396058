// fetch / verify / stage / clean for one data set. Staging, step by step:
//   1. find every source (under the data root, else its URL) — missing ones fail here;
//   2. check free space in the scratch file system for the copies and the units;
//   3. copy local sources into a fresh work dir (hashing on the way) or download URLs;
//   4. compare every hash with the manifest (or the hash recorded on first fetch);
//   5. stream each member through the cutter into the staged writer (duplicates dropped);
//   6. move the finished units into <scratch>/staged/<payload> in one rename.
// The work dir is removed in every case — success, failure, Ctrl-C (see workDirs below).
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { UsageError } from "../errors.js";
import { formatBytes } from "../bytes.js";
import { checkChecksum, checkSize, type ChecksumStatus } from "./checksums.js";
import { makeCutter, type Cutter } from "./cut.js";
import { download, freeBytes } from "./fetch.js";
import { Scratch, assertSeparate, type DataLocation } from "./location.js";
import type { DataManifest, DataSource } from "./manifest.js";
import { readMembers } from "./members.js";
import { copyHashing, hashFile, localSourcePath, statLocalSource, type Hashed } from "./source.js";
import { StagedWriter, readStagedIndex, type StagedIndex, type StagedMember, type StagedSource } from "./staged.js";

export interface DataContext {
  loc: DataLocation;
  scratch: Scratch;
  signal?: AbortSignal;
  retries?: number;
  log: (line: string) => void;
  progress?: (label: string, bytes: number, total: number | null) => void;
}

export function dataContext(loc: DataLocation, rest: Omit<DataContext, "loc" | "scratch"> = { log: () => {} }): DataContext {
  assertSeparate(loc);
  return { loc, scratch: new Scratch(loc.scratch), ...rest };
}

type Origin = { kind: "local"; path: string; size: number } | { kind: "url"; url: string; dest: string };

/** Where the bytes of a source come from: its path under the data root if present there, else its URL. */
export function originOf(ctx: DataContext, m: DataManifest, s: DataSource): Origin {
  if (s.path) {
    if (ctx.loc.root) {
      const path = localSourcePath(ctx.loc.root, s);
      if (existsSync(path) || !s.url) return { kind: "local", ...statLocalSource(m, s, path) };
    } else if (!s.url) {
      throw new UsageError(`${m.name}/${s.id}: the source is ${s.path} under the data root, but no data root is set`, "pass --root DIR (or set data.root in the config, or DEDUP_DATA_ROOT)");
    }
  }
  const url = new URL(s.url!);
  return { kind: "url", url: s.url!, dest: ctx.scratch.download(m.name, s.id, basename(url.pathname) || s.id) };
}

/** Unpacked bytes per archive byte, when the manifest gives no unpacked_size (a cautious guess). */
const EXPANSION: Record<DataSource["archive"], number> = { none: 1, gz: 8, zip: 4, "tar.bz2": 6 };

/** Work dirs of this process: removed on success, failure, and at exit (Ctrl-C). */
const workDirs = new Set<string>();
let exitHook = false;

function removeWorkDirs(): void {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  workDirs.clear();
}

function newWorkDir(ctx: DataContext, m: DataManifest): string {
  if (!exitHook) {
    exitHook = true;
    process.once("exit", removeWorkDirs);
  }
  const dir = join(ctx.scratch.work, `${m.name}-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  workDirs.add(dir);
  return dir;
}

function dropWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  workDirs.delete(dir);
}

/** Free space of the nearest existing ancestor of the scratch dir (it may not exist yet). */
function scratchFree(ctx: DataContext): number {
  let dir = ctx.scratch.dir;
  while (!existsSync(dir)) {
    const up = join(dir, "..");
    if (up === dir) break;
    dir = up;
  }
  return freeBytes(dir);
}

async function fetchUrl(ctx: DataContext, m: DataManifest, s: DataSource, o: Extract<Origin, { kind: "url" }>): Promise<string> {
  const label = `${m.name}/${s.id}`;
  const r = await download(o.url, o.dest, {
    expectedSize: s.expected_size, retries: ctx.retries, signal: ctx.signal, log: ctx.log,
    onProgress: (bytes, total) => ctx.progress?.(`download ${label}`, bytes, total ?? s.expected_size),
  });
  ctx.log(
    r.cached
      ? `${label}: already downloaded (${formatBytes(r.bytes)}) → ${r.path}`
      : `${label}: downloaded ${formatBytes(r.bytes)}${r.resumedFrom ? ` (resumed from ${formatBytes(r.resumedFrom)})` : ""} → ${r.path}`,
  );
  return r.path;
}

async function hashing(ctx: DataContext, label: string, path: string, size: number): Promise<Hashed> {
  return hashFile(path, ctx.signal, (b) => ctx.progress?.(`sha256 ${label}`, b, size));
}

function checkedLine(m: DataManifest, s: DataSource, h: Hashed, status: ChecksumStatus): string {
  const how = status === "manifest" ? "matches the manifest" : status === "recorded" ? "matches the hash recorded on first fetch" : "recorded (first fetch; the manifest has no sha256)";
  return `${m.name}/${s.id}: sha256 ${h.sha256} ${how}`;
}

export interface SourceReport {
  id: string;
  origin: "local" | "url";
  path: string;
  size: number;
  sha256?: string;
  checksum?: ChecksumStatus;
}

/** `data fetch`: download URL sources (resuming), check local ones exist. */
export async function fetchData(ctx: DataContext, m: DataManifest): Promise<SourceReport[]> {
  ctx.scratch.ensure();
  const out: SourceReport[] = [];
  for (const s of m.sources) {
    const o = originOf(ctx, m, s);
    if (o.kind === "local") {
      checkSize(m, s, o.size, o.path);
      ctx.log(`${m.name}/${s.id}: local source ${o.path} (${formatBytes(o.size)}) — nothing to fetch, read in place (read-only)`);
      out.push({ id: s.id, origin: "local", path: o.path, size: o.size });
      continue;
    }
    const path = await fetchUrl(ctx, m, s, o);
    const h = await hashing(ctx, `${m.name}/${s.id}`, path, s.expected_size ?? 0);
    const status = checkChecksum(ctx.scratch, m, s, h, path);
    ctx.log(checkedLine(m, s, h, status));
    out.push({ id: s.id, origin: "url", path, size: h.size, sha256: h.sha256, checksum: status });
  }
  return out;
}

/** `data verify`: hash every source (local ones in place, read-only; URL ones must be downloaded). */
export async function verifyData(ctx: DataContext, m: DataManifest): Promise<SourceReport[]> {
  const out: SourceReport[] = [];
  for (const s of m.sources) {
    const o = originOf(ctx, m, s);
    let path: string;
    if (o.kind === "local") path = o.path;
    else if (existsSync(o.dest)) path = o.dest;
    else throw new UsageError(`${m.name}/${s.id}: not downloaded yet (${o.url})`, `run \`dedup-lab data fetch ${m.name}\` first`);
    const h = await hashing(ctx, `${m.name}/${s.id}`, path, s.expected_size ?? 0);
    if (s.sha256 === null) ctx.scratch.ensure();
    const status = checkChecksum(ctx.scratch, m, s, h, path);
    ctx.log(checkedLine(m, s, h, status));
    out.push({ id: s.id, origin: o.kind, path, size: h.size, sha256: h.sha256, checksum: status });
  }
  return out;
}

/** Cuts every member into the writer, counting per member. */
function memberSink(cutterFor: (name: string) => Cutter, writer: StagedWriter, members: StagedMember[], ctx: DataContext, label: string, total: number | null) {
  const signal = ctx.signal;
  let done = 0;
  let cutter: Cutter;
  let cur: StagedMember;
  const emit = (u: Buffer) => {
    if (writer.add(u)) cur.units++;
    else if (u.length > 0) cur.duplicates++;
  };
  return {
    begin(name: string) {
      cutter = cutterFor(name);
      cur = { name, bytes: 0, units: 0, duplicates: 0, dropped_bytes: 0 };
      members.push(cur);
    },
    data(chunk: Buffer) {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      cur.bytes += chunk.length;
      cutter.push(chunk, emit);
      ctx.progress?.(`cut ${label}`, (done += chunk.length), total);
    },
    end() {
      cutter.end(emit);
      cur.dropped_bytes = cutter.dropped;
    },
  };
}

/** `data stage`: copy/download, verify, cut, dedupe, and publish the units for the payload type. */
export async function stageData(ctx: DataContext, m: DataManifest): Promise<StagedIndex> {
  const origins = m.sources.map((s) => ({ s, o: originOf(ctx, m, s) }));
  for (const { s, o } of origins) if (o.kind === "local") checkSize(m, s, o.size, o.path);

  // Disk space, before anything is written: local copies + downloads still missing + units.
  let need = 0;
  for (const { s, o } of origins) {
    const size = o.kind === "local" ? o.size : existsSync(o.dest) ? 0 : (s.expected_size ?? 0);
    const packed = o.kind === "local" ? o.size : (s.expected_size ?? 0);
    need += size + (s.unpacked_size ?? packed * EXPANSION[s.archive]);
  }
  const free = scratchFree(ctx);
  if (need > free) {
    throw new UsageError(
      `not enough disk space to stage ${m.name}: about ${formatBytes(need)} needed (copies + units), ${formatBytes(free)} free for ${ctx.scratch.dir} — nothing written`,
      "free space, or pass --scratch DIR on a larger file system",
    );
  }

  ctx.scratch.ensure();
  const work = newWorkDir(ctx, m);
  let writer: StagedWriter | undefined;
  try {
    // Bytes first, all verified before any unit is cut.
    const files: { s: DataSource; file: string; from: string; h: Hashed; status: ChecksumStatus }[] = [];
    for (const { s, o } of origins) {
      const label = `${m.name}/${s.id}`;
      let file: string;
      let h: Hashed;
      if (o.kind === "local") {
        file = join(work, `${s.id}-${basename(o.path)}`);
        ctx.log(`${label}: copying ${o.path} (${formatBytes(o.size)}) into the scratch work dir`);
        h = await copyHashing(o.path, file, ctx.signal, (b) => ctx.progress?.(`copy ${label}`, b, o.size));
      } else {
        file = await fetchUrl(ctx, m, s, o);
        h = await hashing(ctx, label, file, s.expected_size ?? 0);
      }
      const from = o.kind === "local" ? o.path : o.url;
      const status = checkChecksum(ctx.scratch, m, s, h, from);
      ctx.log(checkedLine(m, s, h, status));
      files.push({ s, file, from, h, status });
    }

    const out = join(work, "staged");
    mkdirSync(out);
    writer = new StagedWriter(out);
    const sources: StagedSource[] = [];
    for (const { s, file, from, h, status } of files) {
      const members: StagedMember[] = [];
      ctx.log(`${m.name}/${s.id}: cutting (${m.cut.mode}) ${s.archive === "none" ? "" : `${s.archive} members `}into units`);
      const total = s.archive === "none" ? h.size : (s.unpacked_size ?? null);
      const sink = memberSink((name) => makeCutter(m.cut, `${m.name}/${s.id}:${name}`), writer, members, ctx, `${m.name}/${s.id}`, total);
      await readMembers(m, s, file, sink, ctx.signal);
      sources.push({ id: s.id, from, sha256: h.sha256, size: h.size, checksum: status, members });
      // The work copy is not needed any more: free its space before the next source.
      if (file.startsWith(work)) rmSync(file, { force: true });
    }
    if (writer.units === 0) throw new UsageError(`${m.name}: the cut produced no units`, "check the cut settings and members in the manifest");
    const index = writer.finish({
      manifest: m.name, payload: m.payload, title: m.title, cut: m.cut, sources,
      dropped_bytes: sources.reduce((a, s) => a + s.members.reduce((b, x) => b + x.dropped_bytes, 0), 0),
    });
    writer = undefined;

    // Publish in one rename (the old staging, if any, goes into the work dir and away with it).
    const target = ctx.scratch.staged(m.payload);
    mkdirSync(join(target, ".."), { recursive: true });
    if (existsSync(target)) renameSync(target, join(work, "previous"));
    renameSync(out, target);
    ctx.log(
      `${m.name}: staged ${index.units} distinct units (${formatBytes(index.bytes)}, ${index.min_unit}..${index.max_unit} B) as payload ${m.payload}; ` +
        `${index.duplicates_dropped} duplicate units (${formatBytes(index.duplicate_bytes_dropped)}) dropped → ${target}`,
    );
    return index;
  } finally {
    writer?.close();
    dropWorkDir(work);
  }
}

export interface CleanOptions {
  downloads?: boolean;
  records?: boolean;
}

/** `data clean`: remove what the toolkit wrote for a data set — never anything under the data root. */
export function cleanData(ctx: DataContext, m: DataManifest, opts: CleanOptions = {}): string[] {
  if (!existsSync(ctx.scratch.dir)) return [];
  if (!ctx.scratch.isScratch) {
    throw new UsageError(`${ctx.scratch.dir} is not a dedup-lab scratch directory (no marker file)`, "pass the --scratch directory that `data stage` used");
  }
  const removed: string[] = [];
  const rm = (p: string) => {
    if (existsSync(p)) (rmSync(p, { recursive: true, force: true }), removed.push(p));
  };
  rm(ctx.scratch.staged(m.payload));
  if (existsSync(ctx.scratch.work)) {
    for (const name of readdirSync(ctx.scratch.work)) {
      const match = new RegExp(`^${m.name}-(\\d+)-[0-9a-f]+$`).exec(name);
      if (!match) continue;
      const pid = Number(match[1]);
      if (pid !== process.pid && isAlive(pid)) {
        ctx.log(`kept ${join(ctx.scratch.work, name)}: process ${pid} is still staging`);
        continue;
      }
      rm(join(ctx.scratch.work, name));
    }
  }
  if (opts.downloads) rm(ctx.scratch.downloads(m.name));
  if (opts.records) rm(ctx.scratch.recorded(m.name));
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function stagedIndexOf(ctx: DataContext, payload: string): StagedIndex | undefined {
  return readStagedIndex(ctx.scratch.staged(payload));
}
