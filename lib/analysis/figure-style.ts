// Thesis styling shared by every figure: a plain white template, one readable sans font
// (DejaVu Sans ships with Chromium's Debian dependencies, so SVG, PNG and PDF agree),
// outside ticks, light grids, legends above the plot, panel titles as annotations.
//
// Figures are laid out at their PRINT size: plotly works in CSS pixels (1 px = 1/96 in), and the
// renderer exports the PDF page at exactly the layout's size in px, so a figure drawn
// `printSize("textwidth")` wide is 15 cm wide in the PDF and every font is its pt size when the PDF
// is placed at that width (\includegraphics without scaling). Fonts are given in pt and converted
// (px = pt · 96/72); the smallest is 8 pt.
import { UsageError } from "../errors.js";

/** A Plotly figure as plain JSON: what the notebook shows interactively and the renderer exports. */
export interface FigureSpec {
  /** File stem, e.g. "edr-random_binary". */
  name: string;
  title: string;
  /** One paragraph for the thesis caption: what is shown, over what, which statistic. */
  caption: string;
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
  /** Size in CSS pixels (1/96 in) = the printed size; PNG is rendered at a higher pixel ratio. */
  width: number;
  height: number;
}

export const PX_PER_CM = 96 / 2.54;
export const PX_PER_PT = 96 / 72;
/** A font size in pt at print size, as CSS px for plotly. */
export const pt = (points: number): number => Math.round(points * PX_PER_PT * 100) / 100;

/** Font sizes at print size: ≥ 8 pt (smaller is unreadable in print), 9 pt text, 10 pt titles. */
export const FONT_PT = { title: 10, text: 9, tick: 8, small: 8 } as const;
export const FONT_FAMILY = "DejaVu Sans, Arial, Helvetica, sans-serif";
export const FONT_SIZE = pt(FONT_PT.text);
export const TICK_SIZE = pt(FONT_PT.tick);
export const SMALL_SIZE = pt(FONT_PT.small);
export const TITLE_SIZE = pt(FONT_PT.title);

// ---------------------------------------------------------------- print size

/**
 * Defaults: 15 cm = a thesis text width on A4 (3 cm side margins; KOMA-Script's 11 pt A4 gives
 * 14.7 cm); 8.5 cm = one column of a two-column A4 paper (article twocolumn 10 pt: 8.6 cm,
 * ACM 8.5 cm). A figure with its caption must fit a page: at most 16.5 cm tall, 0.7 × the
 * 23.7 cm text height of A4 with 3 cm margins. All three are settable (printSize options).
 */
export const PRINT_DEFAULTS = { textwidth: "15cm", columnwidth: "8.5cm", maxHeight: "16.5cm" } as const;

export interface PrintSize {
  /** What was asked for: "textwidth", "columnwidth" or the length, e.g. "12cm". */
  name: string;
  widthCm: number;
  /** Layout width in CSS px (= print width). */
  width: number;
  /** A fixed height in px (--height), else each figure derives its own from its content. */
  height?: number;
  /** The tallest a derived height may get, px. */
  maxHeight: number;
}

export interface PrintSizeOptions {
  /** "textwidth" (default), "columnwidth" or a length: 12cm, 120mm, 340pt, 4.7in. */
  width?: string;
  /** A length; default: derived per figure kind, at most maxHeight. */
  height?: string;
  textwidth?: string;
  columnwidth?: string;
  maxHeight?: string;
}

const LENGTH_UNITS: Record<string, number> = { cm: 1, mm: 0.1, pt: 2.54 / 72.27, bp: 2.54 / 72, in: 2.54 };
const LENGTH_FIX = "use textwidth, columnwidth or a length such as 15cm, 150mm, 426pt or 5.9in";

/** A TeX-style length in cm ("15cm", "426pt" = TeX points, "5.9in"). */
export function parseLength(text: string, what = "figure width"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(cm|mm|pt|bp|in)\s*$/.exec(text);
  const cm = m ? Number(m[1]) * LENGTH_UNITS[m[2]!]! : NaN;
  if (!(cm > 0)) throw new UsageError(`${what} "${text}" is not a length`, LENGTH_FIX);
  if (cm < 3 || cm > 60) throw new UsageError(`${what} "${text}" is ${cm.toFixed(1)} cm, outside 3–60 cm`, "give the width the figure has on the page");
  return cm;
}

/** The print size of figures: width preset or length, optional fixed height. */
export function printSize(opts: PrintSizeOptions = {}): PrintSize {
  const name = opts.width ?? "textwidth";
  const widthCm =
    name === "textwidth" ? parseLength(opts.textwidth ?? PRINT_DEFAULTS.textwidth, "text width")
    : name === "columnwidth" ? parseLength(opts.columnwidth ?? PRINT_DEFAULTS.columnwidth, "column width")
    : parseLength(name);
  const height = opts.height === undefined ? undefined : Math.round(parseLength(opts.height, "figure height") * PX_PER_CM);
  // Whole px, rounded down (5in = 480 px, not 479 by float error): the PDF is never wider than the \textwidth it was made for.
  return { name, widthCm, width: Math.floor(widthCm * PX_PER_CM + 1e-6), height, maxHeight: Math.round(parseLength(opts.maxHeight ?? PRINT_DEFAULTS.maxHeight, "maximum figure height") * PX_PER_CM) };
}

