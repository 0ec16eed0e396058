// `dedup-lab k8s job` and `dedup-lab k8s merge-job`: the study as Kubernetes manifests (issue 16).
// The configuration is validated with the runner's loader first (a bad config is exit 2 before
// anything is written); no connection opens, no credential value is read.
import type { Command } from "commander";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../../errors.js";
import { loadConfig, readConfigFile } from "../../runner/config.js";
import { planRun } from "../../runner/plan.js";
import { wholeNumberArg } from "../options.js";
import { checkWritableDir } from "../paths.js";

interface K8sFlags {
  config?: string;
  shards?: number;
  image?: string;
  namespace?: string;
  name?: string;
  bundlePvc?: string;
  bundleS3?: string;
  s3Secret: string;
  s3Endpoint?: string;
  s3Image?: string;
  secret: string;
  filesSecret?: string;
  cpu: string;
  memory: string;
  retriesPerIndex: number;
  maxFailedIndexes?: number;
  out?: string;
}

const MAX_SHARDS = 1000;

function k8sFlags(cmd: Command): Command {
  return cmd
    .option("--config <file>", "the study's YAML or JSON config (required; validated here, shipped in a ConfigMap)")
    .option("--shards <n>", "number of shards = completions = parallelism of the Indexed Job", (v) => wholeNumberArg(v, "--shards", MAX_SHARDS, 4))
    .option("--image <image>", "the dedup-lab image built from the Dockerfile, e.g. registry.example.com/dedup-lab:0.1.0")
    .option("--namespace <ns>", "namespace of every object (default: kubectl's current one)")
    .option("--name <name>", "object name stem (default: dedup-lab-<hash of the config and --shards>)")
    .option("--bundle-pvc <claim>", "an existing ReadWriteMany PersistentVolumeClaim for the bundles (one directory per shard)")
    .option("--bundle-s3 <url>", "s3://BUCKET/PREFIX for the bundles (fetched before and uploaded after each shard with the AWS CLI)")
    .option("--s3-secret <name>", "Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for --bundle-s3", "dedup-lab-s3")
    .option("--s3-endpoint <url>", "S3-compatible endpoint for --bundle-s3 (MinIO, Ceph), e.g. https://minio.example.internal")
    .option("--s3-image <image>", "AWS CLI image for --bundle-s3 (default amazon/aws-cli:2.22.35)")
    .option("--secret <name>", "existing Secret with one key per variable the config reads (key = variable name)", "dedup-lab-credentials")
    .option("--files-secret <name>", "existing Secret mounted read-only at /etc/dedup-lab/files (CA certificates the config names)")
    .option("--cpu <quantity>", "CPU request per shard pod", "2")
    .option("--memory <quantity>", "memory request and limit per shard pod", "4Gi")
    .option("--retries-per-index <n>", "backoffLimitPerIndex: retries of a failed shard (each resumes its bundle)", (v) => retriesArg(v), 2)
    .option("--max-failed-indexes <n>", "maxFailedIndexes: the Job fails once more shards than this have failed (default: --shards)", (v) => wholeNumberArg(v, "--max-failed-indexes", MAX_SHARDS, 1))
    .option("--out <file>", "write the YAML to this file instead of stdout");
}

function retriesArg(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 0 && n <= 10)) throw new UsageError(`--retries-per-index must be a whole number from 0 to 10 (got "${v}")`, "pass --retries-per-index 2");
  return n;
}

