// The worker behind figure-png.ts: keeps ONE Chromium page with plotly.js loaded (the
// existing static-export path, lib/analysis/render.ts) for the life of the kernel and
// renders one figure per request. Answers on the transferred port, then wakes the
// waiting main thread through the shared flag (Atomics.notify).
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { FigureRenderer } from "../analysis/render.js";
import type { FigureSpec } from "../analysis/figure-style.js";

interface Request {
  id: number;
  spec: FigureSpec;
}

const { flag: sab, port, scale } = workerData as { flag: SharedArrayBuffer; port: MessagePort; scale: number };
const flag = new Int32Array(sab);
let renderer: Promise<FigureRenderer> | null = null;

function answer(message: { id: number; png?: Uint8Array; error?: string }): void {
  port.postMessage(message);
  Atomics.store(flag, 0, message.id);
  Atomics.notify(flag, 0);
}

parentPort!.on("message", (req: Request) => {
  void (async () => {
    try {
      renderer ??= FigureRenderer.open({ pngScale: scale });
      const r = await renderer;
      const { png } = await r.svgAndPng(req.spec);
      answer({ id: req.id, png: new Uint8Array(png) });
    } catch (e) {
      renderer = null;
      answer({ id: req.id, error: String((e as Error).message ?? e).split("\n")[0] });
    }
  })();
});
