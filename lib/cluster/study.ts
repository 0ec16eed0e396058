// The study as Kubernetes objects (issue 16): a ConfigMap with the configuration file, an Indexed
// Job whose completion index is the shard (`run --shard $((JOB_COMPLETION_INDEX+1))/N`), and a
// second Job that merges the shard bundles. Built with the typed models of `kubernetes-models`
// and checked with their validate() (the Kubernetes OpenAPI schema, offline) before any YAML is
// written. Pure: reads no file, opens no connection; the CLI (lib/cli/commands/k8s.ts) validates
// the configuration with the runner's loader first and writes the YAML.
import { createHash } from "node:crypto";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import type { IContainer, IEnvVar, IPodSpec, IVolume, IVolumeMount } from "kubernetes-models/v1";
import { stringify } from "yaml";
import { UsageError } from "../errors.js";

/** The image's entry point (Dockerfile ENTRYPOINT; a test keeps the two equal). */
export const IMAGE_ENTRYPOINT = ["node", "/app/bin/dedup-lab.js"] as const;
/** Where the pod sees the configuration file (the ConfigMap, read-only). */
export const CONFIG_DIR = "/etc/dedup-lab/config";
/** Where the pod sees the bundle target (the PVC, or a scratch volume synced with S3). */
export const BUNDLES_DIR = "/bundles";
/** Optional files (CA certificates) from a Secret, read-only: config paths like /etc/dedup-lab/files/pg-ca.crt. */
export const FILES_DIR = "/etc/dedup-lab/files";
/** Embedded systems' per-cell files (TMPDIR): a scratch volume, not the container's root file system. */
export const WORK_DIR = "/var/tmp/dedup-lab";
/** S3 mode: the AWS CLI image that fetches and uploads shard bundles (overridable; its tag is not checked here). */
export const DEFAULT_S3_IMAGE = "amazon/aws-cli:2.22.35";
/** The node image's unprivileged user (Dockerfile USER node). */
const NODE_UID = 1000;

export type BundleTarget =
  | { kind: "pvc"; claim: string }
  | { kind: "s3"; url: string; bucket: string; prefix: string; secret: string; endpoint?: string; image: string };

export interface StudyOptions {
  /** The configuration file's text, as the user wrote it (`${VAR}` left for the pod to expand). */
  configText: string;
  /** File name the pod reads it under (the loader picks YAML or JSON by the extension). */
  configFileName: "config.yaml" | "config.json";
  /** Environment variables the configuration reads (credential `…Env` names and `${VAR}` references). */
  envNames: string[];
  shards: number;
  image: string;
  namespace?: string;
  /** Object name stem (Job, ConfigMap, bundle directory); default from the config text and N. */
  name: string;
  bundle: BundleTarget;
  /** Secret holding one key per variable in envNames (key = variable name). */
  secret: string;
  /** Secret mounted read-only at FILES_DIR (CA certificates the config names), if any. */
  filesSecret?: string;
  cpu: string;
  memory: string;
  retriesPerIndex: number;
  maxFailedIndexes: number;
}

// ---- checks of the user's values (one line, the problem and the fix) -------------------------------

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The longest stem: "<name>-merge" and the Indexed Job's pod host names stay within 63 characters. */
export const MAX_NAME = 50;

export function checkDnsLabel(value: string, flag: string, max = 63): string {
  if (!DNS_LABEL.test(value) || value.length > max) {
    throw new UsageError(`${flag} "${value}" is not a Kubernetes name (lower-case letters, digits and '-', at most ${max} characters, starting and ending alphanumeric)`, `pass e.g. ${flag} dedup-lab`);
  }
  return value;
}

export function checkSubdomain(value: string, flag: string): string {
  if (!DNS_SUBDOMAIN.test(value) || value.length > 253) {
    throw new UsageError(`${flag} "${value}" is not a Kubernetes object name (lower-case letters, digits, '-' and '.')`, `pass the name as \`kubectl get\` shows it, e.g. ${flag} dedup-lab-bundles`);
  }
  return value;
}

export function checkQuantity(value: string, flag: string, example: string): string {
  if (!QUANTITY.test(value) || Number.parseFloat(value) <= 0) {
    throw new UsageError(`${flag} "${value}" is not a positive Kubernetes quantity`, `pass e.g. ${flag} ${example}`);
  }
  return value;
}

export function checkImage(value: string): string {
  // A reference: [registry/]path[:tag][@digest], no spaces or upper-case in the path.
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(value)) {
    throw new UsageError(`--image "${value}" is not a container image reference`, "pass e.g. --image registry.example.com/dedup-lab:0.1.0 (build it from the Dockerfile)");
  }
  return value;
}

