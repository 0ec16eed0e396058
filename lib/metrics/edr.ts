// Effective Data Reduction, with the definitions stated once:
//   EDR_cluster = B_logical / ΔB_physical,cluster
//   EDR_replica = B_logical / (ΔB_physical,cluster / R)
// B_logical: payload bytes the client wrote in the phase, duplicates included (manifest).
// ΔB_physical,cluster: growth of storage-physical bytes (L3) summed over every volume and
// every storage replica. R = application replicas × storage replicas (1 for embedded).
// Undefined cases are null with a reason, never 0.

export interface EdrResult {
  cluster: number | null;
  replica: number | null;
  reason: string;
}

export function edr(logicalBytes: number, deltaPhysical: number | null, replicationFactor: number): EdrResult {
  if (deltaPhysical === null) return { cluster: null, replica: null, reason: "no storage-physical (L3) reading" };
  if (logicalBytes <= 0) return { cluster: null, replica: null, reason: "no logical bytes written in this phase" };
  if (deltaPhysical <= 0) {
    return { cluster: null, replica: null, reason: `physical delta ${deltaPhysical} B ≤ 0 (reused or untrimmed volume?)` };
  }
  const cluster = logicalBytes / deltaPhysical;
  return { cluster, replica: cluster * replicationFactor, reason: "" };
}

/** Ratio of bytes written to growth of one size layer: where reduction (or inflation) happens. */
export function reductionRatio(logicalBytes: number, delta: number | null): { value: number | null; reason: string } {
  if (delta === null) return { value: null, reason: "layer not available" };
  if (logicalBytes <= 0) return { value: null, reason: "no logical bytes written" };
  if (delta <= 0) return { value: null, reason: `delta ${delta} B ≤ 0` };
  return { value: logicalBytes / delta, reason: "" };
}
