// `npm run bench`: every bench in bench/, one after the other, each in its own process (so
// RSS probes and timings do not disturb each other), with its own output as it runs; then ONE
// table of the headline ratios (each against a baseline measured in the same run, or a time
// against its budget). The server benches need the local servers: this brings up the ones
// they use with `scripts/services.sh up <name…>` (idempotent; first run installs them).
// Benches are measurements, not tests: a missed goal is reported, not an error. Exit status 1
// only when a bench could not run (an error, or its servers would not start).
//   npm run bench [-- --only generator,postgres-bulk] [--no-servers] [--no-notebooks]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { kernelProblem } from "../lib/notebook/kernel.js";
import { RESULTS_ENV, type BenchRatio } from "./bench-lib.js";

const ROOT = resolve(import.meta.dirname, "..");

interface Bench {
  name: string;
  /** Local services (scripts/services/<name>.sh) it needs. */
  services: string[];
  args: () => string[];
}

const BENCHES: Bench[] = [
  { name: "generator", services: [], args: () => [] },
  { name: "plan", services: [], args: () => [] },
  { name: "postgres-bulk", services: ["postgres"], args: () => [] },
  { name: "mariadb-bulk", services: ["mariadb"], args: () => [] },
  { name: "clickhouse-bulk", services: ["clickhouse"], args: () => [] },
  { name: "redis-bulk", services: ["redis"], args: () => [] },
  { name: "kafka-bulk", services: ["kafka"], args: () => [] },
  { name: "minio-bulk", services: ["minio"], args: () => [] },
  // The notebook half needs the kernel (npx dedup-lab kernel install) and dist/ built.
  { name: "potential", services: [], args: () => [] },
  { name: "figures-tables", services: [], args: () => (flag("--no-notebooks") || kernelProblem() ? [] : ["--notebooks"]) },
];

function flag(name: string): boolean {
  return process.argv.includes(name);
}
function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

// Every bench file in bench/ must be listed above: a new bench is not silently left out.
const files = readdirSync(join(ROOT, "bench")).filter((f) => f.endsWith(".ts") && !["bench-lib.ts", "run-all.ts"].includes(f));
const unlisted = files.map((f) => basename(f, ".ts")).filter((n) => !BENCHES.some((b) => b.name === n));
if (unlisted.length) {
  console.error(`bench/run-all.ts: add ${unlisted.join(", ")} to BENCHES (with the services it needs)`);
  process.exit(2);
}
const only = option("--only")?.split(",");
const unknown = only?.filter((n) => !BENCHES.some((b) => b.name === n)) ?? [];
if (unknown.length) {
  console.error(`bench/run-all.ts: unknown bench ${unknown.join(", ")} — use: ${BENCHES.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
const chosen = BENCHES.filter((b) => !only || only.includes(b.name));

interface Row extends BenchRatio {
  seconds: number;
  /** "ok", or why there is no ratio. */
  status: string;
}
const rows: Row[] = [];
const skip = (b: Bench, why: string) => rows.push({ bench: b.name, compared: "—", ratio: Number.NaN, goal: "—", met: null, seconds: 0, status: why });

// Servers: up once for every bench that needs one (unless --no-servers).
const needed = [...new Set(chosen.flatMap((b) => b.services))];
const down = new Set<string>();
if (needed.length && !flag("--no-servers")) {
  console.log(`\n=== local servers: scripts/services.sh up ${needed.join(" ")}`);
  const up = spawnSync("bash", [join(ROOT, "scripts", "services.sh"), "up", ...needed], { cwd: ROOT, stdio: "inherit" });
  if (up.status !== 0) {
    // Find out which ones are not running, so the other benches still run.
    for (const s of needed) if (spawnSync("bash", [join(ROOT, "scripts", "services.sh"), "status", s], { cwd: ROOT, stdio: "ignore" }).status !== 0) down.add(s);
  }
}

const results = mkdtempSync(join(tmpdir(), "dedup-lab-bench-results-"));
const tsx = join(ROOT, "node_modules", ".bin", "tsx");
const started = performance.now();
for (const b of chosen) {
  if (b.services.length && flag("--no-servers")) {
    skip(b, "skipped (--no-servers)");
    continue;
  }
  const missing = b.services.filter((s) => down.has(s));
  if (missing.length) {
    skip(b, `not run: ${missing.join(", ")} did not start`);
    continue;
  }
  const file = join(results, `${b.name}.jsonl`);
  const args = b.args();
  console.log(`\n=== ${b.name}: npx tsx bench/${b.name}.ts ${args.join(" ")}`.trimEnd());
  const t = performance.now();
  const code = await new Promise<number | null>((done) => {
    const child = spawn(tsx, [join(ROOT, "bench", `${b.name}.ts`), ...args], { cwd: ROOT, stdio: "inherit", env: { ...process.env, [RESULTS_ENV]: file } });
    child.on("error", () => done(null));
    child.on("exit", (c) => done(c));
  });
  const seconds = (performance.now() - t) / 1000;
  const reported = existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as BenchRatio) : [];
  if (code !== 0) skip(b, `failed (exit ${code})${reported.length ? " after reporting" : ""}`);
  else if (!reported.length) skip(b, "reported no ratio");
  for (const r of reported) rows.push({ ...r, seconds, status: "ok" });
  if (code === 0 && b.name === "figures-tables" && !args.includes("--notebooks")) {
    skip(b, flag("--no-notebooks") ? "notebooks skipped (--no-notebooks)" : `notebooks skipped: ${kernelProblem()}`);
  }
}
rmSync(results, { recursive: true, force: true });

// The one table (Markdown, so it pastes into an issue or the README as it is).
const fmt = (r: Row) => [
  r.bench,
  r.compared,
  Number.isNaN(r.ratio) ? "—" : r.ratio.toFixed(2),
  r.goal,
  r.status !== "ok" ? r.status : r.met === null ? "—" : r.met ? "yes" : "NO",
];
const header = ["bench", "compared", "ratio", "goal", "met"];
const table = [header, ...rows.map(fmt)];
const widths = header.map((_, i) => Math.max(...table.map((line) => line[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(`\n=== ratios (${new Date().toISOString()}, Node ${process.version}, ${cpus().length} cores, ${((performance.now() - started) / 1000).toFixed(0)} s in all)\n`);
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of table.slice(1)) console.log(line(r));
const failed = rows.filter((r) => r.status.startsWith("failed") || r.status.startsWith("not run") || r.status === "reported no ratio");
if (failed.length) console.log(`\n${failed.length} bench(es) did not run to the end: ${failed.map((r) => r.bench).join(", ")}`);
process.exitCode = failed.length ? 1 : 0;
