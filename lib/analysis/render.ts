// Static export of Plotly figures through Debian's Chromium, driven by playwright-core
// (no browser download). ONE browser and page per batch: launching Chromium and parsing
// plotly.js cost seconds, every further figure ~0.2 s. The page never touches the
// network: every request that is not a data: URL is aborted.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { UsageError } from "../errors.js";
import type { FigureSpec } from "./figure-style.js";
import { figureLatex } from "./latex.js";

export type FigureFormat = "svg" | "png" | "pdf";

export interface WrittenFigure {
  paths: string[];
  svg: string;
}
export const FIGURE_FORMATS: readonly FigureFormat[] = ["svg", "pdf", "png"];

export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export interface RendererOptions {
  /** Chromium binary (default: $DEDUP_LAB_CHROMIUM or /usr/bin/chromium). */
  executablePath?: string;
  /** PNG pixel ratio (default 3: figures are laid out at print size, 96 px/in, so 3 = 288 dpi). */
  pngScale?: number;
}

declare const Plotly: {
  newPlot(el: HTMLElement, data: unknown[], layout: unknown, config: unknown): Promise<unknown>;
  toImage(el: HTMLElement, opts: { format: string; width: number; height: number; scale?: number }): Promise<string>;
  purge(el: HTMLElement): void;
};

export class FigureRenderer {
  /** Requests the page tried to make outside data: URLs (always aborted); should stay 0. */
  blockedRequests = 0;

  private constructor(
    private readonly context: BrowserContext,
    private readonly page: Page,
    private readonly pdfPage: Page,
    private readonly profileDir: string,
    private readonly pngScale: number,
  ) {}

  static async open(opts: RendererOptions = {}): Promise<FigureRenderer> {
    const executablePath = opts.executablePath ?? process.env.DEDUP_LAB_CHROMIUM ?? DEFAULT_CHROMIUM;
    if (!existsSync(executablePath)) {
      throw new UsageError(`Chromium not found at ${executablePath} (needed for static figures)`, "install it: bash scripts/setup-notebooks.sh (apt-get install chromium), or set DEDUP_LAB_CHROMIUM");
    }
    const profileDir = await mkdtemp(join(tmpdir(), "dedup-lab-chromium-"));
    let context: BrowserContext;
    try {
      context = await chromium.launchPersistentContext(profileDir, { executablePath, args: CHROMIUM_ARGS, headless: true });
    } catch (e) {
      await rm(profileDir, { recursive: true, force: true });
      throw new UsageError(`Chromium at ${executablePath} did not start: ${String((e as Error).message).split("\n")[0]}`, "check the chromium package (bash scripts/setup-notebooks.sh)");
    }
    const renderer = new FigureRenderer(context, context.pages()[0] ?? (await context.newPage()), await context.newPage(), profileDir, opts.pngScale ?? 3);
    await context.route("**/*", (route) => {
      if (route.request().url().startsWith("data:")) return route.continue();
      renderer.blockedRequests++;
      return route.abort();
    });
    await renderer.page.setContent('<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0;background:#fff}</style></head><body><div id="g"></div></body></html>');
    await renderer.page.addScriptTag({ path: createRequire(import.meta.url).resolve("plotly.js-dist-min") });
    return renderer;
  }

  /** Draw `spec` and export it as SVG text and PNG bytes (one layout pass for both). */
  async svgAndPng(spec: FigureSpec): Promise<{ svg: string; png: Buffer }> {
    const out = await this.page.evaluate(
      async ({ data, layout, width, height, scale }) => {
        const el = document.getElementById("g")!;
        Plotly.purge(el);
        await Plotly.newPlot(el, data, { ...(layout as object), width, height }, { staticPlot: true, displayModeBar: false });
        const svg = await Plotly.toImage(el, { format: "svg", width, height });
        const png = await Plotly.toImage(el, { format: "png", width, height, scale });
        return { svg, png };
      },
      { data: spec.data, layout: spec.layout, width: spec.width, height: spec.height, scale: this.pngScale },
    );
    const svg = decodeURIComponent(out.svg.slice(out.svg.indexOf(",") + 1));
    const png = Buffer.from(out.png.slice(out.png.indexOf(",") + 1), "base64");
    return { svg, png };
  }

  /** Vector PDF of an SVG (Chromium's print path keeps text as text and embeds the fonts). */
  async pdfOf(svg: string, width: number, height: number): Promise<Buffer> {
    await this.pdfPage.setContent(
      `<!doctype html><html><head><meta charset="utf-8"><style>@page{size:${width}px ${height}px;margin:0}html,body{margin:0;padding:0}svg{display:block}</style></head><body>${svg}</body></html>`,
    );
    return this.pdfPage.pdf({ width: `${width}px`, height: `${height}px`, printBackground: true, pageRanges: "1", margin: { top: "0", right: "0", bottom: "0", left: "0" } });
  }

  /** Write `<dir>/<name>.{svg,pdf,png}`; returns the paths written and the SVG text (for notebooks). */
  async write(spec: FigureSpec, dir: string, formats: readonly FigureFormat[] = FIGURE_FORMATS): Promise<WrittenFigure> {
    await mkdir(dir, { recursive: true });
    const { svg, png } = await this.svgAndPng(spec);
    const paths: string[] = [];
    for (const f of formats) {
      const path = join(dir, `${spec.name}.${f}`);
      const bytes = f === "svg" ? svg : f === "png" ? png : await this.pdfOf(svg, spec.width, spec.height);
      await writeFile(path, bytes);
      paths.push(path);
    }
    if (formats.includes("pdf")) {
      // The figure environment with the generated caption, for \input in a thesis.
      const path = join(dir, `${spec.name}.tex`);
      await writeFile(path, figureLatex(spec));
      paths.push(path);
    }
    return { paths, svg };
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    await rm(this.profileDir, { recursive: true, force: true });
  }
}

/** Render a batch of figures with one browser; returns every path written. */
export async function writeFigures(specs: FigureSpec[], dir: string, opts: RendererOptions & { formats?: readonly FigureFormat[] } = {}): Promise<string[]> {
  if (!specs.length) return [];
  const renderer = await FigureRenderer.open(opts);
  try {
    const paths: string[] = [];
    for (const spec of specs) paths.push(...(await renderer.write(spec, dir, opts.formats)).paths);
    return paths;
  } finally {
    await renderer.close();
  }
}
