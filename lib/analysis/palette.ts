// One colour per system in every figure: the Okabe–Ito palette (colour-blind safe;
// Okabe & Ito 2008), assigned by a fixed table so "postgres" is the same blue in every
// figure of every thesis chapter. The table is the system registry's: each registry line
// names its colour (lib/systems/registry.ts is plain data and loads no connector). Variants
// of one system share its colour and differ by bar pattern / line dash. Layers are drawn in greys (never a system colour).
import { registeredColor } from "../systems/registry.js";

export const OKABE_ITO = {
  orange: "#E69F00",
  skyBlue: "#56B4E9",
  bluishGreen: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  reddishPurple: "#CC79A7",
  black: "#000000",
} as const;

/** Colours for systems outside the registry (picked by a hash of the name). */
const SPARE = ["#332288", "#117733", "#44AA99", "#88CCEE", "#DDCC77", "#AA4499"];

/** The colour of a system, the same in every figure. */
export function systemColor(system: string): string {
  const fixed = registeredColor(system);
  if (fixed) return fixed;
  let h = 0;
  for (const c of system) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return SPARE[h % SPARE.length]!;
}

/** Yellow bars need an outline on white paper. */
export function outlineFor(color: string): string {
  return color === OKABE_ITO.yellow ? "#8a7f00" : color;
}

export const VARIANT_PATTERNS = ["", "/", ".", "x", "\\", "+", "-", "|"] as const;
export const VARIANT_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"] as const;

/**
 * Greys for L1/L2/L3, light → dark: distinct in colour, colour-blind and black-and-white
 * print. (No hatching: Chromium rasterizes SVG patterns into the PDF, 1 MB per figure.)
 */
export const LAYER_STYLE: Record<string, { color: string; pattern: string }> = {
  L1: { color: "#E0E0E0", pattern: "" },
  L2: { color: "#9E9E9E", pattern: "" },
  L3: { color: "#3A3A3A", pattern: "" },
};

/** Marker symbols of the layers where sizes are points (log axis): shape tells them apart in black and white. */
export const LAYER_SYMBOLS: Record<string, string> = { L1: "circle", L2: "square", L3: "diamond" };

/** Marker symbols for the latency percentiles. */
export const PERCENTILE_SYMBOLS: Record<string, string> = {
  p50: "circle",
  p90: "square",
  p95: "diamond",
  p99: "triangle-up",
  max: "x",
};
