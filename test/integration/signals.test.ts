// Signals on a server run (issue 17; SIGINT → 130 and SIGTERM → 143 with one signal are in
// test/unit/cli-conventions.test.ts): a second Ctrl-C quits at once but leaves the bundle
// `interrupted` with the resume line; its lock stays with a dead holder, which `cleanup` names
// and refuses without --force; after SIGKILL the next run on the server says so in one line and
// removes what carries the killed run's token (tables, work directory), and only that.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/runner/config.js";
import { domainsOf, lockHolder } from "../../lib/runner/lock.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { cli, cliAsync } from "../helpers/cli.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";

const CONFIG = join(ROOT, "examples/local-services.yaml");
const slice = (stages: string) => ["--config", CONFIG, "--systems", "postgres", "--payloads", "random_binary", "--grades", "U0", "--units", "8", "--stages", stages, "--quiet"];
const SLICE = slice("bulk_insert,perfile_insert");
const lab = new LabNamespace();
let admin: pg.Client;
let domain: string;
let work: string;

beforeAll(async () => {
  loadServicesEnv();
  [domain] = domainsOf(await loadConfig(CONFIG, { systems: ["postgres"] }));
  admin = new pg.Client({ connectionString: process.env.DEDUP_PG_ADMIN_URL });
  await admin.connect();
  work = mkdtempSync(join(tmpdir(), "dedup-lab-signals-"));
});
afterAll(async () => {
  await admin?.end();
});

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The lab tables of a run (their names carry its token). */
async function tablesOf(runId: string): Promise<string[]> {
  const r = await admin.query("SELECT tablename FROM pg_tables WHERE schemaname = $1 AND starts_with(tablename, $2)", [lab.sqlName, `units_${lab.runToken(runId)}`]);
  return r.rows.map((x: { tablename: string }) => x.tablename);
}

/** Starts a run with its work directories under `workRoot`; resolves once a cell of it has a table on the server. */
async function startMidCell(out: string, workRoot: string) {
  const child = cliAsync(["run", ...SLICE, "--out", out], { env: { TMPDIR: workRoot } });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exit = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  const runId = () => (existsSync(join(out, "bundle.json")) ? (JSON.parse(readFileSync(join(out, "bundle.json"), "utf8")) as { run_id: string }).run_id : "");
  await until("a cell's table", async () => runId() !== "" && (await tablesOf(runId())).length > 0);
  return { child, exit, runId: runId(), stderr: () => stderr };
}

describe("signals and leftovers on a server run", () => {
  it("double Ctrl-C → bundle interrupted + resume line; SIGKILL → the next run reports and removes the killed run's leftovers", async () => {
    // 1. A second Ctrl-C while the first one is still finishing.
    const outA = join(work, "a");
    const a = await startMidCell(outA, work);
    a.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 30));
    a.child.kill("SIGINT");
    expect(await a.exit, a.stderr()).toBe(130);
    expect(a.stderr()).toContain("SIGINT again: quit at once");
    expect(a.stderr()).toContain(`interrupted by SIGINT — continue with: npx dedup-lab run --resume ${outA}\n`);
    expect(JSON.parse(readFileSync(join(outA, "bundle.json"), "utf8")).status).toBe("interrupted");
    expect(lockHolder(domain)?.pid).toBe(a.child.pid); // left with a dead holder, for the next run to recover

    // cleanup names the stale lock and wants --force (it never guesses that a holder is gone for good).
    const refused = cli(["cleanup", "--config", CONFIG, "--systems", "postgres"]);
    expect(refused.status, refused.stderr).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(new RegExp(`locked by run ${a.runId} \\(host \\S+, pid ${a.child.pid}, .*\\), which is gone .* --force`));

    // 2. SIGKILL mid-cell: its table, work directory and lock stay behind.
    const killedWork = mkdtempSync(join(work, "k-"));
    const k = await startMidCell(join(work, "k"), killedWork);
    expect(await tablesOf(a.runId)).toEqual([]); // k recovered a's leftovers at its start
    k.child.kill("SIGKILL");
    await k.exit;
    const killedTables = await tablesOf(k.runId);
    expect(killedTables.length).toBeGreaterThan(0);
    const killedDirs = readdirSync(killedWork).filter((n) => n.startsWith(`${lab.objectPrefix}${lab.runToken(k.runId)}`));
    expect(killedDirs).toHaveLength(1);
    expect(lockHolder(domain)?.pid).toBe(k.child.pid);

    // 3. The next run on the server says so in one line and removes exactly the killed run's objects.
    const next = cli(["run", ...slice("bulk_insert"), "--out", join(work, "next")], { env: { TMPDIR: killedWork } });
    expect(next.status, next.stderr).toBe(0);
    const notes = next.stderr.split("\n").filter((l) => l.includes("leftovers"));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(
      new RegExp(`^dedup-lab: leftovers of run ${k.runId} \\(host \\S+, pid ${k.child.pid}, started .*\\), which is gone: stale lock on ${domain} broken; its lab objects \\(${lab.runToken(k.runId)}…\\) removed from postgres @ \\S+; 1 work directory removed$`),
    );
    expect(await tablesOf(k.runId)).toEqual([]);
    expect(readdirSync(killedWork)).toEqual([]);
    expect(lockHolder(domain)).toBeNull();
  });
});