/** The figure height: the fixed one if given, else what the content needs, at most the maximum. */
export function figureHeight(size: PrintSize, contentPx: number): number {
  return size.height ?? Math.round(Math.min(contentPx, size.maxHeight));
}

/** Columns of a panel grid: as many panels side by side as fit at least `minPanelPx` wide. */
export function panelColumns(n: number, size: PrintSize, minPanelPx: number, reservedPx = 70): number {
  return Math.max(1, Math.min(n, Math.floor((size.width - reservedPx) / minPanelPx)));
}

/** Approximate text width in px at a font size (DejaVu Sans averages ~0.6 em per character). */
export function textPx(text: string, fontPx = FONT_SIZE): number {
  return text.replace(/<[^>]+>/g, "").length * fontPx * 0.6;
}

/** Height of a horizontal legend of these entries wrapped at the figure's width, px. */
export function legendHeight(labels: string[], size: PrintSize, plotWidthPx = size.width - 20): number {
  // plotly wraps a horizontal legend centred over the panels at the plot area's width: a figure
  // with a wide left margin (row labels) passes its narrower plot width.
  let lines = 1;
  let x = 0;
  for (const l of labels) {
    // Symbol, gap and DejaVu Sans text as plotly sets them: measured against rendered legends, the
    // 0.6 em text estimate plus 40 px fell short by a row (sizes figure at 360 pt: 3 rows, 2 reserved).
    const w = 46 + 1.08 * textPx(l, FONT_SIZE);
    if (x > 0 && x + w > plotWidthPx) { lines++; x = 0; }
    x += w;
  }
  return lines * (FONT_SIZE + 7) + 6;
}

export interface Panel {
  row: number;
  col: number;
  title?: string;
}

export interface GridOptions {
  rows: number;
  cols: number;
  /** Horizontal gap between panels as a fraction of the width. */
  xgap?: number;
  /** Vertical gap between panels as a fraction of the height. */
  ygap?: number;
  /** Top of the plotting area (below title and legend), fraction of the height. */
  top?: number;
  bottom?: number;
}

/** Axis ids of panel i (0-based): ["x", "y"], ["x2", "y2"], … */
export function axisIds(i: number): { x: string; y: string; xaxis: string; yaxis: string } {
  const n = i === 0 ? "" : String(i + 1);
  return { x: `x${n}`, y: `y${n}`, xaxis: `xaxis${n}`, yaxis: `yaxis${n}` };
}

/** Domains of a rows × cols grid of panels, row 0 at the top. */
export function gridDomains(g: GridOptions): { x: [number, number]; y: [number, number] }[] {
  const xgap = g.xgap ?? 0.06;
  const ygap = g.ygap ?? 0.12;
  const top = g.top ?? 0.92;
  const bottom = g.bottom ?? 0;
  const w = (1 - xgap * (g.cols - 1)) / g.cols;
  const h = (top - bottom - ygap * (g.rows - 1)) / g.rows;
  const out: { x: [number, number]; y: [number, number] }[] = [];
  for (let r = 0; r < g.rows; r++) {
    for (let c = 0; c < g.cols; c++) {
      const x0 = c * (w + xgap);
      const y1 = top - r * (h + ygap);
      out.push({ x: [x0, x0 + w], y: [y1 - h, y1] });
    }
  }
  return out;
}

/** Margins around the panel grid, px; axes with automargin grow them where labels need more. */
export const MARGIN = { l: 52, r: 10, t: 40, b: 40 };

/** Break text at `sep` into lines no wider than `maxPx` at `fontPx` (a subtitle at " · ", a title at spaces). */
export function wrapLines(text: string, maxPx: number, fontPx: number, sep: string): string[] {
  const lines: string[] = [];
  for (const part of text.split(sep)) {
    const last = lines[lines.length - 1];
    if (last !== undefined && textPx(`${last}${sep}${part}`, fontPx) <= maxPx) lines[lines.length - 1] = `${last}${sep}${part}`;
    else lines.push(part);
  }
  return lines;
}

/** Height of the title block (title lines, subtitle lines), px. */
export function titleHeight(subtitleLines = 0, titleLines = 1): number {
  return Math.round(titleLines * TITLE_SIZE * 1.4 + subtitleLines * SMALL_SIZE * 1.45 + 16);
}

/** Room above the top row of panels for their titles, px. */
export const PANEL_TITLE_PX = Math.round(FONT_SIZE * 1.5);

/** Top of the panel grid (paper fraction) leaving room for panel titles below the legend. */
export function gridTop(heightPx: number, margin: { t: number; b: number } = MARGIN): number {
  return 1 - PANEL_TITLE_PX / Math.max(heightPx - margin.t - margin.b, 100);
}

/**
 * Title (and subtitle, wrapped to the figure's width) at the top, then the horizontal legend
 * (`legendPx` tall, legendHeight()), then the panels. The top margin is exactly what the title and
 * legend need.
 */
