// "Kill the server mid-stage, then resume", written once: a three-cell matrix (U0, U50, U90)
// of one server system runs through the real runner; while the second cell's per-unit inserts
// run, the server is stopped (scripts/services.sh down) or SIGKILLed (its pid file). The helper
// then checks that that cell — and only it — failed with a one-line reason naming the stage and
// the server, the run went on to the third cell and the bundle is partial; restarts the server;
// resumes (through the runner, or `dedup-lab run --resume DIR` as a user would); and checks that
// the finished cells were kept byte for byte, the failed cell now has all four stages and its
// per-unit inserts wrote the whole dataset again, no error row is left, and neither the bundle
// nor the error holds a secret.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { loadAndResolve } from "../../lib/runner/config.js";
import type { RunEvents } from "../../lib/runner/events.js";
import { runMatrix } from "../../lib/runner/run.js";
import { bundleText, rowsOf, type Row } from "./bundles.js";
import { ROOT } from "./services-env.js";

const run = promisify(execFile);

// Servers started from a test outlive it. A test run under `flock /tmp/dedup-lab-itest.lock`
// inherits the lock's descriptor, and a server started with it would hold the lock for every
// other test run until it stops; so scripts/services.sh runs here with every descriptor above
// stderr closed.
const CLOSE_INHERITED_FDS = 'for fd in /proc/$$/fd/*; do n=${fd##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" ;; esac; done; exec bash "$@"';

/** `scripts/services.sh <action> <names…>` without passing this process's descriptors on to the servers. */
export async function serviceCtl(action: "up" | "down", ...names: string[]): Promise<void> {
  await run("bash", ["-c", CLOSE_INHERITED_FDS, "services", join(ROOT, "scripts/services.sh"), action, ...names], { timeout: 600_000 });
}

export type Fault =
  /** `scripts/services.sh down <service>`: the server's own shutdown, not awaited by the stage. */
  | { kind: "stop" }
  /** SIGKILL the pid in `pidFile`, `afterMs` after the per-unit inserts begin. */
  | { kind: "sigkill"; pidFile: string; afterMs: number };

export interface FaultResumeCase {
  /** Registry name of the system. */
  system: string;
  /** `scripts/services.sh` name of its server. */
  service: string;
  /** The system's block of the config (variants, maintenance, options): one variant. */
  settings: Record<string, unknown>;
  /** Units of 4 KiB per cell: enough that the fault lands while the per-unit inserts still run. */
  units: number;
  fault: Fault;
  /** The failed cell's error after "<stage>: " (which the helper checks). */
  error: RegExp;
  /** Names of environment variables whose values must appear in no error and no bundle file. */
  secretEnv: string[];
  /** Resume through the runner's API, or through the CLI as a user would. */
  resumeWith: "runner" | "cli";
  /** The resumed cell's L1 after its per-unit inserts is above this fraction of the dataset's bytes. */
  resumedL1Fraction: number;
  /** Lab objects left on the server (must be none after each run). */
  labObjectsLeft(): Promise<string[]>;
}

const UNIT = 4096;

/** Runs the whole fault-and-resume scenario for one system; every check is an expect(). */
export async function killMidStageThenResume(c: FaultResumeCase, dir: string): Promise<void> {
  await serviceCtl("up", c.service);
  const cfg = await loadAndResolve({
    matrix: { systems: [c.system], payloads: ["random_binary"], grades: ["U0", "U50", "U90"] },
    dataset: { units: c.units, unitSize: "4KiB", containers: 1, seed: "fault" },
    systems: { [c.system]: c.settings },
  });
  const cellIds: string[] = [];
  let cellIndex = -1;
  let faulted = false;
  let stopping: Promise<unknown> | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const fault: RunEvents = {
    cellStart: (cell, index) => {
      cellIndex = index;
      cellIds[index] = cell.id;
    },
    stageStart: (_cell, stage) => {
      if (cellIndex !== 1 || stage !== "perfile_insert" || faulted) return;
      faulted = true;
      if (c.fault.kind === "stop") {
        stopping = serviceCtl("down", c.service);
      } else {
        const pid = Number(readFileSync(c.fault.pidFile, "utf8").trim());
        killTimer = setTimeout(() => process.kill(pid, "SIGKILL"), c.fault.afterMs);
      }
    },
    cellEnd: async (_cell, record) => {
      if (record.status !== "failed") return;
      await stopping;
      await serviceCtl("up", c.service);
    },
  };
  let first;
  try {
    first = await runMatrix(cfg, { dir, events: [fault] });
  } finally {
    clearTimeout(killTimer);
    await stopping?.catch(() => {});
    await serviceCtl("up", c.service); // whatever happened, the server runs again
  }
  expect(faulted, "the fault was injected in the second cell").toBe(true);
  expect(first).toMatchObject({ done: 2, failed: 1 });
  expect(cellIds).toHaveLength(3);
  const [doneA, failedCell, doneB] = cellIds as [string, string, string];
  expect(failedCell).toMatch(new RegExp(`^${c.system}\\.[^.]+\\.random_binary\\.U50\\.file\\.within\\.r1$`));

  const failed = JSON.parse(readFileSync(join(dir, "cells", `${failedCell}.json`), "utf8")) as { status: string; error: string };
  expect(failed.status).toBe("failed");
  const m = /^(perfile_insert|perfile_delete|maintenance): (.*)$/.exec(failed.error);
  expect(m, `error names the stage: ${failed.error}`).not.toBeNull();
  expect(m![2]).toMatch(c.error);
  expect(failed.error).not.toMatch(/\n/);
  for (const name of c.secretEnv) expect(failed.error.includes(process.env[name]!), `error holds ${name}`).toBe(false);
  expect((await readMeta(dir)).status).toBe("partial");
  expect(await c.labObjectsLeft()).toEqual([]);

  const doneBefore = Object.fromEntries([doneA, doneB].map((id) => [id, readFileSync(join(dir, "cells", `${id}.json`), "utf8")]));

  if (c.resumeWith === "runner") {
    const second = await runMatrix(cfg, { dir, resume: true });
    expect(second).toMatchObject({ done: 1, failed: 0, skipped: 2 });
  } else {
    const { stdout } = await run(process.execPath, [join(ROOT, "bin/dedup-lab.js"), "run", "--resume", dir, "--quiet"], { cwd: ROOT, env: process.env, timeout: 300_000 });
    expect(stdout).toMatch(/1 cells? done, 0 failed/);
  }
  expect(await readMeta(dir)).toMatchObject({ status: "complete", cells_done: 3, cells_failed: 0 });
  for (const [id, text] of Object.entries(doneBefore)) expect(readFileSync(join(dir, "cells", `${id}.json`), "utf8"), id).toBe(text);

  const rows: Row[] = await rowsOf(dir);
  expect(rows.filter((r) => r.cell_id === failedCell && r.metric === "stage_end")).toHaveLength(4);
  expect(rows.filter((r) => r.metric === "error")).toHaveLength(0);
  // the resumed cell wrote the whole dataset again: L1 after the per-unit inserts covers it
  const l1 = rows.find((r) => r.cell_id === failedCell && r.stage === "perfile_insert" && r.metric === "size_bytes" && r.layer === "L1" && r.phase === "after");
  expect(l1?.value ?? null, "L1 after the resumed per-unit inserts").not.toBeNull();
  expect(l1!.value!).toBeGreaterThan(c.resumedL1Fraction * c.units * UNIT);
  const text = bundleText(dir);
  for (const name of c.secretEnv) expect(text.includes(process.env[name]!), `bundle holds ${name}`).toBe(false);
  expect(await c.labObjectsLeft()).toEqual([]);
}
