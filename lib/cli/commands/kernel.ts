// `dedup-lab kernel install|status`: the tslab kernel spec inside the repository.
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { installKernel, kernelProblem } from "../../notebook/kernel.js";
import { jupyterPrefix, KERNEL_NAME } from "../../notebook/paths.js";

export function registerKernel(program: Command): void {
  const kernel = program.command("kernel").description("the tslab (TypeScript) Jupyter kernel registered inside this repository");
  kernel
    .command("install")
    .description("register the tslab kernel spec in <repo>/.jupyter (kernel cwd = project root, absolute binary path)")
    .action(async () => {
      const r = await installKernel();
      process.stdout.write(`kernel spec: ${r.dir}/kernel.json\n`);
      if (r.listed === false) throw new UsageError("Jupyter does not list the installed kernel spec", "check JUPYTER_PATH / run: bash scripts/setup-notebooks.sh");
      process.stdout.write(
        r.listed ? `jupyter kernelspec list: ${KERNEL_NAME} ✓\n` : "Debian's Jupyter is not installed, so the spec was not checked (bash scripts/setup-notebooks.sh installs it)\n",
      );
      process.stdout.write(`use it with: npx dedup-lab lab   (or your own: JUPYTER_PATH=${jupyterPrefix()}/share/jupyter jupyter lab; VS Code: see README, Notebooks)\n`);
    });
  kernel
    .command("status")
    .description("exit 0 if the kernel spec is installed and points at this checkout")
    .action(() => {
      const problem = kernelProblem();
      if (problem) throw new UsageError(problem);
      process.stdout.write(`${KERNEL_NAME} kernel (tslab): installed\n`);
    });
}
