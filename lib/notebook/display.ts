// Rich output for notebooks running in the tslab kernel: interactive Plotly figures
// (application/vnd.plotly.v1+json — rendered natively by VS Code and by JupyterLab with the
// plotly renderer) that always carry a static image/png too (any client shows it, trusted or
// not, with or without the plotly extension), tables as HTML/Markdown, and a progress
// listener for runs. Outside a kernel (tests, scripts) everything falls back to plain text.
import { createRequire } from "node:module";
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import type { FigureSpec } from "../analysis/figure-style.js";
import { formatValue, toMarkdown, type ThesisTable } from "../analysis/thesis-tables.js";
import { figurePng } from "./figure-png.js";
import type { RunEvents } from "../runner/events.js";

type DisplayData = Record<string, unknown>;

interface TslabJupyter {
  lastWriteDisplayData: ((msg: { data: DisplayData; metadata: Record<string, unknown>; transient: Record<string, unknown> }, update: boolean) => void) | null;
}

const req = createRequire(import.meta.url);

/** tslab's display channel, only if this process IS a tslab kernel (never loads zeromq otherwise). */
function kernelChannel(): TslabJupyter | null {
  try {
    const cached = req.cache[req.resolve("tslab/dist/jupyter")];
    const mod = cached?.exports as TslabJupyter | undefined;
    return mod?.lastWriteDisplayData ? mod : null;
  } catch {
    return null;
  }
}

/** True inside a tslab kernel (where display data reaches a notebook). */
export function inTslabKernel(): boolean {
  return kernelChannel() !== null;
}

let displayCounter = 0;

/** Send one display_data message with several MIME representations (richest first for the frontend). */
export function display(data: DisplayData, opts: { id?: string; update?: boolean; metadata?: Record<string, unknown> } = {}): void {
  const channel = kernelChannel();
  if (!channel) {
    process.stdout.write(String(data["text/plain"] ?? data["text/markdown"] ?? "") + "\n");
    return;
  }
  channel.lastWriteDisplayData!({ data, metadata: opts.metadata ?? {}, transient: opts.id ? { display_id: opts.id } : {} }, opts.update ?? false);
}

export interface FigureDisplayOptions {
  /** The rendered SVG as well (nbconvert HTML; trusted clients only). */
  svg?: string;
  /** The static PNG (default true; DEDUP_LAB_FIGURE_PNG=0 turns it off). */
  png?: boolean;
}

let pngWarned = false;

/**
 * The MIME bundle and metadata of a figure: the interactive Plotly JSON, a static PNG
 * (Chromium, cached by spec hash) shown at the figure's size, the SVG if given, and text.
 */
export function figureBundle(spec: FigureSpec, opts: FigureDisplayOptions = {}): { data: DisplayData; metadata: Record<string, unknown> } {
  const data: DisplayData = {
    // The modebar (shown on hover) stands vertically at the right edge: horizontal, it covered the centred title.
    "application/vnd.plotly.v1+json": { data: spec.data, layout: { ...spec.layout, width: spec.width, height: spec.height, modebar: { orientation: "v" } }, config: { displaylogo: false } },
    "text/plain": `[figure ${spec.name}] ${spec.title}\n${spec.caption}`,
  };
  const metadata: Record<string, unknown> = {};
  if (opts.png ?? process.env.DEDUP_LAB_FIGURE_PNG !== "0") {
    const png = figurePng(spec);
    if (png.base64) {
      data["image/png"] = png.base64;
      metadata["image/png"] = { width: spec.width, height: spec.height };
    } else if (!pngWarned) {
      pngWarned = true;
      console.error(`warning: figures have no static PNG (${png.problem}); clients without the plotly renderer show text only — bash scripts/setup-notebooks.sh installs Chromium`);
    }
  }
  if (opts.svg) data["image/svg+xml"] = opts.svg;
  return { data, metadata };
}

/** A figure: interactive Plotly plus a static PNG every client shows (see figureBundle). */
export function showFigure(spec: FigureSpec, opts: FigureDisplayOptions = {}): void {
  if (!kernelChannel()) {
    display({ "text/plain": `[figure ${spec.name}] ${spec.title}\n${spec.caption}` });
    return;
  }
  const { data, metadata } = figureBundle(spec, opts);
  display(data, { metadata });
}

