// The only code that touches files under the data root. Everything here opens for
// reading ("r") — nothing writes, renames, unpacks or deletes there. Sources are copied
// into the scratch directory (hashing while copying) and only the copy is unpacked.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, statSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { UsageError } from "../errors.js";
import type { DataManifest, DataSource } from "./manifest.js";

export interface SourceFile {
  path: string;
  size: number;
}

/** `<root>/<path>` of a local source (the schema already refuses absolute paths and ..). */
export function localSourcePath(root: string, source: DataSource): string {
  return join(root, source.path!);
}

/** Size of a local source; a clear error when it is missing or not a file. */
export function statLocalSource(m: DataManifest, source: DataSource, path: string): SourceFile {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = code === "ENOENT" ? "is missing" : `cannot be read (${code})`;
    throw new UsageError(`${m.name}/${source.id}: source ${path} ${what}`, "place the file there (read-only is fine) or pass --root DIR pointing at the data root");
  }
  if (!st.isFile()) throw new UsageError(`${m.name}/${source.id}: source ${path} is not a regular file`, "point the manifest's path at the archive or file itself");
  return { path, size: st.size };
}

export interface Hashed {
  sha256: string;
  size: number;
}

/** Counts and hashes bytes flowing through. */
class HashingCounter extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    done(null, chunk);
  }
}

/** Hash a file, reading it only. */
export async function hashFile(path: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<Hashed> {
  const counter = new HashingCounter(onBytes);
  await pipeline(createReadStream(path, { flags: "r" }), counter, async function* (src) {
    for await (const _ of src) void _;
  }, { signal });
  return { sha256: counter.hash.digest("hex"), size: counter.bytes };
}

/** Copy a source into the scratch dir (new file, `wx`), hashing the bytes on the way. */
export async function copyHashing(from: string, to: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<Hashed> {
  const counter = new HashingCounter(onBytes);
  await pipeline(createReadStream(from, { flags: "r" }), counter, createWriteStream(to, { flags: "wx" }), { signal });
  const st = await stat(to);
  if (st.size !== counter.bytes) throw new Error(`copy of ${from} is ${st.size} B, read ${counter.bytes} B`);
  return { sha256: counter.hash.digest("hex"), size: counter.bytes };
}