/** `s3://bucket[/prefix]` → bucket and prefix (no trailing slash). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/(.*))?$/.exec(url);
  if (!m) throw new UsageError(`--bundle-s3 "${url}" is not an S3 URL`, "pass s3://BUCKET/PREFIX, e.g. --bundle-s3 s3://dedup-lab-results/study");
  const prefix = (m[3] ?? "").replace(/\/+$/, "");
  if (/[\s'"\\$`]/.test(prefix)) throw new UsageError(`--bundle-s3 "${url}" has spaces, quotes, '$' or '\\' in its prefix`, "use a plain prefix such as study/2026");
  return { bucket: m[1]!, prefix };
}

// ---- what the configuration reads from the environment -------------------------------------------

/**
 * Every environment variable a configuration reads: the values of `…Env` keys (passwordEnv,
 * secretKeyEnv, bearerTokenEnv, … — the names the connectors and the Prometheus client read) and
 * the `${VAR}` references the loader expands. Sorted, each once. Values are never looked at.
 */
export function configEnvNames(raw: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, key = ""): void => {
    if (typeof v === "string") {
      if (/Env$/.test(key) && ENV_NAME.test(v)) out.add(v);
      for (const m of v.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) out.add(m[1]!);
    } else if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(raw);
  return [...out].sort();
}

/** Default object name stem: stable for the same configuration text and shard count (re-applying resumes). */
export function defaultStudyName(configText: string, shards: number): string {
  return `dedup-lab-${createHash("sha256").update(`${shards}\n${configText}`).digest("hex").slice(0, 10)}`;
}

// ---- the objects -------------------------------------------------------------------------------

/** Bundle directory of shard i (1-based) inside the bundle target. */
export function shardDir(name: string, i: number | string, shards: number): string {
  return `${BUNDLES_DIR}/${name}/shard-${i}-of-${shards}`;
}

export function mergedDir(name: string): string {
  return `${BUNDLES_DIR}/${name}/merged`;
}

function labels(o: Pick<StudyOptions, "name">, component: "shard" | "merge"): Record<string, string> {
  return { "app.kubernetes.io/name": "dedup-lab", "app.kubernetes.io/instance": o.name, "app.kubernetes.io/component": component };
}

function s3Location(b: Extract<BundleTarget, { kind: "s3" }>, name: string, sub: string): string {
  return `s3://${b.bucket}/${[b.prefix, name, sub].filter(Boolean).join("/")}`;
}

/** The AWS CLI's credentials (secretKeyRefs) and, for S3-compatible stores, the endpoint. */
function s3Env(b: Extract<BundleTarget, { kind: "s3" }>): IEnvVar[] {
  return [
    { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: b.secret, key: "AWS_ACCESS_KEY_ID" } } },
    { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: b.secret, key: "AWS_SECRET_ACCESS_KEY" } } },
    ...(b.endpoint ? [{ name: "AWS_ENDPOINT_URL", value: b.endpoint }] : []),
  ];
}

const sh = (script: string): string[] => ["/bin/sh", "-c", script];
const cli = IMAGE_ENTRYPOINT.join(" ");

/**
 * The shard container's script: shard i = JOB_COMPLETION_INDEX + 1. A bundle of this shard that
 * already exists on the target (config.json written) is resumed — a retried index runs only its
 * missing cells; a directory left by a start cut off before its bundle existed is moved aside.
 * `then` is how the CLI is started: `exec` (PVC), or a call whose status is kept for the upload (S3).
 */
export function shardScript(name: string, shards: number, then: "exec" | "keep-status" = "exec"): string {
  return [
    "set -eu",
    "i=$((JOB_COMPLETION_INDEX + 1))",
    `dir="${BUNDLES_DIR}/${name}/shard-$i-of-${shards}"`,
    `mkdir -p "${BUNDLES_DIR}/${name}"`,
    'if [ -f "$dir/config.json" ]; then',
    `  echo "shard $i/${shards}: resuming $dir (finished cells are kept)" >&2`,
    '  set -- run --resume "$dir"',
    "else",
    '  if [ -e "$dir" ]; then mv "$dir" "$dir.incomplete-$(date +%s)"; fi',
    `  echo "shard $i/${shards}: new bundle $dir" >&2`,
    `  set -- run --config "${CONFIG_DIR}/$CONFIG_FILE" --shard "$i/${shards}" --out "$dir"`,
    "fi",
    ...(then === "exec"
      ? [`exec ${cli} "$@"`]
      : ["status=0", `${cli} "$@" || status=$?`, 'echo "$status" > "$dir.status"']),
  ].join("\n");
}

