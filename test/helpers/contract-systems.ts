// Where the contract test finds each registered system: its validated options (for servers,
// from examples/local-services.yaml with the endpoints and credentials of .services/env — the
// runner's own path), the variant and maintenance that file runs, the scripts/services.sh
// service behind it, and the inventory its namespace audit lists. A system added to the
// registry without a line here fails the contract test by name.
import { join } from "node:path";
import { readConfigFile, resolveConfig } from "../../lib/runner/config.js";
import { systemDefinition } from "../../lib/systems/registry.js";
import type { LabNamespace } from "../../lib/systems/namespace.js";
import {
  clickhouseInventory, kafkaInventory, mariadbInventory, minioInventory, postgresInventory, redisInventory, workDirInventory, type Inventory,
} from "./contract-audit.js";
import { ROOT, loadServicesEnv } from "./services-env.js";

export interface ContractTarget {
  name: string;
  embedded: boolean;
  /** `scripts/services.sh` service of a server system. */
  service?: string;
  /** Validated connector options. */
  options: unknown;
  variant: string;
  maintenance: string;
  /** The audit's view of where this system creates objects (embedded: the cell's work directory). */
  inventory(lab: LabNamespace, workDir: string): Inventory;
}

const SERVERS: Record<string, { service: string; inventory(lab: LabNamespace): Inventory }> = {
  postgres: { service: "postgres", inventory: (lab) => postgresInventory(process.env.DEDUP_PG_ADMIN_URL!, lab) },
  cockroach: { service: "postgres-tls", inventory: (lab) => postgresInventory(process.env.DEDUP_PGTLS_ADMIN_URL!, lab) },
  mariadb: { service: "mariadb", inventory: mariadbInventory },
  clickhouse: { service: "clickhouse", inventory: clickhouseInventory },
  redis: { service: "redis", inventory: redisInventory },
  kafka: { service: "kafka", inventory: kafkaInventory },
  minio: { service: "minio", inventory: minioInventory },
};

/** The `scripts/services.sh` service a system needs, or undefined for an embedded one. */
export function contractService(name: string): string | undefined {
  return systemDefinition(name).capabilities.embedded ? undefined : SERVERS[name]?.service;
}

export const LOCAL_SERVICES_CONFIG = join(ROOT, "examples/local-services.yaml");

/** The contract-test target of a registered system (connectors must be loaded: test/setup.ts does). */
export function contractTarget(name: string): ContractTarget {
  const def = systemDefinition(name);
  if (def.capabilities.embedded) {
    const options = def.options.parse({});
    return {
      name, embedded: true, options,
      variant: Object.keys(def.capabilities.variants)[0]!,
      maintenance: Object.keys(def.capabilities.maintenance)[0]!,
      inventory: (lab, workDir) => workDirInventory(workDir, lab),
    };
  }
  const server = SERVERS[name];
  if (!server) throw new Error(`no contract target for server system "${name}" — add its service and inventory to test/helpers/contract-systems.ts`);
  loadServicesEnv();
  const cfg = resolveConfig(readConfigFile(LOCAL_SERVICES_CONFIG), { systems: [name] }, `config ${LOCAL_SERVICES_CONFIG}`);
  const plan = cfg.systems[0]!;
  return {
    name, embedded: false, service: server.service, options: plan.options,
    variant: plan.variants[0]!, maintenance: plan.maintenance,
    inventory: (lab) => server.inventory(lab),
  };
}
