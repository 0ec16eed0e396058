// Bad input: one line naming the problem and the fix, exit 2, nothing written.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";

const tmp = () => mkdtempSync(join(tmpdir(), "dedup-lab-cli-"));

function expectUsageError(args: string[], pattern: RegExp, cwd?: string) {
  const r = cli(args, { cwd });
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).toMatch(/ — /); // problem — fix
}

describe("run: bad input", () => {
  const out = () => join(tmp(), "bundle");
  it.each([
    [["--systems", "sqlite,nosuchdb"], /unknown system "nosuchdb" — use one of: sqlite/],
    [["--payloads", "mp3"], /unknown payload "mp3"/],
    [["--grades", "U42x"], /unknown grade "U42x"/],
    [["--grades", "1.0"], /duplicate fraction 1 is outside \[0, 1\)/],
    [["--grades", "-0.5"], /outside \[0, 1\)/],
    [["--unit-size", "0"], /unit size must be at least 1 byte/],
    [["--unit-size", "1TiB"], /over the 256 MiB limit/],
    [["--unit-size", "12 parsecs"], /invalid unit size/],
    [["--units", "0"], /units/],
    [["--units", "many"], /units/],
    [["--stages", "perfile_delete"], /perfile_delete needs perfile_insert/],
    [["--config", "/nonexistent/x.yaml"], /cannot read config \/nonexistent\/x.yaml/],
    [["--lab-prefix", "Prod DB"], /invalid lab prefix/],
  ])("%j", (args, pattern) => {
    const dir = out();
    expectUsageError(["run", ...args, "--out", dir], pattern);
    expect(existsSync(dir)).toBe(false);
  });

  it("an invalid config file is refused with the offending path", () => {
    const d = tmp();
    writeFileSync(join(d, "bad.yaml"), "matrix:\n  systems: [sqlite]\n  repeatz: 3\n");
    expectUsageError(["run", "--config", join(d, "bad.yaml"), "--out", join(d, "b")], /matrix: Unrecognized key: "repeatz"/);
    writeFileSync(join(d, "broken.yaml"), "matrix: [unclosed\n");
    expectUsageError(["run", "--config", join(d, "broken.yaml"), "--out", join(d, "b")], /not valid YAML/);
    writeFileSync(join(d, "variant.yaml"), "systems:\n  sqlite:\n    variants: [turbo]\n");
    expectUsageError(["run", "--config", join(d, "variant.yaml"), "--out", join(d, "b")], /unknown variant "turbo" — use one of: rollback, wal/);
    writeFileSync(join(d, "env.yaml"), "dataset:\n  seed: ${DEDUP_TEST_UNSET_VAR}\n");
    expectUsageError(["run", "--config", join(d, "env.yaml"), "--out", join(d, "b")], /DEDUP_TEST_UNSET_VAR is not set/);
    expect(existsSync(join(d, "b"))).toBe(false);
  });

  it("a non-empty --out directory is refused and left alone", () => {
    const d = tmp();
    writeFileSync(join(d, "precious.txt"), "keep");
    expectUsageError(["run", "--systems", "sqlite", "--payloads", "random_binary", "--grades", "U0", "--units", "5", "--out", d], /not empty/);
    expect(readdirSync(d)).toEqual(["precious.txt"]);
  });

  it("a resume directory from another config is refused", () => {
    const d = join(tmp(), "b");
    const base = ["--systems", "sqlite", "--payloads", "random_binary", "--grades", "U0", "--units", "5"];
    expect(cli(["run", ...base, "--out", d, "--quiet"]).status).toBe(0);
    expectUsageError(["run", "--resume", d, ...base.slice(0, -1), "6"], /written by another configuration/);
    expectUsageError(["run", "--resume", join(tmp(), "nope")], /does not exist/);
  });
});

describe("datasets: as written in the README", () => {
  it("generate then verify (exit 0, prints the realized fraction)", () => {
    const dir = join(tmp(), "ds");
    const g = cli(["datasets", "generate", "--payload", "random_binary", "--fraction", "0.9", "--units", "200", "--unit-size", "4096", "--out", dir]);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/realized 0\.9, dedup ratio 10\.0000/);
    const v = cli(["datasets", "verify", dir]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/OK — 200 units, .*realized fraction 0\.9/);
  });
  it("bad input to generate: exit 2, nothing written", () => {
    const d = tmp();
    mkdirSync(join(d, "full"));
    writeFileSync(join(d, "full", "x"), "x");
    expectUsageError(["datasets", "generate", "--fraction", "1.5", "--out", join(d, "a")], /outside \[0, 1\)/);
    expectUsageError(["datasets", "generate", "--payload", "nope", "--out", join(d, "a")], /unknown payload/);
    expectUsageError(["datasets", "generate", "--unit-size", "0", "--out", join(d, "a")], /at least 1 byte/);
    expectUsageError(["datasets", "generate", "--out", join(d, "full")], /not empty/);
    expect(existsSync(join(d, "a"))).toBe(false);
  });
});

describe("cleanup", () => {
  it("removes only the runner's per-cell work directories, never other files sharing the prefix", async () => {
    const root = tmp();
    const keep = ["dedup-lab-services", "dedup-lab-c0123456789", "dedup-lab-cabcdef0123-toolong", "dedup-labx"];
    const drop = ["dedup-lab-c0123456789-AbC123", "dedup-lab-cffffffffff-zz9ZZ9"];
    for (const n of [...keep, ...drop]) mkdirSync(join(root, n));
    writeFileSync(join(root, "dedup-lab-services", "server.pid"), "1");
    writeFileSync(join(root, "cfg.yaml"), `workDir: ${root}\nmatrix: { systems: [sqlite, directory] }\n`);
    for (let i = 0; i < 2; i++) {
      const r = cli(["cleanup", "--config", join(root, "cfg.yaml")]);
      expect(r.status, r.stderr).toBe(0); // idempotent
    }
    expect(readdirSync(root).sort()).toEqual([...keep, "cfg.yaml"].sort());
    expect(readdirSync(join(root, "dedup-lab-services"))).toEqual(["server.pid"]);
  });
});
