// Shared by the bulk benches: the one median (lib/metrics/stats.ts) and a peak-RSS probe.
import { quantile } from "../lib/metrics/stats.js";

export const median = (xs: number[]): number => quantile(xs, 0.5);

/** Growth of this process's RSS (MiB) while `work` runs, sampled every 20 ms: bulk paths must stay flat. */
export async function peakRssGrowthMiB(work: () => Promise<void>): Promise<number> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return (Math.max(peak, process.memoryUsage().rss) - base) / 2 ** 20;
}
