// env.json: what the run ran on — tool versions, host, git revision.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

export async function collectEnvironment(): Promise<Record<string, unknown>> {
  const pkgUrl = new URL("../../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(pkgUrl, "utf8")) as { version: string; dependencies: Record<string, string> };
  return {
    dedup_lab_version: pkg.version,
    git_revision: git(["rev-parse", "HEAD"]),
    git_dirty: (git(["status", "--porcelain"]) ?? "") !== "",
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    hostname: os.hostname(),
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? "",
    memory_bytes: os.totalmem(),
    dependencies: pkg.dependencies,
    started: new Date().toISOString(),
  };
}
