// Unit sizes: "4096", "4KiB", "512KiB", "1MB", or a uniform range "4KiB..1MiB".
import { parseBytes } from "../bytes.js";
import { UsageError } from "../errors.js";
import { Xoshiro128ss, seedFrom } from "./prng.js";

export interface SizeSpec {
  min: number;
  max: number;
}

/** Largest unit we accept: a unit is held in memory while it is written. */
export const MAX_UNIT_SIZE = 256 * 1024 ** 2;

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
