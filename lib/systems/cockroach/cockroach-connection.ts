// CockroachDB speaks the PostgreSQL wire protocol: the connection is postgres' own
// (PgConnection, client settings, TLS, error wording), as Kysely's cockroach dialect reuses
// the postgres driver. What differs is only how CockroachDB-only statements are run.
import type pg from "pg";
import { isConnectionLost, wireError, type WireOptions } from "../postgres/postgres-connection.js";

export { PgConnection, endpointOf, isConnectionLost, wireError, type WireOptions } from "../postgres/postgres-connection.js";

type Row = Record<string, unknown>;

/** Rows of a CockroachDB-only query, or why there are none. */
export interface CrdbAnswer {
  rows?: Row[];
  reason?: string;
}

/** Runs a CockroachDB-only query; on another server, or on any failure but a lost connection, a reason instead. */
export async function tryCrdb(c: pg.Client, o: WireOptions, notCrdb: string | null, sql: string, params: unknown[] = []): Promise<CrdbAnswer> {
  if (notCrdb !== null) return { reason: notCrdb };
  try {
    return { rows: (await c.query(sql, params)).rows as Row[] };
  } catch (e) {
    if (isConnectionLost(e)) throw e;
    return { reason: wireError("cockroach", o, "", e).message };
  }
}
