// Shared by the end-to-end run tests: temp dirs, bundle rows, bundle text (to look for
// secrets), and starting/stopping local services.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundles } from "../../lib/results/bundle.js";
import { ROOT } from "./services-env.js";

export interface Row {
  cell_id: string;
  system: string;
  variant: string;
  payload: string;
  grade: string;
  replica: string;
  valid: boolean;
  stage: string;
  metric: string;
  value: number | null;
  layer: string;
  phase: string;
  reason: string;
}

export async function rowsOf(dir: string): Promise<Row[]> {
  return (await loadBundles([dir])).results.toArray().map((r: { toJSON(): Row }) => r.toJSON());
}

/** Every file of a bundle, as text, to look for secrets. */
export function bundleText(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(readFileSync(join(d, e.name)).toString("latin1"));
    }
  };
  walk(dir);
  return out.join("\n");
}

export function services(action: "up" | "down", ...names: string[]): void {
  execFileSync("bash", [join(ROOT, "scripts/services.sh"), action, ...names], { stdio: "ignore" });
}

/** Temp dirs made by a test file, removed together in afterAll. */
export class TempDirs {
  private readonly dirs: string[] = [];
  constructor(private readonly prefix: string) {}
  make(): string {
    const d = mkdtempSync(join(tmpdir(), this.prefix));
    this.dirs.push(d);
    return d;
  }
  removeAll(): void {
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}
