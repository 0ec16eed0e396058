// Issue 16, part B: `dedup-lab k8s job|merge-job` write a ConfigMap, an Indexed Job and a merge Job
// that pass the Kubernetes OpenAPI schema (kubernetes-models' validate(), offline); credentials
// appear only as secretKeyRef references; the completion index becomes --shard i+1/N (the pod's
// script is run here with sh and a stand-in `node`); a retried index resumes its bundle; bad
// flags are one line and exit 2 with nothing written; the Jobs' own scripts drive the real CLI
// (two shards, a resumed index, merge) with /bundles mapped to a temp dir. The Dockerfile is checked against the repo
// (it cannot be built here: no Docker).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import type { IContainer, IEnvVar } from "kubernetes-models/v1";
import { CONFIG_DIR, configEnvNames, IMAGE_ENTRYPOINT, mergeScript, shardScript } from "../../lib/cluster/study.js";
import { cli } from "../helpers/cli.js";
import { mainInProcess } from "../helpers/cli-in-process.js";
import { TempDirs } from "../helpers/bundles.js";
import { ROOT } from "../helpers/services-env.js";

const temps = new TempDirs("dedup-lab-k8s-");
afterAll(() => temps.removeAll());

// Fake credentials and endpoints in the environment: none of these values may reach the YAML.
const FAKE_ENV: Record<string, string> = {
  DEDUP_K8S_TEST_PG_PASSWORD: "pg-Secret-Value-7f3a91",
  DEDUP_K8S_TEST_MINIO_ACCESS: "minio-Access-Value-2b8c",
  DEDUP_K8S_TEST_MINIO_SECRET: "minio-Secret-Value-c0ffee",
  DEDUP_K8S_TEST_PROM_TOKEN: "prom-Bearer-Value-d15ea5e",
  DEDUP_K8S_TEST_PG_HOST: "pg-host-value-only-local.internal",
};
const saved: Record<string, string | undefined> = {};

const CONFIG = `lab: { prefix: dedup }
matrix:
  systems: [postgres, minio, sqlite]
  payloads: [random_binary, text_document]
  grades: [U0, U90]
  stages: [bulk_insert]
dataset: { units: 10 }
prometheus:
  url: http://prometheus.monitoring.svc:9090
  auth: { bearerTokenEnv: DEDUP_K8S_TEST_PROM_TOKEN }
systems:
  postgres:
    options:
      host: \${DEDUP_K8S_TEST_PG_HOST}
      port: 5432
      user: lab
      passwordEnv: DEDUP_K8S_TEST_PG_PASSWORD
  minio:
    options:
      endPoint: minio.example.internal
      port: 443
      useSSL: true
      accessKeyEnv: DEDUP_K8S_TEST_MINIO_ACCESS
      secretKeyEnv: DEDUP_K8S_TEST_MINIO_SECRET
`;
const CREDENTIAL_VARS = Object.keys(FAKE_ENV).sort();
let dir: string;
let config: string;

