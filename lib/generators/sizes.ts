// Unit sizes: "4096", "4KiB", "512KiB", "1MB", or a uniform range "4KiB..1MiB".
import { UsageError } from "../errors.js";
import { Xoshiro128ss, seedFrom } from "./prng.js";

export interface SizeSpec {
  min: number;
  max: number;
}

const UNITS: Record<string, number> = {
  "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1e6, mib: 1024 ** 2, g: 1024 ** 3, gb: 1e9, gib: 1024 ** 3, t: 1024 ** 4, tb: 1e12, tib: 1024 ** 4,
};

/** Largest unit we accept: a unit is held in memory while it is written. */
export const MAX_UNIT_SIZE = 256 * 1024 ** 2;

export function parseBytes(text: string, what = "size"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const factor = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    throw new UsageError(`invalid ${what} "${text}"`, "write bytes like 4096, 4KiB, 512KiB, 1MiB or 10GB");
  }
  return Math.round(Number(m[1]) * factor);
}

export function parseSizeSpec(text: string | number): SizeSpec {
  const [lo, hi] = typeof text === "number" ? [text, text] : text.split("..").map((p) => parseBytes(p, "unit size"));
  const spec = { min: lo!, max: hi ?? lo! };
  validateSizeSpec(spec);
  return spec;
}

export function validateSizeSpec(spec: SizeSpec): void {
  if (!Number.isInteger(spec.min) || spec.min < 1) {
    throw new UsageError(`unit size must be at least 1 byte (got ${spec.min})`, "pass --unit-size 4KiB or similar");
  }
  if (spec.max > MAX_UNIT_SIZE) {
    throw new UsageError(`unit size ${spec.max} B is over the 256 MiB limit`, "use more, smaller units to reach a data size");
  }
  if (spec.max < spec.min) throw new UsageError(`unit size range ${spec.min}..${spec.max} is reversed`, "write MIN..MAX");
}

export function formatSizeSpec(spec: SizeSpec): string {
  return spec.min === spec.max ? String(spec.min) : `${spec.min}..${spec.max}`;
}

/** Size of unique `key`: fixed, or uniform in [min, max] from the dataset seed. */
export function sizeForKey(spec: SizeSpec, seed: Buffer, key: number): number {
  if (spec.min === spec.max) return spec.min;
  return new Xoshiro128ss(seedFrom(seed.toString("hex"), "size", key)).range(spec.min, spec.max);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
