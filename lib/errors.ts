// Two kinds of failure the user sees: bad input (exit 2, nothing written) and a
// system that failed (names the system and endpoint). Both are one line.

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
