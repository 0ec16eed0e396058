// Property-based test of the CLI's one error path (issue 17): random and mutated argument lists
// built from the real commands and options of buildProgram(), and mutated example configs, are
// thrown at main() in-process. Whatever the input: exit 0 (valid) or 2 (bad input); on 2 exactly
// one stderr line starting "dedup-lab: "; never a stack, never a raw error name. Only commands that
// cannot reach a server or write anything run: plan, run --dry-run, datasets verify, report, and
// datasets generate with an --out that must be refused. A connect() spy proves no socket opened.
import fc from "fast-check";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { Command } from "commander";
import { buildProgram } from "../../lib/cli/main.js";
import { writeDataset } from "../../lib/generators/manifest.js";
import { DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { writeArrowFile } from "../../lib/results/arrow-io.js";
import { RunBundle } from "../../lib/results/bundle.js";
import { RESULTS } from "../../lib/results/schema.js";
import { ROOT } from "../helpers/services-env.js";
import { mainInProcess, type InProcessResult } from "../helpers/cli-in-process.js";

const root = mkdtempSync(join(tmpdir(), "dedup-lab-fuzz-"));
const cwd = join(root, "cwd"); // main() runs here: anything a command wrote would show up in it
const fx = {
  file: join(root, "a-file"),
  dir: join(root, "empty-dir"),
  dataset: join(root, "dataset"),
  brokenManifest: join(root, "broken-manifest"),
  bundle: join(root, "bundle"),
  truncatedBundle: join(root, "truncated-bundle"),
};

// Mutated values: negative, fractional, huge, empty, unicode, pseudo-fs and nonexistent paths,
// words a raw error would show (echoed as typed, so they are scrubbed before the check).
const VALUES = [
  "0", "1", "3", "-5", "2.5", "1e12", "100000000", "100000001", "0x10", "", " ", "NaN", "undefined", "Infinity",
  "4KiB", "0B", "1TiB", "4KiB..1MiB", "1MiB..4KiB", "12 parsecs", "U0", "U90", "U99", "1.0", "-0.5", "90%",
  "sqlite", "nosuchdb", "sqlite,,duckdb", "file,block", "within,across", "bulk_insert", "perfile_delete",
  "random_binary", "mp3", "ünï©ødé", "💥", "dedup", "Prod DB",
  "/proc/self/dedup-x", "/sys/kernel/dedup-x", "/nonexistent/dir/x.yaml", "/", ".",
];
const PATHS = () => ["/proc/self/dedup-x", "/sys/kernel/dedup-x", "/proc/self", "/nonexistent/x", "", ".", "/", fx.file, join(fx.file, "sub"), ...Object.values(fx)];
/** Outputs `datasets generate` must refuse: it never writes during the property. */
const BAD_OUTS = () => ["/proc/self/dedup-x", "/sys/kernel/dedup-x", fx.file, join(fx.file, "sub", "x")];
// argv cannot carry NUL bytes (C strings); everything else may reach the parser.
const anyText = fc.string({ unit: "grapheme", maxLength: 12 }).filter((s) => !s.includes("\0"));

// Fixed seed and run counts keep CI reproducible and under 30 s; DEDUP_LAB_FUZZ_RUNS=5000 DEDUP_LAB_FUZZ_SEED=… explores further.
const RUNS = Number(process.env.DEDUP_LAB_FUZZ_RUNS ?? 300);
const SEED = Number(process.env.DEDUP_LAB_FUZZ_SEED ?? 17);
const statuses: Record<number, number> = {};

const BANNED = ["ENOENT", "EACCES", "EPERM", "ENOTDIR", "EISDIR", "EROFS", "ELOOP", "TypeError", "RangeError", "SyntaxError", "ZodError", "Cannot read properties", "undefined", "NaN", "[object Object]", "\n    at "];

function commandAt(program: Command, path: string[]): Command {
  let cmd = program;
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
  return cmd;
}



/** The property every input must satisfy. */
function expectOneErrorPath(argv: string[], r: InProcessResult): void {
  statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  const ctx = `argv ${JSON.stringify(argv)}\nstderr ${JSON.stringify(r.stderr)}`;
  expect([0, 2], ctx).toContain(r.status);
  if (r.status === 0) {
    expect(r.stderr, ctx).toBe("");
    return;
  }
  expect(r.stderr, ctx).toMatch(/^dedup-lab: [^\n]+\n$/);
  // What the user typed is echoed on purpose (`--units NaN` says "NaN"): take it out before looking for raw errors.
  let text = r.stderr;
  for (const token of argv) if (BANNED.some((b) => token.includes(b.trim()))) text = text.split(token).join("«typed»");
  for (const b of BANNED) expect(text, ctx).not.toContain(b);
}

let connects = 0;
const originalConnect = Socket.prototype.connect;
const savedEnv: Record<string, string | undefined> = {};
let examples: { name: string; config: Record<string, unknown> }[] = [];

beforeAll(async () => {
  mkdirSync(cwd);
  writeFileSync(fx.file, "not a directory\n");
  mkdirSync(fx.dir);
  await writeDataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 5, size: { min: 4096, max: 4096 }, fraction: 0.4 }), fx.dataset);
  mkdirSync(fx.brokenManifest);
  writeFileSync(join(fx.brokenManifest, "manifest.json"), readFileSync(join(fx.dataset, "manifest.json"), "utf8").slice(0, 150));
  for (const dir of [fx.bundle, fx.truncatedBundle]) await RunBundle.create(dir, { run_id: "fuzz", cells_total: 0, config_fingerprint: "fuzz" });
  await writeArrowFile(join(fx.truncatedBundle, RESULTS.file), RESULTS, []);
  truncateSync(join(fx.truncatedBundle, RESULTS.file), 100);
  // The examples name their endpoints through ${VAR}: plausible stand-ins (plan reads no secret, opens nothing).
  examples = readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".yaml")).map((f) => {
    const text = readFileSync(join(ROOT, "examples", f), "utf8");
    for (const [, name] of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      if (!(name! in savedEnv)) savedEnv[name!] = process.env[name!];
      process.env[name!] = /PORT$/.test(name!) ? "5432" : /BROKERS$/.test(name!) ? "127.0.0.1:9092" : /(DIR|DIRS|FILE)$/.test(name!) ? join(root, "x") : /URL$/.test(name!) ? "http://127.0.0.1:1/metrics" : "fuzz";
    }
    return { name: f, config: parseYaml(text) as Record<string, unknown> };
  });
  delete process.env.DEDUP_LAB_DEBUG;
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    connects++;
    return (originalConnect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof Socket.prototype.connect;
  process.chdir(cwd);
});

