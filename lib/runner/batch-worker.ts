// Worker thread that generates bulk batches ahead of the system under test, so generation
// never runs on the thread (or inside the clock) of the bulk load. Each batch is packed
// into one transferred ArrayBuffer; the main thread grants credit for how many batches may
// be in flight, so memory stays bounded by depth × batch size.
import { parentPort, workerData } from "node:worker_threads";
import type { DataConfig } from "../data/location.js";
import { Dataset, type DatasetSpec } from "../generators/dataset.js";

export interface BatchWorkerInput {
  spec: DatasetSpec;
  /** The run config's `data:` block, so real-data payload types resolve as in the main thread. */
  data?: DataConfig;
  batchBytes: number;
}

/** One packed batch: metadata per unit, payloads and hashes back to back in `bytes`. */
export interface PackedBatch {
  ids: string[];
  index: Uint32Array;
  size: Float64Array;
  group: Uint32Array;
  container: Uint32Array;
  /** 32 bytes of SHA-256 per unit, then the payloads in order. */
  bytes: ArrayBuffer;
}

export type WorkerMessage = { kind: "batch"; batch: PackedBatch } | { kind: "end" } | { kind: "error"; message: string };

async function main(): Promise<void> {
  const input = workerData as BatchWorkerInput;
  const port = parentPort!;
  let credit = 0;
  let wake: (() => void) | undefined;
  port.on("message", (n: number) => {
    credit += n;
    wake?.();
  });
  try {
    const { payloadType } = await import("../generators/payloads.js");
    try {
      payloadType(input.spec.payload);
    } catch {
      const { prepareRealPayloads } = await import("../data/payload.js");
      prepareRealPayloads(input.data, [input.spec.payload]);
    }
    const ds = new Dataset(input.spec);
    try {
      for (const units of ds.batches(input.batchBytes)) {
        while (credit === 0) await new Promise<void>((r) => (wake = r));
        credit--;
        const total = units.reduce((a, u) => a + 32 + u.size, 0);
        const bytes = new ArrayBuffer(total);
        const view = new Uint8Array(bytes);
        let off = 32 * units.length;
        units.forEach((u, k) => {
          view.set(u.sha256, 32 * k);
          view.set(u.payload, off);
          off += u.size;
        });
        const batch: PackedBatch = {
          ids: units.map((u) => u.id),
          index: Uint32Array.from(units, (u) => u.index),
          size: Float64Array.from(units, (u) => u.size),
          group: Uint32Array.from(units, (u) => u.group),
          container: Uint32Array.from(units, (u) => u.container),
          bytes,
        };
        port.postMessage({ kind: "batch", batch } satisfies WorkerMessage, [bytes]);
      }
    } finally {
      ds.close();
    }
    port.postMessage({ kind: "end" } satisfies WorkerMessage);
  } catch (e) {
    port.postMessage({ kind: "error", message: e instanceof Error ? e.message : String(e) } satisfies WorkerMessage);
  }
  port.close();
}

void main();
