// Thesis styling shared by every figure: a plain white template, one readable sans font
// (DejaVu Sans ships with Chromium's Debian dependencies, so SVG, PNG and PDF agree),
// outside ticks, light grids, legends above the plot, panel titles as annotations.

/** A Plotly figure as plain JSON: what the notebook shows interactively and the renderer exports. */
export interface FigureSpec {
  /** File stem, e.g. "edr-random_binary". */
  name: string;
  title: string;
  /** One paragraph for the thesis caption: what is shown, over what, which statistic. */
  caption: string;
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
  /** Size in CSS pixels at scale 1 (PNG is rendered at 2×). */
  width: number;
  height: number;
}

export const FONT_FAMILY = "DejaVu Sans, Arial, Helvetica, sans-serif";
export const FONT_SIZE = 14;

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

export const MARGIN = { l: 84, r: 24, t: 118, b: 72 };

/** Top of the panel grid (paper fraction) leaving ~34 px for panel titles below the legend. */
export function gridTop(heightPx: number): number {
  return 1 - 34 / Math.max(heightPx - MARGIN.t - MARGIN.b, 200);
}

export function baseLayout(title: string, subtitle?: string): Record<string, unknown> {
  return {
    title: {
      text: subtitle ? `${title}<br><span style="font-size:${FONT_SIZE - 1}px;color:#444">${subtitle}</span>` : title,
      x: 0.5,
      xanchor: "center",
      xref: "paper",
      y: 1,
      yref: "container",
      yanchor: "top",
      pad: { t: 14 },
      automargin: true,
      font: { size: FONT_SIZE + 3 },
    },
    font: { family: FONT_FAMILY, size: FONT_SIZE, color: "#111" },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    showlegend: true,
    // Legend in the top margin, between the title and the panels.
    legend: { orientation: "h", x: 0.5, xanchor: "center", y: 1, yref: "paper", yanchor: "bottom", font: { size: FONT_SIZE - 1 }, itemwidth: 30, tracegroupgap: 4 },
    margin: { ...MARGIN },
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
    ticklen: 5,
    tickcolor: "#333",
    gridcolor: "#e6e6e6",
    zeroline: false,
    automargin: true,
    title: { standoff: 8, font: { size: FONT_SIZE } },
    tickfont: { size: FONT_SIZE - 1 },
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
    yshift: 6,
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

/** 1-2-5 ticks covering [min, max] on a log axis, labelled as plain numbers (never "5" for 0.5). */
export function logTicks(min: number, max: number): { tickvals: number[]; ticktext: string[] } {
  const vals: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min / 1.05 && v <= max * 1.05) vals.push(Number(v.toPrecision(1)));
    }
  }
  const ticks = vals.length > 9 ? vals.filter((v) => /^1/.test(v.toExponential())) : vals;
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
  const t = title ? { text: title, standoff: 8 } : undefined;
  if (!log) return axisStyle({ type: "linear", rangemode: "tozero", title: t, ...opts.extra });
  const lo = Math.min(...pos) / 1.25;
  const hi = Math.max(...pos) * 1.15;
  return axisStyle({ type: "log", range: [Math.log10(lo), Math.log10(hi)], ...logTicks(lo, hi), title: t ? { ...t, text: `${title}, log scale` } : undefined, ...opts.extra });
}

/** Number formatting for hover and tables: 3 significant digits, no exponent below 1e6. */
export function fmt3(v: number): string {
  if (!Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(3)).toString();
}