afterAll(() => {
  process.chdir(ROOT);
  Socket.prototype.connect = originalConnect;
  for (const [name, v] of Object.entries(savedEnv)) if (v === undefined) delete process.env[name];
  else process.env[name] = v;
  rmSync(root, { recursive: true, force: true });
});

describe("the CLI's one error path, property-based", () => {
  it("the fixtures are what the properties assume (valid input exits 0)", async () => {
    for (const argv of [["plan", "--units", "10"], ["run", "--dry-run", "--units", "10"], ["datasets", "verify", fx.dataset], ["report", fx.bundle]]) {
      const r = await mainInProcess(argv);
      expect(r.status, `${argv.join(" ")}: ${r.stderr}`).toBe(0);
    }
    for (const ex of examples) {
      const file = join(root, `as-is-${ex.name}`);
      writeFileSync(file, stringifyYaml(ex.config));
      const r = await mainInProcess(["plan", "--config", file]);
      expect(r.status, `${ex.name}: ${r.stderr}`).toBe(0);
    }
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it("random and mutated argument lists: exit 0 or 2 with one line, nothing written, no socket", async () => {
    const program = buildProgram();
    const commands: { path: string[]; fixed: string[]; positional: boolean; out?: boolean }[] = [
      { path: ["plan"], fixed: [], positional: false },
      { path: ["run"], fixed: ["--dry-run"], positional: false }, // first: no value-taking option can swallow it
      { path: ["datasets", "verify"], fixed: [], positional: true },
      { path: ["report"], fixed: [], positional: true },
      { path: ["datasets", "generate"], fixed: [], positional: false, out: true },
    ];
    const argvArb = fc.constantFrom(...commands).chain((c) => {
      const options = commandAt(program, c.path).options.filter((o) => o.long && o.long !== "--dry-run" && o.long !== "--help");
      const value = fc.oneof(fc.constantFrom(...VALUES), fc.constantFrom(...PATHS()), anyText);
      const stray = fc.oneof(fc.constant(["--bogus"]), fc.constant(["-x"]), value.map((v) => [v]));
      const pair = options.length
        ? fc.tuple(fc.constantFrom(...options), value).map(([o, v]) => (o.required || o.optional ? [o.long!, v] : [o.long!]))
        : stray; // report has no options of its own
      return fc
        .tuple(
          fc.array(fc.oneof({ weight: 6, arbitrary: pair }, { weight: 1, arbitrary: stray }), { maxLength: 6 }),
          c.positional ? fc.array(fc.constantFrom(...PATHS()), { maxLength: 2 }) : fc.constant([]),
          c.out ? fc.constantFrom(...BAD_OUTS()) : fc.constant(undefined),
        )
        .map(([pairs, args, out]) => [...c.path, ...c.fixed, ...pairs.flat(), ...args, ...(out === undefined ? [] : ["--out", out])]);
    });
    await fc.assert(
      fc.asyncProperty(argvArb, async (argv) => {
        const r = await mainInProcess(argv);
        expectOneErrorPath(argv, r);
        if (argv[1] === "generate") expect(r.status, JSON.stringify(argv)).toBe(2);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    expect(readdirSync(cwd)).toEqual([]);
    expect(readdirSync(fx.dir)).toEqual([]);
    expect(connects).toBe(0);
    // Both outcomes occur: the generator reaches valid input too, not only parse errors.
    expect(statuses[0], JSON.stringify(statuses)).toBeGreaterThan(RUNS / 20);
    expect(statuses[2], JSON.stringify(statuses)).toBeGreaterThan(RUNS / 4);
  });

  it("mutated example configs (fields removed or retyped): plan and run --dry-run exit 0 or 2 with one line", async () => {
    const leaves = (v: unknown, path: (string | number)[] = []): (string | number)[][] =>
      v && typeof v === "object" ? [path, ...Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, Array.isArray(v) ? Number(k) : k]))] : [path];
    const cases = examples.flatMap((ex) => leaves(ex.config).filter((p) => p.length > 0).map((p) => ({ ex, path: p })));
    const REPLACEMENTS: unknown[] = [undefined, null, 42, -1, 2.5, 1e12, "", "ünï©ødé", "/proc/self/x", [], {}, ["x"], { bogus: 1 }, true];
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...cases), fc.constantFrom(...REPLACEMENTS), fc.boolean(), async ({ ex, path }, replacement, dry) => {
        const config = structuredClone(ex.config);
        let parent = config as Record<string | number, unknown>;
        for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
        const key = path.at(-1)!;
        if (replacement === undefined) delete parent[key];
        else parent[key] = replacement;
        const file = join(root, `mutated-${n++}.yaml`);
        writeFileSync(file, stringifyYaml(config));
        appendFileSync(file, ""); // the file exists even when the mutation emptied the document
        const argv = dry ? ["run", "--dry-run", "--config", file] : ["plan", "--config", file];
        const r = await mainInProcess(argv);
        expectOneErrorPath([...argv, `${path.join(".")}=${JSON.stringify(replacement)}`], r);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    expect(readdirSync(cwd)).toEqual([]);
    expect(connects).toBe(0);
  });
});
