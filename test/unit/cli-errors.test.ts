// Issue 17, items 3–5: every input the audit saw end in a raw error, a hang or a memory blow-up is a
// one-line exit 2 before anything is written, and planning is flat in the number of units.
// In-process (main()) where nothing can hang; a child process with a timeout for the /proc cases
// (they used to spin forever) and for the run as user nobody (root bypasses permissions).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { fsTypeOf, mountTable } from "../../lib/cli/paths.js";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { writeDataset } from "../../lib/generators/manifest.js";
import { plannedTotals } from "../../lib/generators/plan.js";
import { writeArrowFile } from "../../lib/results/arrow-io.js";
import { RunBundle } from "../../lib/results/bundle.js";
import { RESULTS } from "../../lib/results/schema.js";
import { loadConfig } from "../../lib/runner/config.js";
import { planRun } from "../../lib/runner/plan.js";
import { withTraversableAncestors } from "../helpers/traversable.js";
import { ROOT } from "../helpers/services-env.js";
import { TempDirs } from "../helpers/bundles.js";
import { mainInProcess } from "../helpers/cli-in-process.js";

const temps = new TempDirs("dedup-lab-errors-");
const tmp = () => temps.make();
afterAll(() => temps.removeAll());

const SMALL = ["--systems", "sqlite", "--payloads", "random_binary", "--grades", "U0", "--units", "5", "--stages", "bulk_insert", "--quiet"];


// tsx by absolute URL: the child may run in a directory without node_modules.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** The CLI from source in a child process (no build needed), bounded by `timeout` ms. */
function childCli(args: string[], opts: { timeout?: number; prefix?: string[]; cwd?: string } = {}) {
  const code = `import { main } from ${JSON.stringify(join(ROOT, "lib/cli/main.ts"))}; process.exitCode = await main(process.argv.slice(1));`;
  const cmd = [...(opts.prefix ?? []), process.execPath, "--import", TSX, "--input-type=module", "-e", code, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: opts.cwd ?? ROOT, encoding: "utf8", timeout: opts.timeout ?? 60_000, env: { ...process.env, DEDUP_LAB_DEBUG: "" } });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

function expectOneLine(r: { status: number | null; stderr: string }, pattern: RegExp) {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr, r.stderr).toMatch(/^dedup-lab: [^\n]+ — [^\n]+\n$/); // problem — fix, one line
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\b(ENOENT|ENOTDIR|EACCES|EPERM|NaN|undefined)\b|Cannot read properties|^\s+at /m);
}

