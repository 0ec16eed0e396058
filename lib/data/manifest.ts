// Data-manifests: one YAML/JSON file per real data set (data-manifests/*.yaml). A manifest
// says where the bytes come from (https URL and/or a path under the data root), what they
// must hash to, how they are packed and how they are cut into distinct units. The zod
// schema here is the single definition; data-manifests/manifest.schema.json is generated
// from it (a unit test keeps the two equal).
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { UsageError } from "../errors.js";

export const DATA_MANIFEST_FORMAT = "dedup-lab.data-manifest/1";

/** The data-manifests/ directory shipped with the toolkit (same path from lib/ and dist/). */
export const SHIPPED_MANIFESTS = fileURLToPath(new URL("../../data-manifests/", import.meta.url));

const slug = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, "lower-case letters, digits, _ and -, starting with a letter");
/** Bytes as a number or a text like "64KiB" (parsed with the same rules as --unit-size). */
const byteSize = z.union([z.number().int().min(1), z.string().regex(/^\s*\d+(\.\d+)?\s*([kKmMgG]i?[bB]?|[bB])?\s*$/, 'a size like 4096, "64KiB" or "1MiB"')]);

/** https anywhere; plain http only to the loopback address (the tests' local server). */
const sourceUrl = z.string().refine((u) => {
  try {
    const url = new URL(u);
    return url.protocol === "https:" || (url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "localhost"));
  } catch {
    return false;
  }
}, "an https:// URL (plain http only to 127.0.0.1)");

/** Relative to the data root, never escaping it. */
const rootPath = z.string().refine((p) => p.length > 0 && !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), "a path relative to the data root, without .. and not absolute");

export const ARCHIVES = ["zip", "tar.bz2", "gz", "none"] as const;
export type ArchiveFormat = (typeof ARCHIVES)[number];

export const SourceSchema = z
  .object({
    id: slug.describe("stable id of this source inside the manifest"),
    title: z.string().optional(),
    url: sourceUrl.optional().describe("where to download it (https)"),
    path: rootPath.optional().describe("where it lies under the data root (local disk or NFS); preferred over url when present"),
    expected_size: z.number().int().min(0).nullable().describe("bytes of the source file; null = unknown"),
    size_exact: z.boolean().default(false).describe("true: a different size is an error; false: approximate, used for the disk-space check"),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits").nullable().describe("null = not known offline"),
    verify: z.enum(["sha256", "record-on-first-fetch"]).describe("sha256: must match; record-on-first-fetch: the first hash seen is recorded in the scratch dir and later reads must match it"),
    archive: z.enum(ARCHIVES, { error: (iss) => `unsupported archive ${JSON.stringify(iss.input)} (supported: ${ARCHIVES.join(", ")})` }),
    members: z.array(z.string().min(1)).min(1).optional().describe("zip/tar.bz2 only: glob patterns (*, **, ?) of the members to use; default all files"),
    unpacked_size: z.number().int().min(0).optional().describe("approximate bytes after unpacking, for the disk-space check"),
    note: z.string().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.url && !s.path) ctx.addIssue({ code: "custom", message: "needs a url or a path (or both)", path: ["url"] });
    if (s.verify === "sha256" && s.sha256 === null) ctx.addIssue({ code: "custom", message: 'verify "sha256" needs a sha256 (or use verify: record-on-first-fetch)', path: ["sha256"] });
    if (s.verify === "record-on-first-fetch" && s.sha256 !== null) ctx.addIssue({ code: "custom", message: 'a known sha256 needs verify: "sha256"', path: ["verify"] });
    if (s.size_exact && s.expected_size === null) ctx.addIssue({ code: "custom", message: "size_exact needs an expected_size", path: ["size_exact"] });
    if (s.members && s.archive !== "zip" && s.archive !== "tar.bz2") ctx.addIssue({ code: "custom", message: "members only apply to zip and tar.bz2 archives", path: ["members"] });
  });
export type DataSource = z.infer<typeof SourceSchema>;

export const CutSchema = z.discriminatedUnion("mode", [
  z
    .object({
      mode: z.literal("fixed"),
      size: byteSize.describe("unit size"),
      tail: z.enum(["drop", "keep"]).default("drop").describe("the last piece shorter than size: drop (all units equal) or keep"),
    })
    .strict(),
  z
    .object({
      mode: z.literal("frame"),
      size: byteSize.describe("frame size: every unit is exactly this long, a partial last frame is dropped"),
      header: z.union([z.literal(0), byteSize]).default(0).describe("bytes skipped at the start of every member (file header)"),
    })
    .strict(),
  z
    .object({
      mode: z.literal("lines"),
      lines: z.number().int().min(1).optional().describe("N lines per unit"),
      target: byteSize.optional().describe("pack whole lines up to this many bytes; a longer line is a unit of its own"),
    })
    .strict(),
  z
    .object({
      mode: z.literal("json"),
      objects: z.number().int().min(1).optional().describe("N top-level JSON values per unit (default 1)"),
      target: byteSize.optional().describe("pack whole JSON values up to this many bytes"),
    })
    .strict(),
]);
export type CutSpec = z.infer<typeof CutSchema>;

