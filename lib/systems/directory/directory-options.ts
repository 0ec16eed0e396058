// The directory block of the config, what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { directoryEndpoint } from "./directory-connection.js";
import { DirectorySystem } from "./directory-system.js";
import { DIRECTORY_TYPED_MAPPING } from "./directory-typed.js";

const options = z
  .object({
    /** Where lab directories are created; default: the cell's work directory. */
    root: z.string().optional(),
  })
  .strict();
export type DirectoryOptions = z.infer<typeof options>;

const capabilities = {
  ...declareCapabilities("directory", {
    variants: { default: "one file per unit, written with write() + close()", fsync: "fsync every file before close" },
    maintenance: { sync: "fsync every file and directory" },
  }),
  typed: { collision: "replaced" as const, mapping: DIRECTORY_TYPED_MAPPING },
};

export const directoryDefinition: SystemDefinition<DirectoryOptions> = {
  name: "directory",
  description: "one file per unit in a lab directory: the storage-layer baseline",
  capabilities,
  options,
  endpoint: (o) => directoryEndpoint(o.root),
  create: (o, lab) => new DirectorySystem(lab, o, capabilities),
};
