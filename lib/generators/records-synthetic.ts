// Seeded synthetic record datasets: one RecordSchema per synthetic payload type, and a
// RecordDataset that lays n records out with an exact duplicate fraction.
//
// Duplicates (lib/generators/plan.ts, the same planner as units): for n records at fraction f,
// exactly round(n·f) records are duplicates; the plan shuffles them from the seed and numbers
// groups by first appearance, so every duplicate is byte-identical — in every field, its id
// included — to an earlier record (its group's first). A natural key therefore collides exactly
// round(n·f) times. Ids of distinct records differ: int64 ids are the group number (plus a
// base), uuid ids are random v4 UUIDs (122 random bits: a collision among 10^9 records has
// probability < 10^-19).
//
// Each field of group g has its own stream: Xoshiro128ss(seedFrom(dataset seed, payload,
// field name, g)) (bytes: the AES-CTR keystream of that seed), so fields are independent and
// any record regenerates alone. Memory: the plan's 4 B per record; records are generated on
// demand and the totals are accumulated while streaming.
import { UsageError } from "../errors.js";
import { CITIES, EVENTS, FIRST, hex, LAST, TAGS, uuid } from "./payloads.js";
import { COPY_POLICIES, planDuplicates, type CopyPolicy, type DuplicationPlan } from "./plan.js";
import { Xoshiro128ss, fillKeystream, seedFrom } from "./prng.js";
import { RecordTotalsBuilder, field, recordDigest, type RecordSchema, type RecordTotals, type RecordValues } from "./records.js";
import { sizeForKey, validateSizeSpec, type SizeSpec } from "./sizes.js";

export const RECORD_GENERATOR_VERSION = "dedup-lab-records/1";

/** The record schema of each synthetic payload type. */
export const SYNTHETIC_RECORD_SCHEMAS: Readonly<Record<string, RecordSchema>> = {
  random_binary: { name: "random_binary", key: "id", fields: [field("id", "int64"), field("data", "bytes")] },
  structured_json: {
    name: "structured_json",
    key: "id",
    fields: [
      field("id", "uuid"),
      field("name", "text"),
      field("email", "text", true),
      field("city", "text"),
      field("age", "int64"),
      field("balance", "float64"),
      field("created_at", "timestamp"),
      field("tags", "json"),
      field("active", "bool"),
    ],
  },
  text_document: { name: "text_document", key: "id", fields: [field("id", "int64"), field("body", "text")] },
  uuid_keys: { name: "uuid_keys", key: "id", fields: [field("id", "uuid"), field("value", "int64")] },
  jsonb_documents: {
    name: "jsonb_documents",
    key: "id",
    fields: [field("id", "int64"), field("type", "text"), field("doc", "json"), field("created_at", "timestamp")],
  },
};

export function recordSchemaOf(payload: string): RecordSchema {
  const s = SYNTHETIC_RECORD_SCHEMAS[payload];
  if (!s) throw new UsageError(`payload "${payload}" has no synthetic record schema`, `use one of: ${Object.keys(SYNTHETIC_RECORD_SCHEMAS).join(", ")}`);
  return s;
}

// ---- value helpers (the same vocabulary as the unit payloads in payloads.ts) -------------

const WORDS = (
  "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her all she there would their we him been has when who will more no if out so said what up its about " +
  "into than them can only other new some could time these two may then do first any my now such like our over man " +
  "storage database replica volume block page segment merge compaction index table column record query " +
  "cluster node partition snapshot transaction commit latency throughput measurement experiment dataset payload"
).split(" ");
const YEAR_2024_US = BigInt(Date.UTC(2024, 0, 1)) * 1000n;

function zipfWord(rng: Xoshiro128ss): string {
  const u = rng.float();
  return WORDS[Math.min(WORDS.length - 1, Math.floor(WORDS.length * u * u * u))]!;
}

function sentence(rng: Xoshiro128ss): string {
  const n = rng.range(6, 22);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(zipfWord(rng));
  const s = words.join(" ");
  return s.charAt(0).toUpperCase() + s.slice(1) + (rng.int(8) === 0 ? "?" : ".");
}

