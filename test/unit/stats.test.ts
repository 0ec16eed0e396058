// Student-t quantiles and intervals (lib/metrics/stats.ts) against a real reference: mpmath at
// 40 significant digits (Python), which inverts its own regularized incomplete beta by
// bisection — an independent algorithm from the Lentz continued fraction + Newton used here.
// mpmath comes with the machine's python3; where it does not, it is installed from PyPI into
// a scratch venv (pure Python, ~1 MB).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { aggregate, tQuantile, tQuantile975, tUpperTail } from "../../lib/metrics/stats.js";

const REFERENCE = String.raw`
import sys, json, mpmath as mp
mp.mp.dps = 40
def tail(t, nu):
    if mp.isinf(nu): return mp.erfc(t / mp.sqrt(2)) / 2
    return mp.betainc(nu / 2, mp.mpf(1) / 2, 0, nu / (nu + t * t), regularized=True) / 2
def tq(p, nu):
    if p < mp.mpf(1) / 2: return -tq(1 - p, nu)
    q = 1 - p
    lo, hi = mp.mpf(0), mp.mpf(1)
    while tail(hi, nu) > q: lo, hi = hi, hi * 2
    while hi - lo > hi * mp.mpf(10) ** -32:
        mid = (lo + hi) / 2
        if tail(mid, nu) > q: lo = mid
        else: hi = mid
    return (lo + hi) / 2
req = json.load(sys.stdin)
out = {"quantiles": [], "intervals": []}
for p, nu in req["quantiles"]:
    nu = mp.inf if nu == "inf" else mp.mpf(nu)
    out["quantiles"].append(mp.nstr(tq(mp.mpf(p), nu), 30))   # p: the exact double the JS side uses
for xs in req["intervals"]:
    n = len(xs)
    logs = [mp.log(mp.mpf(x)) for x in xs]
    m = mp.fsum(logs) / n
    s = mp.sqrt(mp.fsum([(v - m) ** 2 for v in logs]) / (n - 1))
    h = tq(mp.mpf("0.975"), mp.mpf(n - 1)) * s / mp.sqrt(n)
    out["intervals"].append([mp.nstr(mp.exp(m), 30), mp.nstr(mp.exp(m - h), 30), mp.nstr(mp.exp(m + h), 30)])
print(json.dumps(out))
`;

let python = "python3";

beforeAll(() => {
  if (spawnSync(python, ["-c", "import mpmath"]).status === 0) return;
  const venv = mkdtempSync(join(tmpdir(), "dedup-lab-mpmath-"));
  execFileSync("python3", ["-m", "venv", venv]);
  execFileSync(join(venv, "bin", "pip"), ["install", "--quiet", "mpmath"], { stdio: "inherit" });
  python = join(venv, "bin", "python");
}, 300_000);

function reference(req: { quantiles: [number, number | "inf"][]; intervals: number[][] }): { quantiles: number[]; intervals: number[][] } {
  // Pass p as its exact decimal expansion, so mpmath inverts the same double the JS side sees.
  const exact = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(40).replace(/0+$/, ""));
  const body = JSON.stringify({ quantiles: req.quantiles.map(([p, nu]) => [exact(p), nu === "inf" ? "inf" : exact(nu)]), intervals: req.intervals });
  const out = JSON.parse(execFileSync(python, ["-c", REFERENCE], { input: body, encoding: "utf8", maxBuffer: 1 << 24 })) as { quantiles: string[]; intervals: string[][] };
  return { quantiles: out.quantiles.map(Number), intervals: out.intervals.map((r) => r.map(Number)) };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe("Student-t quantiles, exact for any df", () => {
  const dfs: (number | "inf")[] = [
    ...Array.from({ length: 40 }, (_, i) => i + 1), 45, 50, 60, 75, 100, 120, 200, 500, 999, 1000, 1001, 5000, 1e4, 1e5, 1e6, 1e9,
    0.5, 1.5, 2.5, 7.3, "inf",
  ];
  const ps = [0.975, 0.95, 0.9, 0.995, 0.9995, 0.6, 0.025];

  it("t(0.975, df) matches mpmath to 1e-13 at every df (no switch to 1.96 above 30)", () => {
    const ref = reference({ quantiles: dfs.map((d) => [0.975, d]), intervals: [] }).quantiles;
    dfs.forEach((d, i) => {
      const got = tQuantile975(d === "inf" ? Number.POSITIVE_INFINITY : d);
      expect(rel(got, ref[i]!), `df=${d}: ${got} vs ${ref[i]}`).toBeLessThan(1e-13);
    });
    // The example: t(0.975, 31) = 2.0395…, not 1.96.
    expect(tQuantile975(31)).toBeCloseTo(ref[30]!, 14);
    expect(tQuantile975(31)).toBeGreaterThan(2.039);
  });

  it("other probabilities (both tails) match mpmath to 1e-12", () => {
    const grid = ps.flatMap((p) => [1, 2, 3, 5, 9, 30, 31, 100, 2000, 0.7, "inf" as const].map((d) => [p, d] as [number, number | "inf"]));
    const ref = reference({ quantiles: grid, intervals: [] }).quantiles;
    grid.forEach(([p, d], i) => {
      const got = tQuantile(p, d === "inf" ? Number.POSITIVE_INFINITY : d);
      expect(rel(got, ref[i]!), `p=${p} df=${d}: ${got} vs ${ref[i]}`).toBeLessThan(1e-12);
    });
  });

  it("the tail function inverts the quantile; symmetric; edge cases", () => {
    for (const d of [1, 4, 31, 250]) expect(tUpperTail(tQuantile975(d), d)).toBeCloseTo(0.025, 14);
    expect(tQuantile(0.025, 7)).toBe(-tQuantile(0.975, 7));
    expect(tQuantile(0.5, 7)).toBe(0);
    expect(Number.isNaN(tQuantile(1, 7))).toBe(true);
    expect(Number.isNaN(tQuantile975(0))).toBe(true);
  });
});

describe("log-scale intervals of positive quantities", () => {
  const samples = [
    [9.29, 0.8, 21.4], // per-repeat latency p99 with a large spread (the linear CI goes below 0)
    [0.96, 0.97, 0.965, 0.99],
    [45.6, 44.1],
    Array.from({ length: 32 }, (_, i) => 10 + ((i * 7) % 13)), // df = 31
  ];

  it("geometric mean and exp(mean ln x ± t·sd/√n) match mpmath to 1e-12, always above 0", () => {
    const ref = reference({ quantiles: [], intervals: samples }).intervals;
    samples.forEach((xs, i) => {
      const a = aggregate(xs, { positive: true });
      expect(a.scale).toBe("log");
      expect(rel(a.center, ref[i]![0]!)).toBeLessThan(1e-12);
      expect(rel(a.lower, ref[i]![1]!)).toBeLessThan(1e-12);
      expect(rel(a.upper, ref[i]![2]!)).toBeLessThan(1e-12);
      expect(a.lower).toBeGreaterThan(0);
    });
    const lin = aggregate(samples[0]!);
    expect(lin.scale).toBe("linear");
    expect(lin.lower).toBeLessThan(0);
  });
});
