// Print sizes (lengths → CSS px at 96/in, pt fonts), the tables' 3 significant digits, the LaTeX
// cell layout that keeps tables within an A4 text width, and notebook frames formatted like tables.
import * as aq from "arquero";
import { describe, expect, it } from "vitest";
import { figureHeight, FONT_PT, panelColumns, parseLength, printSize, pt, wrapLines, SMALL_SIZE } from "../../lib/analysis/figure-style.js";
import { formatStat, formatValue, toLatex, type ThesisTable } from "../../lib/analysis/thesis-tables.js";
import { formatFrame } from "../../lib/notebook/display.js";

describe("printSize", () => {
  it("maps presets and TeX lengths to layout px (1/96 in), never wider than asked", () => {
    expect(printSize()).toMatchObject({ name: "textwidth", widthCm: 15, width: 566, maxHeight: 624 });
    expect(printSize({ width: "columnwidth" })).toMatchObject({ widthCm: 8.5, width: 321 });
    expect(printSize({ width: "textwidth", textwidth: "14.7cm" }).width).toBe(555);
    expect(printSize({ width: "360pt" }).widthCm).toBeCloseTo(12.65, 2); // the plain 11 pt article
    expect(printSize({ width: "5in" }).width).toBe(480);
    expect(printSize({ width: "120mm", height: "8cm" })).toMatchObject({ width: 453, height: 302 });
    for (const w of ["15cm", "8.5cm", "426pt", "6in"]) expect(printSize({ width: w }).width / 96 * 2.54).toBeLessThanOrEqual(parseLength(w));
  });

  it("refuses what is not a length, in one line with the fix", () => {
    expect(() => printSize({ width: "pagewidth" })).toThrow(/^figure width "pagewidth" is not a length — use textwidth, columnwidth or a length such as 15cm/);
    expect(() => printSize({ width: "2cm" })).toThrow(/is 2\.0 cm, outside 3–60 cm/);
    expect(() => printSize({ height: "-4cm" })).toThrow(/figure height "-4cm" is not a length/);
  });

  it("fonts are pt at print size, the smallest 8 pt; heights capped; panels wrap", () => {
    expect(pt(FONT_PT.small)).toBeCloseTo(10.67, 2);
    expect(Math.min(...Object.values(FONT_PT))).toBe(8);
    const size = printSize();
    expect(figureHeight(size, 900)).toBe(size.maxHeight);
    expect(figureHeight(size, 300)).toBe(300);
    expect(figureHeight(printSize({ height: "5cm" }), 900)).toBe(189);
    expect(panelColumns(4, size, 220)).toBe(2);
    expect(panelColumns(4, printSize({ width: "columnwidth" }), 220)).toBe(1);
    expect(wrapLines("random_binary · file granularity · within placement · 100 × 16 KiB", 220, SMALL_SIZE, " · ")).toEqual(["random_binary · file granularity", "within placement · 100 × 16 KiB"]);
  });
});

describe("table numbers", () => {
  it("3 significant digits at every magnitude; an interval at its value's decimals", () => {
    expect([0.00123, 0.0123, 0.123, 1.5, 9.999, 12.34, 123.4, 1234.5].map(formatValue)).toEqual(["0.00123", "0.0123", "0.123", "1.50", "10.0", "12.3", "123", "1235"]);
    expect(formatStat({ n: 2, mean: 8, sd: 1, ci95: 1, center: 8.75, lower: 0.0012, upper: 151339880917 }, "ci")).toBe("8.75 [0.00, 1.5e11] (2)");
  });

  it("LaTeX puts an interval or SD under its value and breaks long value headers", () => {
    const t: ThesisTable = {
      name: "t", caption: "c", label: "tab:t", stub: 1,
      head: [[{ text: "System", span: 1 }, { text: "fixed 4 KiB", span: 1 }, { text: "U0", span: 1 }]],
      groups: [{ rows: [["sqlite", "0.969 [0.95, 0.99] (2)", "2.00 ± 0.20 (3)"]] }],
    };
    const tex = toLatex(t);
    expect(tex).toContain("\\begin{tabular}[b]{@{}c@{}}{fixed} \\\\ {4 KiB}\\end{tabular}");
    expect(tex).toContain("\\begin{tabular}[t]{@{}r@{}}{0.969 (2)} \\\\ {[0.95, 0.99]}\\end{tabular}");
    expect(tex).toContain("{2.00 (3)} \\\\ {$\\pm$ 0.20}");
  });

  it("notebook frames print numbers like the tables; integer columns stay integers", () => {
    const f = formatFrame(aq.table({ system: ["sqlite", "duckdb"], n: [2, 3], center: [0.958712345, 12.345678], p99: [NaN, 1234.5] }));
    expect(f.objects()).toEqual([
      { system: "sqlite", n: "2", center: "0.959", p99: "—" },
      { system: "duckdb", n: "3", center: "12.3", p99: "1235" },
    ]);
  });
});
