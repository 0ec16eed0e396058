// Downloads over HTTP from a local server on 127.0.0.1 (no internet): checksum failure,
// a connection cut midway and resumed with a Range request (within one call and across
// calls), a server that ignores ranges, redirects, HTTP errors, and staging from a URL.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download } from "../../lib/data/fetch.js";
import { cli, cliAsync } from "../helpers/cli.js";
import { eventLines, gz, listTree, randomBytesSeeded, serveFiles, sha256, tmp, writeManifest, type FileServer } from "./data-fixtures.js";

const blob = randomBytesSeeded(600_000, "blob");
const events = eventLines(200, 0);
const eventsGz = gz(events.join("\n") + "\n");
let server: FileServer;

beforeAll(async () => {
  server = await serveFiles({ "/files/blob.bin": blob, "/files/hour.json.gz": eventsGz, "/files/other.bin": randomBytesSeeded(100_000, "other") });
});
afterAll(async () => server.close());

function cliAsyncResult(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  // The test server lives in this process: the CLI must run without blocking the event loop.
  return new Promise((resolve) => {
    const child = cliAsync(args);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d));
    child.stderr!.on("data", (d: Buffer) => (stderr += d));
    child.on("exit", (status) => resolve({ status, stdout, stderr }));
  });
}

function requestsFor(path: string) {
  return server.requests.filter((r) => r.path === path);
}

describe("download()", () => {
  it("resumes a cut connection with a Range request and ends byte-identical", async () => {
    const dest = join(tmp(), "blob.bin");
    server.requests.length = 0;
    server.cutNext.set("/files/blob.bin", 250_000);
    const logs: string[] = [];
    const r = await download(server.url("/files/blob.bin"), dest, { retries: 2, log: (l) => logs.push(l) });
    expect(r).toMatchObject({ bytes: blob.length, cached: false, attempts: 2 });
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(sha256(readFileSync(dest))).toBe(sha256(blob));
    const reqs = requestsFor("/files/blob.bin");
    expect(reqs).toHaveLength(2);
    expect(reqs[0]!.range).toBeUndefined();
    expect(reqs[1]!.range).toBe(`bytes=${r.resumedFrom}-`);
    expect(reqs[1]!.ifRange).toMatch(/^"[0-9a-f]{16}"$/);
    expect(logs.join("\n")).toMatch(/connection lost after .* — resuming from/);
    expect(existsSync(`${dest}.part`) || existsSync(`${dest}.part.json`)).toBe(false);
    // Complete files are not fetched again.
    expect(await download(server.url("/files/blob.bin"), dest)).toMatchObject({ cached: true, attempts: 0 });
    expect(requestsFor("/files/blob.bin")).toHaveLength(2);
  });

  it("resumes across calls: a failed call leaves the .part, the next continues it", async () => {
    const dest = join(tmp(), "blob.bin");
    server.requests.length = 0;
    server.cutNext.set("/files/blob.bin", 100_000);
    await expect(download(server.url("/files/blob.bin"), dest, { retries: 0 })).rejects.toThrow(
      /download at 127\.0\.0\.1:\d+: connection lost after .*; gave up after 1 attempt\(s\) — run the same command again to resume from/,
    );
    const partial = statSync(`${dest}.part`).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(blob.length);
    const r = await download(server.url("/files/blob.bin"), dest, { retries: 0 });
    expect(r.resumedFrom).toBe(partial);
    expect(requestsFor("/files/blob.bin")[1]!.range).toBe(`bytes=${partial}-`);
    expect(sha256(readFileSync(dest))).toBe(sha256(blob));
  });

  it("starts over when the server ignores the range", async () => {
    const dest = join(tmp(), "blob.bin");
    server.cutNext.set("/files/blob.bin", 50_000);
    server.ignoreRange.add("/files/blob.bin");
    const logs: string[] = [];
    try {
      await download(server.url("/files/blob.bin"), dest, { retries: 1, log: (l) => logs.push(l) });
    } finally {
      server.ignoreRange.delete("/files/blob.bin");
    }
    expect(logs.join("\n")).toMatch(/server ignored the range request .* downloading from the start/);
    expect(sha256(readFileSync(dest))).toBe(sha256(blob));
  });

  it("follows redirects; an HTTP error is a one-line system error that retrying does not repeat", async () => {
    const dest = join(tmp(), "other.bin");
    await download(server.url("/redirect/files/other.bin"), dest);
    expect(statSync(dest).size).toBe(100_000);
    server.requests.length = 0;
    await expect(download(server.url("/files/missing.bin"), join(tmp(), "m.bin"), { retries: 3 })).rejects.toThrow(/download at 127\.0\.0\.1:\d+: HTTP 404 Not Found for \/files\/missing.bin — check the URL in the manifest/);
    expect(requestsFor("/files/missing.bin")).toHaveLength(1);
  });
});

