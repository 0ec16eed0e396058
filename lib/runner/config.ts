// Run configuration: a YAML/JSON file, flags on top, validated in one place. Anything
// unknown or inconsistent is refused with one line naming the problem and the fix, before
// any connection opens (the original silently fell back to defaults on a missing file).
import { readFileSync, statSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { UsageError, fsProblem, zodIssueText } from "../errors.js";
import { DataConfigSchema } from "../data/location.js";
import { prepareRealPayloads } from "../data/payload.js"; // also registers the real-data payload types
import { SYNTHETIC_PAYLOADS, payloadType } from "../generators/payloads.js";
import { COPY_POLICIES, gradeLabel, parseGrade } from "../generators/plan.js";
import { PrometheusConfigSchema, StorageLayerSpecSchema } from "../metrics/prometheus-config.js";
import { parseBytes } from "../bytes.js";
import { parseSizeSpec, type SizeSpec } from "../generators/sizes.js";
import { STAGES, type KeyMode, type Stage } from "../systems/contract.js";
import { SYNTHETIC_RECORD_SCHEMAS } from "../generators/records-synthetic.js";
import { EMBEDDED_SYSTEMS, loadSystems, systemDefinition, systemNames as knownSystems } from "../systems/registry.js";
import { LabNamespace } from "../systems/namespace.js";
import { DEFAULT_SETTLE, type SettleOptions } from "./settle.js";

const SystemSettingsSchema = z
  .object({
    variants: z.array(z.string()).min(1).optional(),
    maintenance: z.string().optional(),
    replication: z
      .object({ app: z.number().int().min(1).default(1), storage: z.number().int().min(1).default(1) })
      .strict()
      .default({ app: 1, storage: 1 }),
    /** Shell command run before every cell of this system (e.g. fstrim, recreate a PVC). */
    preCellHook: z.string().optional(),
    /** Storage-layer (L3) source: "local" allocated blocks, "none", or a Prometheus mapping. */
    l3: StorageLayerSpecSchema.optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const sizeLike = z.union([z.string(), z.number()]);

/** `matrix.insertion` / `--insertion`: which insertion modes the matrix runs. */
export const INSERTIONS = ["blob", "typed", "both"] as const;
/** `matrix.keys` / `--keys`: which key modes typed cells run (blob cells have no keys). */
export const KEY_CHOICES = ["surrogate", "natural", "both"] as const;
export type Insertion = "blob" | "typed";

/** The insertion modes and key modes a `both` expands to, in matrix order (blob first, surrogate first). */
export function insertionModes(choice: (typeof INSERTIONS)[number]): Insertion[] {
  return choice === "both" ? ["blob", "typed"] : [choice];
}
export function keyModes(choice: (typeof KEY_CHOICES)[number]): KeyMode[] {
  return choice === "both" ? ["surrogate", "natural"] : [choice];
}

/** Bounds of a dataset and a matrix: planning is closed-form, but a cell still writes every unit. */
export const MAX_UNITS = 100_000_000;
export const MAX_REPEATS = 1000;
/** Block granularity: the smallest block (the generator's DatasetSpec minimum). */
export const MIN_BLOCK_SIZE = 512;

export const ConfigFileSchema = z
  .object({
    lab: z.object({ prefix: z.string().default("dedup") }).strict().prefault({}),
    matrix: z
      .object({
        systems: z.array(z.string()).min(1).default([...EMBEDDED_SYSTEMS]),
        payloads: z.array(z.string()).min(1).default([...SYNTHETIC_PAYLOADS]),
        grades: z.array(z.union([z.string(), z.number()])).min(1).default(["U0", "U50", "U90"]),
        granularities: z.array(z.enum(["file", "block"])).min(1).default(["file"]),
        placements: z.array(z.enum(["within", "across"])).min(1).default(["within"]),
        /** blob: every unit one opaque payload; typed: every unit one record in typed columns (issue 14); both: the two. */
        insertion: z.enum(INSERTIONS).default("blob"),
        /** Typed cells only: surrogate (every record its own id) and/or natural (the record's own key: duplicates collide). */
        keys: z.enum(KEY_CHOICES).default("surrogate"),
        stages: z.array(z.enum(STAGES)).min(1).default([...STAGES]),
        repeats: z.number().int().min(1).max(MAX_REPEATS).default(1),
        cacheState: z.enum(["warm"]).default("warm"),
      })
      .strict()
      .prefault({}),
    dataset: z
      .object({
        units: z.number().int().min(1).max(MAX_UNITS).default(100),
        unitSize: sizeLike.default("16KiB"),
        blockSize: sizeLike.default("4KiB"),
        containers: z.number().int().min(1).max(1000).default(4),
        policy: z.enum(COPY_POLICIES).default("uniform"),
        seed: sizeLike.default("1"),
        batchSize: sizeLike.default("4MiB"),
        /** Bulk input generated ahead of the system (a worker thread), at most this many bytes in flight. */
        readAhead: sizeLike.default("128MiB"),
      })
      .strict()
      .prefault({}),
    systems: z.record(z.string(), SystemSettingsSchema).default({}),
    /** Real data: data root (read-only sources), scratch (staged units), manifest dir (see README, Real data). */
    data: DataConfigSchema.optional(),
    /** Where embedded systems keep their per-cell files (default: the OS temp dir). */
    workDir: z.string().optional(),
    /** Settled stage boundaries and size over time: poll interval (≥ 100 ms, i.e. ≤ 10 Hz), bound, stable readings. */
    settle: z
      .object({
        intervalMs: z.number().int().min(100).max(60_000).default(DEFAULT_SETTLE.intervalMs),
        timeoutMs: z.number().int().min(0).max(3_600_000).default(DEFAULT_SETTLE.timeoutMs),
        stableReadings: z.number().int().min(1).max(100).default(DEFAULT_SETTLE.stableReadings),
      })
      .strict()
      .optional(),
    /** Prometheus connection for storage-layer sizes (see README, "Storage layer"). */
    prometheus: PrometheusConfigSchema.optional(),
    /** Live run metrics: `listen` serves /metrics, `pushgateway` receives a push per cell. */
    metrics: z.unknown().optional(),
    /** Optional per-stage event stream (Kafka topic <prefix>-lab-events). */
    events: z.unknown().optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof ConfigFileSchema>;

export interface SystemPlan {
  name: string;
  variants: string[];
  maintenance: string;
  replication: { app: number; storage: number };
  preCellHook?: string;
  l3?: unknown;
  options: unknown;
  endpoint: string;
}

export interface RunConfig {
  lab: LabNamespace;
  systems: SystemPlan[];
  payloads: string[];
  grades: number[];
  granularities: ("file" | "block")[];
  placements: ("within" | "across")[];
  /** Insertion modes of the matrix (blob cells first): ["blob"] unless matrix.insertion says typed or both. */
  insertions: Insertion[];
  /** Key modes of the typed cells (ignored by blob cells). */
  keys: KeyMode[];
  stages: Stage[];
  repeats: number;
  cacheState: "warm";
  units: number;
  unitSize: SizeSpec;
  blockSize: number;
  containers: number;
  policy: (typeof COPY_POLICIES)[number];
  seed: string;
  batchBytes: number;
  readAheadBytes: number;
  workDir?: string;
  settle?: SettleOptions;
  prometheus?: unknown;
  metrics?: unknown;
  events?: unknown;
  /** The validated file-level config, for config.json (redacted there). */
  source: ConfigFile;
}

/** Flags that override the config file (all optional). */
export interface ConfigOverrides {
  systems?: string[];
  payloads?: string[];
  grades?: string[];
  granularities?: string[];
  placements?: string[];
  insertion?: string;
  keys?: string;
  stages?: string[];
  repeats?: number;
  units?: number;
  unitSize?: string;
  blockSize?: string;
  seed?: string;
  labPrefix?: string;
}

function zodProblem(where: string, error: z.ZodError): UsageError {
  const path = error.issues[0]!.path.length > 0;
  return new UsageError(`${where}${path ? " " : ": "}${zodIssueText(error)}`, "fix that entry (see README, Configuration)");
}

/** `${VAR}` in strings → environment value; a string that is only a number-valued `${VAR}` becomes a number. */
export function expandEnv(value: unknown, where: string, env: NodeJS.ProcessEnv = process.env): unknown {
  if (typeof value === "string") {
    const expanded = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) {
        throw new UsageError(`${where}: environment variable ${name} is not set`, "export it (for local servers: set -a; . .services/env; set +a)");
      }
      return v;
    });
    return /^\$\{[A-Za-z0-9_]+\}$/.test(value) && /^\d+$/.test(expanded) ? Number(expanded) : expanded;
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, `${where}[${i}]`, env));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, `${where}.${k}`, env)]));
  }
  return value;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    // A device or FIFO (/dev/zero, /dev/stdin) would be read forever: only regular files are configs.
    if (!statSync(path).isFile()) throw new UsageError(`config ${path} is not a regular file`, "pass a YAML or JSON file");
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read config ${path}: it ${fsProblem((e as NodeJS.ErrnoException).code)[0]}`, "check the --config path");
  }
  try {
    return path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`config ${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}`, "fix the syntax");
  }
}

function csv(list: string[] | undefined): string[] | undefined {
  return list?.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
}

export function resolveConfig(raw: unknown, overrides: ConfigOverrides = {}, where = "config"): RunConfig {
  const parsed = ConfigFileSchema.safeParse(expandEnv(raw ?? {}, where));
  if (!parsed.success) throw zodProblem(where, parsed.error);
  const file = parsed.data;
  const m = file.matrix;
  const d = file.dataset;

  const lab = new LabNamespace(overrides.labPrefix ?? file.lab.prefix);
  const systemNames = csv(overrides.systems) ?? m.systems;
  const payloads = csv(overrides.payloads) ?? m.payloads;
  const grades = (csv(overrides.grades) ?? m.grades).map((g) => parseGrade(g));
  const stages = (csv(overrides.stages) ?? m.stages) as Stage[];
  const granularities = (csv(overrides.granularities) ?? m.granularities) as RunConfig["granularities"];
  const placements = (csv(overrides.placements) ?? m.placements) as RunConfig["placements"];

  for (const s of stages) if (!STAGES.includes(s)) throw new UsageError(`unknown stage "${s}"`, `use ${STAGES.join(", ")}`);
  for (const g of granularities) if (g !== "file" && g !== "block") throw new UsageError(`unknown granularity "${g}"`, "use file or block");
  for (const p of placements) if (p !== "within" && p !== "across") throw new UsageError(`unknown placement "${p}"`, "use within or across");
  if (stages.includes("perfile_delete") && !stages.includes("perfile_insert")) {
    throw new UsageError("stage perfile_delete needs perfile_insert (it deletes what that stage wrote)", "add perfile_insert to the stages");
  }
  prepareRealPayloads(file.data, payloads);
  for (const p of payloads) payloadType(p);
  if (new Set(grades).size !== grades.length) throw new UsageError("a grade is listed twice", "list each grade once");
  const insertion = overrides.insertion ?? m.insertion;
  if (!(INSERTIONS as readonly string[]).includes(insertion)) throw new UsageError(`unknown insertion "${insertion}"`, "use blob, typed or both");
  const keysChoice = overrides.keys ?? m.keys;
  if (!(KEY_CHOICES as readonly string[]).includes(keysChoice)) throw new UsageError(`unknown keys "${keysChoice}"`, "use surrogate, natural or both");
  const insertions = insertionModes(insertion as (typeof INSERTIONS)[number]);
  const keys = keyModes(keysChoice as (typeof KEY_CHOICES)[number]);
  if (insertions.includes("typed")) {
    // Records are whole units: refused here, before anything runs (the Dataset would refuse it per cell).
    if (granularities.includes("block")) {
      throw new UsageError("typed insertion with block granularity: records are whole units", "use granularities file with insertion typed (or insertion blob for block cells)");
    }
    const untyped = payloads.filter((p) => !SYNTHETIC_RECORD_SCHEMAS[p]);
    if (untyped.length) {
      throw new UsageError(`payload ${untyped.join(", ")} has no record schema for typed insertion`, `use insertion blob, or typed payloads: ${Object.keys(SYNTHETIC_RECORD_SCHEMAS).join(", ")}`);
    }
  }
  const repeats = overrides.repeats ?? m.repeats;
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > MAX_REPEATS) throw new UsageError(`repeats must be a whole number from 1 to ${MAX_REPEATS} (got ${repeats})`, "pass --repeats 3");
  const units = overrides.units ?? d.units;
  if (!Number.isInteger(units) || units < 1 || units > MAX_UNITS) throw new UsageError(`units must be a whole number from 1 to ${MAX_UNITS} (got ${units})`, "pass --units 100");

  const systems: SystemPlan[] = systemNames.map((name) => {
    const def = systemDefinition(name);
    const settings = SystemSettingsSchema.parse(file.systems[name] ?? {});
    const known = Object.keys(def.capabilities.variants);
    const variants = settings.variants ?? [known[0]!];
    for (const v of variants) {
      if (!known.includes(v)) throw new UsageError(`${where} systems.${name}.variants: unknown variant "${v}"`, `use one of: ${known.join(", ")}`);
    }
    const maint = Object.keys(def.capabilities.maintenance);
    const maintenance = settings.maintenance ?? maint[0]!;
    if (!maint.includes(maintenance)) {
      throw new UsageError(`${where} systems.${name}.maintenance: unknown maintenance "${maintenance}"`, `use one of: ${maint.join(", ")}`);
    }
    const opts = def.options.safeParse(settings.options);
    if (!opts.success) throw zodProblem(`${where} systems.${name}.options`, opts.error);
    const problem = def.checkNamespace?.(opts.data, lab);
    if (problem) throw new UsageError(problem, "only lab-namespaced objects may be used");
    return {
      name, variants, maintenance, replication: settings.replication, preCellHook: settings.preCellHook,
      l3: settings.l3, options: opts.data, endpoint: def.endpoint(opts.data),
    };
  });
  for (const name of Object.keys(file.systems)) {
    if (!knownSystems().includes(name)) throw new UsageError(`${where} systems.${name}: unknown system "${name}"`, `use one of: ${knownSystems().join(", ")}`);
  }
  const promUser = systems.find((s) => (s.l3 as { kind?: string } | undefined)?.kind === "prometheus");
  if (promUser && !file.prometheus) {
    throw new UsageError(`${where} systems.${promUser.name}.l3 reads Prometheus but there is no prometheus block`, "add prometheus: { url: http://127.0.0.1:9090, scrapeInterval: 15s }");
  }

  const unitSize = parseSizeSpec(overrides.unitSize ?? d.unitSize);
  const blockSpec = overrides.blockSize ?? d.blockSize;
  const blockSize = typeof blockSpec === "number" ? blockSpec : parseBytes(String(blockSpec), "block size");
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE) {
    throw new UsageError(`block size ${blockSpec} is below ${MIN_BLOCK_SIZE} B`, `pass --block-size 4KiB (at least ${MIN_BLOCK_SIZE} B)`);
  }
  if (granularities.includes("block") && (unitSize.min % blockSize !== 0 || unitSize.max % blockSize !== 0)) {
    throw new UsageError(`unit size ${overrides.unitSize ?? d.unitSize} is not a multiple of the ${blockSize} B block size`, "choose a unit size that is a multiple of the block size");
  }
  const batchBytes = typeof d.batchSize === "number" ? d.batchSize : parseBytes(d.batchSize, "batch size");
  const readAheadBytes = typeof d.readAhead === "number" ? d.readAhead : parseBytes(d.readAhead, "read-ahead");

  const seed = String(overrides.seed ?? d.seed);
  // The effective config (file + flags): stored in config.json and enough to --resume the run.
  const source: ConfigFile = {
    ...file,
    lab: { prefix: lab.prefix },
    matrix: { ...m, systems: systemNames, payloads, grades, granularities, placements, insertion: insertion as ConfigFile["matrix"]["insertion"], keys: keysChoice as ConfigFile["matrix"]["keys"], stages, repeats },
    dataset: { ...d, units, unitSize: overrides.unitSize ?? d.unitSize, blockSize, seed },
  };
  return {
    lab, systems, payloads, grades, granularities, placements, insertions, keys, stages, repeats, cacheState: m.cacheState,
    units, unitSize, blockSize, containers: d.containers, policy: d.policy, seed,
    batchBytes, readAheadBytes, workDir: file.workDir, settle: file.settle, prometheus: file.prometheus, metrics: file.metrics, events: file.events, source,
  };
}

/** Names of the systems a raw config + flags select (before validation), to load their connectors. */
function selectedSystems(raw: unknown, overrides: ConfigOverrides): string[] {
  const fromFlags = csv(overrides.systems);
  const fromFile = (raw as { matrix?: { systems?: unknown } } | null)?.matrix?.systems;
  const names = fromFlags ?? (Array.isArray(fromFile) ? fromFile.map(String) : EMBEDDED_SYSTEMS);
  return names.filter((n) => knownSystems().includes(n)); // unknown names get their error in resolveConfig
}

/** Read, load the selected connectors, validate. */
export async function loadConfig(path: string | undefined, overrides: ConfigOverrides = {}): Promise<RunConfig> {
  const raw = path ? readConfigFile(path) : {};
  return loadAndResolve(raw, overrides, path ? `config ${path}` : "config");
}

export async function loadAndResolve(raw: unknown, overrides: ConfigOverrides = {}, where = "config"): Promise<RunConfig> {
  await loadSystems(selectedSystems(raw, overrides));
  return resolveConfig(raw, overrides, where);
}

export { gradeLabel };
