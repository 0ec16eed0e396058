// Dataset manifests: the ground truth every number is compared with. On disk a dataset
// is one file per unit plus manifest.json, so any tool (sha256sum included) can re-hash it.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UsageError, zodIssueText } from "../errors.js";
import { Dataset, DatasetSpecSchema, GENERATOR_VERSION, type DatasetSpec, type DatasetTotals } from "./dataset.js";

export const MANIFEST_FILE = "manifest.json";

export interface ManifestUnit {
  id: string;
  file: string;
  size: number;
  sha256: string;
  group: number;
  container: number;
}

export interface Manifest {
  schema: "dedup-lab.manifest/1";
  generator_version: string;
  dataset_id: string;
  spec: DatasetSpec;
  policy_note: string;
  totals: DatasetTotals;
  units: ManifestUnit[];
}

export function manifestHeader(ds: Dataset): Omit<Manifest, "units"> {
  return {
    schema: "dedup-lab.manifest/1",
    generator_version: GENERATOR_VERSION,
    dataset_id: ds.id,
    spec: ds.spec,
    policy_note:
      ds.spec.policy === "uniform"
        ? "each duplicate copies a unique drawn uniformly with replacement; order shuffled; first occurrence is the original"
        : "duplicate k copies unique k mod uniques; order shuffled; first occurrence is the original",
    totals: ds.totals,
  };
}

export function manifestUnit(ds: Dataset, i: number, sha256: Buffer): ManifestUnit {
  return { id: ds.unitId(i), file: ds.fileName(i), size: ds.sizeOf(i), sha256: sha256.toString("hex"), group: ds.groupOf(i), container: ds.containerOf(i) };
}

/** Serialise a manifest with one unit per line: readable, diffable, streamable. */
export function manifestText(manifest: Manifest): string {
  // The header without `units`: units follow once, one per line.
  const { units, ...header } = manifest;
  const parts = [JSON.stringify(header, null, 2).replace(/\n}$/, ',\n  "units": [\n')];
  let first = true;
  for (const u of units) {
    parts.push((first ? "    " : ",\n    ") + JSON.stringify(u));
    first = false;
  }
  parts.push("\n  ]\n}\n");
  return parts.join("");
}

/** The manifest of a dataset, computed by generating and hashing every unit. */
export function buildManifest(ds: Dataset): Manifest {
  const units: ManifestUnit[] = [];
  for (let i = 0; i < ds.length; i++) {
    units.push(manifestUnit(ds, i, ds.unit(i).sha256));
  }
  return { ...manifestHeader(ds), units };
}

async function assertEmptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [];
    throw new UsageError(`cannot read output directory ${dir}: ${e.code}`, "choose a writable directory");
  });
  if (entries.length > 0) {
    throw new UsageError(`output directory ${dir} is not empty`, "choose a new directory; datasets never accumulate into an old one");
  }
}

export interface GenerateProgress {
  (done: number, total: number, bytes: number): void;
}

/** Write a dataset to `dir` (must be empty or absent): one file per unit, then manifest.json. */
export async function writeDataset(spec: DatasetSpec, dir: string, progress?: GenerateProgress): Promise<Manifest> {
  const ds = new Dataset(DatasetSpecSchema.parse(spec));
  await assertEmptyDir(dir);
  await mkdir(dir, { recursive: true });
  const units: ManifestUnit[] = [];
  let bytes = 0;
  try {
    for (let i = 0; i < ds.length; i++) {
      const u = ds.unit(i);
      const fh = await open(join(dir, ds.fileName(i)), "wx");
      try {
        await fh.write(u.payload, 0, u.payload.length, 0);
      } finally {
        await fh.close();
      }
      units.push(manifestUnit(ds, i, u.sha256));
      bytes += u.size;
      progress?.(i + 1, ds.length, bytes);
    }
  } finally {
    ds.close();
  }
  const manifest = { ...manifestHeader(ds), units };
  const tmp = join(dir, `.${MANIFEST_FILE}.tmp`);
  await writeFile(tmp, manifestText(manifest));
  await rename(tmp, join(dir, MANIFEST_FILE));
  return manifest;
}