describe("item 3: one line, exit 2, nothing written", () => {
  it.each([
    [["--units", "1e12"], /--units must be a whole number from 1 to 100000000 \(got "1e12"\)/],
    [["--units", "-5"], /\(got "-5"\)/],
    [["--units", "2.5"], /\(got "2\.5"\)/],
    [["--repeats", "0"], /--repeats must be a whole number from 1 to 1000 \(got "0"\)/],
    [["--block-size", "0"], /block size 0 is below 512 B/],
    [["--granularities", "block", "--block-size", "0"], /block size 0 is below 512 B/],
  ])("run %j: the value as typed", async (args, pattern) => {
    const out = join(tmp(), "b");
    expectOneLine(await mainInProcess(["run", ...SMALL, ...args, "--out", out]), pattern);
    expect(existsSync(out)).toBe(false);
  });

  it("--out through a regular file, or a file itself", async () => {
    const d = tmp();
    writeFileSync(join(d, "f"), "x");
    expectOneLine(await mainInProcess(["run", ...SMALL, "--out", join(d, "f", "sub")]), /--out .*f\/sub goes through .*\/f, which is a file/);
    expectOneLine(await mainInProcess(["run", ...SMALL, "--out", join(d, "f")]), /is a file, not a directory/);
    expectOneLine(await mainInProcess(["datasets", "generate", "--out", join(d, "f", "sub")]), /goes through/);
    expect(readdirSync(d)).toEqual(["f"]);
  });

  it("--out under /sys", async () => {
    expectOneLine(await mainInProcess(["run", ...SMALL, "--out", "/sys/kernel/dedup-lab-test"]), /--out \/sys\/kernel\/dedup-lab-test is on sysfs, a kernel pseudo file system/);
  });

  it("a workDir that cannot be created; a missing password variable; a missing CA file — before the bundle exists", async () => {
    const d = tmp();
    writeFileSync(join(d, "f"), "x");
    const cases: [string, RegExp][] = [
      [`workDir: ${join(d, "f", "work")}\n`, /workDir .*\/f\/work goes through .*\/f, which is a file/],
      [
        "matrix: { systems: [postgres] }\nsystems:\n  postgres:\n    options: { host: 127.0.0.1, port: 1, user: u, passwordEnv: DEDUP_TEST_SURELY_UNSET }\n",
        /systems\.postgres\.options\.passwordEnv: environment variable DEDUP_TEST_SURELY_UNSET is not set/,
      ],
      [
        "matrix: { systems: [cockroach] }\nsystems:\n  cockroach:\n    options: { host: 127.0.0.1, port: 1, user: u, passwordEnv: PATH, ssl: { mode: verify-full, caFile: /nonexistent/ca.crt, serverName: x } }\n",
        /systems\.cockroach\.options\.ssl\.caFile: \/nonexistent\/ca\.crt does not exist/,
      ],
    ];
    for (const [i, [yaml, pattern]] of cases.entries()) {
      writeFileSync(join(d, `c${i}.yaml`), yaml);
      const out = join(d, `b${i}`);
      expectOneLine(await mainInProcess(["run", "--config", join(d, `c${i}.yaml`), "--units", "5", "--payloads", "random_binary", "--grades", "U0", "--stages", "bulk_insert", "--quiet", "--out", out]), pattern);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("report on a truncated or empty results.arrow names the file", async () => {
    const b = join(tmp(), "bundle");
    await RunBundle.create(b, { run_id: "t", cells_total: 0, config_fingerprint: "t" });
    const arrow = join(b, RESULTS.file);
    await writeArrowFile(arrow, RESULTS, []);
    truncateSync(arrow, 100);
    expectOneLine(await mainInProcess(["report", b]), /results\.arrow is cut short \(100 B, no Arrow footer\)/);
    truncateSync(arrow, 0);
    expectOneLine(await mainInProcess(["report", b]), /results\.arrow is empty/);
  });

  it("report on a bundle with a damaged cell file names the file and the fix", async () => {
    const b = join(tmp(), "bundle");
    await RunBundle.create(b, { run_id: "t", cells_total: 1, config_fingerprint: "t" });
    mkdirSync(join(b, "cells"), { recursive: true });
    writeFileSync(join(b, "cells", "c0001.json"), '{"status": "do');
    expectOneLine(await mainInProcess(["report", b]), /cells\/c0001\.json is not valid JSON .*damaged or cut short — delete that file; `dedup-lab run --resume`/);
  });

  it("report on a damaged bundle.json says damaged, not missing", async () => {
    const b = join(tmp(), "bundle");
    await RunBundle.create(b, { run_id: "t", cells_total: 0, config_fingerprint: "t" });
    truncateSync(join(b, "bundle.json"), 10);
    expectOneLine(await mainInProcess(["report", b]), /bundle\/bundle\.json is not valid JSON .*damaged or cut short — restore it from a copy/);
  });

  it("datasets verify on a broken manifest.json names the path", async () => {
    const d = join(tmp(), "ds");
    await writeDataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 3, size: { min: 4096, max: 4096 }, fraction: 0 }), d);
    const manifest = join(d, "manifest.json");
    writeFileSync(manifest, readFileSync(manifest, "utf8").slice(0, 120));
    expectOneLine(await mainInProcess(["datasets", "verify", d]), new RegExp(`${manifest} is not valid JSON .*cut short`));
  });

  it("commander's own errors are one line too", async () => {
    expectOneLine(await mainInProcess(["plan", "--bogus"]), /unknown option '--bogus'/);
    expectOneLine(await mainInProcess(["run", "--units"]), /argument missing/);
  });

  it("--out without permission (as user nobody): one line, exit 2", () => {
    const d = tmp();
    const locked = join(d, "locked");
    mkdirSync(locked, { mode: 0o755 }); // root's, not writable by nobody
    chmodSync(d, 0o755);
    // The node binary too: the LTS run's node lives under /root/.cache (mode 700 at /root).
    const r = withTraversableAncestors(d, () =>
      withTraversableAncestors(ROOT, () =>
        withTraversableAncestors(dirname(process.execPath), () =>
          childCli(["run", ...SMALL, "--out", join(locked, "b")], { prefix: ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "HOME=/tmp"], cwd: d }),
        ),
      ),
    );
    expectOneLine(r, /--out .*locked\/b cannot be written: .*locked is not accessible \(permission denied\)/);
    expect(readdirSync(locked)).toEqual([]);
  });
});

