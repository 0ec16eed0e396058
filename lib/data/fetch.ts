// HTTP(S) download into the scratch directory with resume: bytes land in `<file>.part`
// (plus `<file>.part.json` with the validator the server sent); a cut connection is resumed
// with a Range request (If-Range guards against a changed file), a server that ignores the
// range restarts from zero, and only a complete file is renamed into place.
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, statfsSync, truncateSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { dirname } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { SystemError, UsageError, errorMessage } from "../errors.js";
import { formatBytes } from "../bytes.js";

export interface DownloadOptions {
  /** Expected total size if known (for the disk check before the first byte). */
  expectedSize?: number | null;
  /** Extra attempts after a failed one (each resumes from the .part file). */
  retries?: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number | null) => void;
  log?: (line: string) => void;
  /** Seconds without data before a connection counts as dead. */
  idleTimeoutS?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Already complete before this call: nothing was transferred. */
  cached: boolean;
  /** Bytes that were already in the .part file when the final attempt began. */
  resumedFrom: number;
  attempts: number;
}

interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  total: number | null;
}

/** An HTTP status or protocol problem that retrying will not fix. */
class Permanent extends Error {}

function endpointOf(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`;
}

function isLoopback(url: URL): boolean {
  return url.hostname === "127.0.0.1" || url.hostname === "localhost";
}

/** Free bytes for an unprivileged writer on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function request(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, idleMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === "https:" ? https : http;
    const req = lib.get(url, { headers: { "user-agent": "dedup-lab-data/1", ...headers }, signal }, resolve);
    req.setTimeout(idleMs, () => req.destroy(new Error(`no data for ${idleMs / 1000} s`)));
    req.on("error", reject);
  });
}

/** GET with redirects (at most 5; never from https down to http except on loopback). */
async function get(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, idleMs: number): Promise<{ res: http.IncomingMessage; url: URL }> {
  for (let hops = 0; ; hops++) {
    const res = await request(url, headers, signal, idleMs);
    const location = res.headers.location;
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && location) {
      res.resume();
      if (hops >= 5) throw new Permanent("more than 5 redirects");
      const next = new URL(location, url);
      if (next.protocol !== "https:" && !(next.protocol === "http:" && isLoopback(next))) throw new Permanent(`refusing redirect to ${next.protocol}//${next.host}`);
      url = next;
      continue;
    }
    return { res, url };
  }
}

function readMeta(file: string): PartMeta | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as PartMeta;
  } catch {
    return undefined;
  }
}

function sizeOr0(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** One attempt: continue the .part file as far as the connection lasts. */
async function attempt(url: URL, part: string, metaFile: string, opts: DownloadOptions): Promise<number> {
  let have = sizeOr0(part);
  const meta = readMeta(metaFile);
  if (have > 0 && (!meta || meta.url !== url.href)) {
    // A .part without its validator (or for another URL) cannot be trusted to continue.
    truncateSync(part, 0);
    have = 0;
  }
  const headers: Record<string, string> = {};
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    const validator = meta?.etag ?? meta?.lastModified;
    if (validator) headers["if-range"] = validator;
  }
  const { res } = await get(url, headers, opts.signal, (opts.idleTimeoutS ?? 60) * 1000);
  const status = res.statusCode ?? 0;
  let total: number | null;
  let offset: number;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers["content-range"] ?? ""));
    if (!m || Number(m[1]) !== have) {
      res.resume();
      truncateSync(part, 0);
      throw new Error(`server answered the range request with ${String(res.headers["content-range"])}; starting over`);
    }
    offset = have;
    total = m[3] === "*" ? null : Number(m[3]);
  } else if (status === 200) {
    if (have > 0) opts.log?.(`${url.host}: server ignored the range request (or the file changed) — downloading from the start`);
    offset = 0;
    total = res.headers["content-length"] !== undefined ? Number(res.headers["content-length"]) : null;
  } else if (status === 416 && have > 0 && meta?.total === have) {
    res.resume();
    return have; // the .part was already complete
  } else {
    res.resume();
    const text = `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""} for ${url.pathname}`;
    if (status === 416) {
      truncateSync(part, 0);
      throw new Error(text);
    }
    if (status >= 500 || status === 429 || status === 408) throw new Error(text);
    throw new Permanent(text);
  }
  const remaining = (total ?? opts.expectedSize ?? 0) - offset;
  const free = freeBytes(dirname(part));
  if (remaining > free) {
    res.resume();
    throw new UsageError(`not enough disk space for ${url.href}: ${formatBytes(remaining)} to download, ${formatBytes(free)} free in ${dirname(part)}`, "free space or pass --scratch DIR on a larger file system");
  }
  const newMeta: PartMeta = { url: url.href, total, etag: res.headers.etag, lastModified: res.headers["last-modified"] };
  writeFileSync(metaFile, JSON.stringify(newMeta));
  let got = offset;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      got += chunk.length;
      opts.onProgress?.(got, total);
      done(null, chunk);
    },
  });
  try {
    await pipeline(res, count, createWriteStream(part, { flags: offset === 0 ? "w" : "a" }), { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new Error(`connection lost after ${formatBytes(got)}${total !== null ? ` of ${formatBytes(total)}` : ""} (${errorMessage(e)})`);
  }
  if (total !== null && got !== total) throw new Error(`connection closed after ${formatBytes(got)} of ${formatBytes(total)}`);
  return got;
}

/** Download `url` to `dest`, resuming `dest.part` across attempts and across calls. */
export async function download(urlText: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  if (existsSync(dest)) return { path: dest, bytes: statSync(dest).size, cached: true, resumedFrom: 0, attempts: 0 };
  const url = new URL(urlText);
  const part = `${dest}.part`;
  const metaFile = `${part}.json`;
  mkdirSync(dirname(dest), { recursive: true });
  const retries = opts.retries ?? 3;
  for (let n = 0; ; n++) {
    const resumedFrom = sizeOr0(part);
    try {
      const bytes = await attempt(url, part, metaFile, opts);
      renameSync(part, dest);
      rmSync(metaFile, { force: true });
      return { path: dest, bytes, cached: false, resumedFrom, attempts: n + 1 };
    } catch (e) {
      if (opts.signal?.aborted || e instanceof UsageError) throw e;
      const endpoint = endpointOf(url);
      if (e instanceof Permanent) throw new SystemError("download", endpoint, `${e.message} — check the URL in the manifest`);
      if (n >= retries) {
        throw new SystemError("download", endpoint, `${errorMessage(e)}; gave up after ${n + 1} attempt(s) — run the same command again to resume from ${formatBytes(sizeOr0(part))}`);
      }
      opts.log?.(`${url.host}: ${errorMessage(e)} — resuming from ${formatBytes(sizeOr0(part))} (attempt ${n + 2} of ${retries + 1})`);
      await sleep(Math.min(200 * 2 ** n, 5000), undefined, { signal: opts.signal });
    }
  }
}
