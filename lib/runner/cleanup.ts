// Leftovers: `dedup-lab cleanup` drops everything of the lab namespace in each configured system
// under the domains' locks (refused while a live run holds one); a run removes what provably
// belongs to runs that are gone — the lab objects named with a dead lock holder's run token, and
// work directories named with a dead process's pid. Idempotent; touches nothing outside the lab.
import { execFile } from "node:child_process";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { errorMessage } from "../errors.js";
import { VOLUME_SCRIPT, readVolume, volumeStateDir } from "../metrics/local-volume.js";
import type { LabNamespace } from "../systems/namespace.js";
import { systemDefinition } from "../systems/registry.js";
import type { RunConfig } from "./config.js";
import { DomainLocks, describeHolder, domainOf, domainsOf, type LockHolder } from "./lock.js";

const run = promisify(execFile);
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
const WORK_DIR_RE = /^(r[0-9a-f]{8})?c[0-9a-f]{10}(?:-p(\d+))?-[A-Za-z0-9]{6}$/;

/** The mkdtemp prefix of a cell's work directory: `<prefix>-lab-<cell key>-p<pid>-` (the pid tells a dead run's). */
export function cellWorkDirPrefix(lab: LabNamespace, cellKey: string): string {
  return `${lab.objectPrefix}${cellKey}-p${process.pid}-`;
}

/**
 * Only the runner's per-cell work directories (`<prefix>-lab-<cell key>-p<pid>-XXXXXX`; the cell key
 * `r<8 hex>c<10 hex>`, or `c<10 hex>` without the pid from before run tokens), nothing else that shares the prefix.
 */
export function isCellWorkDir(name: string, objectPrefix: string): boolean {
  return name.startsWith(objectPrefix) && WORK_DIR_RE.test(name.slice(objectPrefix.length));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Unmount and detach the per-cell volume mounted at a work directory (scripts/volume.sh), if any. */
async function destroyVolumesAt(dir: string): Promise<void> {
  const names = await readdir(join(volumeStateDir(), "volumes")).catch(() => [] as string[]);
  for (const name of names) {
    if ((await readVolume(name))?.mountpoint !== dir) continue;
    await run("bash", [VOLUME_SCRIPT, "destroy", name], { timeout: 120_000, env: { ...process.env, DEDUP_LAB_STATE: volumeStateDir() } });
  }
}

/**
 * Remove cell work directories under `root` (and the volumes mounted there): those of dead
 * processes, and with `legacy` also those without a pid (older versions). A live process's never.
 */
export async function removeWorkDirs(root: string, lab: LabNamespace, opts: { legacy: boolean }): Promise<{ removed: string[]; failed: string[] }> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!isCellWorkDir(name, lab.objectPrefix)) continue;
    const pid = WORK_DIR_RE.exec(name.slice(lab.objectPrefix.length))![2];
    if (pid === undefined ? !opts.legacy : pidAlive(Number(pid))) continue;
    const dir = join(root, name);
    try {
      await destroyVolumesAt(dir);
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (e) {
      failed.push(`${dir}: ${errorMessage(e).split("\n")[0]}`);
    }
  }
  return { removed, failed };
}

export interface CleanupOutcome {
  system: string;
  endpoint: string;
  /** null when the lab namespace (or, for leftovers, the dead run's objects) was removed. */
  error: string | null;
}

/** Drop one scope (a run token; "" = the whole lab namespace) in every configured system on the given domains. */
async function dropIn(cfg: RunConfig, domains: Set<string>, scope: string): Promise<CleanupOutcome[]> {
  const outcomes: CleanupOutcome[] = [];
  for (const s of cfg.systems) {
    const d = domainOf(s);
    if (scope && (d === null || !domains.has(d))) continue;
    const system = systemDefinition(s.name).create(s.options, cfg.lab);
    try {
      await system.connect();
      await system.cleanup(scope || undefined);
      outcomes.push({ system: s.name, endpoint: s.endpoint, error: null });
    } catch (e) {
      outcomes.push({ system: s.name, endpoint: s.endpoint, error: errorMessage(e) });
    } finally {
      await system.close().catch(() => {});
    }
  }
  return outcomes;
}