/** The merge script: shard bundles → <name>/merged (written under a temporary name, then renamed). */
export function mergeScript(name: string, shards: number): string {
  const inputs = Array.from({ length: shards }, (_, k) => `"${shardDir(name, k + 1, shards)}"`).join(" ");
  const out = mergedDir(name);
  return [
    "set -eu",
    `if [ -e "${out}" ]; then echo "${out} already exists — delete it to merge again" >&2; exit 2; fi`,
    `rm -rf "${out}.partial"`,
    `${cli} merge ${inputs} --out "${out}.partial"`,
    `mv "${out}.partial" "${out}"`,
    `echo "merged bundle: ${out}" >&2`,
  ].join("\n");
}

interface PodParts {
  initContainers: IContainer[];
  containers: IContainer[];
  volumes: IVolume[];
}

const RESTRICTED = {
  allowPrivilegeEscalation: false,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
};

/**
 * The pod of one shard. PVC: one container, the bundle written straight onto the claim. S3: the
 * same container as an init container between a fetch (the shard's earlier bundle, to resume) and
 * an upload (whatever the run left, also after a failed cell); the run's exit status is kept in
 * a file and returned by the upload container, so a failed index still counts as failed.
 */
function shardPod(o: StudyOptions): PodParts {
  const credentialEnv: IEnvVar[] = o.envNames.map((n) => ({ name: n, valueFrom: { secretKeyRef: { name: o.secret, key: n } } }));
  const env: IEnvVar[] = [
    { name: "CONFIG_FILE", value: o.configFileName },
    { name: "TMPDIR", value: WORK_DIR },
    ...credentialEnv,
  ];
  const mounts: IVolumeMount[] = [
    { name: "config", mountPath: CONFIG_DIR, readOnly: true },
    { name: "bundles", mountPath: BUNDLES_DIR },
    { name: "work", mountPath: WORK_DIR },
    ...(o.filesSecret ? [{ name: "files", mountPath: FILES_DIR, readOnly: true }] : []),
  ];
  const resources = { requests: { cpu: o.cpu, memory: o.memory }, limits: { memory: o.memory } };
  const volumes: IVolume[] = [
    { name: "config", configMap: { name: `${o.name}-config` } },
    { name: "work", emptyDir: {} },
    ...(o.filesSecret ? [{ name: "files", secret: { secretName: o.filesSecret } }] : []),
  ];
  const b = o.bundle;
  if (b.kind === "pvc") {
    return {
      initContainers: [],
      containers: [{ name: "dedup-lab", image: o.image, command: sh(shardScript(o.name, o.shards)), env, volumeMounts: mounts, resources, securityContext: RESTRICTED }],
      volumes: [...volumes, { name: "bundles", persistentVolumeClaim: { claimName: b.claim } }],
    };
  }
  const dir = `${BUNDLES_DIR}/${o.name}/shard-$((JOB_COMPLETION_INDEX + 1))-of-${o.shards}`;
  const remote = s3Location(b, o.name, `shard-$((JOB_COMPLETION_INDEX + 1))-of-${o.shards}`);
  const bundleMount = [{ name: "bundles", mountPath: BUNDLES_DIR }];
  const awsEnv = [...s3Env(b), { name: "HOME", value: "/tmp" }];
  const small = { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } };
  return {
    initContainers: [
      { name: "fetch", image: b.image, command: sh(`set -eu\nmkdir -p "${BUNDLES_DIR}/${o.name}"\naws s3 sync "${remote}" "${dir}" --only-show-errors`), env: awsEnv, volumeMounts: bundleMount, resources: small, securityContext: RESTRICTED },
      {
        name: "dedup-lab", image: o.image, env, volumeMounts: mounts, resources, securityContext: RESTRICTED,
        // the run's status goes to the upload container, so a failed cell's bundle is uploaded too
        command: sh(shardScript(o.name, o.shards, "keep-status")),
      },
    ],
    containers: [
      {
        name: "upload", image: b.image, env: awsEnv, volumeMounts: bundleMount, resources: small, securityContext: RESTRICTED,
        command: sh(`set -eu\nif [ -d "${dir}" ]; then aws s3 sync "${dir}" "${remote}" --only-show-errors; fi\nexit "$(cat "${dir}.status")"`), // no bundle: bad input, nothing to upload
      },
    ],
    volumes: [...volumes, { name: "bundles", emptyDir: {} }],
  };
}

export function studyConfigMap(o: StudyOptions): ConfigMap {
  if (Buffer.byteLength(o.configText) > 900 * 1024) {
    throw new UsageError("the configuration file is larger than 900 KiB, too large for a ConfigMap (1 MiB)", "move large values out of the configuration file");
  }
  const cm = new ConfigMap({
    metadata: { name: `${o.name}-config`, ...(o.namespace ? { namespace: o.namespace } : {}), labels: labels(o, "shard") },
    data: { [o.configFileName]: o.configText },
  });
  cm.validate();
  return cm;
}

