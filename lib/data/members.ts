// Reading the members of a source (always a file in the scratch directory: a download or a
// work copy of a local source). Members are decompressed as streams straight into the
// cutter, so no unpacked copy ever lands on disk — the only bytes written are the staged
// units. zip via yauzl (members in name order), tar.bz2 via unbzip2-stream + tar (archive
// order), gz via zlib, none = the file itself.
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import bz2 from "unbzip2-stream";
import yauzl from "yauzl";
import { UsageError, errorMessage } from "../errors.js";
import type { DataManifest, DataSource } from "./manifest.js";

/** Receives one member at a time, synchronously. */
export interface MemberSink {
  begin(name: string): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** `*` within a path segment, `**` across segments (`**​/` also matches no directory), `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      if (glob[i + 2] === "/") (re += "(?:.*/)?"), (i += 2);
      else (re += ".*"), (i += 1);
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function selector(source: DataSource): (name: string) => boolean {
  if (!source.members) return () => true;
  const res = source.members.map(globToRegExp);
  return (name) => res.some((r) => r.test(name));
}

function corrupt(m: DataManifest, s: DataSource, what: string, e: unknown): UsageError {
  return new UsageError(`${m.name}/${s.id}: ${basename(s.path ?? s.url ?? s.id)} is not a valid ${what} (${errorMessage(e)})`, `check the file, or the archive format "${s.archive}" in the manifest`);
}

async function drain(stream: Readable, sink: MemberSink, signal?: AbortSignal): Promise<void> {
  await pipeline(stream, async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) sink.data(chunk);
  }, { signal });
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => yauzl.open(file, { lazyEntries: true, autoClose: false }, (e, z) => (e ? reject(e) : resolve(z!))));
}

function zipEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on("entry", (e: yauzl.Entry) => {
      entries.push(e);
      zip.readEntry();
    });
    zip.on("end", () => resolve(entries));
    zip.on("error", reject);
    zip.readEntry();
  });
}

function zipStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (e, s) => (e ? reject(e) : resolve(s))));
}

async function zipMembers(m: DataManifest, s: DataSource, file: string, sink: MemberSink, signal?: AbortSignal): Promise<string[]> {
  let zip: yauzl.ZipFile;
  let entries: yauzl.Entry[];
  try {
    zip = await openZip(file);
    entries = await zipEntries(zip);
  } catch (e) {
    throw corrupt(m, s, "zip archive", e);
  }
  try {
    const want = selector(s);
    const chosen = entries.filter((e) => !e.fileName.endsWith("/") && want(e.fileName)).sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
    for (const entry of chosen) {
      if (entry.isEncrypted()) throw new UsageError(`${m.name}/${s.id}: zip member ${entry.fileName} is encrypted`, "use an unencrypted archive");
      let stream: Readable;
      try {
        stream = await zipStream(zip, entry);
      } catch (e) {
        throw corrupt(m, s, "zip archive", e);
      }
      sink.begin(entry.fileName);
      try {
        await drain(stream, sink, signal);
      } catch (e) {
        if (signal?.aborted || e instanceof UsageError) throw e;
        throw corrupt(m, s, "zip archive", e);
      }
      sink.end();
    }
    return chosen.map((e) => e.fileName);
  } finally {
    zip.close();
  }
}

function tarBz2Members(m: DataManifest, s: DataSource, file: string, sink: MemberSink, signal?: AbortSignal): Promise<string[]> {
  const want = selector(s);
  const names: string[] = [];
  return new Promise<string[]>((resolve, reject) => {
    let failed = false;
    const input = createReadStream(file, { flags: "r" });
    const unbz = bz2();
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      input.destroy();
      unbz.destroy();
      reject(signal?.aborted || e instanceof UsageError ? e : corrupt(m, s, "tar.bz2 archive", e));
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const isFile = entry.type === "File" || entry.type === "OldFile" || entry.type === "ContiguousFile";
        if (failed || !isFile || !want(entry.path)) {
          entry.resume();
          return;
        }
        names.push(entry.path);
        sink.begin(entry.path);
        entry.on("data", (chunk: Buffer) => {
          if (failed) return;
          try {
            sink.data(chunk);
          } catch (e) {
            fail(e);
          }
        });
        entry.on("end", () => {
          if (failed) return;
          try {
            sink.end();
          } catch (e) {
            fail(e);
          }
        });
      },
    });
    const onAbort = () => fail(signal!.reason ?? new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    input.on("error", fail);
    unbz.on("error", fail);
    parser.on("error", fail);
    parser.on("close", () => {
      signal?.removeEventListener("abort", onAbort);
      if (!failed) resolve(names);
    });
    input.pipe(unbz).pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/** Feed every selected member of `file` (a scratch copy of `source`) to `sink`; returns the member names. */
export async function readMembers(m: DataManifest, s: DataSource, file: string, sink: MemberSink, signal?: AbortSignal): Promise<string[]> {
  let names: string[];
  switch (s.archive) {
    case "none":
      names = [basename(s.path ?? new URL(s.url!).pathname)];
      sink.begin(names[0]!);
      await drain(createReadStream(file, { flags: "r" }), sink, signal);
      sink.end();
      break;
    case "gz": {
      names = [basename(s.path ?? new URL(s.url!).pathname).replace(/\.gz$/, "")];
      sink.begin(names[0]!);
      try {
        await pipeline(createReadStream(file, { flags: "r" }), createGunzip(), async function* (src: AsyncIterable<Buffer>) {
          for await (const chunk of src) sink.data(chunk);
        }, { signal });
      } catch (e) {
        if (signal?.aborted || e instanceof UsageError) throw e;
        throw corrupt(m, s, "gzip file", e);
      }
      sink.end();
      break;
    }
    case "zip":
      names = await zipMembers(m, s, file, sink, signal);
      break;
    case "tar.bz2":
      names = await tarBz2Members(m, s, file, sink, signal);
      break;
  }
  if (names.length === 0) {
    throw new UsageError(`${m.name}/${s.id}: no archive member matches ${JSON.stringify(s.members ?? ["(any file)"])}`, "fix members in the manifest");
  }
  return names;
}