/** Microseconds since the epoch, uniform within 2024. */
function timestamp2024(rng: Xoshiro128ss): bigint {
  return YEAR_2024_US + BigInt(rng.int(366 * 24 * 3600)) * 1_000_000n + BigInt(rng.int(1_000_000));
}

function nested(rng: Xoshiro128ss, depth: number): unknown {
  if (depth === 0) return rng.int(3) === 0 ? rng.float() : hex(rng, rng.range(4, 16));
  const obj: Record<string, unknown> = {};
  const n = rng.range(1, 4);
  for (let i = 0; i < n; i++) obj[zipfWord(rng) + i] = nested(rng, depth - 1);
  return obj;
}

// ---- the dataset --------------------------------------------------------------------------

export interface RecordDatasetSpec {
  /** A synthetic payload type with a record schema (SYNTHETIC_RECORD_SCHEMAS). */
  payload: string;
  records: number;
  /** Duplicate fraction in [0, 1): exactly round(records · fraction) duplicate records. */
  fraction: number;
  policy?: CopyPolicy;
  seed?: string;
  /** random_binary: size of the `data` field (fixed or a uniform range); default 1024 B. */
  bytesSize?: SizeSpec;
}

export interface GeneratedRecord {
  index: number;
  /** Records of one group are byte-identical; groups are numbered by first appearance. */
  group: number;
  /** True for the first record of its group; every other record repeats an earlier one. */
  original: boolean;
  values: RecordValues;
}

export interface RecordManifestEntry {
  index: number;
  group: number;
  /** sha256 of the record's canonical encoding (encodeRecord), hex. */
  sha256: string;
}

export interface RecordManifest {
  format: "dedup-lab.record-manifest/1";
  generator_version: string;
  dataset_id: string;
  spec: Required<Omit<RecordDatasetSpec, "bytesSize">> & { bytesSize: SizeSpec };
  record_schema: RecordSchema;
  policy_note: string;
  requested_fraction: number;
  realized_fraction: number;
  totals: RecordTotals;
}

export class RecordDataset {
  readonly schema: RecordSchema;
  readonly seed: Buffer;
  readonly id: string;
  readonly plan: DuplicationPlan;
  readonly spec: RecordManifest["spec"];
  private readonly seedHex: string;
  private totalsCache?: RecordTotals;

  constructor(spec: RecordDatasetSpec) {
    this.schema = recordSchemaOf(spec.payload);
    if (!(spec.fraction >= 0 && spec.fraction < 1)) throw new UsageError(`duplicate fraction ${spec.fraction} is outside [0, 1)`, "use a value like 0, 0.5 or 0.9");
    if (!COPY_POLICIES.includes(spec.policy ?? "uniform")) throw new UsageError(`unknown copy policy "${spec.policy}"`, `use ${COPY_POLICIES.join(" or ")}`);
    const bytesSize = spec.bytesSize ?? { min: 1024, max: 1024 };
    validateSizeSpec(bytesSize);
    this.spec = { payload: spec.payload, records: spec.records, fraction: spec.fraction, policy: spec.policy ?? "uniform", seed: spec.seed ?? "1", bytesSize };
    const s = this.spec;
    this.seed = seedFrom(RECORD_GENERATOR_VERSION, s.seed, s.payload, s.records, s.fraction, s.policy, s.bytesSize.min, s.bytesSize.max);
    this.seedHex = this.seed.toString("hex");
    this.id = this.seedHex.slice(0, 12);
    this.plan = planDuplicates(s.records, s.fraction, s.policy, this.seed);
  }

  get length(): number {
    return this.spec.records;
  }

  /** The stream of `fieldName` for group `g`. */
  private rng(fieldName: string, g: number): Xoshiro128ss {
    return new Xoshiro128ss(seedFrom(this.seedHex, this.spec.payload, fieldName, g));
  }