export interface CleanupResult {
  outcomes: CleanupOutcome[];
  /** Locks of gone holders that --force broke. */
  broken: LockHolder[];
  workDirs: { removed: string[]; failed: string[] };
}

/** `dedup-lab cleanup`: under every domain's lock (a live holder refuses; a gone one needs `force`). */
export async function cleanupLab(cfg: RunConfig, opts: { force?: boolean } = {}): Promise<CleanupResult> {
  const locks = await DomainLocks.acquire(domainsOf(cfg), { runId: "cleanup", token: "" }, {
    breakStale: !!opts.force,
    staleFix: "pass --force to break the lock (its holder is gone) and drop the lab namespace",
    busyFix: "cleanup never runs under a live run (it would break its cells): wait for the run to end",
  });
  try {
    const outcomes = await dropIn(cfg, new Set(), "");
    const workDirs = await removeWorkDirs(resolve(cfg.workDir ?? tmpdir()), cfg.lab, { legacy: true });
    return { outcomes, broken: locks.stale, workDirs };
  } finally {
    locks.release();
  }
}

/**
 * At a run's start, with its locks held: the leftovers of runs that are gone — every lab object
 * named with a stale lock's run token on that lock's domain, and dead processes' work directories.
 * One line per finding (nothing when there is nothing).
 */
export async function removeLeftovers(cfg: RunConfig, stale: LockHolder[], workRoot: string): Promise<string[]> {
  const lines: string[] = [];
  const byRun = new Map<string, LockHolder[]>();
  for (const h of stale) byRun.set(h.run_id, [...(byRun.get(h.run_id) ?? []), h]);
  const dirs = await removeWorkDirs(workRoot, cfg.lab, { legacy: false });
  const dirsOf = (pid: number) => dirs.removed.filter((d) => d.includes(`-p${pid}-`));
  for (const holders of byRun.values()) {
    const h = holders[0]!;
    const domains = new Set(holders.map((x) => x.domain));
    const outcomes = h.token ? await dropIn(cfg, domains, h.token) : [];
    const failed = outcomes.filter((o) => o.error !== null);
    const removed = outcomes.filter((o) => o.error === null).map((o) => `${o.system} @ ${o.endpoint}`);
    lines.push(
      `leftovers of ${describeHolder(h)}, which is gone: stale lock${domains.size > 1 ? "s" : ""} on ${[...domains].join(", ")} broken` +
        (h.token ? `; its lab objects (${h.token}…) removed from ${removed.join(", ") || "no system"}` : "") +
        (failed.length ? `; could not remove them from ${failed.map((o) => `${o.system}: ${o.error}`).join("; ")} — run \`dedup-lab cleanup\`` : "") +
        (dirsOf(h.pid).length ? `; ${plural(dirsOf(h.pid).length, "work directory", "work directories")} removed` : ""),
    );
  }
  // Work directories of dead processes that held no lock (embedded runs), or of runs handled before.
  const others = dirs.removed.filter((d) => !stale.some((h) => d.includes(`-p${h.pid}-`)));
  if (others.length) lines.push(`leftovers of killed runs: removed ${plural(others.length, "work directory", "work directories")} (${others.join(", ")})`);
  if (dirs.failed.length) lines.push(`leftovers of killed runs could not be removed: ${dirs.failed.join("; ")} — run \`dedup-lab cleanup\` as root`);
  return lines;
}

/**
 * A cell whose cleanup failed (its server was down at the time) leaves objects named with this
 * run's token; at the run's end, with the locks still held, every object carrying the token is
 * such a leftover. One line per system it could not be removed from.
 */
export async function removeOwnLeftovers(cfg: RunConfig, domains: string[], token: string): Promise<string[]> {
  const outcomes = await dropIn(cfg, new Set(domains), token);
  return outcomes.filter((o) => o.error !== null).map((o) => `this run's lab objects (${token}…) could not be removed from ${o.system} @ ${o.endpoint}: ${o.error} — run \`dedup-lab cleanup\``);
}