export function baseLayout(title: string, subtitle?: string, legendPx = 0, widthPx = Infinity): Record<string, unknown> {
  const sub = subtitle ? wrapLines(subtitle, widthPx - 20, SMALL_SIZE, " · ") : [];
  const head = wrapLines(title, widthPx - 20, TITLE_SIZE, " ");
  return {
    title: {
      text: head.join("<br>"),
      // plotly's own subtitle (below the title, any number of lines).
      ...(sub.length ? { subtitle: { text: sub.join("<br>"), font: { size: SMALL_SIZE, color: "#444" } } } : {}),
      x: 0.5,
      xanchor: "center",
      xref: "container", // the figure, not the plot area: wrapped to the figure width, and centred where a wide left margin (row labels) would push it off the page
      y: 1,
      yref: "container",
      yanchor: "top",
      // plotly anchors a multi-line title's FIRST line at the top: without this pad the lines above it are cut off.
      pad: { t: 4 + (head.length - 1) * Math.round(TITLE_SIZE * 1.3) },
      font: { size: TITLE_SIZE },
    },
    font: { family: FONT_FAMILY, size: FONT_SIZE, color: "#111" },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    showlegend: true,
    // Legend in the top margin, between the title and the panels.
    legend: { orientation: "h", x: 0.5, xanchor: "center", y: 1, yref: "paper", yanchor: "bottom", font: { size: FONT_SIZE }, itemwidth: 30, tracegroupgap: 2 },
    margin: { ...MARGIN, t: titleHeight(sub.length, head.length) + legendPx },
    barmode: "group",
    bargap: 0.22,
    bargroupgap: 0.06,
    hoverlabel: { font: { family: FONT_FAMILY } },
  };
}

export function axisStyle(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    showline: true,
    linecolor: "#333",
    linewidth: 1,
    mirror: false,
    ticks: "outside",
    ticklen: 4,
    tickcolor: "#333",
    gridcolor: "#e6e6e6",
    zeroline: false,
    automargin: true,
    title: { standoff: 4, font: { size: FONT_SIZE } },
    tickfont: { size: TICK_SIZE },
    ...extra,
  };
}

/** A panel title centred above its domain. */
export function panelTitle(text: string, domain: { x: [number, number]; y: [number, number] }): Record<string, unknown> {
  return {
    text: `<b>${text}</b>`,
    x: (domain.x[0] + domain.x[1]) / 2,
    y: domain.y[1],
    xref: "paper",
    yref: "paper",
    xanchor: "center",
    yanchor: "bottom",
    yshift: 2,
    showarrow: false,
    font: { size: FONT_SIZE },
  };
}

/** Binary byte unit for an axis whose largest value is `max` bytes. */
export function byteUnit(max: number): { div: number; label: string } {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (i < units.length - 1 && max >= 1024 ** (i + 1)) i++;
  return { div: 1024 ** i, label: units[i]! };
}

/** Log axis when positive values span more than a decade (factor 10). */
export function spansDecades(values: number[], factor = 10): boolean {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  if (pos.length < 2) return false;
  return Math.max(...pos) / Math.min(...pos) > factor;
}

/** 1-2-5 ticks covering [min, max] on a log axis, labelled as plain numbers (never "5" for 0.5); decades only above `maxTicks`. */
export function logTicks(min: number, max: number, maxTicks = 9): { tickvals: number[]; ticktext: string[] } {
  const vals: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min / 1.05 && v <= max * 1.05) vals.push(Number(v.toPrecision(1)));
    }
  }
  const ticks = vals.length > maxTicks ? vals.filter((v) => /^1/.test(v.toExponential())) : vals;
  return { tickvals: ticks, ticktext: ticks.map(tickLabel) };
}

function tickLabel(v: number): string {
  if (v >= 10000) return v.toLocaleString("en-US");
  return String(v);
}

export interface ValueAxisOptions {
  /** "auto" (default): log when positive values span more than a decade. */
  log?: boolean | "auto";
  extra?: Record<string, unknown>;
}

/** Y axis for values: log with 1-2-5 ticks when they span decades, linear from 0 otherwise. */
export function valueAxis(values: number[], title: string, opts: ValueAxisOptions = {}): Record<string, unknown> {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  const log = opts.log === "auto" || opts.log === undefined ? spansDecades(pos) : opts.log && pos.length > 0;
  const t = title ? { text: title, standoff: 4 } : undefined;
  // "log scale" on its own line: appended, a rotated title outgrew a panel row and ran into the next.
  if (!log) return axisStyle({ type: "linear", rangemode: "tozero", title: t, ...opts.extra });
  const lo = Math.min(...pos) / 1.25;
  const hi = Math.max(...pos) * 1.15;
  return axisStyle({ type: "log", range: [Math.log10(lo), Math.log10(hi)], ...logTicks(lo, hi), title: t ? { ...t, text: `${title}<br>log scale` } : undefined, ...opts.extra });
}

/** Number formatting for hover and tables: 3 significant digits, no exponent below 1e6. */
export function fmt3(v: number): string {
  if (!Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(3)).toString();
}
