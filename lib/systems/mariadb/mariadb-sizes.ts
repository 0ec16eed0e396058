// Size readings and the snapshot of one cell's InnoDB tables.
//
// L1 primary = data_length + index_length after ANALYZE TABLE — InnoDB's own count of the
// table's B-tree pages (incl. off-page BLOB pages), i.e. live data before page compression
// punches holes. (Σ LENGTH(payload) would only repeat the manifest's L0 at the cost of
// reading every BLOB.) With ROW_FORMAT=COMPRESSED the pages themselves are compressed, so
// there L1 already includes table compression (recorded as reason). L2 primary = Σ
// ALLOCATED_SIZE of the cell's tablespaces (blocks really allocated, which is where
// PAGE_COMPRESSED shows), next to FILE_SIZE and data_free.
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "../../errors.js";
import type { SizeReading } from "../contract.js";
import type { MariadbConnection } from "./mariadb-connection.js";
import {
  SERVER_VARIABLES, STATUS_COUNTERS, dirtyPagesSql, globalStatusSql, globalVariablesSql, tableStatsSql, tableStatusSql, tablespacesSql,
} from "./mariadb-sql.js";

type Row = Record<string, unknown>;

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** One cell's tables as the size readers need them. */
export interface MariadbCellTables {
  db: string;
  tables: string[];
  variant: string | undefined;
  /** innodb_max_dirty_pages_pct_lwm > 0: the page cleaner flushes an idle server's dirty pages. */
  idleFlushing: boolean;
  flushWaitMs: number;
}

/** Wait until none of the cell's pages are dirty, so ALLOCATED_SIZE reflects written pages.
 *  Without idle flushing that never happens by itself: look once and report. */
async function waitForFlush(conn: MariadbConnection, x: MariadbCellTables, spaces: number[]): Promise<number> {
  if (spaces.length === 0) return 0;
  const deadline = Date.now() + (x.idleFlushing ? x.flushWaitMs : 0);
  for (;;) {
    const [row] = await conn.query<{ dirty: string }>(dirtyPagesSql(spaces), "count dirty pages");
    const dirty = Number(row!.dirty);
    if (dirty === 0 || Date.now() >= deadline) return dirty;
    await sleep(200);
  }
}

export async function readMariadbSizes(conn: MariadbConnection, x: MariadbCellTables): Promise<SizeReading[]> {
  await conn.tableMaintenance("ANALYZE", x.db, x.tables);
  const stats = await conn.query<Row>(tableStatsSql(x.db, x.tables), "read information_schema.TABLES");
  let spaces: Row[] | null = null;
  let spaceProblem = "";
  try {
    spaces = await conn.query<Row>(tablespacesSql(x.db, x.tables), "read INNODB_SYS_TABLESPACES");
  } catch (e) {
    spaceProblem = `INNODB_SYS_TABLESPACES unreadable (the lab user needs the global PROCESS privilege): ${errorMessage(e)}`;
  }
  if (spaces) {
    const unflushedPages = await waitForFlush(conn, x, spaces.map((s) => Number(s.space)));
    if (unflushedPages > 0) {
      spaceProblem = x.idleFlushing
        ? `${unflushedPages} pages of the cell's tables still dirty after ${x.flushWaitMs} ms: ALLOCATED_SIZE may lag`
        : `${unflushedPages} pages of the cell's tables are dirty and innodb_max_dirty_pages_pct_lwm=0 (no idle flushing): ALLOCATED_SIZE lags until the server flushes them`;
    }
    spaces = await conn.query<Row>(tablespacesSql(x.db, x.tables), "read INNODB_SYS_TABLESPACES");
    if (spaces.length !== x.tables.length) {
      spaceProblem = `${spaces.length} of ${x.tables.length} tablespaces found (innodb_file_per_table off?)`;
    }
  }

  const sum = (rows: Row[] | null, col: string, expected: number): number | null => {
    if (!rows || rows.length !== expected) return null;
    let total = 0;
    for (const r of rows) {
      const v = num(r[col]);
      if (v === null) return null;
      total += v;
    }
    return total;
  };
  const n = x.tables.length;
  const statsReason = stats.length === n ? undefined : `${stats.length} of ${n} tables in information_schema.TABLES`;
  const l1Reason =
    statsReason ?? (x.variant === "row_compressed" ? "ROW_FORMAT=COMPRESSED: data_length counts compressed pages, so L1 already includes table compression" : undefined);
  const data = sum(stats, "data_length", n);
  const index = sum(stats, "index_length", n);
  const l2 = (metric: string, bytes: number | null, primary = false): SizeReading => ({
    layer: "L2",
    metric,
    bytes,
    ...(primary ? { primary } : {}),
    ...(spaceProblem ? { reason: spaceProblem } : {}),
  });
  const l1 = (metric: string, bytes: number | null, primary = false): SizeReading => ({
    layer: "L1",
    metric,
    bytes,
    ...(primary ? { primary } : {}),
    ...(l1Reason ? { reason: l1Reason } : {}),
  });
  return [
    l1("data_plus_index_length", data === null || index === null ? null : data + index, true),
    l1("data_length", data),
    l1("index_length", index),
    l2("allocated_size", sum(spaces, "allocated_size", n), true),
    l2("file_size", sum(spaces, "file_size", n)),
    { layer: "L2", metric: "data_free", bytes: sum(stats, "data_free", n), ...(statsReason ? { reason: statsReason } : {}) },
  ];
}

export async function readMariadbSnapshot(conn: MariadbConnection, x: MariadbCellTables & { tableOptions: string; tablePrefix: string }): Promise<unknown> {
  const pairs = (rows: Row[]): Record<string, string> => Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
  const unavailable = (e: unknown) => ({ unavailable: errorMessage(e) });
  const tablespaces = await conn.query(tablespacesSql(x.db, x.tables), "read INNODB_SYS_TABLESPACES").catch(unavailable);
  const spaces = Array.isArray(tablespaces) ? tablespaces.map((s) => Number(s.space)) : [];
  return {
    variant: x.variant,
    table_options: x.tableOptions,
    variables: pairs(await conn.query(globalVariablesSql(SERVER_VARIABLES), "SHOW GLOBAL VARIABLES")),
    global_status: pairs(await conn.query(globalStatusSql(STATUS_COUNTERS), "SHOW GLOBAL STATUS")),
    table_status: await conn.query(tableStatusSql(x.db, x.tablePrefix), "SHOW TABLE STATUS"),
    tablespaces,
    dirty_pages: spaces.length ? Number((await conn.query(dirtyPagesSql(spaces), "count dirty pages"))[0]!.dirty) : null,
    innodb_cmp: await conn.query("SELECT * FROM information_schema.INNODB_CMP", "read INNODB_CMP").catch(unavailable),
  };
}
