// Runs the CLI's main() in this process (no build, no child), capturing what it writes and
// its exit status; process.exitCode is reset before and after, so one call never leaks into the next.
import { main } from "../../lib/cli/main.js";

export interface InProcessResult {
  status: number;
  stdout: string;
  stderr: string;
}

export async function mainInProcess(argv: string[]): Promise<InProcessResult> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    return { status: await main(argv), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
  }
}
