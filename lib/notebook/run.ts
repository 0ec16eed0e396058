// runMatrix for notebooks: a kernel interrupt (Jupyter's ■ / "Interrupt Kernel"; tslab receives
// SIGINT) stops the run like Ctrl-C stops `dedup-lab run`. tslab's own SIGINT handler would end
// the cell at once and leave the run going on in the background, writing cells and lab objects
// after the user pressed stop. While a run is active its handler is set aside: the interrupt
// aborts the run's signal, the current operation finishes, the cell's lab objects are cleaned
// up, the bundle is saved as interrupted, and only then does the cell end — with an error that
// names the bundle and how to resume (so "Run All" stops there). A second interrupt hands over
// to tslab at once (the cell ends; the run still stops at its next check).
import { runMatrix as runMatrixCore, type RunOptions, type RunResult } from "../runner/run.js";
import type { RunConfig } from "../runner/config.js";
import { inTslabKernel } from "./display.js";

export class RunInterrupted extends Error {
  override name = "RunInterrupted";
  constructor(readonly result: RunResult) {
    super(
      `interrupted: ${result.done} cells done, ${result.failed} failed; the bundle is saved as interrupted in ${result.dir} — ` +
        `continue with lab.runMatrix(cfg, { dir: ${JSON.stringify(result.dir)}, resume: true }) or: npx dedup-lab run --resume ${result.dir}`,
    );
  }
}

/** runMatrix that stops cleanly on a kernel interrupt (see above); outside a kernel it is runMatrix. */
export async function runMatrix(cfg: RunConfig, opts: RunOptions = {}): Promise<RunResult> {
  if (!inTslabKernel()) return runMatrixCore(cfg, opts);
  // tslab runs a cell's synchronous part with vm's breakOnSigint, which detaches every SIGINT
  // listener until that part returns: look at the kernel's handlers only after it has.
  await new Promise<void>((r) => setImmediate(r));
  const controller = new AbortController();
  if (opts.signal?.aborted) controller.abort();
  opts.signal?.addEventListener("abort", () => controller.abort(), { once: true });
  const kernelHandlers = process.listeners("SIGINT");
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write("interrupt: finishing the current operation, cleaning up the cell and saving the bundle (interrupt again to end the cell now)\n");
      controller.abort();
      return;
    }
    restore();
    for (const h of kernelHandlers) (h as () => void)();
  };
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off("SIGINT", onInterrupt);
    for (const h of kernelHandlers) process.on("SIGINT", h as () => void);
  };
  for (const h of kernelHandlers) process.off("SIGINT", h as () => void);
  process.on("SIGINT", onInterrupt);
  try {
    const result = await runMatrixCore(cfg, { ...opts, signal: controller.signal });
    if (result.interrupted && interrupts > 0) throw new RunInterrupted(result);
    return result;
  } finally {
    restore();
  }
}
