// One lock per isolation domain — a server (its endpoint, host:port) or a directory a system
// writes into — so that two runs never measure the same domain at once: size deltas of a
// shared server or volume are meaningless while another run writes into it.
//
// A lock is a file `<lock dir>/<hash of the domain>.lock` holding its holder (run id, token,
// host, pid, process start, start time), created complete or not at all: the holder is written
// to a private file first, then link(2)ed to the lock's name, which fails with EEXIST if any
// other process got there first. On one host that is sufficient: every run reaches the same
// local directory, and link/O_EXCL creation is atomic there. It does not cover runs on other
// hosts against the same server (a cluster measured from two machines): their lock directories
// are different — point DEDUP_LAB_LOCK_DIR at one shared local path per host, and do not run two
// hosts against one cluster at once.
//
// A holder is gone when it ran on this host and its pid is dead, or was reused by a process that
// started later (/proc/<pid>/stat start time). Its lock is stale: `run` breaks it and removes that
// run's lab objects (their names carry its run token); `cleanup` breaks it only with --force.
import { createHash } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { systemDefinition } from "../systems/registry.js";
import type { RunConfig, SystemPlan } from "./config.js";

export interface LockHolder {
  run_id: string;
  /** The run token its lab objects carry (LabNamespace.runToken), "" for `cleanup`. */
  token: string;
  host: string;
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), to tell a reused pid. */
  pid_start: string | null;
  started: string;
  domain: string;
}

/** Where the lock files live: one directory per host, whatever TMPDIR a run has. */
export function lockDir(): string {
  return process.env.DEDUP_LAB_LOCK_DIR || "/tmp/dedup-lab-locks";
}

/**
 * The isolation domain of a system: its endpoint for a server; for an embedded system the
 * directory it writes into when that is a shared path, none when every cell gets its own work
 * directory (SQLite, DuckDB, a directory without `root`): nothing is shared, nothing to lock.
 */
export function domainOf(plan: SystemPlan): string | null {
  if (!systemDefinition(plan.name).capabilities.embedded) return `server ${plan.endpoint}`;
  return plan.endpoint.startsWith("/") ? `directory ${plan.endpoint}` : null;
}

/** The distinct domains of a configuration, sorted (every run takes them in the same order: no deadlock). */
export function domainsOf(cfg: Pick<RunConfig, "systems">): string[] {
  return [...new Set(cfg.systems.map(domainOf).filter((d): d is string => d !== null))].sort();
}

function lockPath(domain: string): string {
  return join(lockDir(), `${createHash("sha256").update(domain).digest("hex").slice(0, 16)}.lock`);
}

/** Start time of a process (field 22 of /proc/<pid>/stat), or null where /proc cannot say. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** False only when the holder provably is gone: it ran on this host and its process no longer exists. */
export function holderAlive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true; // cannot tell from here
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const start = processStart(h.pid);
  return h.pid_start === null || start === null || start === h.pid_start;
}

export function describeHolder(h: LockHolder): string {
  return `${h.run_id === "cleanup" ? "dedup-lab cleanup" : `run ${h.run_id}`} (host ${h.host}, pid ${h.pid}, started ${h.started})`;
}

/** A domain held by a live run (or, for cleanup without --force, by a run that is gone). */
export class DomainBusy extends UsageError {
  override name = "DomainBusy";
}

function readHolder(path: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LockHolder;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UsageError(`lock file ${path} is unreadable (${(e as Error).message})`, "remove it if no dedup-lab run is going");
  }
}

function ensureLockDir(): void {
  const dir = lockDir();
  try {
    mkdirSync(dir, { recursive: true });
    // Shared by every user of the host, like /tmp: sticky, so nobody removes another's locks by accident.
    if (statSync(dir).uid === process.getuid?.()) chmodSync(dir, 0o1777);
  } catch (e) {
    throw new UsageError(`cannot use the lock directory ${dir} (${(e as Error).message})`, "set DEDUP_LAB_LOCK_DIR to a writable local directory");
  }
}

/** Create the lock with `holder` complete, or return false when it exists (link(2) never replaces). */
function tryCreate(path: string, holder: LockHolder): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(holder) + "\n", { mode: 0o644 });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Remove a stale lock if it still names `stale`. The `.break` directory (mkdir is atomic) makes
 * one breaker at a time; without it a second breaker could remove the lock the first just took.
 */
