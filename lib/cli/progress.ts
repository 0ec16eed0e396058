// Progress for `dedup-lab run`: a live bar on a TTY (cells, current cell, MB/s, ETA),
// plain lines otherwise (CI logs, notebooks).
import cliProgress from "cli-progress";
import type { RunEvents } from "../runner/events.js";

export function progressReporter(stream: NodeJS.WriteStream): RunEvents {
  const started = Date.now();
  let bytes = 0;
  let total = 0;
  let skipped = 0;
  let doneCells = 0;
  const mbps = () => (bytes / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1);
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: "{bar} {value}/{total} cells | {cell} {stage} | {mbps} MB/s | ETA {eta_formatted}", hideCursor: true, stream, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    return {
      runStart: (i) => {
        total = i.cells;
        skipped = i.skipped;
        bar.start(total, skipped, { cell: "", stage: "", mbps: "0.0" });
      },
      cellStart: (c) => bar.update({ cell: c.id, stage: "" }),
      stageStart: (_c, s) => bar.update({ stage: s }),
      cellEnd: (_c, r) => {
        bytes += r.bytes;
        bar.update(skipped + ++doneCells, { mbps: mbps() });
      },
      runEnd: () => bar.stop(),
      log: (line) => {
        // Failures must not vanish under the bar: print above it.
        if (line.includes(" failed: ") || line.startsWith("warning: ")) stream.write(`\r\x1b[K${line}\n`);
      },
    };
  }
  return {
    runStart: (i) => {
      total = i.cells;
      skipped = i.skipped;
      stream.write(`run ${i.runId}: ${i.cells} cells${i.skipped ? ` (${i.skipped} already done)` : ""} → ${i.dir}\n`);
    },
    cellEnd: (c, r) => {
      bytes += r.bytes;
      doneCells++;
      stream.write(`[${skipped + doneCells}/${total}] ${c.id} ${r.status === "done" ? "ok" : `FAILED ${r.error}`} (${mbps()} MB/s overall)\n`);
    },
    // Warnings the runner says once (e.g. no loop-device volumes here) reach the user, not only run.log.
    log: (line) => {
      if (line.startsWith("warning: ")) stream.write(`${line}\n`);
    },
  };
}
