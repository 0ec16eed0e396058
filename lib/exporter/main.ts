// Entry point: `node --import tsx lib/exporter/main.ts CONFIG.json` (scripts/services/exporter.sh).
import { readFileSync } from "node:fs";
import { LonghornStyleExporter } from "./exporter.js";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: exporter CONFIG.json\n");
  process.exit(2);
}
const exporter = new LonghornStyleExporter(JSON.parse(readFileSync(file, "utf8")));
const at = await exporter.start();
process.stdout.write(`longhorn-style exporter on http://${at}/metrics\n`);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void exporter.stop().then(() => process.exit(0)));
