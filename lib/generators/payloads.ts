// Payload types: how the bytes of one unique unit look. A payload type knows nothing
// about duplicates: the planner decides which unique (group) each unit copies, and the
// payload regenerates that group's bytes from its seed whenever they are needed.
import { UsageError } from "../errors.js";
import { Xoshiro128ss, fillKeystream, seedFrom } from "./prng.js";
import type { SizeSpec } from "./sizes.js";
import { sizeForKey } from "./sizes.js";

/** Distinct unit contents a payload type can produce for one dataset. */
export interface PayloadSource {
  /** How many distinct units exist (Infinity for synthetic types). */
  readonly available: number;
  /** Size in bytes of unique unit `key`. */
  sizeOf(key: number): number;
  /** Write unique unit `key` into `out` (exactly sizeOf(key) bytes). Synchronous and pure. */
  fill(key: number, out: Buffer): void;
  /** Release files or handles (real data). */
  close?(): void;
}

export interface PayloadOpenParams {
  /** 32-byte dataset seed. */
  seed: Buffer;
  size: SizeSpec;
  /**
   * "block": every key is one block of exactly size.min bytes (block granularity). A real
   * type then serves distinct blocks instead of its own units; synthetic types ignore it.
   */
  granularity?: "file" | "block";
}

export interface PayloadType {
  name: string;
  description: string;
  kind: "synthetic" | "real";
  /** File extension of a unit written as a file (directory system, staged data sets); default "bin". */
  extension?: string;
  open(params: PayloadOpenParams): PayloadSource;
}

/** A synthetic type: unlimited uniques, size from the requested distribution. */
function synthetic(name: string, description: string, extension: string, fill: (out: Buffer, seed: Buffer) => void): PayloadType {
  return {
    name,
    description,
    kind: "synthetic",
    extension,
    open({ seed, size }) {
      const seedHex = seed.toString("hex");
      return {
        available: Number.POSITIVE_INFINITY,
        sizeOf: (key) => sizeForKey(size, seed, key),
        fill: (key, out) => fill(out, seedFrom(seedHex, name, key)),
      };
    },
  };
}

// ---- text helpers --------------------------------------------------------------------

const WORDS = (
  "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her all she there would their we him been has when who will more no if out so said what up its about " +
  "into than them can only other new some could time these two may then do first any my now such like our over man " +
  "me even most made after also did many before must through back years where much your way well down should because " +
  "each just those people how too little state good very make world still own see men work long get here between both " +
  "life being under never day same another know while last might us great old year off come since against go came right " +
  "used take three storage database replica volume block page segment merge compaction index table column record query " +
  "cluster node partition snapshot transaction commit latency throughput measurement experiment dataset payload"
).split(" ");

/** Writes ASCII text into out from a generator of strings; stops exactly at out.length. */
function writeText(out: Buffer, next: () => string): void {
  let off = 0;
  while (off < out.length) off += out.write(next(), off, "latin1");
}

/** Zipf-like word choice: low ranks far more frequent, as in natural language. */
function zipfWord(rng: Xoshiro128ss): string {
  const u = rng.float();
  return WORDS[Math.min(WORDS.length - 1, Math.floor(WORDS.length * u * u * u))]!;
}

function sentence(rng: Xoshiro128ss): string {
  const n = rng.range(6, 22);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(zipfWord(rng));
  const s = words.join(" ");
  return s.charAt(0).toUpperCase() + s.slice(1) + (rng.int(8) === 0 ? "? " : ". ");
}

/** A JSON array of records, padded with spaces to the exact size (valid JSON unless one record exceeds the size). */
function writeJsonArray(out: Buffer, record: () => unknown): void {
  if (out.length < 2) return void out.fill(0x20);
  let off = out.write("[", 0, "latin1");
  let first = true;
  for (;;) {
    const text = (first ? "" : ",") + JSON.stringify(record());
    if (first && off + text.length + 1 > out.length) {
      // Not even one record fits: keep the truncated record so distinct seeds stay distinct bytes.
      out.write(text, off, "latin1");
      return;
    }
    if (off + text.length + 1 > out.length) break;
    off += out.write(text, off, "latin1");
    first = false;
  }
  off += out.write("]", off, "latin1");
  out.fill(0x20, off);
}

