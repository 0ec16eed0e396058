// Reads .services/env (written by scripts/services.sh) into process.env for integration tests.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

export function loadServicesEnv(): Record<string, string> {
  const file = join(ROOT, ".services", "env");
  if (!existsSync(file)) throw new Error(`${file} missing — run: scripts/services.sh up`);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    // values are written with printf %q: unquote the simple cases it produces
    if (v.startsWith("$'")) v = v.slice(2, -1).replace(/\\'/g, "'").replace(/\\\\/g, "\\");
    else if (v.startsWith("'")) v = v.slice(1, -1);
    else v = v.replace(/\\(.)/g, "$1");
    vars[m[1]!] = v;
  }
  Object.assign(process.env, vars);
  return vars;
}
