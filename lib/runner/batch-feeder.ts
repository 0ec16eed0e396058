// Bulk input produced ahead of the consumer: a worker thread generates batches into a
// bounded queue (depth batches in flight), and the first batches are ready before the
// bulk clock starts. Whatever time the system still waits for input is measured by the
// timing wrapper (input_wait_s), never subtracted.
import { Worker } from "node:worker_threads";
import type { DataConfig } from "../data/location.js";
import type { DatasetSpec } from "../generators/dataset.js";
import type { Unit } from "../generators/unit.js";
import type { BatchWorkerInput, PackedBatch, WorkerMessage } from "./batch-worker.js";

/**
 * The worker beside this module: compiled .js in dist; under the test runner (TypeScript
 * sources) a small bootstrap registers tsx's loader in the worker first.
 */
function newWorker(workerData: BatchWorkerInput): Worker {
  const self = import.meta.url;
  if (!self.endsWith(".ts")) return new Worker(new URL("./batch-worker.js", self), { workerData });
  const script = new URL("./batch-worker.ts", self).href;
  const boot = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(script)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

function unpack(b: PackedBatch): Unit[] {
  const sha = Buffer.from(b.sha256);
  return b.ids.map((id, k) => ({
    id, index: b.index[k]!, size: b.size[k]!, sha256: sha.subarray(32 * k, 32 * k + 32), group: b.group[k]!, container: b.container[k]!, payload: Buffer.from(b.payloads[k]!),
  }));
}

export class BatchFeeder implements AsyncIterable<Unit[]> {
  private readonly queue: Unit[][] = [];
  private ended = false;
  private failure: Error | undefined;
  private waiting: (() => void) | undefined;
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (m: WorkerMessage) => {
      if (m.kind === "batch") this.queue.push(unpack(m.batch));
      else if (m.kind === "end") this.ended = true;
      else this.failure = new Error(`bulk input generation failed: ${m.message}`);
      this.waiting?.();
    });
    worker.on("error", (e) => {
      this.failure = e;
      this.waiting?.();
    });
    this.exited = new Promise((resolve) =>
      worker.on("exit", () => {
        this.ended = true;
        this.waiting?.();
        resolve();
      }),
    );
  }

  /** Start generating and wait until `depth` batches (or the whole dataset) are ready. */
  static async start(spec: DatasetSpec, batchBytes: number, opts: { depth?: number; data?: DataConfig } = {}): Promise<BatchFeeder> {
    const depth = Math.max(1, opts.depth ?? 4);
    const feeder = new BatchFeeder(newWorker({ spec, batchBytes, data: opts.data }));
    feeder.worker.postMessage(depth);
    while (feeder.queue.length < depth && !feeder.ended && !feeder.failure) await feeder.nextEvent();
    if (feeder.failure) {
      await feeder.close();
      throw feeder.failure;
    }
    // Everything fits the read-ahead: let the worker thread finish tearing down before the clock starts.
    if (feeder.ended) await feeder.exited;
    return feeder;
  }

  private nextEvent(): Promise<void> {
    return new Promise((r) => (this.waiting = r));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Unit[]> {
    for (;;) {
      while (this.queue.length === 0 && !this.ended && !this.failure) await this.nextEvent();
      if (this.failure) throw this.failure;
      const batch = this.queue.shift();
      if (!batch) return;
      this.worker.postMessage(1); // one slot free: the worker may produce the next batch
      yield batch;
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