describe("item 4: pseudo file systems are refused up front, no hang", () => {
  it("mountinfo parsing: longest mount point wins, escapes decoded", () => {
    const table = mountTable(
      ["22 1 0:21 / / rw - ext4 /dev/sda1 rw", "23 22 0:22 / /proc rw - proc proc rw", "24 22 0:23 / /mnt/my\\040disk rw - xfs /dev/sdb rw", "25 23 0:24 / /proc/sys/fs/binfmt_misc rw - binfmt_misc x rw"].join("\n"),
    );
    expect(fsTypeOf("/proc/self/x", table)).toBe("proc");
    expect(fsTypeOf("/proc/sys/fs/binfmt_misc/x", table)).toBe("binfmt_misc");
    expect(fsTypeOf("/mnt/my disk/out", table)).toBe("xfs");
    expect(fsTypeOf("/processing", table)).toBe("ext4"); // a prefix of the name is not a mount point
  });

  it.each([
    [["run", ...SMALL, "--out", "/proc/dedup-lab-test"]],
    [["datasets", "generate", "--units", "5", "--out", "/proc/dedup-lab-test"]],
  ])("%j exits 2 with one line (the child is killed after 60 s if it hangs)", (args) => {
    const r = childCli(args, { timeout: 60_000 });
    expect(r.signal, "the CLI hung and was killed").toBeNull();
    expectOneLine(r, /--out \/proc\/dedup-lab-test is on proc, a kernel pseudo file system/);
  });
});

describe("item 5: planning is flat in the number of units", () => {
  it("closed-form totals equal the generator's for fixed sizes, and its expectation for a size range", () => {
    for (const granularity of ["file", "block"] as const) {
      for (const fraction of [0, 0.5, 0.9, 0.99]) {
        const spec = DatasetSpecSchema.parse({ payload: "random_binary", units: 300, size: { min: 8192, max: 8192 }, fraction, granularity });
        const ds = new Dataset(spec);
        const p = plannedTotals(spec);
        expect([p.logicalBytes, p.uniqueBytes, p.items, p.duplicates, p.exact]).toEqual([ds.totals.logical_bytes, ds.totals.unique_bytes, ds.totals.items, ds.totals.duplicate_items, true]);
        ds.close();
      }
      const spec = DatasetSpecSchema.parse({ payload: "random_binary", units: 4000, size: { min: 4096, max: 65536 }, fraction: 0.5, granularity });
      const ds = new Dataset(spec);
      const p = plannedTotals(spec);
      expect(p.exact).toBe(false);
      expect(Math.abs(p.logicalBytes / ds.totals.logical_bytes - 1)).toBeLessThan(0.03); // sampling error of 4000 uniform sizes ≈ 0.5 %
      ds.close();
    }
  });

  it("planning 10^8 units per cell materialises no per-unit array (ArrayBuffer memory stays flat)", async () => {
    const cfg = await loadConfig(undefined, { units: 100_000_000, granularities: ["file,block"] });
    const before = process.memoryUsage().arrayBuffers;
    const plan = planRun(cfg);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(plan.cells).toHaveLength(90);
    expect(plan.bytes).toBe(90 * 100_000_000 * 16384 * 2); // bulk_insert and perfile_insert each write every unit
    expect(grown).toBeLessThan(16 * 2 ** 20); // one cell's per-unit arrays would be ≥ 400 MB
  });
});
