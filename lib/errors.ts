// Two kinds of failure the user sees: bad input (exit 2, nothing written) and a
// system that failed (names the system and endpoint). Both are one line.
import { ZodError } from "zod";

/** Bad input: a one-line message naming the problem and the fix. The CLI exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(problem: string, fix?: string) {
    super(fix ? `${problem} — ${fix}` : problem);
  }
}

/** A system under test failed: carries the system name and endpoint, never credentials. */
export class SystemError extends Error {
  override name = "SystemError";
  constructor(
    readonly system: string,
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${system} at ${endpoint}: ${message}`, options);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

// File-system errors a user causes by the path they passed: what went wrong and what to do.
const FS_PROBLEMS: Record<string, [problem: string, fix: string]> = {
  ENOENT: ["does not exist", "check the path or create its parent directory"],
  ENOTDIR: ["goes through a file, not a directory", "choose a path whose parents are all directories"],
  EISDIR: ["is a directory, a file is expected", "pass a file path"],
  EACCES: ["is not accessible (permission denied)", "choose a path you may write, e.g. under $HOME or /tmp"],
  EPERM: ["is not permitted (operation not permitted)", "choose a path on a regular file system you may write"],
  EROFS: ["is on a read-only file system", "choose a writable location"],
  EEXIST: ["already exists", "choose a new path"],
  ENOTEMPTY: ["is not empty", "choose a new or empty directory"],
  ELOOP: ["has too many symbolic links", "resolve the link loop or choose another path"],
  ENAMETOOLONG: ["is too long a name", "choose a shorter path"],
  ENOSPC: ["has no space left on its device", "free space or choose another file system"],
};

/** What a file-system error code means for the path the user named, and what to do about it. */
export function fsProblem(code: string | undefined): [problem: string, fix: string] {
  return FS_PROBLEMS[code ?? ""] ?? [`cannot be used (${code ?? "unknown error"})`, "check the path"];
}

/** A zod issue as "path: message" (or `sep` instead of ": "), with a missing value said as missing (never "received undefined"). */
export function zodIssueText(error: ZodError, sep = ": "): string {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join(".");
  // zod names what it received by type; "undefined" and "NaN" read like our bugs, not the user's value.
  const message = issue.message.replace(/,? received undefined/, " but it is missing").replace(/received NaN/, "received a value that is not a number");
  return `${path ? `${path}${sep}` : ""}${message}`;
}

/**
 * The CLI boundary: any error as exactly one line and an exit status. Bad input (usage, a path
 * the user named, a config value) is 2; a failed system or check is 1. Never a stack or a raw
 * error object; an error this does not recognise is still one line (DEDUP_LAB_DEBUG=1 prints the stack).
 */
export function describeError(e: unknown): { line: string; status: number } {
  const one = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();
  if (e instanceof UsageError) return { line: one(e.message), status: 2 };
  if (e instanceof SystemError) return { line: one(e.message), status: 1 };
  if (e instanceof ZodError) return { line: one(`invalid input ${zodIssueText(e)} — fix that value`), status: 2 };
  const fsErr = e as NodeJS.ErrnoException;
  if (fsErr instanceof Error && typeof fsErr.code === "string" && typeof fsErr.path === "string") {
    const known = FS_PROBLEMS[fsErr.code];
    const verb = fsErr.syscall ? `${fsErr.syscall} ` : "";
    if (known) return { line: one(`${fsErr.path} ${known[0]} (${verb}failed) — ${known[1]}`), status: fsErr.code === "ENOSPC" ? 1 : 2 };
    return { line: one(`${verb}${fsErr.path} failed: ${fsErr.message}`), status: 1 };
  }
  // A programming error is ours, not the user's: say so rather than pass a raw type error on.
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError) {
    return { line: one(`internal error: ${errorMessage(e)} — rerun with DEDUP_LAB_DEBUG=1 and report the stack`), status: 1 };
  }
  return { line: one(errorMessage(e)), status: 1 };
}
