// Checking a source's bytes against its manifest. A manifest either states the sha256
// (verify: sha256) or says it is not known offline (verify: record-on-first-fetch): then
// the first hash seen is recorded in <scratch>/recorded/<data set>.json and every later
// read must match it — so a NAS file that changes, or a download that differs from the
// first one, is caught. Recorded hashes never go back into the manifest automatically:
// a human checks them against the publisher first.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../errors.js";
import type { Scratch } from "./location.js";
import type { DataManifest, DataSource } from "./manifest.js";
import type { Hashed } from "./source.js";

export interface RecordedChecksum {
  sha256: string;
  size: number;
  recorded_at: string;
  from: string;
}

export type ChecksumStatus = "manifest" | "recorded" | "recorded-now";

export function readRecorded(scratch: Scratch, manifest: string): Record<string, RecordedChecksum> {
  try {
    return JSON.parse(readFileSync(scratch.recorded(manifest), "utf8")) as Record<string, RecordedChecksum>;
  } catch {
    return {};
  }
}

function writeRecorded(scratch: Scratch, manifest: string, all: Record<string, RecordedChecksum>): void {
  const file = scratch.recorded(manifest);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(all, null, 2) + "\n");
  renameSync(`${file}.tmp`, file);
}

/** Size check that needs no hashing (exact sizes only). */
export function checkSize(m: DataManifest, s: DataSource, size: number, where: string): void {
  if (s.size_exact && s.expected_size !== null && size !== s.expected_size) {
    throw new UsageError(`${m.name}/${s.id}: ${where} is ${size} B, the manifest expects exactly ${s.expected_size} B — nothing staged`, "check the source file or fix expected_size in the manifest");
  }
}

/**
 * Compare a hash with the manifest or the recorded value. A mismatch is bad input
 * (exit 2). `record` false checks only (nothing is written).
 */
export function checkChecksum(scratch: Scratch, m: DataManifest, s: DataSource, actual: Hashed, where: string, record = true): ChecksumStatus {
  checkSize(m, s, actual.size, where);
  if (s.sha256 !== null) {
    if (actual.sha256 !== s.sha256) {
      throw new UsageError(`${m.name}/${s.id}: sha256 of ${where} is ${actual.sha256}, the manifest says ${s.sha256} — nothing staged`, "the source is damaged or a different version: check it, or fix the manifest");
    }
    return "manifest";
  }
  const all = readRecorded(scratch, m.name);
  const known = all[s.id];
  if (known) {
    if (known.sha256 !== actual.sha256) {
      throw new UsageError(
        `${m.name}/${s.id}: sha256 of ${where} is ${actual.sha256}, but ${known.sha256} was recorded on first fetch (${known.recorded_at}) — nothing staged`,
        `the source changed since; if the new version is intended, remove the record with \`dedup-lab data clean ${m.name} --records\``,
      );
    }
    return "recorded";
  }
  if (record) {
    all[s.id] = { sha256: actual.sha256, size: actual.size, recorded_at: new Date().toISOString(), from: where };
    writeRecorded(scratch, m.name, all);
  }
  return "recorded-now";
}
