// Row objects ⇄ Arrow IPC files, with explicit column types (no inference surprises).
import { Table, tableFromIPC, tableToIPC, vectorFromArray, RecordBatch } from "apache-arrow";
import { readFile, rename, writeFile } from "node:fs/promises";
import { UsageError } from "../errors.js";
import { BUNDLE_SCHEMA_VERSION, SCHEMA_METADATA_KEY, schemaOf, type TableSpec } from "./schema.js";

export function rowsToTable<R>(spec: TableSpec<R>, rows: R[]): Table {
  const schema = schemaOf(spec);
  const columns: Record<string, ReturnType<typeof vectorFromArray>> = {};
  for (const field of schema.fields) {
    const values = rows.map((r) => {
      const v = (r as Record<string, unknown>)[field.name];
      return v === undefined ? null : v;
    });
    columns[field.name] = vectorFromArray(values as never[], field.type);
  }
  const table = new Table(columns);
  return new Table(schema, table.batches.map((b) => new RecordBatch(schema, b.data)));
}

/** Write atomically: readers never see half a file. */
export async function writeArrowFile<R>(path: string, spec: TableSpec<R>, rows: R[]): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, tableToIPC(rowsToTable(spec, rows), "file"));
  await rename(tmp, path);
}

export async function readArrowFile(path: string): Promise<Table> {
  const bytes = await readFile(path);
  // An Arrow IPC file starts and ends with "ARROW1": say which end is missing, not the reader's internals.
  const magic = Buffer.from("ARROW1");
  const damaged = (why: string) =>
    new UsageError(`${path} is ${why}`, "restore it, or remove the bundle's results.arrow so report rebuilds every table from its cells/");
  if (bytes.length === 0) throw damaged("empty");
  if (!bytes.subarray(0, 6).equals(magic)) throw damaged("not an Arrow file (no ARROW1 header)");
  if (!bytes.subarray(-6).equals(magic)) throw damaged(`cut short (${bytes.length} B, no Arrow footer)`);
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch {
    throw damaged("damaged (its Arrow footer or record batches do not parse)");
  }
  const version = table.schema.metadata.get(SCHEMA_METADATA_KEY);
  if (version !== BUNDLE_SCHEMA_VERSION) {
    throw new UsageError(
      `${path} has bundle schema ${version ?? "none"}, this dedup-lab reads schema ${BUNDLE_SCHEMA_VERSION}`,
      "re-run the experiment or use the dedup-lab version that wrote it",
    );
  }
  return table;
}

/** Plain row objects (Int64 → number, timestamps as epoch ms). */
export function tableRows<R>(table: Table): R[] {
  return table.toArray().map((r) => r.toJSON() as R);
}