  /** The values of group g's records, regenerated from the seed. */
  valuesOf(g: number): RecordValues {
    const r = (name: string) => this.rng(name, g);
    switch (this.spec.payload) {
      case "random_binary": {
        const data = Buffer.allocUnsafe(sizeForKey(this.spec.bytesSize, this.seed, g));
        fillKeystream(data, seedFrom(this.seedHex, this.spec.payload, "data", g));
        return [BigInt(g), data];
      }
      case "structured_json": {
        const nameRng = r("name");
        const first = nameRng.pick(FIRST);
        const last = nameRng.pick(LAST);
        const emailRng = r("email");
        const email = emailRng.int(8) === 0 ? null : `${first.toLowerCase()}.${emailRng.int(10000)}@example.org`;
        const tagsRng = r("tags");
        const tags = Array.from({ length: tagsRng.int(4) }, () => tagsRng.pick(TAGS));
        return [
          uuid(r("id")),
          `${first} ${last}`,
          email,
          r("city").pick(CITIES),
          BigInt(r("age").range(18, 90)),
          Math.round(r("balance").float() * 1e7) / 100,
          timestamp2024(r("created_at")),
          JSON.stringify(tags),
          r("active").int(2) === 1,
        ];
      }
      case "text_document": {
        const rng = r("body");
        const n = rng.range(2, 12);
        const sentences: string[] = [];
        for (let i = 0; i < n; i++) sentences.push(sentence(rng));
        return [BigInt(g), sentences.join(" ")];
      }
      case "uuid_keys":
        return [uuid(r("id")), BigInt(r("value").int(1000))];
      case "jsonb_documents": {
        const docRng = r("doc");
        const doc = {
          actor: { id: docRng.int(1e8), login: `${docRng.pick(FIRST).toLowerCase()}${docRng.int(1000)}` },
          repo: { id: docRng.int(1e9), name: `${docRng.pick(LAST).toLowerCase()}/${zipfWord(docRng)}-${zipfWord(docRng)}` },
          payload: nested(docRng, 3),
          public: true,
        };
        return [20_000_000_000n + BigInt(g), r("type").pick(EVENTS), JSON.stringify(doc), timestamp2024(r("created_at"))];
      }
      default:
        throw new Error(`no record generator for ${this.spec.payload}`);
    }
  }

  record(i: number): GeneratedRecord {
    const group = this.plan.group[i]!;
    return { index: i, group, original: this.plan.isOriginal(i), values: this.valuesOf(group) };
  }

  *records(from = 0, to = this.length): Generator<GeneratedRecord> {
    for (let i = from; i < to; i++) yield this.record(i);
  }

  /** Totals over all records, accumulated while streaming them (computed once). */
  totals(): RecordTotals {
    if (!this.totalsCache) {
      const b = new RecordTotalsBuilder(this.schema);
      for (const r of this.records()) b.add(r.values, r.original);
      this.totalsCache = b.totals();
    }
    return this.totalsCache;
  }

  /**
   * The record manifest (ground truth). With `onEntry`, every record's index, group and content
   * digest is handed over while streaming (write them out as JSON lines; memory stays flat).
   */
  manifest(onEntry?: (e: RecordManifestEntry) => void): RecordManifest {
    let totals: RecordTotals;
    if (onEntry) {
      const b = new RecordTotalsBuilder(this.schema);
      for (const r of this.records()) {
        b.add(r.values, r.original);
        onEntry({ index: r.index, group: r.group, sha256: recordDigest(this.schema, r.values).toString("hex") });
      }
      totals = this.totalsCache = b.totals();
    } else {
      totals = this.totals();
    }
    return {
      format: "dedup-lab.record-manifest/1",
      generator_version: RECORD_GENERATOR_VERSION,
      dataset_id: this.id,
      spec: this.spec,
      record_schema: this.schema,
      policy_note:
        this.spec.policy === "uniform"
          ? "each duplicate record copies a distinct record drawn uniformly with replacement; order shuffled; first occurrence is the original"
          : "duplicate k copies distinct record k mod distinct; order shuffled; first occurrence is the original",
      requested_fraction: this.spec.fraction,
      realized_fraction: this.plan.realizedFraction,
      totals,
    };
  }
}