/** Flags → the builder's options, every value checked; the config validated by the runner's loader. */
async function studyOptions(o: K8sFlags) {
  if (!o.config) throw new UsageError("--config is required", "pass --config study.yaml (the file every shard runs)");
  if (o.shards === undefined) throw new UsageError("--shards is required", "pass --shards 4 (one pod per shard)");
  if (!o.image) throw new UsageError("--image is required", "pass --image registry.example.com/dedup-lab:0.1.0 (built from the Dockerfile)");
  if (o.bundlePvc && o.bundleS3) throw new UsageError("--bundle-pvc and --bundle-s3 both name a bundle target", "pass only one of them");
  if (!o.bundlePvc && !o.bundleS3) throw new UsageError("no bundle target", "pass --bundle-pvc CLAIM (an existing ReadWriteMany claim) or --bundle-s3 s3://BUCKET/PREFIX");
  const c = await import("../../cluster/study.js"); // kubernetes-models loads only for this command
  c.checkImage(o.image);
  if (o.namespace !== undefined) c.checkDnsLabel(o.namespace, "--namespace");
  if (o.name !== undefined) c.checkDnsLabel(o.name, "--name", c.MAX_NAME);
  c.checkSubdomain(o.secret, "--secret");
  if (o.filesSecret !== undefined) c.checkSubdomain(o.filesSecret, "--files-secret");
  c.checkQuantity(o.cpu, "--cpu", "2");
  c.checkQuantity(o.memory, "--memory", "4Gi");
  let bundle: import("../../cluster/study.js").BundleTarget;
  if (o.bundlePvc) bundle = { kind: "pvc", claim: c.checkSubdomain(o.bundlePvc, "--bundle-pvc") };
  else {
    const { bucket, prefix } = c.parseS3Url(o.bundleS3!);
    if (o.s3Endpoint !== undefined && !/^https?:\/\/[^\s/@]+(\/[^\s@]*)?$/.test(o.s3Endpoint)) {
      throw new UsageError(`--s3-endpoint "${o.s3Endpoint}" is not an http(s) URL without credentials`, "pass e.g. --s3-endpoint https://minio.example.internal");
    }
    c.checkSubdomain(o.s3Secret, "--s3-secret");
    bundle = { kind: "s3", url: o.bundleS3!, bucket, prefix, secret: o.s3Secret, endpoint: o.s3Endpoint, image: o.s3Image === undefined ? c.DEFAULT_S3_IMAGE : c.checkImage(o.s3Image) };
  }
  // The loader refuses a bad config with one line (exit 2) — before any manifest exists.
  const cfg = await loadConfig(o.config);
  const cells = planRun(cfg).cells.length;
  if (o.shards > cells) throw new UsageError(`--shards ${o.shards} is more than the ${cells} cells of ${o.config}`, `pass at most --shards ${cells}`);
  const configText = readFileSync(o.config, "utf8");
  return {
    configText,
    configFileName: o.config.endsWith(".json") ? ("config.json" as const) : ("config.yaml" as const),
    envNames: c.configEnvNames(readConfigFile(o.config)),
    shards: o.shards,
    image: o.image,
    namespace: o.namespace,
    name: o.name ?? c.defaultStudyName(configText, o.shards),
    bundle,
    secret: o.secret,
    filesSecret: o.filesSecret,
    cpu: o.cpu,
    memory: o.memory,
    retriesPerIndex: o.retriesPerIndex,
    maxFailedIndexes: o.maxFailedIndexes ?? o.shards,
  };
}

/** --out: a file in a writable directory (checked before anything is written), else stdout. */
function emit(text: string, out: string | undefined): void {
  if (out === undefined) {
    process.stdout.write(text);
    return;
  }
  checkWritableDir(dirname(out), "--out");
  if (existsSync(out) && statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a directory, a file is expected`, "pass a file path, e.g. --out study.yaml");
  writeFileSync(out, text);
  process.stderr.write(`wrote ${out}\n`);
}

export function registerK8s(program: Command): void {
  const k8s = program.command("k8s").description("Kubernetes manifests for running the study on a cluster (see README)");
  k8sFlags(
    k8s
      .command("job")
      .description("write the study as a ConfigMap and an Indexed Job (completion index i → run --shard i+1/N)"),
  ).action(async (o: K8sFlags) => {
    const c = await import("../../cluster/study.js");
    const s = await studyOptions(o);
    const ns = s.namespace ? ` -n ${s.namespace}` : "";
    const objects = [c.studyConfigMap(s), c.studyJob(s)];
    emit(
      c.toYaml(objects, [
        `dedup-lab study ${s.name}: ${s.shards} shards of ${o.config}, bundles on ${s.bundle.kind === "pvc" ? `PVC ${s.bundle.claim}` : s.bundle.url} under ${s.name}/`,
        `Needs: Secret ${s.secret} with the keys ${s.envNames.length ? s.envNames.join(", ") : "(none — the config reads no variable)"}${s.bundle.kind === "s3" ? `; Secret ${s.bundle.secret} with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY` : ""}${s.filesSecret ? `; Secret ${s.filesSecret} (files)` : ""}`,
        `kubectl${ns} apply -f THIS_FILE; kubectl${ns} get pods -l app.kubernetes.io/instance=${s.name}`,
        `kubectl${ns} wait --for=condition=complete job/${s.name} --timeout=-1s`,
        `then merge: dedup-lab k8s merge-job (same flags) | kubectl${ns} apply -f -`,
      ]),
      o.out,
    );
  });
  k8sFlags(
    k8s
      .command("merge-job")
      .description("write the Job that merges the shard bundles of `k8s job` (same flags; apply once that Job is complete)"),
  ).action(async (o: K8sFlags) => {
    const c = await import("../../cluster/study.js");
    const s = await studyOptions(o);
    const where = s.bundle.kind === "pvc" ? `PVC ${s.bundle.claim} at ${s.name}/merged` : `${s.bundle.url.replace(/\/+$/, "")}/${s.name}/merged`;
    emit(c.toYaml([c.mergeJob(s)], [`dedup-lab merge of study ${s.name} (${s.shards} shard bundles) → ${where}`]), o.out);
  });
}
