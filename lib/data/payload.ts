// Real-data payload types. Importing this module registers one payload type per
// data-manifest (the shipped data-manifests/ and DEDUP_DATA_MANIFESTS / data.manifests),
// so `dedup-lab run --payloads gutenberg_text` works like a synthetic type:
//   file granularity  — unique key k is staged unit k (units in staging order; sizes come
//                       from the cut, the requested unit size does not apply);
//   block granularity — unique key k is the k-th distinct block of the staged units read as
//                       one stream (units are then --unit-size long, made of such blocks).
// `available` is the number of distinct units (or blocks), so a plan that needs more
// uniques than the data has is refused before anything runs. Reads are synchronous
// (fs.readSync) and happen while the dataset is generated, outside every timer.
import { UsageError } from "../errors.js";
import type { PayloadOpenParams, PayloadSource, PayloadType } from "../generators/payloads.js";
import { payloadType, registerPayload } from "../generators/payloads.js";
import { Scratch, configureDataLocation, dataLocation, type DataConfig } from "./location.js";
import { scanManifests, type DataManifest } from "./manifest.js";
import { StagedUnits, readStagedIndex, type StagedIndex } from "./staged.js";

function openStaged(payload: string, params: PayloadOpenParams): PayloadSource {
  const staged = StagedUnits.open(new Scratch(dataLocation().scratch).staged(payload), payload);
  if (params.granularity !== "block") {
    return {
      available: staged.count,
      sizeOf: (key) => staged.sizeOf(key),
      fill: (key, out) => {
        if (!(key < staged.count)) throw new UsageError(`payload ${payload} has ${staged.count} distinct units, unit ${key} was asked for`, "use fewer units or a lower duplicate grade");
        staged.read(key, out);
      },
      close: () => staged.close(),
    };
  }
  const blockSize = params.size.min;
  const blocks = staged.distinctBlocks(blockSize);
  return {
    available: blocks.length,
    sizeOf: () => blockSize,
    fill: (key, out) => {
      if (!(key < blocks.length)) {
        throw new UsageError(`payload ${payload} has ${blocks.length} distinct ${blockSize}-byte blocks, block ${key} was asked for`, "use fewer or smaller units, or a higher duplicate grade");
      }
      if (out.length !== blockSize) throw new RangeError(`block ${key} is ${blockSize} B, asked for ${out.length} B`);
      staged.readAt(blocks[key]!, out);
    },
    close: () => staged.close(),
  };
}

export function realPayloadType(m: Pick<DataManifest, "payload" | "title" | "name">): PayloadType {
  return {
    name: m.payload,
    description: `${m.title} (real data: data set ${m.name}, stage with \`dedup-lab data stage ${m.name}\`)`,
    kind: "real",
    open: (params) => openStaged(m.payload, params),
  };
}

/** Register the payload types of the valid manifests in `dir`; returns the problems of the others. */
export function registerManifestPayloads(dir: string): string[] {
  const { manifests, problems } = scanManifests(dir);
  for (const m of manifests) registerPayload(realPayloadType(m));
  return problems;
}

/**
 * The run config's hook (lib/runner/config.ts): apply its `data:` block, register the
 * payload types of its manifest directory, and refuse real payloads that are not staged
 * — one line naming the fix, before anything connects.
 */
export function prepareRealPayloads(config: DataConfig | undefined, payloads: string[]): void {
  configureDataLocation(config);
  const loc = dataLocation();
  const problems = registerManifestPayloads(loc.manifests);
  const scratch = new Scratch(loc.scratch);
  for (const name of payloads) {
    let type: PayloadType;
    try {
      type = payloadType(name);
    } catch (e) {
      // Perhaps its manifest is the broken one: say so rather than "unknown payload".
      if (problems.length > 0) throw new UsageError(`${(e as Error).message.split(" — ")[0]}; the data-manifests in ${loc.manifests} have problems: ${problems.join(" | ")}`);
      continue; // reported by the caller
    }
    if (type.kind === "real") StagedUnits.open(scratch.staged(name), name).close();
  }
}

/** What staged data a run's real payloads read (for the run bundle's provenance). */
export function stagedProvenance(payloads: string[]): Record<string, Omit<StagedIndex, "format" | "index_record">> {
  const scratch = new Scratch(dataLocation().scratch);
  const out: Record<string, Omit<StagedIndex, "format" | "index_record">> = {};
  for (const name of payloads) {
    let type: PayloadType;
    try {
      type = payloadType(name);
    } catch {
      continue;
    }
    if (type.kind !== "real") continue;
    const index = readStagedIndex(scratch.staged(name));
    if (index) {
      const { format: _f, index_record: _r, ...rest } = index;
      out[name] = rest;
    }
  }
  return out;
}

// Registration on import. A broken manifest must not break unrelated commands: the valid
// ones are registered, `dedup-lab data list` and the run config report the problems.
try {
  registerManifestPayloads(dataLocation().manifests);
} catch {
  /* an unreadable manifest directory: reported by the data commands and the run config */
}