function breakStale(path: string, stale: LockHolder): boolean {
  const guard = `${path}.break`;
  try {
    mkdirSync(guard);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // A breaker killed inside this function leaves the guard: older than a minute, it is gone.
    if (Date.now() - statSync(guard).mtimeMs > 60_000) rmdirSync(guard);
    return false;
  }
  try {
    const now = readHolder(path);
    if (now && now.pid === stale.pid && now.run_id === stale.run_id && now.started === stale.started) unlinkSync(path);
  } finally {
    rmdirSync(guard);
  }
  return true;
}

export interface AcquireOptions {
  /** How long to wait for a live holder (ms); 0 refuses at once. */
  waitMs?: number;
  /** Break locks whose holder is gone (a run always does, after which it removes the holder's leftovers). */
  breakStale: boolean;
  /** The fix to name when a gone holder's lock is not broken. */
  staleFix?: string;
  /** The fix to name when a live holder keeps the lock (default: wait, or --wait-lock). */
  busyFix?: string;
  signal?: AbortSignal;
  /** Told once per domain that is waited for. */
  onWait?(line: string): void;
}

export class DomainLocks {
  private constructor(
    readonly held: string[],
    /** Holders found gone and replaced, one per domain: their leftovers are to be removed. */
    readonly stale: LockHolder[],
  ) {}

  /**
   * Take every domain's lock, in sorted order, or none: a live holder makes it wait up to
   * `waitMs`, then refuse with one line naming the holder (locks already taken are released).
   */
  static async acquire(domains: string[], who: { runId: string; token: string }, opts: AcquireOptions): Promise<DomainLocks> {
    const held: string[] = [];
    const stale: LockHolder[] = [];
    if (domains.length === 0) return new DomainLocks(held, stale);
    ensureLockDir();
    const deadline = Date.now() + (opts.waitMs ?? 0);
    const started = new Date().toISOString();
    const pidStart = processStart(process.pid);
    try {
      for (const domain of domains) {
        const path = lockPath(domain);
        const me: LockHolder = { run_id: who.runId, token: who.token, host: hostname(), pid: process.pid, pid_start: pidStart, started, domain };
        let waited = false;
        for (;;) {
          if (tryCreate(path, me)) break;
          const h = readHolder(path);
          if (!h) continue; // released in between
          if (!holderAlive(h)) {
            if (!opts.breakStale) {
              throw new DomainBusy(`${domain} is locked by ${describeHolder(h)}, which is gone (stale lock ${path})`, opts.staleFix ?? "pass --force to break it");
            }
            if (!breakStale(path, h)) await new Promise((r) => setTimeout(r, 50)); // another process is breaking it
            if (!stale.some((s) => s.run_id === h.run_id && s.domain === h.domain)) stale.push(h);
            continue;
          }
          if (opts.signal?.aborted) throw new UsageError(`interrupted while waiting for ${domain}`);
          if (Date.now() >= deadline) {
            throw new DomainBusy(
              `${domain} is in use by ${describeHolder(h)}`,
              opts.busyFix ?? (opts.waitMs ? `it was still held after --wait-lock ${opts.waitMs / 1000}s; wait longer or run later` : "wait for it to end, or pass --wait-lock <duration> (e.g. 30m) to queue behind it"),
            );
          }
          if (!waited) opts.onWait?.(`waiting for ${domain}, in use by ${describeHolder(h)}`);
          waited = true;
          await new Promise((r) => setTimeout(r, Math.min(500, Math.max(10, deadline - Date.now()))));
        }
        held.push(domain);
      }
    } catch (e) {
      releaseDomains(held, process.pid);
      throw e;
    }
    return new DomainLocks(held, stale);
  }

  /** Remove this process's locks (never another holder's). Synchronous: also safe in an exit handler. */
  release(): void {
    releaseDomains(this.held, process.pid);
    this.held.length = 0;
  }
}

function releaseDomains(domains: string[], pid: number): void {
  for (const d of domains) {
    const path = lockPath(d);
    try {
      if (readHolder(path)?.pid === pid) unlinkSync(path);
    } catch {
      // already gone, or unreadable: nothing of ours to remove
    }
  }
}

/** The holder of a domain's lock, or null. */
export function lockHolder(domain: string): LockHolder | null {
  return readHolder(lockPath(domain));
}

/** `--wait-lock` values: 90, 90s, 500ms, 30m, 2h (a bare number is seconds). */
export function parseWait(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--wait-lock "${text}" is not a duration`, "use e.g. 90s, 30m or 2h");
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"]);
}