export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new UsageError(`no ${MANIFEST_FILE} in ${dir}`, "point at a directory written by `dedup-lab datasets generate`");
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${(e as Error).message}); the file is damaged or cut short`, "regenerate the dataset with `dedup-lab datasets generate`");
  }
  if (m?.schema !== "dedup-lab.manifest/1") throw new UsageError(`${path} is not a dedup-lab manifest`, "regenerate the dataset");
  const spec = DatasetSpecSchema.safeParse(m.spec);
  if (!spec.success || !Array.isArray(m.units) || !m.totals) {
    throw new UsageError(`${path} is incomplete${spec.success ? "" : ` (spec.${zodIssueText(spec.error)})`}`, "regenerate the dataset");
  }
  return m;
}

export interface VerifyResult {
  ok: boolean;
  units: number;
  bytes: number;
  uniqueBytes: number;
  realizedFraction: number;
  problems: string[];
}

function hashFile(path: string): Promise<{ sha: string; size: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    let size = 0;
    createReadStream(path)
      .on("data", (c) => {
        size += c.length;
        h.update(c);
      })
      .on("error", reject)
      .on("end", () => resolve({ sha: h.digest("hex"), size }));
  });
}

/**
 * Re-hash every unit file independently of the generator and check it against the
 * manifest: sizes, digests, that equal digests ⇔ equal groups, and the totals.
 */
export async function verifyDataset(dir: string): Promise<VerifyResult> {
  const m = await readManifest(dir);
  const problems: string[] = [];
  const groupBySha = new Map<string, number>();
  const shaByGroup = new Map<number, string>();
  let bytes = 0;
  let uniqueBytes = 0;
  let duplicates = 0;
  for (const u of m.units) {
    let actual: { sha: string; size: number };
    try {
      actual = await hashFile(join(dir, u.file));
    } catch (e) {
      problems.push(`unit ${u.id}: cannot read ${u.file} (${(e as NodeJS.ErrnoException).code})`);
      continue;
    }
    if (actual.size !== u.size) problems.push(`unit ${u.id}: size ${actual.size} B, manifest says ${u.size} B`);
    if (actual.sha !== u.sha256) problems.push(`unit ${u.id}: sha256 ${actual.sha.slice(0, 16)}… differs from manifest ${u.sha256.slice(0, 16)}…`);
    bytes += actual.size;
    if (m.spec.granularity === "file") {
      const g = groupBySha.get(actual.sha);
      if (g === undefined) {
        groupBySha.set(actual.sha, u.group);
        uniqueBytes += actual.size;
      } else {
        duplicates++;
        if (g !== u.group) problems.push(`unit ${u.id}: identical to group ${g} but manifest says group ${u.group}`);
      }
      const s = shaByGroup.get(u.group);
      if (s === undefined) shaByGroup.set(u.group, actual.sha);
      else if (s !== actual.sha) problems.push(`unit ${u.id}: group ${u.group} holds different bytes`);
    }
  }
  if (bytes !== m.totals.logical_bytes) problems.push(`logical bytes ${bytes} ≠ manifest total ${m.totals.logical_bytes}`);
  let realized = m.totals.realized_fraction;
  if (m.spec.granularity === "file") {
    realized = duplicates / m.units.length;
    if (uniqueBytes !== m.totals.unique_bytes) problems.push(`unique bytes ${uniqueBytes} ≠ manifest total ${m.totals.unique_bytes}`);
    if (Math.abs(realized - m.totals.realized_fraction) > 1e-12) problems.push(`realized fraction ${realized} ≠ manifest ${m.totals.realized_fraction}`);
  } else {
    // Block granularity: re-count unique blocks from the files themselves.
    const seen = new Set<string>();
    let blocks = 0;
    uniqueBytes = 0;
    for (const u of m.units) {
      const data = await readFile(join(dir, u.file)).catch(() => Buffer.alloc(0));
      for (let off = 0; off < data.length; off += m.spec.blockSize) {
        const key = createHash("sha256").update(data.subarray(off, off + m.spec.blockSize)).digest("base64");
        blocks++;
        if (!seen.has(key)) (seen.add(key), (uniqueBytes += m.spec.blockSize));
      }
    }
    realized = (blocks - seen.size) / blocks;
    if (uniqueBytes !== m.totals.unique_bytes) problems.push(`unique block bytes ${uniqueBytes} ≠ manifest total ${m.totals.unique_bytes}`);
  }
  return { ok: problems.length === 0, units: m.units.length, bytes, uniqueBytes, realizedFraction: realized, problems };
}