export function showMarkdown(markdown: string): void {
  display({ "text/markdown": markdown, "text/plain": markdown });
}

/**
 * The first `limit` rows of a frame with its numbers as the thesis tables print them (formatValue:
 * 3 significant digits, "—" for none); columns holding only integers (n, count, repeats) stay integers.
 */
export function formatFrame(t: ColumnTable, limit = Infinity): ColumnTable {
  const cols = t.columnNames();
  const isCount = (c: string) => {
    const nums = (Array.from(t.array(c) as ArrayLike<unknown>)).filter((v) => typeof v === "number" && Number.isFinite(v)) as number[];
    return nums.length > 0 && nums.every(Number.isInteger);
  };
  const counts = new Set(cols.filter(isCount));
  const cell = (c: string, v: unknown) => {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return v;
    if (!Number.isFinite(v)) return "—";
    return counts.has(c) ? String(v) : formatValue(v);
  };
  const rows = (t.objects({ limit }) as Record<string, unknown>[]).map((r) => Object.fromEntries(cols.map((c) => [c, cell(c, r[c])])));
  return aq.from(rows.length ? rows : [Object.fromEntries(cols.map((c) => [c, ""]))]).slice(0, rows.length);
}

/**
 * A thesis table (as Markdown: the same cells and headers as its LaTeX) or an arquero frame (first
 * `limit` rows, numbers formatted like the thesis tables), with a text fallback.
 */
export function showTable(t: ColumnTable | ThesisTable, opts: { limit?: number } = {}): void {
  if ("groups" in t && "head" in t) {
    const md = toMarkdown(t);
    display({ "text/markdown": md, "text/plain": md });
    return;
  }
  const limit = opts.limit ?? 40;
  const more = t.numRows() > limit ? `\n\n(${t.numRows() - limit} more rows)` : "";
  const shown = formatFrame(t, limit);
  display({ "text/html": shown.toHTML() + (more ? `<p>${more.trim()}</p>` : ""), "text/plain": shown.toMarkdown() + more });
}

export interface ProgressOptions {
  /** Also print a line per finished stage (default: one line per finished cell). */
  stages?: boolean;
}

/**
 * A RunEvents listener for notebooks: a status line that updates in place (one display
 * entry) plus a plain line per finished cell, so an executed notebook keeps the log.
 */
export function notebookProgress(opts: ProgressOptions = {}): RunEvents {
  const id = `dedup-lab-progress-${process.pid}-${++displayCounter}`;
  const started = Date.now();
  let total = 0;
  let done = 0;
  let first = true;
  const status = (text: string) => {
    display({ "text/plain": text }, { id, update: !first });
    first = false;
  };
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  return {
    runStart: (i) => {
      total = i.cells;
      done = i.skipped;
      console.log(`run ${i.runId}: ${i.cells} cells${i.skipped ? ` (${i.skipped} already done)` : ""} → ${i.dir}`);
      status(`0/${total} cells`);
    },
    cellStart: (c) => status(`${done}/${total} cells · running ${c.id} · ${elapsed()}`),
    stageStart: (c, s) => status(`${done}/${total} cells · ${c.id} · ${s} · ${elapsed()}`),
    stageEnd: (c, s, m) => {
      if (opts.stages) console.log(`    ${c.id} ${s}: ${m.units} units, ${(m.durationNs / 1e6).toFixed(1)} ms`);
    },
    cellEnd: (c, r) => {
      done++;
      console.log(`[${done}/${total}] ${c.id} ${r.status === "done" ? "ok" : `FAILED ${r.error}`}`);
      status(`${done}/${total} cells · ${elapsed()}`);
    },
    runEnd: (i) => status(`finished: ${i.done} cells done, ${i.failed} failed${i.interrupted ? ", interrupted" : ""} · ${elapsed()}`),
    log: (line) => {
      if (line.startsWith("warning: ")) console.log(line);
    },
  };
}
