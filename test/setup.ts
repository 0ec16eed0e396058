// Every connector loaded up front, so tests may call resolveConfig() synchronously.
import { loadSystems } from "../lib/systems/registry.js";

await loadSystems();
