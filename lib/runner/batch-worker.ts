// Worker thread that generates bulk batches ahead of the system under test, so generation
// never runs on the thread (or inside the clock) of the bulk load. Each batch's payloads are
// transferred (not copied); the main thread grants credit for how many batches may
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

/**
 * One batch: metadata per unit, the hashes back to back, and one transferred ArrayBuffer per
 * payload. A payload of its own (not a view into one batch-sized buffer) is what the
 * pre-generated load sends too: PostgreSQL's COPY ran ≈ 5 % slower from views into 4 MiB
 * batch buffers (runner/pre-generated 0.90–0.95; 1.01–1.04 with the same views on both sides).
 */
export interface PackedBatch {
  ids: string[];
  index: Uint32Array;
  size: Float64Array;
  group: Uint32Array;
  container: Uint32Array;
  /** 32 bytes of SHA-256 per unit. */
  sha256: ArrayBuffer;
  payloads: ArrayBuffer[];
}

/** The payload's own ArrayBuffer when it spans exactly that buffer (units above 4 KiB); a copy otherwise (pooled small Buffers). */
function ownBuffer(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
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
        const sha256 = new ArrayBuffer(32 * units.length);
        units.forEach((u, k) => new Uint8Array(sha256).set(u.sha256, 32 * k));
        const payloads = units.map((u) => ownBuffer(u.payload));
        const batch: PackedBatch = {
          ids: units.map((u) => u.id),
          index: Uint32Array.from(units, (u) => u.index),
          size: Float64Array.from(units, (u) => u.size),
          group: Uint32Array.from(units, (u) => u.group),
          container: Uint32Array.from(units, (u) => u.container),
          sha256,
          payloads,
        };
        port.postMessage({ kind: "batch", batch } satisfies WorkerMessage, [sha256, ...payloads]);
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
