// Latency histograms (HdrHistogram, 3 significant digits, values in ns). Kept encoded in
// the bundle so repeats and runs merge exactly; thesis percentiles come from raw samples
// (lib/metrics/stats.ts), histograms from merging.
import * as hdr from "hdr-histogram-js";

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 64, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 64, false);
}

/** Merge encoded histograms (e.g. all repeats of one system × stage). */
export function mergeHistograms(encoded: string[]): Histogram {
  const total = newHistogram();
  for (const e of encoded) total.add(decodeHistogram(e));
  return total;
}