/** The Indexed Job: N completions, N in parallel, completion index i → `--shard i+1/N`. */
export function studyJob(o: StudyOptions): Job {
  if (o.maxFailedIndexes > o.shards) {
    throw new UsageError(`--max-failed-indexes ${o.maxFailedIndexes} is more than --shards ${o.shards}`, `pass at most --max-failed-indexes ${o.shards}`);
  }
  const pod = shardPod(o);
  const main = o.bundle.kind === "pvc" ? "dedup-lab" : "upload";
  const spec: IPodSpec = {
    restartPolicy: "Never", // required by podFailurePolicy; a retry is a new pod of the same index
    securityContext: { runAsUser: NODE_UID, runAsGroup: NODE_UID, fsGroup: NODE_UID, seccompProfile: { type: "RuntimeDefault" } },
    ...(pod.initContainers.length ? { initContainers: pod.initContainers } : {}),
    containers: pod.containers,
    volumes: pod.volumes,
  };
  const job = new Job({
    metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: labels(o, "shard") },
    spec: {
      completionMode: "Indexed",
      completions: o.shards,
      parallelism: o.shards,
      backoffLimitPerIndex: o.retriesPerIndex,
      maxFailedIndexes: o.maxFailedIndexes,
      podFailurePolicy: {
        rules: [
          // exit 2 = bad input (CLI convention): a retry would fail the same way
          { action: "FailIndex", onExitCodes: { containerName: main, operator: "In", values: [2] } },
          // eviction, preemption, node drain: not the shard's fault, not counted against its retries
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        ],
      },
      template: { metadata: { labels: labels(o, "shard") }, spec },
    },
  });
  job.validate();
  return job;
}

/** The merge Job (apply after the study Job completed): one pod, `dedup-lab merge` over the N shard bundles. */
export function mergeJob(o: StudyOptions): Job {
  const b = o.bundle;
  const cmd = mergeScript(o.name, o.shards);
  const resources = { requests: { cpu: "500m", memory: o.memory }, limits: { memory: o.memory } };
  const mount = [{ name: "bundles", mountPath: BUNDLES_DIR }];
  let spec: IPodSpec;
  if (b.kind === "pvc") {
    spec = {
      restartPolicy: "Never",
      securityContext: { runAsUser: NODE_UID, runAsGroup: NODE_UID, fsGroup: NODE_UID, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{ name: "merge", image: o.image, command: sh(cmd), volumeMounts: mount, resources, securityContext: RESTRICTED }],
      volumes: [{ name: "bundles", persistentVolumeClaim: { claimName: b.claim } }],
    };
  } else {
    const awsEnv = [...s3Env(b), { name: "HOME", value: "/tmp" }];
    const small = { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } };
    const local = `${BUNDLES_DIR}/${o.name}`;
    spec = {
      restartPolicy: "Never",
      securityContext: { runAsUser: NODE_UID, runAsGroup: NODE_UID, fsGroup: NODE_UID, seccompProfile: { type: "RuntimeDefault" } },
      initContainers: [
        { name: "fetch", image: b.image, env: awsEnv, volumeMounts: mount, resources: small, securityContext: RESTRICTED,
          command: sh(`set -eu\nmkdir -p "${local}"\naws s3 sync "${s3Location(b, o.name, "")}" "${local}" --exclude "merged/*" --exclude "*.status" --only-show-errors`) },
        { name: "merge", image: o.image, command: sh(cmd), volumeMounts: mount, resources, securityContext: RESTRICTED },
      ],
      containers: [
        { name: "upload", image: b.image, env: awsEnv, volumeMounts: mount, resources: small, securityContext: RESTRICTED,
          command: sh(`set -eu\naws s3 sync "${mergedDir(o.name)}" "${s3Location(b, o.name, "merged")}" --only-show-errors`) },
      ],
      volumes: [{ name: "bundles", emptyDir: {} }],
    };
  }
  const job = new Job({
    metadata: { name: `${o.name}-merge`, ...(o.namespace ? { namespace: o.namespace } : {}), labels: labels(o, "merge") },
    spec: { backoffLimit: 1, template: { metadata: { labels: labels(o, "merge") }, spec } },
  });
  job.validate();
  return job;
}

/** Objects as one multi-document YAML file, a comment block on top. */
export function toYaml(objects: { toJSON(): unknown }[], comment: string[]): string {
  const head = comment.map((l) => (l ? `# ${l}` : "#")).join("\n");
  return `${head}\n${objects.map((o) => `---\n${stringify(o.toJSON(), { lineWidth: 0 })}`).join("")}`;
}
