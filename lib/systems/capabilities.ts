// Declared capabilities, the same way for every system: all four stages and both
// self-reported layers unless the system says otherwise, and the embedded flag from its
// registry line (the one place it is written down).
import { STAGES, type Capabilities, type SizeLayer, type Stage } from "./contract.js";
import { isEmbedded } from "./registry.js";

export interface DeclaredCapabilities {
  variants: Record<string, string>;
  maintenance: Record<string, string>;
  layers?: SizeLayer[];
  stages?: Stage[];
  appReplicas?: number;
}

export function declareCapabilities(system: string, c: DeclaredCapabilities): Capabilities {
  return {
    variants: c.variants,
    maintenance: c.maintenance,
    layers: c.layers ?? ["L1", "L2"],
    stages: c.stages ?? [...STAGES],
    embedded: isEmbedded(system),
    ...(c.appReplicas === undefined ? {} : { appReplicas: c.appReplicas }),
  };
}
