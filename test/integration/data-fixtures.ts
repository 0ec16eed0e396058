// Fixtures for the real-data tests: small archives made here (zip, tar.bz2, gz, a
// TIFF-like binary, JSON lines), a read-only source tree, a local HTTP server with Range
// support that can cut a connection midway, and a tree snapshot (listing + mtimes + sha256)
// to prove a source was left byte-identical.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { crc32, deflateRawSync, gzipSync } from "node:zlib";
import { stringify } from "yaml";
import { Xoshiro128ss, seedFrom } from "../../lib/generators/prng.js";

export const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

export function tmp(prefix = "dedup-lab-data-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Seeded pseudo-random bytes (incompressible). */
export function randomBytesSeeded(n: number, label: string): Buffer {
  const rng = new Xoshiro128ss(seedFrom("data-test", label));
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) {
    const v = rng.next();
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
  }
  return out;
}

const WORDS = "the of and to in a is that it was he for his with as had her she you not be at on by which whale ship sea captain letter sister ball".split(" ");

/** A book-like text: chapters of seeded sentences, CRLF line ends, a repeated boilerplate paragraph. */
export function book(label: string, chapters = 12, linesPerChapter = 30): string {
  const rng = new Xoshiro128ss(seedFrom("book", label));
  const parts: string[] = [];
  for (let c = 1; c <= chapters; c++) {
    parts.push(`CHAPTER ${c} of ${label}\r\n\r\n`);
    for (let l = 0; l < linesPerChapter; l++) {
      const n = 6 + rng.int(10);
      const words = Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]!);
      parts.push(words.join(" ") + ".\r\n");
    }
    parts.push("\r\n");
  }
  return parts.join("");
}

/** JSON lines of GitHub-like events; `dupEvery` > 0 repeats an earlier event verbatim. */
export function eventLines(count: number, dupEvery = 0): string[] {
  const rng = new Xoshiro128ss(seedFrom("events", count));
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (dupEvery > 0 && i > 0 && i % dupEvery === 0) {
      lines.push(lines[i - 1]!);
      continue;
    }
    lines.push(JSON.stringify({ id: String(1e9 + i), type: ["PushEvent", "WatchEvent", "IssuesEvent"][rng.int(3)], actor: { login: `user${rng.int(1000)}` }, payload: { text: 'say "hi" {not a brace}', n: rng.int(1e6) } }));
  }
  return lines;
}

/** A TIFF-like binary: little-endian TIFF header, then rows where every third row is black. */
export function tiffLike(rows: number, rowBytes: number): Buffer {
  const header = Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00]);
  const parts: Buffer[] = [header];
  for (let r = 0; r < rows; r++) parts.push(r % 3 === 2 ? Buffer.alloc(rowBytes) : randomBytesSeeded(rowBytes, `row${r}`));
  return Buffer.concat(parts);
}

/** A minimal zip writer (deflate), enough for the tests: no zip64, no directories. */
export function zip(entries: { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const body = deflateRawSync(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

export function gz(data: Buffer | string): Buffer {
  return gzipSync(data);
}

/** A .tar.bz2 of `files` (tar + bzip2 command-line tools; bzip2 is a Debian base tool). */
export function tarBz2(files: Record<string, Buffer | string>): Buffer {
  const dir = tmp("dedup-lab-tar-");
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(dir, "src", name, ".."), { recursive: true });
    writeFileSync(join(dir, "src", name), data);
  }
  try {
    execFileSync("tar", ["-cjf", join(dir, "out.tar.bz2"), "-C", join(dir, "src"), ...Object.keys(files)]);
  } catch (e) {
    throw new Error(`creating a tar.bz2 fixture needs the tar and bzip2 tools (apt-get install bzip2): ${(e as Error).message}`);
  }
  return readFileSync(join(dir, "out.tar.bz2"));
}

export interface ManifestSource {
  id: string;
  url?: string;
  path?: string;
  expected_size?: number | null;
  size_exact?: boolean;
  sha256?: string | null;
  verify?: "sha256" | "record-on-first-fetch";
  archive: string;
  members?: string[];
}

/** Write a test manifest (sha256 given → verify: sha256). */
export function writeManifest(dir: string, name: string, payload: string, sources: ManifestSource[], cut: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      format: "dedup-lab.data-manifest/1",
      name,
      title: `test data set ${name}`,
      payload,
      description: "made by the tests",
      licence: "test fixture",
      sources: sources.map((s) => ({
        expected_size: null,
        sha256: null,
        verify: s.sha256 ? "sha256" : "record-on-first-fetch",
        ...s,
      })),
      cut,
    }),
  );
  return file;
}

/** Make a tree read-only for everyone (tests run as root, so this alone proves nothing: see snapshot). */
export function readOnly(dir: string): void {
  execFileSync("chmod", ["-R", "a-w", dir]);
}

export function writable(dir: string): void {
  execFileSync("chmod", ["-R", "u+w", dir]);
}

/** Every entry under dir: path, type, mode, size, mtime (ns), sha256 of files. */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p, { bigint: true });
      const rel = relative(dir, p);
      if (st.isDirectory()) {
        out.push(`${rel}/ mode=${st.mode.toString(8)} mtime=${st.mtimeNs}`);
        walk(p);
      } else {
        out.push(`${rel} mode=${st.mode.toString(8)} size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs} sha256=${sha256(readFileSync(p))}`);
      }
    }
  };
  const top = lstatSync(dir, { bigint: true });
  out.push(`./ mode=${top.mode.toString(8)} mtime=${top.mtimeNs}`);
  walk(dir);
  return out;
}

/** Files and directories below dir (relative), for "scratch is clean" checks. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      out.push(relative(dir, p));
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

export interface ServedRequest {
  path: string;
  range?: string;
  ifRange?: string;
}

export interface FileServer {
  url: (path: string) => string;
  requests: ServedRequest[];
  /** Paths whose next response is cut after this many body bytes. */
  cutNext: Map<string, number>;
  /** Paths for which Range requests are ignored (a full 200 is sent). */
  ignoreRange: Set<string>;
  close: () => Promise<void>;
}

/** An HTTP server on 127.0.0.1 serving `files`, with Range/If-Range and scripted connection cuts. */
export async function serveFiles(files: Record<string, Buffer>): Promise<FileServer> {
  const requests: ServedRequest[] = [];
  const cutNext = new Map<string, number>();
  const ignoreRange = new Set<string>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const path = decodeURIComponent(new URL(req.url!, "http://x").pathname);
    requests.push({ path, range: req.headers.range, ifRange: req.headers["if-range"] as string | undefined });
    if (path.startsWith("/redirect/")) {
      res.writeHead(302, { location: path.slice("/redirect".length) }).end();
      return;
    }
    const body = files[path];
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    const etag = `"${sha256(body).slice(0, 16)}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const rangeOk = m && !ignoreRange.has(path) && (!req.headers["if-range"] || req.headers["if-range"] === etag);
    if (m && rangeOk) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { "content-length": body.length - start, "content-range": `bytes ${start}-${body.length - 1}/${body.length}`, etag, "accept-ranges": "bytes" });
    } else {
      res.writeHead(200, { "content-length": body.length, etag, "accept-ranges": "bytes" });
    }
    const cut = cutNext.get(path);
    if (cut !== undefined) {
      cutNext.delete(path);
      // Send part of the body, then drop the connection (a truncated transfer).
      res.write(body.subarray(start, start + cut), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    requests,
    cutNext,
    ignoreRange,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

