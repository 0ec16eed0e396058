// Data-manifests: the shipped ones are valid and honest (no invented checksums), the JSON
// Schema is generated from the zod schema, and a bad manifest is refused with every
// problem named by its path.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { UsageError } from "../../lib/errors.js";
import { SHIPPED_MANIFESTS, findManifest, loadManifests, manifestJsonSchema, parseManifest, readManifestFile, scanManifests } from "../../lib/data/manifest.js";
import { tmp } from "../integration/data-fixtures.js";

const good = () => ({
  format: "dedup-lab.data-manifest/1",
  name: "demo",
  title: "Demo",
  payload: "demo_text",
  description: "d",
  licence: "l",
  sources: [{ id: "a", url: "https://example.org/a.txt", expected_size: 10, sha256: null, verify: "record-on-first-fetch", archive: "none" }],
  cut: { mode: "lines", target: "4KiB" },
});

function problemsOf(raw: unknown): string {
  try {
    parseManifest(raw, "demo.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error("manifest was accepted");
}

describe("shipped data-manifests", () => {
  const manifests = loadManifests(SHIPPED_MANIFESTS);

  it("cover every data set of the study, one payload type each", () => {
    expect(manifests.map((m) => [m.name, m.payload])).toEqual([
      ["blender_open_movies", "blender_video"],
      ["gharchive", "gharchive_events"],
      ["gutenberg", "gutenberg_text"],
      ["nas_bank_transactions", "bank_transactions"],
      ["nas_million_post", "million_post_corpus"],
      ["nas_random_numbers", "random_numbers"],
      ["nasa_hudf", "nasa_image"],
    ]);
    const byName = Object.fromEntries(manifests.map((m) => [m.name, m]));
    expect(byName.blender_open_movies!.sources.map((s) => s.id)).toEqual(["big-buck-bunny", "sintel", "tears-of-steel"]);
    expect(byName.gutenberg!.sources.map((s) => s.id)).toEqual(["pride-and-prejudice", "moby-dick"]);
    expect(byName.nas_bank_transactions!.sources[0]!.archive).toBe("zip");
    expect(byName.nas_million_post!.sources[0]!.archive).toBe("tar.bz2");
    expect(byName.nas_random_numbers!.sources[0]!.archive).toBe("zip");
    expect(byName.gharchive!.sources[0]!.archive).toBe("gz");
    expect(byName.nasa_hudf!.sources[0]!.url).toMatch(/\.tif$/);
  });

  it("invent no checksum: every sha256 is null, recorded on first fetch, sizes marked approximate", () => {
    for (const m of manifests) {
      expect(m.notes ?? m.description, m.name).toBeTruthy();
      for (const s of m.sources) {
        expect(s.sha256, `${m.name}/${s.id}`).toBeNull();
        expect(s.verify).toBe("record-on-first-fetch");
        expect(s.size_exact).toBe(false);
        expect(s.note ?? "", `${m.name}/${s.id}`).toMatch(/not (verified|known) offline/);
        if (s.url) expect(s.url).toMatch(/^https:\/\//);
      }
    }
  });

  it("put the NAS data sets under the data root as relative paths", () => {
    for (const name of ["nas_bank_transactions", "nas_million_post", "nas_random_numbers"]) {
      const s = manifests.find((m) => m.name === name)!.sources[0]!;
      expect(s.path).toMatch(/^[^/]+\.(zip|tar\.bz2)$/);
    }
    expect(manifests.find((m) => m.name === "nas_bank_transactions")!.sources[0]!.url).toBeUndefined();
  });

  it("match the JSON Schema file, which is generated from the zod schema", () => {
    const file = JSON.parse(readFileSync(join(SHIPPED_MANIFESTS, "manifest.schema.json"), "utf8"));
    expect(file).toEqual(manifestJsonSchema());
  });

  it("are found by data set name or by payload name", () => {
    expect(findManifest(manifests, "gutenberg", "d").payload).toBe("gutenberg_text");
    expect(findManifest(manifests, "gutenberg_text", "d").name).toBe("gutenberg");
    expect(() => findManifest(manifests, "imdb", "d")).toThrow(/unknown data set "imdb" in d — use one of: blender_open_movies \(blender_video\)/);
  });
});

describe("an invalid manifest", () => {
  it("is accepted when well-formed", () => {
    expect(parseManifest(good(), "x/demo.yaml").payload).toBe("demo_text");
  });

  it("lists every schema problem with its path, on one line", () => {
    const raw = good() as Record<string, unknown>;
    raw.sources = [
      { id: "a", url: "http://example.org/a", expected_size: -1, sha256: "abc", verify: "sha256", archive: "7z" },
      { id: "a", path: "../etc/passwd", expected_size: null, sha256: null, verify: "record-on-first-fetch", archive: "none", members: ["*"] },
    ];
    raw.cut = { mode: "lines" };
    raw.extra = 1;
    const msg = problemsOf(raw);
    expect(msg.split("\n")).toHaveLength(1);
    for (const part of [
      "data-manifest demo.yaml is invalid",
      "sources[0].url: an https:// URL (plain http only to 127.0.0.1)",
      "sources[0].expected_size:",
      "sources[0].sha256: 64 lower-case hex digits",
      'sources[0].archive: unsupported archive "7z" (supported: zip, tar.bz2, gz, none)',
      "sources[1].path: a path relative to the data root",
      "sources[1].members: members only apply to zip and tar.bz2 archives",
      '(top level): Unrecognized key: "extra"',
    ]) {
      expect(msg).toContain(part);
    }
  });

  it("checks rules across fields once the fields themselves are valid", () => {
    const raw = good() as Record<string, unknown>;
    raw.sources = [good().sources[0], good().sources[0]];
    raw.cut = { mode: "lines", lines: 5, target: 100 };
    const msg = problemsOf(raw);
    expect(msg).toContain('sources[1].id: duplicate source id "a"');
    expect(msg).toContain("cut: lines mode needs exactly one of lines (N per unit) or target (bytes)");
  });

  it("refuses a checksum policy that does not fit the sha256", () => {
    const a = good();
    a.sources[0] = { ...a.sources[0]!, verify: "sha256" };
    expect(problemsOf(a)).toContain('sources[0].sha256: verify "sha256" needs a sha256');
    const b = good();
    b.sources[0] = { ...b.sources[0]!, sha256: "a".repeat(64) as unknown as null };
    expect(problemsOf(b)).toContain('sources[0].verify: a known sha256 needs verify: "sha256"');
  });

  it("refuses absolute paths, unknown cut modes and a missing source location", () => {
    const a = good();
    a.sources[0] = { id: "a", path: "/mnt/nas/x.zip", expected_size: null, sha256: null, verify: "record-on-first-fetch", archive: "zip" } as never;
    expect(problemsOf(a)).toContain("sources[0].path: a path relative to the data root");
    const b = good();
    (b as Record<string, unknown>).cut = { mode: "sentences" };
    expect(problemsOf(b)).toContain("cut.mode");
    const c = good();
    c.sources[0] = { id: "a", expected_size: null, sha256: null, verify: "record-on-first-fetch", archive: "none" } as never;
    expect(problemsOf(c)).toContain("sources[0].url: needs a url or a path (or both)");
  });

  it("must be named like its file", () => {
    expect(() => parseManifest(good(), "dir/other.yaml")).toThrow(/name: "demo" differs from the file name "other"/);
  });

  it("in a directory: the valid ones load, the broken ones are reported together", () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "demo.yaml"), stringify(good()));
    writeFileSync(join(dir, "broken.yaml"), "format: [unclosed\n");
    writeFileSync(join(dir, "twin.yaml"), stringify({ ...good(), name: "twin" }));
    const { manifests, problems } = scanManifests(dir);
    expect(manifests.map((m) => m.name)).toEqual(["demo", "twin"]);
    expect(problems.join("\n")).toMatch(/broken.yaml is not valid YAML/);
    expect(problems.join("\n")).toMatch(/demo and twin both provide payload demo_text/);
    expect(() => loadManifests(dir)).toThrow(UsageError);
    expect(() => readManifestFile(join(dir, "missing.yaml"))).toThrow(/cannot read data-manifest .*missing.yaml \(ENOENT\)/);
    expect(() => loadManifests(join(dir, "nope"))).toThrow(/cannot read the data-manifest directory/);
  });
});
