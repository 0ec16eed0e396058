// `dedup-lab lab` in a real browser: JupyterLab from the project venv, 00-quickstart opened in
// headless Chromium (playwright-core, Debian's binary), Run → Run All Cells, then the EDR figure
// must be on the page (interactive plotly or its PNG) and no cell may show an error. A
// screenshot goes to /tmp/dedup-lab-jupyterlab.png for a human to look at.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAsync } from "../helpers/cli.js";
import type { ChildProcess } from "node:child_process";
import { ROOT } from "../helpers/services-env.js";
import { startJupyterLab } from "../../lib/notebook/jupyterlab.js";

const SHOT = process.env.DEDUP_LAB_SCREENSHOT ?? "/tmp/dedup-lab-jupyterlab.png";
let lab: ChildProcess;
let url = "";
let context: BrowserContext;
const profile = mkdtempSync(join(tmpdir(), "dedup-lab-lab-browser-"));
let labLog = "";
// JupyterLab saves what it runs: work on a copy under the git-ignored <root>/tmp (inside its root_dir, not hidden).
const copyDir = join(ROOT, "tmp", `lab-test-${process.pid}`);

beforeAll(async () => {
  mkdirSync(copyDir, { recursive: true });
  copyFileSync(join(ROOT, "notebooks", "00-quickstart.ipynb"), join(copyDir, "00-quickstart.ipynb"));
  lab = cliAsync(["lab", "--port", "0"]);
  lab.stderr!.on("data", (d: Buffer) => (labLog += d.toString()));
  url = await new Promise<string>((done, fail) => {
    let out = "";
    const t = setTimeout(() => fail(new Error(`dedup-lab lab printed no URL within 240 s:\n${labLog.slice(-2000)}`)), 240_000);
    lab.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\/lab\?token=\w+/.exec(out);
      if (m) {
        clearTimeout(t);
        done(m[0]);
      }
    });
    lab.on("exit", (c) => fail(new Error(`dedup-lab lab exited ${c}:\n${labLog.slice(-2000)}`)));
  });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 300_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  rmSync(copyDir, { recursive: true, force: true });
  if (lab && lab.exitCode === null) {
    const gone = new Promise((r) => lab.on("exit", r));
    lab.kill("SIGINT");
    await gone;
  }
}, 60_000);

describe("dedup-lab lab", () => {
  it("serves on 127.0.0.1 with a token: without it the API refuses", async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/lab\?token=[0-9a-f]{48}$/);
    const base = url.slice(0, url.indexOf("/lab"));
    expect((await fetch(`${base}/api/kernelspecs`)).status).toBe(403);
    const specs = (await (await fetch(`${base}/api/kernelspecs?token=${url.split("token=")[1]}`)).json()) as { kernelspecs: Record<string, unknown> };
    expect(Object.keys(specs.kernelspecs)).toContain("dedup-lab");
  });

  it("runs 00-quickstart in a real browser: the EDR figure shows, no cell errors", async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    const nbUrl = url.replace("/lab?", `/lab/tree/tmp/lab-test-${process.pid}/00-quickstart.ipynb?reset&`); // reset: no restored workspace opens other notebooks
    await page.goto(nbUrl);
    await page.waitForSelector(".jp-Notebook .jp-CodeCell", { timeout: 120_000 });
    // The kernel is up when the status bar says "TypeScript (dedup-lab) | Idle".
    await page.waitForFunction(() => /TypeScript \(dedup-lab\) \| Idle/.test(document.body.innerText), null, { timeout: 120_000, polling: 500 });
    await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click();
    // Done when every code cell has a number in its prompt ([*] while running, [ ] before) and the kernel is idle.
    await page.waitForFunction(
      () => {
        const prompts = [...document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputPrompt")].map((p) => p.textContent ?? "");
        return prompts.length > 3 && prompts.every((t) => /\[\d+\]/.test(t)) && /TypeScript \(dedup-lab\) \| Idle/.test(document.body.innerText);
      },
      null,
      { timeout: 300_000, polling: 1000 },
    );
    const codeCells = await page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").count();
    const errors = await page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]').allInnerTexts();
    expect(errors).toEqual([]);
    const figure = page.locator(".js-plotly-plot, .jp-RenderedImage img").first();
    await figure.waitFor({ timeout: 60_000 });
    const plotly = await page.locator(".js-plotly-plot").count();
    const pngs = await page.locator(".jp-RenderedImage img").count();
    await figure.scrollIntoViewIfNeeded();
    await page.screenshot({ path: SHOT });
    console.log(`JupyterLab: ${codeCells} code cells run, ${plotly} plotly figure(s), ${pngs} PNG(s); screenshot ${SHOT}`);
    expect(plotly + pngs).toBeGreaterThan(0);
    // The interactive renderer (the plotly package's JupyterLab 4 extension) is active in this venv.
    expect(plotly).toBeGreaterThan(0);
    expect(await page.locator(".js-plotly-plot").first().innerText()).toMatch(/duplicate grade/);
  }, 420_000);

  it("a stock JupyterLab without the plotly extension shows the saved figure as its PNG (untrusted)", async () => {
    // The notebook run above, saved by JupyterLab with its outputs (Plotly JSON + PNG).
    const page = context.pages()[0]!;
    const saved = join(copyDir, "00-quickstart.ipynb");
    await page.keyboard.press("Control+s");
    for (let i = 0; i < 100 && !readFileSync(saved, "utf8").includes('"image/png"'); i++) await page.waitForTimeout(200);
    expect(readFileSync(saved, "utf8")).toContain('"image/png"');
    // No prebuilt extensions at all: like `pip install jupyterlab` without plotly.
    const empty = mkdtempSync(join(tmpdir(), "dedup-lab-no-labext-"));
    const stock = await startJupyterLab({ root: ROOT, logs: "ignore", extraArgs: [`--LabApp.labextensions_path=${JSON.stringify([empty])}`] });
    try {
      const other = await context.newPage();
      await other.goto(stock.url.replace("/lab?", `/lab/tree/tmp/lab-test-${process.pid}/00-quickstart.ipynb?reset&`));
      const img = other.locator(".jp-RenderedImage img").first();
      await img.waitFor({ timeout: 60_000 });
      expect(await other.locator(".js-plotly-plot").count()).toBe(0);
      const box = (await img.boundingBox())!;
      expect(box.width).toBeGreaterThan(500); // shown at the figure's size, not as a thumbnail
      await img.scrollIntoViewIfNeeded();
      // The picture itself decoded (a real PNG), not just an <img> element.
      const natural = await img.evaluate(async (el) => {
        const im = el as HTMLImageElement;
        await im.decode();
        return im.naturalWidth;
      });
      expect(natural).toBeGreaterThan(400);
      await other.waitForTimeout(1000);
      await other.screenshot({ path: SHOT.replace(/\.png$/, "-stock.png") });
      await other.close();
    } finally {
      await stock.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  }, 180_000);
});