describe("data fetch / stage from a URL", () => {
  it("fetches with a known sha256, resumes a cut transfer, then stages from the download", async () => {
    const manifests = join(tmp(), "manifests");
    const scratch = join(tmp(), "scratch");
    writeManifest(manifests, "t_http", "t_http", [{ id: "hour", url: server.url("/files/hour.json.gz"), archive: "gz", sha256: sha256(eventsGz), expected_size: eventsGz.length, size_exact: true }], { mode: "json", objects: 1 });
    server.requests.length = 0;
    server.cutNext.set("/files/hour.json.gz", 2000);
    const f = await cliAsyncResult(["data", "fetch", "t_http", "--scratch", scratch, "--manifests", manifests]);
    expect(f.status, f.stderr).toBe(0);
    expect(f.stderr).toMatch(/resuming from/);
    expect(f.stderr).toMatch(/t_http\/hour: sha256 [0-9a-f]{64} matches the manifest/);
    expect(requestsFor("/files/hour.json.gz").map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/)]);
    const downloaded = join(scratch, "downloads", "t_http", "hour", "hour.json.gz");
    expect(sha256(readFileSync(downloaded))).toBe(sha256(eventsGz));

    const s = await cliAsyncResult(["data", "stage", "t_http", "--scratch", scratch, "--manifests", manifests]);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/already downloaded/);
    expect(requestsFor("/files/hour.json.gz")).toHaveLength(2); // nothing downloaded again
    expect(s.stdout).toMatch(/t_http: payload t_http staged — 200 distinct units/);
    expect(listTree(join(scratch, "work"))).toEqual([]);
    // Downloads stay (they are the toolkit's own copy) until clean --downloads.
    const c = cli(["data", "clean", "t_http", "--downloads", "--scratch", scratch, "--manifests", manifests]);
    expect(c.status, c.stderr).toBe(0);
    expect(existsSync(downloaded)).toBe(false);
  });

  it("a download that does not match the manifest's sha256 is refused and nothing is staged", async () => {
    const manifests = join(tmp(), "manifests");
    const scratch = join(tmp(), "scratch");
    writeManifest(manifests, "t_badsum", "t_badsum", [{ id: "blob", url: server.url("/files/blob.bin"), archive: "none", sha256: "f".repeat(64) }], { mode: "fixed", size: 4096 });
    const r = await cliAsyncResult(["data", "stage", "t_badsum", "--scratch", scratch, "--manifests", manifests]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/dedup-lab: t_badsum\/blob: sha256 of http:\/\/127\.0\.0\.1:\d+\/files\/blob.bin is [0-9a-f]{64}, the manifest says f{64} — nothing staged — /);
    expect(existsSync(join(scratch, "staged", "t_badsum"))).toBe(false);
    expect(listTree(join(scratch, "work"))).toEqual([]);
  });

  it("with --retries 0 a cut transfer ends the fetch with exit 1 and a .part the next fetch resumes", async () => {
    const manifests = join(tmp(), "manifests");
    const scratch = join(tmp(), "scratch");
    writeManifest(manifests, "t_cut", "t_cut", [{ id: "blob", url: server.url("/files/blob.bin"), archive: "none" }], { mode: "fixed", size: 4096 });
    server.cutNext.set("/files/blob.bin", 300_000);
    const r = await cliAsyncResult(["data", "fetch", "t_cut", "--retries", "0", "--scratch", scratch, "--manifests", manifests]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/dedup-lab: download at 127\.0\.0\.1:\d+: connection lost .* run the same command again to resume/);
    expect(statSync(join(scratch, "downloads", "t_cut", "blob", "blob.bin.part")).size).toBeGreaterThan(0);
    const again = await cliAsyncResult(["data", "fetch", "t_cut", "--scratch", scratch, "--manifests", manifests]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/downloaded .* \(resumed from .*\)/);
    expect(again.stderr).toMatch(/recorded \(first fetch/);
  });
});
