// Checks that run before a command writes anything: an output directory it can create on a real
// file system, and (for a run) the work directory, credential variables and CA files the systems
// will read. A problem is one UsageError (exit 2) instead of a raw EACCES/ENOTDIR halfway through,
// a bundle left `running`, or a hang: Node's recursive mkdir spins forever under /proc.
import { accessSync, constants, mkdirSync, readFileSync, realpathSync, statSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, resolve } from "node:path";
import { UsageError, fsProblem } from "../errors.js";
import type { RunConfig } from "../runner/config.js";

/** Kernel pseudo file systems: nothing a dataset or bundle can be written to. */
const PSEUDO_FS = new Set([
  "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
  "configfs", "fusectl", "mqueue", "binfmt_misc", "autofs", "efivarfs", "selinuxfs", "rpc_pipefs", "nsfs", "hugetlbfs",
]);

/** Mount points and their file-system types, from /proc/self/mountinfo (empty where there is none). */
export function mountTable(text?: string): { point: string; type: string }[] {
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/mountinfo", "utf8");
    } catch {
      return []; // not Linux: the writability check below still applies
    }
  }
  // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": field 5 is the mount
  // point (octal escapes for spaces), the first field after " - " the type.
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text.split("\n").flatMap((line) => {
    const [left, right] = line.split(" - ");
    const point = left?.split(" ")[4];
    const type = right?.split(" ")[0];
    return point && type ? [{ point: unescape(point), type }] : [];
  });
}

/** The file-system type a path lies on: that of the longest mount point containing it. */
export function fsTypeOf(path: string, mounts = mountTable()): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const m of mounts) {
    const inside = m.point === "/" || path === m.point || path.startsWith(`${m.point}/`);
    if (inside && (!best || m.point.length >= best.point.length)) best = m;
  }
  return best?.type;
}

/**
 * `path` is a directory this process can create (or already has) on a real file system: its
 * nearest existing ancestor is a directory (not a file), not on a kernel pseudo file system,
 * and writable. Writes nothing. `what` names the path for the message (e.g. "--out").
 */
export function checkWritableDir(path: string, what: string): void {
  const abs = resolve(path);
  let existing = abs;
  let st: Stats | undefined;
  for (;;) {
    try {
      st = statSync(existing);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") {
        throw new UsageError(`${what} ${path}: ${existing} ${fsProblem(code)[0]}`, fsProblem(code)[1]);
      }
      if (dirname(existing) === existing) break;
      existing = dirname(existing);
    }
  }
  if (st && !st.isDirectory()) {
    throw existing === abs
      ? new UsageError(`${what} ${path} is a file, not a directory`, "pass a new or empty directory")
      : new UsageError(`${what} ${path} goes through ${existing}, which is a file`, "choose a path whose parents are all directories");
  }
  const real = (() => {
    try {
      return realpathSync(existing);
    } catch {
      return existing;
    }
  })();
  const type = fsTypeOf(real);
  if (type && PSEUDO_FS.has(type)) {
    throw new UsageError(`${what} ${path} is on ${type}, a kernel pseudo file system that holds no files`, "choose a directory on a disk, e.g. under $HOME or /tmp");
  }
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (e) {
    const [problem, fix] = fsProblem((e as NodeJS.ErrnoException).code);
    throw new UsageError(`${what} ${path} cannot be written: ${existing === abs ? "it" : existing} ${problem}`, fix);
  }
}

/** Credential variables (`…Env` options) and CA/certificate files a run's connectors will read, with where they are named. */
function credentialRefs(value: unknown, where: string, out: { env: [string, string][]; files: [string, string][] }) {
  if (Array.isArray(value)) value.forEach((v, i) => credentialRefs(v, `${where}[${i}]`, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "string" && /Env$/.test(k)) out.env.push([`${where}.${k}`, v]);
      else if (typeof v === "string" && /^(ca|cert|key)File$/.test(k)) out.files.push([`${where}.${k}`, v]);
      else credentialRefs(v, `${where}.${k}`, out);
    }
  }
  return out;
}

/**
 * Everything a run needs from the machine, checked before the bundle is created: the bundle's
 * directory (`out`, default results/), the work directory (created here once all checks pass,
 * as the cells make their directories inside it), every credential variable the config names
 * and every CA/certificate file. Used by `run` (not by the dry run, which reads no secret).
 */
export function preflightRun(cfg: RunConfig, out: string | undefined, env: NodeJS.ProcessEnv = process.env): void {
  checkWritableDir(out ?? "results", out ? "--out" : "results directory");
  const workDir = cfg.workDir ?? tmpdir();
  checkWritableDir(workDir, "workDir");
  const refs = { env: [] as [string, string][], files: [] as [string, string][] };
  for (const s of cfg.systems) credentialRefs(s.options, `systems.${s.name}.options`, refs);
  for (const [where, block] of Object.entries({ prometheus: cfg.prometheus, metrics: cfg.metrics, events: cfg.events })) credentialRefs(block, where, refs);
  for (const [where, name] of refs.env) {
    if (!env[name]) throw new UsageError(`${where}: environment variable ${name} is not set`, "export it (for the local servers: set -a; . .services/env; set +a)");
  }
  for (const [where, file] of refs.files) {
    try {
      if (!statSync(file).isFile()) throw Object.assign(new Error(), { code: "EISDIR" });
      accessSync(file, constants.R_OK);
    } catch (e) {
      const [problem] = fsProblem((e as NodeJS.ErrnoException).code);
      throw new UsageError(`${where}: ${file} ${problem}`, "point it at the PEM file of the CA that issued the server certificate");
    }
  }
  mkdirSync(workDir, { recursive: true });
}
