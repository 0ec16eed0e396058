// The import graph of lib/ (README, "Rooms and directions"): no two folders import each other,
// and nothing imports upward. Read from the sources, so a new import that breaks it fails here.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const LIB = resolve(new URL("../../lib", import.meta.url).pathname);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Folder of a lib file: its first path segment, or "(leaf)" for the shared modules at lib/ (errors, bytes, …). */
function room(file: string): string {
  const rel = relative(LIB, file);
  if (rel === "index.ts") return "(index)";
  return rel.includes("/") ? rel.split("/")[0]! : "(leaf)";
}

/** Folder-level edges, with the files that make them. */
function edges(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of files(LIB)) {
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = resolve(dirname(f), m[1]!);
      const [a, b] = [room(f), room(target.replace(/\.js$/, ".ts"))];
      if (a === b) continue;
      const key = `${a} -> ${b}`;
      out.set(key, [...(out.get(key) ?? []), relative(LIB, f)]);
    }
  }
  return out;
}

// Allowed directions (README): consumers on top, the runner in the middle, then its rooms.
const ALLOWED: Record<string, string[]> = {
  "(index)": ["*"],
  cli: ["runner", "analysis", "notebook", "results", "generators", "systems", "data", "metrics", "cluster"],
  cluster: ["runner"], // Kubernetes manifests of a study: may read the runner's config types, nothing reads cluster but cli
  notebook: ["runner", "analysis", "results"],
  runner: ["systems", "generators", "metrics", "results", "data"],
  analysis: ["results", "metrics", "systems"], // systems: the registry's plain data only (order, colours), see below
  data: ["generators"],
  exporter: [],
  metrics: ["systems"],
  systems: ["generators"],
  generators: [],
  results: [],
};

describe("lib/ import graph", () => {
  const graph = edges();

  it("no folder pair imports both ways", () => {
    const both = [...graph.keys()].filter((k) => {
      const [a, , b] = k.split(" ");
      return graph.has(`${b} -> ${a}`);
    });
    expect(both).toEqual([]);
  });

  it("every folder imports only downward (and shared leaf modules)", () => {
    const upward = [...graph.entries()]
      .filter(([k]) => {
        const [a, , b] = k.split(" ");
        if (b === "(leaf)") return false;
        const allowed = ALLOWED[a!] ?? [];
        return !allowed.includes("*") && !allowed.includes(b!);
      })
      .map(([k, fs]) => `${k} (${[...new Set(fs)].join(", ")})`);
    expect(upward).toEqual([]);
  });

  it("metrics sees only the contract's types of systems", () => {
    const f = files(join(LIB, "metrics"));
    const bad = f.flatMap((p) => [...readFileSync(p, "utf8").matchAll(/^import (?!type ).*from "\.\.\/systems\/(.*)";$/gm)].map((m) => `${relative(LIB, p)}: ${m[1]}`));
    const notContract = f.flatMap((p) => [...readFileSync(p, "utf8").matchAll(/from "\.\.\/systems\/([^"]+)"/g)].map((m) => m[1]).filter((x) => x !== "contract.js"));
    expect(notContract).toEqual([]);
    // Value imports are allowed only for the contract's constants (OK).
    expect(bad.filter((b) => !b.endsWith("contract.js"))).toEqual([]);
  });

  it("analysis reads the system registry's data only, never a connector", () => {
    const f = files(join(LIB, "analysis"));
    const used = f.flatMap((p) => [...readFileSync(p, "utf8").matchAll(/from "\.\.\/systems\/([^"]+)"/g)].map((m) => m[1]));
    expect([...new Set(used)].filter((x) => x !== "registry.js")).toEqual([]);
  });

  it("the shared leaf modules import nothing of lib but each other", () => {
    const leaves = readdirSync(LIB).filter((n) => n.endsWith(".ts") && n !== "index.ts");
    const bad = leaves.flatMap((n) => [...readFileSync(join(LIB, n), "utf8").matchAll(/from "(\.[^"]+)"/g)].map((m) => m[1]!).filter((x) => !/^\.\/[a-z-]+\.js$/.test(x)).map((x) => `${n}: ${x}`));
    expect(bad).toEqual([]);
  });
});
