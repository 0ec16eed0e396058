// The directory block of the config, what the connector can do, and its definition for the registry.
import { z } from "zod";
import type { Capabilities, SystemDefinition } from "../contract.js";
import { isEmbedded } from "../registry.js";
import { directoryEndpoint } from "./directory-connection.js";
import { DirectorySystem } from "./directory-system.js";

const options = z
  .object({
    /** Where lab directories are created; default: the cell's work directory. */
    root: z.string().optional(),
  })
  .strict();
export type DirectoryOptions = z.infer<typeof options>;

const capabilities = {
  variants: { default: "one file per unit, written with write() + close()", fsync: "fsync every file before close" },
  maintenance: { sync: "fsync every file and directory" },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: isEmbedded("directory"),
} satisfies Capabilities;

export const directoryDefinition: SystemDefinition<DirectoryOptions> = {
  name: "directory",
  description: "one file per unit in a lab directory: the storage-layer baseline",
  capabilities,
  options,
  endpoint: (o) => directoryEndpoint(o.root),
  create: (o, lab) => new DirectorySystem(lab, o, capabilities),
};