export const DataManifestSchema = z
  .object({
    format: z.literal(DATA_MANIFEST_FORMAT),
    name: slug.describe("data set name (also the manifest file name)"),
    title: z.string().min(1),
    payload: slug.describe("the payload type this data set provides (dedup-lab run --payloads NAME)"),
    description: z.string().min(1),
    licence: z.string().min(1),
    homepage: z.string().url().optional(),
    notes: z.string().optional(),
    sources: z.array(SourceSchema).min(1),
    cut: CutSchema,
  })
  .strict()
  .superRefine((m, ctx) => {
    const cut = m.cut;
    if (cut.mode === "lines" && (cut.lines === undefined) === (cut.target === undefined)) {
      ctx.addIssue({ code: "custom", message: "lines mode needs exactly one of lines (N per unit) or target (bytes)", path: ["cut"] });
    }
    if (cut.mode === "json" && cut.objects !== undefined && cut.target !== undefined) {
      ctx.addIssue({ code: "custom", message: "give objects or target, not both", path: ["cut"] });
    }
    const ids = new Set<string>();
    m.sources.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: "custom", message: `duplicate source id "${s.id}"`, path: ["sources", i, "id"] });
      ids.add(s.id);
    });
  });
export type DataManifest = z.infer<typeof DataManifestSchema> & { file: string };

/** "sources[0].sha256" from a zod path. */
function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), "");
}

/** Every schema problem of one manifest, each with its path, on one line. */
export function manifestProblems(error: z.ZodError): string {
  return error.issues.map((i) => `${issuePath(i.path) || "(top level)"}: ${i.message}`).join("; ");
}

export function parseManifest(raw: unknown, file: string): DataManifest {
  const parsed = DataManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(`data-manifest ${file} is invalid: ${manifestProblems(parsed.error)}`, "fix those fields (schema: data-manifests/manifest.schema.json)");
  }
  const stem = basename(file).replace(/\.(ya?ml|json)$/, "");
  if (parsed.data.name !== stem) {
    throw new UsageError(`data-manifest ${file} is invalid: name: "${parsed.data.name}" differs from the file name "${stem}"`, `rename the file to ${parsed.data.name}.yaml or fix the name`);
  }
  return { ...parsed.data, file };
}

export function readManifestFile(file: string): DataManifest {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read data-manifest ${file} (${(e as NodeJS.ErrnoException).code})`, "check the --manifests directory");
  }
  let raw: unknown;
  try {
    raw = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`data-manifest ${file} is not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}`, "fix the syntax");
  }
  return parseManifest(raw, file);
}

/** Manifest files of a directory (the JSON Schema and READMEs are not manifests). */
export function manifestFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new UsageError(`cannot read the data-manifest directory ${dir} (${(e as NodeJS.ErrnoException).code})`, "pass --manifests DIR with one YAML/JSON file per data set");
  }
  return names
    .filter((n) => /\.(ya?ml|json)$/.test(n) && !n.endsWith(".schema.json"))
    .sort()
    .map((n) => join(dir, n));
}

/** Every valid manifest of a directory, and the problems of the others. */
export function scanManifests(dir: string): { manifests: DataManifest[]; problems: string[] } {
  const manifests: DataManifest[] = [];
  const problems: string[] = [];
  for (const file of manifestFiles(dir)) {
    try {
      manifests.push(readManifestFile(file));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const seenPayload = new Map<string, string>();
  for (const m of manifests) {
    const other = seenPayload.get(m.payload);
    if (other) problems.push(`data-manifests ${other} and ${m.name} both provide payload ${m.payload} — give each data set its own payload name`);
    seenPayload.set(m.payload, m.name);
  }
  return { manifests, problems };
}

/** Load every manifest of a directory; all problems are reported together. */
export function loadManifests(dir: string): DataManifest[] {
  const { manifests, problems } = scanManifests(dir);
  if (problems.length > 0) throw new UsageError(problems.join(" | "));
  return manifests;
}

/** A data set by manifest name or by the payload name it provides. */
export function findManifest(manifests: DataManifest[], name: string, dir: string): DataManifest {
  const m = manifests.find((x) => x.name === name) ?? manifests.find((x) => x.payload === name);
  if (!m) {
    throw new UsageError(`unknown data set "${name}" in ${dir}`, `use one of: ${manifests.map((x) => `${x.name} (${x.payload})`).join(", ")}`);
  }
  return m;
}

/** The JSON Schema of a manifest, for editors (written to data-manifests/manifest.schema.json). */
export function manifestJsonSchema(): unknown {
  return z.toJSONSchema(DataManifestSchema, { io: "input", unrepresentable: "any" });
}
