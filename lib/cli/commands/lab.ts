// `dedup-lab lab [--port N] [--install-only]`: JupyterLab with this repository's `dedup-lab` kernel,
// from a pinned project-local venv (installed on first use), on 127.0.0.1 with a token.
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { ensureJupyterLab, labVenv, startJupyterLab } from "../../notebook/jupyterlab.js";
import { signalExitStatus } from "../options.js";

interface LabFlags {
  port: string;
  installOnly?: boolean;
}

export function registerLab(program: Command): void {
  program
    .command("lab")
    .description("start JupyterLab (pinned, project-local venv; installed on first use) with the dedup-lab kernel on 127.0.0.1, token-protected; prints the URL")
    .option("--port <n>", "port on 127.0.0.1 (0: a free one)", "0")
    .option("--install-only", "create/update the venv (.tools/jupyter-venv) and the kernel spec, then exit")
    .action(async (o: LabFlags) => {
      if (!/^\d+$/.test(o.port) || Number(o.port) > 65535) throw new UsageError(`--port must be a port number (got "${o.port}")`, "pass e.g. --port 8888, or 0 for a free one");
      const log = (line: string) => process.stderr.write(`dedup-lab lab: ${line}\n`);
      if (o.installOnly) {
        const r = ensureJupyterLab({ log });
        process.stdout.write(`JupyterLab venv: ${r.venv} (${r.installed ? "installed" : "up to date"})\n`);
        return;
      }
      const lab = await startJupyterLab({ port: Number(o.port), log });
      process.stdout.write(`JupyterLab (venv ${labVenv()}) with the dedup-lab kernel:\n${lab.url}\n`);
      process.stderr.write("dedup-lab lab: Ctrl-C stops JupyterLab and its kernels\n");
      let stoppedBy: NodeJS.Signals | null = null;
      const onSignal = (sig: NodeJS.Signals) => {
        if (stoppedBy) return;
        stoppedBy = sig;
        void lab.stop();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const code = await lab.exited;
        process.exitCode = stoppedBy ? signalExitStatus(stoppedBy) : code ?? 1;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}
