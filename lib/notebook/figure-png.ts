// Static PNG fallback for notebook figures, synchronously (showFigure stays a plain call):
// a worker thread owns one Chromium page (lib/analysis/render.ts, plotly.js loaded once per
// kernel) and the calling thread blocks on a shared flag until the picture is there. First
// figure of a kernel ≈ 5 s (Chromium start + plotly.js parse), every further one ≈ 0.2 s;
// a figure seen before (same spec hash) comes from memory or <root>/.cache/figure-png.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { FigureSpec } from "../analysis/figure-style.js";
import { projectRoot } from "./paths.js";

/** PNG pixel ratio: crisp on high-density screens; displayed at the figure's CSS size. */
export const PNG_SCALE = 2;

interface Channel {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
  next: number;
}

let channel: Channel | null = null;
let broken: string | null = null;
const memory = new Map<string, string>();

const plotlyVersion = (() => {
  try {
    const req = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(req.resolve("plotly.js-dist-min/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
})();

/** The cache key of a figure: everything that changes its pixels. */
export function figureHash(spec: FigureSpec): string {
  const key = JSON.stringify({ data: spec.data, layout: spec.layout, width: spec.width, height: spec.height, scale: PNG_SCALE, plotly: plotlyVersion });
  return createHash("sha256").update(key).digest("hex").slice(0, 32);
}

export function pngCacheDir(root = projectRoot()): string {
  return process.env.DEDUP_LAB_FIGURE_CACHE ?? join(root, ".cache", "figure-png");
}

function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  // From dist/ the compiled worker sits next to this module; from lib/ (tests under tsx) use the build.
  return here.endsWith(".js") ? join(here, "..", "figure-png-worker.js") : join(projectRoot(), "dist", "notebook", "figure-png-worker.js");
}

function open(): Channel {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerPath(), { workerData: { flag: flag.buffer, port: port2, scale: PNG_SCALE }, transferList: [port2] });
  worker.unref();
  port1.unref();
  worker.on("error", (e) => {
    broken = String(e.message);
    channel = null;
  });
  return { worker, port: port1, flag, next: 0 };
}

/** Stop the rendering worker (and its Chromium). The next figure starts a new one. */
export async function closePngRenderer(): Promise<void> {
  const c = channel;
  channel = null;
  if (c) await c.worker.terminate();
}

export interface PngResult {
  /** base64 PNG, or null when no picture could be made (see `problem`). */
  base64: string | null;
  problem?: string;
  cached: boolean;
}

/**
 * The figure as a base64 PNG, rendered by Chromium (blocking the caller; `timeoutMs` bounds
 * the wait). Cached by spec hash in memory and on disk.
 */
export function figurePng(spec: FigureSpec, opts: { timeoutMs?: number } = {}): PngResult {
  const hash = figureHash(spec);
  const hit = memory.get(hash);
  if (hit) return { base64: hit, cached: true };
  const file = join(pngCacheDir(), `${hash}.png`);
  if (existsSync(file)) {
    const b64 = readFileSync(file).toString("base64");
    memory.set(hash, b64);
    return { base64: b64, cached: true };
  }
  if (broken) return { base64: null, problem: broken, cached: false };
  try {
    channel ??= open();
  } catch (e) {
    broken = `cannot start the figure renderer: ${(e as Error).message}`;
    return { base64: null, problem: broken, cached: false };
  }
  const c = channel;
  const id = ++c.next;
  c.worker.postMessage({ id, spec: { ...spec } });
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return { base64: null, problem: `the PNG of ${spec.name} took longer than ${opts.timeoutMs ?? 120_000} ms`, cached: false };
    // Wait until the worker has answered a request with id ≥ ours.
    const seen = Atomics.load(c.flag, 0);
    if (seen < id) {
      Atomics.wait(c.flag, 0, seen, Math.min(left, 1000));
      if (channel !== c) return { base64: null, problem: broken ?? "the figure renderer stopped", cached: false };
      continue;
    }
    let msg: { message: { id: number; png?: Uint8Array; error?: string } } | undefined;
    while ((msg = receiveMessageOnPort(c.port) as typeof msg)) {
      if (msg!.message.id !== id) continue; // an answer to a request that timed out earlier
      const m = msg!.message;
      if (m.error || !m.png) {
        if (/Chromium/.test(m.error ?? "")) broken = m.error!;
        return { base64: null, problem: m.error ?? "no PNG", cached: false };
      }
      const buf = Buffer.from(m.png);
      const b64 = buf.toString("base64");
      memory.set(hash, b64);
      try {
        mkdirSync(pngCacheDir(), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, buf);
        renameSync(tmp, file);
      } catch {
        // a read-only checkout: the memory cache still makes re-display cheap
      }
      return { base64: b64, cached: false };
    }
    // flag moved but our message is not there yet: the port delivery races the notify
    Atomics.wait(c.flag, 0, Atomics.load(c.flag, 0), 10);
  }
}