export const FIRST = ["Anna", "Ben", "Chiara", "David", "Elif", "Finn", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Lars", "Mia", "Noah", "Olga", "Paul"];
export const LAST = ["Schmidt", "Mueller", "Rossi", "Nguyen", "Garcia", "Novak", "Kowalski", "Yilmaz", "Smith", "Dubois", "Jensen", "Costa"];
export const CITIES = ["Berlin", "Hamburg", "Vienna", "Zurich", "Prague", "Lyon", "Porto", "Gdansk", "Leipzig", "Graz"];
export const TAGS = ["premium", "trial", "churn-risk", "b2b", "newsletter", "mobile", "eu", "beta", "vip", "support"];
export const EVENTS = ["PushEvent", "PullRequestEvent", "IssuesEvent", "WatchEvent", "ForkEvent", "CreateEvent", "DeleteEvent"];

/** n random lower-case hex digits. */
export function hex(rng: Xoshiro128ss, n: number): string {
  let s = "";
  while (s.length < n) s += rng.next().toString(16).padStart(8, "0");
  return s.slice(0, n);
}

/** A random version-4 UUID (122 random bits), canonical lower case. */
export function uuid(rng: Xoshiro128ss): string {
  const h = hex(rng, 32);
  const variant = "89ab"[rng.int(4)];
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function isoTime(rng: Xoshiro128ss): string {
  return new Date(Date.UTC(2024, 0, 1) + rng.int(365 * 24 * 3600) * 1000).toISOString();
}

function person(rng: Xoshiro128ss) {
  const first = rng.pick(FIRST);
  const last = rng.pick(LAST);
  return {
    id: uuid(rng),
    name: `${first} ${last}`,
    email: `${first.toLowerCase()}.${rng.int(10000)}@example.org`,
    city: rng.pick(CITIES),
    age: rng.range(18, 90),
    balance: Math.round(rng.float() * 1e7) / 100,
    created_at: isoTime(rng),
    tags: Array.from({ length: rng.int(4) }, () => rng.pick(TAGS)),
    active: rng.int(2) === 1,
  };
}

function nested(rng: Xoshiro128ss, depth: number): unknown {
  if (depth === 0) return rng.int(3) === 0 ? rng.float() : hex(rng, rng.range(4, 16));
  const obj: Record<string, unknown> = {};
  const n = rng.range(1, 4);
  for (let i = 0; i < n; i++) obj[zipfWord(rng) + i] = nested(rng, depth - 1);
  return obj;
}

function event(rng: Xoshiro128ss) {
  return {
    id: String(20_000_000_000 + rng.int(2_000_000_000)),
    type: rng.pick(EVENTS),
    actor: { id: rng.int(1e8), login: `${rng.pick(FIRST).toLowerCase()}${rng.int(1000)}` },
    repo: { id: rng.int(1e9), name: `${rng.pick(LAST).toLowerCase()}/${zipfWord(rng)}-${zipfWord(rng)}` },
    payload: nested(rng, 3),
    public: true,
    created_at: isoTime(rng),
  };
}

// ---- the registry --------------------------------------------------------------------

const registry = new Map<string, PayloadType>();

export function registerPayload(type: PayloadType): void {
  registry.set(type.name, type);
}

export function payloadType(name: string): PayloadType {
  const type = registry.get(name);
  if (!type) {
    throw new UsageError(`unknown payload "${name}"`, `use one of: ${[...registry.keys()].join(", ")}`);
  }
  return type;
}

/** The file extension of a payload's units ("bin" when the type names none or is unknown). */
export function payloadExtension(name: string): string {
  return registry.get(name)?.extension ?? "bin";
}

export function payloadNames(kind?: PayloadType["kind"]): string[] {
  return [...registry.values()].filter((t) => !kind || t.kind === kind).map((t) => t.name);
}

registerPayload(synthetic("random_binary", "incompressible bytes (AES-128-CTR keystream)", "bin", fillKeystream));
registerPayload(
  synthetic("structured_json", "JSON array of person records with realistic fields", "json", (out, seed) => {
    const rng = new Xoshiro128ss(seed);
    writeJsonArray(out, () => person(rng));
  }),
);
registerPayload(
  synthetic("text_document", "natural-language-like text, Zipf word frequencies (compressible)", "txt", (out, seed) => {
    const rng = new Xoshiro128ss(seed);
    let inParagraph = 0;
    writeText(out, () => (++inParagraph % 7 === 0 ? sentence(rng) + "\n\n" : sentence(rng)));
  }),
);
registerPayload(
  synthetic("uuid_keys", "UUIDv4 text lines", "txt", (out, seed) => {
    const rng = new Xoshiro128ss(seed);
    writeText(out, () => uuid(rng) + "\n");
  }),
);
registerPayload(
  synthetic("jsonb_documents", "JSON array of nested event documents (depth 3)", "json", (out, seed) => {
    const rng = new Xoshiro128ss(seed);
    writeJsonArray(out, () => event(rng));
  }),
);

/** The synthetic payloads, in registration order (the default matrix). */
export const SYNTHETIC_PAYLOADS: readonly string[] = payloadNames("synthetic");
