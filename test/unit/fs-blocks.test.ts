// Allocated bytes of a tree count the directories' own blocks too (issue 11, item 5).
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { blockUsage } from "../../lib/fs-blocks.js";

const dir = mkdtempSync(join(tmpdir(), "dedup-lab-fsblocks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("blockUsage", () => {
  it("sums files and the directory's own blocks (1,000 entries grow a directory past one block)", async () => {
    for (let i = 0; i < 1000; i++) writeFileSync(join(dir, `unit-${String(i).padStart(6, "0")}.bin`), Buffer.alloc(100, i % 256));
    const files = Array.from({ length: 1000 }, (_, i) => lstatSync(join(dir, `unit-${String(i).padStart(6, "0")}.bin`)));
    const own = lstatSync(dir);
    const u = await blockUsage([dir]);
    expect(u.files).toBe(1000);
    expect(u.allocated).toBe(own.blocks * 512 + files.reduce((a, st) => a + st.blocks * 512, 0));
    expect(u.apparent).toBe(own.size + 1000 * 100);
    expect(own.blocks * 512).toBeGreaterThan(4096);
  });
});
