#!/usr/bin/env node
// Which Node versions the installed dependency tree allows: reads `engines.node` of every
// package under node_modules (nested ones too), and for each Node major finds the lowest
// version that satisfies all of them and the package that sets that bound, by testing every
// x.y.z of the majors (no network). Prints a table and the `engines.node` range that follows.
//   node scripts/node-engines.mjs [--json]
// WAIVERS lists declarations this project knowingly overrides for a major because its tests
// run that code on that major (say why); the table shows them all the same.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const semver = createRequire(join(ROOT, "package.json"))("semver");

/** The Node majors this project supports (package.json engines, README, CI). */
export const SUPPORTED_MAJORS = [20, 22, 24];

export const WAIVERS = [
  {
    name: "@platformatic/dynamic-buffer",
    majors: [20],
    reason:
      "declares >= 22.19.0, but its parent @platformatic/kafka 1.35.0 declares >= 20.19.4 and the kafka size tests " +
      "(DescribeLogDirs through it) run on Node 20 in `npm test`; it uses no Node 22 API",
  },
  {
    name: "@platformatic/wasm-utils",
    majors: [20],
    reason:
      "declares >= 22.19.0 under the same parent (@platformatic/kafka 1.35.0, >= 20.19.4); it is WebAssembly (crc32c, lz4, " +
      "snappy) that Node 20 runs (crc32c check value and an lz4 round trip verified on 20.20) and the kafka size tests load on Node 20",
  },
];

/** Every installed package with an engines.node field: { name, version, range, path }. */
export function enginesOf(root = ROOT) {
  const found = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith(".")) continue;
      const p = join(dir, entry);
      if (entry.startsWith("@")) {
        walk(p);
        continue;
      }
      const pj = join(p, "package.json");
      if (!existsSync(pj)) continue;
      const j = JSON.parse(readFileSync(pj, "utf8"));
      const range = j.engines?.node;
      if (typeof range === "string" && range.trim() !== "" && range.trim() !== "*") {
        found.push({ name: j.name, version: j.version, range, path: p.slice(root.length + 1) });
      }
      walk(join(p, "node_modules"));
    }
  };
  walk(join(root, "node_modules"));
  return found;
}

function versionsOf(major) {
  const out = [];
  for (let minor = 0; minor <= 60; minor++) for (let patch = 0; patch <= 40; patch++) out.push(`${major}.${minor}.${patch}`);
  return out;
}

/** Per major: the lowest version allowed by all (non-waived) packages, the package(s) that set it, and who excludes the major. */
export function analyse(pkgs = enginesOf(), majors = [18, 20, 22, 24, 26]) {
  return majors.map((major) => {
    const waived = (p) => WAIVERS.some((w) => w.name === p.name && w.majors.includes(major));
    const versions = versionsOf(major);
    const excludedBy = pkgs.filter((p) => !versions.some((v) => semver.satisfies(v, p.range)));
    const binding = pkgs.filter((p) => !waived(p));
    const lowest = versions.find((v) => binding.every((p) => semver.satisfies(v, p.range))) ?? null;
    // Who sets the bound: packages that reject the version just below it.
    const below = lowest ? versions[versions.indexOf(lowest) - 1] : undefined;
    const setBy = lowest && below ? binding.filter((p) => !semver.satisfies(below, p.range)) : [];
    return {
      major,
      lowest,
      setBy: setBy.map((p) => `${p.name}@${p.version} (${p.range})`),
      excludedBy: excludedBy.map((p) => `${p.name}@${p.version} (${p.range})${waived(p) ? " [waived]" : ""}`),
    };
  });
}

/** The engines.node range for the supported majors, each from its lowest allowed version. */
export function enginesRange(rows = analyse()) {
  return SUPPORTED_MAJORS.map((m) => {
    const row = rows.find((r) => r.major === m);
    if (!row?.lowest) throw new Error(`Node ${m} is supported but the dependencies allow no ${m}.x`);
    return `^${row.lowest}`;
  }).join(" || ");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const pkgs = enginesOf();
  const rows = analyse(pkgs);
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify({ packages: pkgs.length, rows, engines: enginesRange(rows) }, null, 2));
  } else {
    console.log(`${pkgs.length} installed packages declare engines.node`);
    for (const r of rows) {
      console.log(`Node ${r.major}: lowest allowed ${r.lowest ?? "none"}${r.setBy.length ? ` — set by ${r.setBy.join(", ")}` : ""}`);
      for (const e of r.excludedBy) console.log(`    excludes all of ${r.major}.x: ${e}`);
    }
    for (const w of WAIVERS) console.log(`waived on Node ${w.majors.join(", ")}: ${w.name} — ${w.reason}`);
    console.log(`engines.node for Node ${SUPPORTED_MAJORS.join(", ")}: "${enginesRange(rows)}"`);
    const declared = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).engines?.node;
    console.log(`package.json engines.node:        "${declared}"`);
  }
}