beforeAll(() => {
  for (const [k, v] of Object.entries(FAKE_ENV)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  dir = temps.make();
  config = join(dir, "study.yaml");
  writeFileSync(config, CONFIG);
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

const BASE = () => ["--config", config, "--image", "registry.example.com/dedup-lab:0.1.0"];

/** The YAML documents of a successful command, as plain objects. */
function docs(yamlText: string): Record<string, any>[] {
  const all = parseAllDocuments(yamlText);
  for (const d of all) expect(d.errors).toEqual([]);
  return all.map((d) => d.toJS() as Record<string, any>).filter((d) => d !== null);
}

async function generate(args: string[]): Promise<{ text: string; objects: Record<string, any>[] }> {
  const r = await mainInProcess(["k8s", ...args]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe("");
  return { text: r.stdout, objects: docs(r.stdout) };
}

const allContainers = (job: Record<string, any>): IContainer[] => [...(job.spec.template.spec.initContainers ?? []), ...job.spec.template.spec.containers];

describe("k8s job --bundle-pvc", () => {
  it("writes a ConfigMap and an Indexed Job that pass kubernetes-models' schema validation", async () => {
    const { objects } = await generate(["job", ...BASE(), "--shards", "3", "--namespace", "dedup-study", "--bundle-pvc", "dedup-bundles"]);
    expect(objects.map((o) => o.kind)).toEqual(["ConfigMap", "Job"]);
    const [cm, job] = objects as [Record<string, any>, Record<string, any>];
    // Re-read from the YAML into the typed models: what kubectl would receive validates.
    expect(() => new ConfigMap(cm as ConstructorParameters<typeof ConfigMap>[0]).validate()).not.toThrow();
    expect(() => new Job(job as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();

    expect(cm.metadata.namespace).toBe("dedup-study");
    expect(job.metadata.namespace).toBe("dedup-study");
    expect(cm.data["config.yaml"]).toBe(CONFIG); // the file as written; ${VAR} left for the pod
    expect(job.spec).toMatchObject({ completionMode: "Indexed", completions: 3, parallelism: 3, backoffLimitPerIndex: 2, maxFailedIndexes: 3 });
    expect(job.spec.podFailurePolicy.rules).toEqual([
      { action: "FailIndex", onExitCodes: { containerName: "dedup-lab", operator: "In", values: [2] } },
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    ]);
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    const [c] = pod.containers as IContainer[];
    expect(c!.image).toBe("registry.example.com/dedup-lab:0.1.0");
    expect(c!.resources).toEqual({ requests: { cpu: "2", memory: "4Gi" }, limits: { memory: "4Gi" } });
    expect(pod.volumes).toContainEqual({ name: "bundles", persistentVolumeClaim: { claimName: "dedup-bundles" } });
    expect(pod.volumes).toContainEqual({ name: "config", configMap: { name: cm.metadata.name } });
    expect(c!.volumeMounts).toContainEqual({ name: "config", mountPath: "/etc/dedup-lab/config", readOnly: true });
    expect(c!.volumeMounts).toContainEqual({ name: "bundles", mountPath: "/bundles" });
    const script = c!.command!.join(" ");
    expect(script).toContain("i=$((JOB_COMPLETION_INDEX + 1))");
    expect(script).toContain('--shard "$i/3"');
    expect(script).toContain(`/bundles/${job.metadata.name}/shard-$i-of-3`);
  });

  it("credentials appear only as secretKeyRef references, never as values", async () => {
    const { text, objects } = await generate(["job", ...BASE(), "--shards", "2", "--bundle-pvc", "dedup-bundles", "--secret", "study-creds"]);
    for (const value of Object.values(FAKE_ENV)) expect(text).not.toContain(value);
    const job = objects[1]!;
    const env = allContainers(job).flatMap((c) => c.env ?? []) as IEnvVar[];
    const credentialEnv = env.filter((e) => CREDENTIAL_VARS.includes(e.name));
    // Every variable the config reads (…Env names and ${VAR}), each as a reference to the Secret.
    expect(credentialEnv.map((e) => e.name).sort()).toEqual(CREDENTIAL_VARS);
    for (const e of credentialEnv) {
      expect(e).toEqual({ name: e.name, valueFrom: { secretKeyRef: { name: "study-creds", key: e.name } } });
    }
    // The only literal values are the file name and the scratch directory.
    expect(env.filter((e) => e.value !== undefined).map((e) => e.name).sort()).toEqual(["CONFIG_FILE", "TMPDIR"]);
    expect(configEnvNames({ a: { passwordEnv: "X_PW", userEnv: "not a name" }, b: ["${Y}:${Z}", "$W"] })).toEqual(["X_PW", "Y", "Z"]);
  });

  it("N, --retries-per-index, --max-failed-indexes, --cpu, --memory, --name and --files-secret land where they belong", async () => {
    const { objects } = await generate([
      "job", ...BASE(), "--shards", "5", "--bundle-pvc", "lh-rwx", "--retries-per-index", "4", "--max-failed-indexes", "1",
      "--cpu", "1500m", "--memory", "6Gi", "--name", "study-a", "--files-secret", "lab-ca",
    ]);
    const [cm, job] = objects as [Record<string, any>, Record<string, any>];
    expect(() => new Job(job as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect(job.metadata.name).toBe("study-a");
    expect(cm.metadata.name).toBe("study-a-config");
    expect(job.metadata.namespace).toBeUndefined();
    expect(job.spec).toMatchObject({ completions: 5, parallelism: 5, backoffLimitPerIndex: 4, maxFailedIndexes: 1 });
    const c = job.spec.template.spec.containers[0] as IContainer;
    expect(c.resources).toEqual({ requests: { cpu: "1500m", memory: "6Gi" }, limits: { memory: "6Gi" } });
    expect(job.spec.template.spec.volumes).toContainEqual({ name: "files", secret: { secretName: "lab-ca" } });
    expect(c.volumeMounts).toContainEqual({ name: "files", mountPath: "/etc/dedup-lab/files", readOnly: true });
  });

  it("the default name is stable for the same config and N (re-applying resumes), and differs with N", async () => {
    const name = async (n: string) => (await generate(["job", ...BASE(), "--shards", n, "--bundle-pvc", "b"])).objects[1]!.metadata.name as string;
    const [a, b, c] = [await name("2"), await name("2"), await name("3")];
    expect(a).toMatch(/^dedup-lab-[0-9a-f]{10}$/);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it("merge-job: one pod running `dedup-lab merge` over the N shard bundles into <name>/merged; it validates", async () => {
    const { objects } = await generate(["merge-job", ...BASE(), "--shards", "3", "--namespace", "dedup-study", "--bundle-pvc", "dedup-bundles", "--name", "study-a"]);
    expect(objects).toHaveLength(1);
    const job = objects[0]!;
    expect(() => new Job(job as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect(job.metadata).toMatchObject({ name: "study-a-merge", namespace: "dedup-study" });
    expect(job.spec.completionMode).toBeUndefined();
    const c = job.spec.template.spec.containers[0] as IContainer;
    expect(c.env).toBeUndefined(); // merge reads no credential
    const script = c.command!.join(" ");
    expect(script).toContain(`${IMAGE_ENTRYPOINT.join(" ")} merge "/bundles/study-a/shard-1-of-3" "/bundles/study-a/shard-2-of-3" "/bundles/study-a/shard-3-of-3" --out "/bundles/study-a/merged.partial"`);
    expect(job.spec.template.spec.volumes).toEqual([{ name: "bundles", persistentVolumeClaim: { claimName: "dedup-bundles" } }]);
  });
});

describe("k8s job --bundle-s3", () => {
  it("fetch → run → upload per shard, AWS credentials as secretKeyRefs; the study and merge Jobs validate", async () => {
    const args = [...BASE(), "--shards", "2", "--bundle-s3", "s3://dedup-results/studies/", "--s3-endpoint", "https://minio.example.internal", "--s3-secret", "s3-creds", "--name", "study-s3"];
    const { text, objects } = await generate(["job", ...args]);
    for (const value of Object.values(FAKE_ENV)) expect(text).not.toContain(value);
    const job = objects[1]!;
    expect(() => new Job(job as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    const pod = job.spec.template.spec;
    expect(pod.initContainers.map((c: IContainer) => c.name)).toEqual(["fetch", "dedup-lab"]);
    expect(pod.containers.map((c: IContainer) => c.name)).toEqual(["upload"]);
    expect(pod.volumes).toContainEqual({ name: "bundles", emptyDir: {} });
    expect(job.spec.podFailurePolicy.rules[0].onExitCodes.containerName).toBe("upload"); // it returns the run's status
    const [fetch, run] = pod.initContainers as IContainer[];
    const upload = pod.containers[0] as IContainer;
    expect(fetch!.command!.join(" ")).toContain('aws s3 sync "s3://dedup-results/studies/study-s3/shard-$((JOB_COMPLETION_INDEX + 1))-of-2" "/bundles/study-s3/shard-$((JOB_COMPLETION_INDEX + 1))-of-2"');
    expect(upload.command!.join(" ")).toContain('aws s3 sync "/bundles/study-s3/shard-$((JOB_COMPLETION_INDEX + 1))-of-2" "s3://dedup-results/studies/study-s3/shard-$((JOB_COMPLETION_INDEX + 1))-of-2"');
    expect(run!.command!.join(" ")).toContain('echo "$status" > "$dir.status"');
    for (const c of [fetch!, upload]) {
      expect(c.env).toEqual([
        { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_ACCESS_KEY_ID" } } },
        { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_SECRET_ACCESS_KEY" } } },
        { name: "AWS_ENDPOINT_URL", value: "https://minio.example.internal" },
        { name: "HOME", value: "/tmp" },
      ]);
    }
    const merge = (await generate(["merge-job", ...args])).objects[0]!;
    expect(() => new Job(merge as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect(merge.spec.template.spec.initContainers.map((c: IContainer) => c.name)).toEqual(["fetch", "merge"]);
    expect((merge.spec.template.spec.containers[0] as IContainer).command!.join(" ")).toContain('"s3://dedup-results/studies/study-s3/merged"');
  });
});

/** Runs the pod's script with sh: /bundles → a temp dir, `node` → a stand-in that records its arguments and exits `exit`. */
function runScript(script: string, index: number, root: string, exit = 0) {
  const bin = join(root, "bin");
  mkdirSync(bin, { recursive: true });
  // like merge, the stand-in creates a --out that ends in .partial (the script renames it)
  writeFileSync(join(bin, "node"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${root}/argv"\nfor a; do last=$a; done\ncase "$last" in *.partial) mkdir -p "$last";; esac\nexit ${exit}\n`);
  chmodSync(join(bin, "node"), 0o755);
  const text = script.replaceAll("/bundles/", `${root}/bundles/`);
  const r = spawnSync("/bin/sh", ["-c", text], { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin`, JOB_COMPLETION_INDEX: String(index), CONFIG_FILE: "config.yaml" } });
  const argv = existsSync(join(root, "argv")) ? readFileSync(join(root, "argv"), "utf8").trim().split("\n") : [];
  return { status: r.status, stderr: r.stderr, argv };
}

describe("the shard pod's script (run with sh)", () => {
  it("completion index i runs --shard i+1/N into its own bundle directory", () => {
    for (const index of [0, 1, 3]) {
      const root = temps.make();
      const r = runScript(shardScript("study", 4), index, root);
      expect(r.status, r.stderr).toBe(0);
      expect(r.argv).toEqual([IMAGE_ENTRYPOINT[1], "run", "--config", "/etc/dedup-lab/config/config.yaml", "--shard", `${index + 1}/4`, "--out", `${root}/bundles/study/shard-${index + 1}-of-4`]);
    }
  });

  it("a retried index resumes its existing bundle; a directory without config.json is moved aside", () => {
    const root = temps.make();
    const shard = join(root, "bundles", "study", "shard-2-of-4");
    mkdirSync(shard, { recursive: true });
    writeFileSync(join(shard, "config.json"), "{}");
    const resumed = runScript(shardScript("study", 4), 1, root);
    expect(resumed.argv).toEqual([IMAGE_ENTRYPOINT[1], "run", "--resume", shard]);
    expect(resumed.stderr).toContain("shard 2/4: resuming");

    const root2 = temps.make();
    const cut = join(root2, "bundles", "study", "shard-2-of-4");
    mkdirSync(cut, { recursive: true });
    writeFileSync(join(cut, "journal.jsonl"), "");
    const fresh = runScript(shardScript("study", 4), 1, root2);
    expect(fresh.argv).toContain("--out");
    expect(readdirSync(join(root2, "bundles", "study")).filter((n) => n.startsWith("shard-2-of-4.incomplete-"))).toHaveLength(1);
  });

  it("S3 variant: the run's exit status is kept for the upload container, the script itself succeeds", () => {
    const root = temps.make();
    const r = runScript(shardScript("study", 2, "keep-status"), 0, root, 1);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(root, "bundles", "study", "shard-1-of-2.status"), "utf8")).toBe("1\n");
  });

  it("the merge script refuses an existing merged bundle and merges into a temporary name first", () => {
    const root = temps.make();
    const r = runScript(mergeScript("study", 2), 0, root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.argv).toEqual([IMAGE_ENTRYPOINT[1], "merge", `${root}/bundles/study/shard-1-of-2`, `${root}/bundles/study/shard-2-of-2`, "--out", `${root}/bundles/study/merged.partial`]);
    expect(existsSync(join(root, "bundles", "study", "merged"))).toBe(true);
    expect(existsSync(join(root, "bundles", "study", "merged.partial"))).toBe(false);
    const refused = runScript(mergeScript("study", 2), 0, root);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("already exists — delete it to merge again");
  });
});

describe("bad input: one line naming the problem and the fix, exit 2, nothing written", () => {
  const pvc = ["--bundle-pvc", "dedup-bundles"];
  it.each([
    [["--image", "x:1", "--shards", "2", ...pvc], /--config is required/],
    [["--config", "CONFIG", "--image", "x:1", ...pvc], /--shards is required/],
    [["--config", "CONFIG", "--shards", "2", ...pvc], /--image is required/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "0", ...pvc], /--shards must be a whole number from 1 to 1000 \(got "0"\)/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2.5", ...pvc], /\(got "2\.5"\)/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "999", ...pvc], /--shards 999 is more than the 12 cells of .* — pass at most --shards 12/],
    [["--config", "CONFIG", "--image", "Not An Image", "--shards", "2", ...pvc], /--image "Not An Image" is not a container image reference/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", "--namespace", "Lab_NS", ...pvc], /--namespace "Lab_NS" is not a Kubernetes name/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2"], /no bundle target — pass --bundle-pvc CLAIM/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", ...pvc, "--bundle-s3", "s3://b/p"], /--bundle-pvc and --bundle-s3 both name a bundle target/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", "--bundle-s3", "https://bucket/p"], /--bundle-s3 "https:\/\/bucket\/p" is not an S3 URL/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", ...pvc, "--cpu", "lots"], /--cpu "lots" is not a positive Kubernetes quantity/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", ...pvc, "--retries-per-index", "-1"], /--retries-per-index must be a whole number from 0 to 10/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", ...pvc, "--max-failed-indexes", "3"], /--max-failed-indexes 3 is more than --shards 2/],
    [["--config", "CONFIG", "--image", "x:1", "--shards", "2", ...pvc, "--bogus"], /unknown option '--bogus'/],
  ])("k8s job %j", async (args, pattern) => {
    const out = join(temps.make(), "study.yaml");
    const r = await mainInProcess(["k8s", "job", ...args.map((a) => (a === "CONFIG" ? config : a)), "--out", out]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^dedup-lab: [^\n]+ — [^\n]+\n$/);
    expect(r.stderr).toMatch(pattern);
    expect(r.stdout).toBe("");
    expect(existsSync(out)).toBe(false);
  });

  it("a bad config is refused by the runner's loader before any manifest exists", async () => {
    const d = temps.make();
    const bad = join(d, "bad.yaml");
    writeFileSync(bad, "matrix: { systems: [sqlite], stages: [bulk_insert], bogus: 1 }\n");
    const out = join(d, "study.yaml");
    const r = await mainInProcess(["k8s", "job", "--config", bad, "--image", "x:1", "--shards", "1", "--bundle-pvc", "b", "--out", out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^dedup-lab: config .*bad\.yaml matrix: Unrecognized key.*"bogus".* — [^\n]+\n$/);
    expect(existsSync(out)).toBe(false);
    const unset = join(d, "unset.yaml");
    writeFileSync(unset, "matrix: { systems: [postgres] }\nsystems: { postgres: { options: { host: '${DEDUP_K8S_SURELY_UNSET}', user: u, passwordEnv: P } } }\n");
    const r2 = await mainInProcess(["k8s", "merge-job", "--config", unset, "--image", "x:1", "--shards", "1", "--bundle-pvc", "b"]);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/environment variable DEDUP_K8S_SURELY_UNSET is not set — /);
  });
});

describe("end to end: the built CLI (dist) writes the file", () => {
  it("k8s job --out FILE and k8s merge-job: multi-document YAML that validates", () => {
    const out = join(temps.make(), "study.yaml");
    const r = cli(["k8s", "job", ...BASE(), "--shards", "2", "--namespace", "lab", "--bundle-pvc", "dedup-bundles", "--out", out], { env: FAKE_ENV });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`wrote ${out}\n`);
    const text = readFileSync(out, "utf8");
    expect(text).toMatch(/^# dedup-lab study dedup-lab-[0-9a-f]{10}: 2 shards of /);
    for (const value of Object.values(FAKE_ENV)) expect(text).not.toContain(value);
    const [cm, job] = docs(text);
    expect(() => new ConfigMap(cm as ConstructorParameters<typeof ConfigMap>[0]).validate()).not.toThrow();
    expect(() => new Job(job as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    const merge = cli(["k8s", "merge-job", ...BASE(), "--shards", "2", "--namespace", "lab", "--bundle-pvc", "dedup-bundles"], { env: FAKE_ENV });
    expect(merge.status, merge.stderr).toBe(0);
    const [m] = docs(merge.stdout);
    expect(m!.metadata.name).toBe(`${job!.metadata.name}-merge`);
    expect(() => new Job(m as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    const bad = cli(["k8s", "job", ...BASE(), "--shards", "x", "--bundle-pvc", "b"], { env: FAKE_ENV });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('dedup-lab: --shards must be a whole number from 1 to 1000 (got "x") — pass --shards 4\n');
  });
});

describe("end to end: the Jobs' own scripts with the real CLI (dist), /bundles and the ConfigMap mapped to temp dirs", () => {
  it("two indexes run their shards, a retried index resumes, the merge Job's script merges them into one complete bundle", () => {
    const root = temps.make();
    const cfgDir = join(root, "config");
    mkdirSync(cfgDir);
    writeFileSync(join(cfgDir, "config.yaml"), "matrix: { systems: [sqlite], payloads: [random_binary], grades: [U0, U90], stages: [bulk_insert] }\ndataset: { units: 20 }\n");
    const flags = ["--config", join(cfgDir, "config.yaml"), "--shards", "2", "--image", "x:1", "--bundle-pvc", "b", "--name", "sim"];
    const job = cli(["k8s", "job", ...flags]);
    const merge = cli(["k8s", "merge-job", ...flags]);
    expect(job.status, job.stderr).toBe(0);
    expect(merge.status, merge.stderr).toBe(0);
    const local = (s: string) => s.replaceAll("/bundles/", `${root}/bundles/`).replaceAll(CONFIG_DIR, cfgDir).replaceAll(IMAGE_ENTRYPOINT.join(" "), `${process.execPath} ${join(ROOT, "bin", "dedup-lab.js")}`);
    const shard = local((docs(job.stdout)[1]!.spec.template.spec.containers[0] as IContainer).command![2]!);
    const merger = local((docs(merge.stdout)[0]!.spec.template.spec.containers[0] as IContainer).command![2]!);
    const sh = (script: string, index: number) =>
      spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", timeout: 300_000, env: { ...process.env, JOB_COMPLETION_INDEX: String(index), CONFIG_FILE: "config.yaml", TMPDIR: root } });
    for (const index of [0, 1]) {
      const r = sh(shard, index);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`shard ${index + 1}/2: new bundle`);
    }
    const retried = sh(shard, 0);
    expect(retried.status, retried.stderr).toBe(0);
    expect(retried.stderr).toContain("shard 1/2: resuming");
    expect(retried.stderr).toContain("(1 already done)"); // the finished cell is kept, nothing re-runs
    const m = sh(merger, 0);
    expect(m.status, m.stderr).toBe(0);
    const merged = join(root, "bundles", "sim", "merged");
    const meta = JSON.parse(readFileSync(join(merged, "bundle.json"), "utf8")) as { status: string };
    expect(meta.status).toBe("complete");
    expect(readdirSync(join(merged, "cells"))).toHaveLength(2);
    expect(existsSync(`${merged}.partial`)).toBe(false);
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

  it("its entry point is the image entry point the Job runs, and package.json's bin", () => {
    const m = /^ENTRYPOINT (.+)$/m.exec(dockerfile);
    expect(JSON.parse(m![1]!)).toEqual([...IMAGE_ENTRYPOINT]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string>; dependencies: Record<string, string> };
    expect(`/app/${pkg.bin["dedup-lab"]}`).toBe(IMAGE_ENTRYPOINT[1]);
    expect(pkg.dependencies["kubernetes-models"]).toMatch(/^\d+\.\d+\.\d+$/); // pinned exactly
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(20|22)-[a-z]+-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci$/m);
    expect(dockerfile).toMatch(/^RUN npm run build/m);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it("every file it copies from the build context exists and is not excluded by .dockerignore", () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThanOrEqual(8);
    for (const s of sources) {
      expect(existsSync(join(ROOT, s)), s).toBe(true);
      expect(ignore, s).not.toContain(s);
    }
    // Local state and credentials never enter the image.
    for (const p of [".services", "node_modules", "dist", "results", ".git"]) expect(ignore).toContain(p);
  });
});
