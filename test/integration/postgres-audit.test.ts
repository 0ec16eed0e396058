// Audit: with log_statement=all on both local PostgreSQL servers, run every variant and
// maintenance of the postgres and cockroach connectors through the contract, then read the
// server log and prove that every DDL/DML statement of the lab role touched only the lab
// namespace, and that objects created outside it beforehand are untouched.
import { openSync, readSync, readFileSync, statSync, closeSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import type { SystemDefinition } from "../../lib/systems/contract.js";
import { cockroachDefinition } from "../../lib/systems/cockroach/cockroach-options.js";
import { postgresDefinition } from "../../lib/systems/postgres/postgres-options.js";
import { runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();

interface Logged {
  user: string;
  text: string;
}

/** Statements from a log written with log_line_prefix '%m [%p] user=%u db=%d ' (continuation lines joined). */
function parseStatementLog(log: string): Logged[] {
  const out: Logged[] = [];
  let inStatement = false;
  for (const line of log.split("\n")) {
    const m = /^\d{4}-\d\d-\d\d \S+ \S+ \[\d+\] user=(\S*) db=\S* [A-Z]+:\s+(statement|execute [^:]+): (.*)$/.exec(line);
    if (m) {
      out.push({ user: m[1]!, text: m[3]! });
      inStatement = true;
    } else if (/^\d{4}-\d\d-\d\d /.test(line)) {
      inStatement = false;
    } else if (inStatement && out.length > 0) {
      out[out.length - 1]!.text += "\n" + line;
    }
  }
  return out;
}

const NAME = String.raw`((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))*)`;
/** Where the object a DDL/DML statement changes is named; [pattern, the name is the namespace itself]. */
const TARGETS: [RegExp, boolean][] = [
  [new RegExp(String.raw`^(?:CREATE|DROP) (?:SCHEMA|DATABASE) (?:IF (?:NOT )?EXISTS )?${NAME}`, "i"), true],
  [new RegExp(String.raw`^ALTER DATABASE ${NAME} CONFIGURE ZONE`, "i"), true],
  [new RegExp(String.raw`^CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?(?:"[^"]+"|[\w$]+) ON ${NAME}`, "i"), false],
  [new RegExp(String.raw`^(?:CREATE|DROP|ALTER|TRUNCATE) TABLE (?:IF (?:NOT )?EXISTS )?${NAME}`, "i"), false],
  [new RegExp(String.raw`^(?:INSERT INTO|DELETE FROM|UPDATE|COPY|REINDEX TABLE|ANALYZE) ${NAME}`, "i"), false],
  [new RegExp(String.raw`^VACUUM (?:\([^)]*\) )?(?:FULL )?${NAME}`, "i"), false],
];
const READ_ONLY = /^(SELECT|SHOW|SET|BEGIN|COMMIT|ROLLBACK|CHECKPOINT)\b/i;

const firstPart = (name: string) => name.split(".")[0]!.replace(/"/g, "");

/** Why a statement of the lab role is not allowed, or null. */
function auditProblem(text: string, labName: string): string | null {
  const s = text.trim();
  if (/keep_me/i.test(s)) return "mentions an object outside the lab";
  if (READ_ONLY.test(s)) return null;
  for (const [re, isNamespace] of TARGETS) {
    const m = re.exec(s);
    if (!m) continue;
    const name = m[1]!;
    if (isNamespace) return name.replace(/"/g, "") === labName ? null : `changes ${name}, outside "${labName}"`;
    if (firstPart(name) !== labName) return `changes ${name}, outside "${labName}"`;
    // Any other qualified name in the statement must be in the lab namespace too.
    for (const q of s.matchAll(/((?:"[^"]+"|[a-z_][\w$]*)\.(?:"[^"]+"|[a-z_][\w$]*))/gi)) {
      if (firstPart(q[1]!) !== labName) return `references ${q[1]}, outside "${labName}"`;
    }
    return null;
  }
  return "DDL/DML of a kind the audit does not know";
}

function readFrom(file: string, offset: number): string {
  const size = statSync(file).size;
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
  return buf.toString("utf8");
}

describe("audit parser", () => {
  it("accepts lab statements and flags everything else", () => {
    const ok = [
      'CREATE SCHEMA "dedup_lab"', 'DROP SCHEMA IF EXISTS "dedup_lab" CASCADE', 'DROP DATABASE IF EXISTS "dedup_lab" CASCADE',
      'CREATE INDEX "units_c0_sha256" ON "dedup_lab"."units_c0" USING btree (sha256) WITH (deduplicate_items = on)',
      'VACUUM (ANALYZE) "dedup_lab"."units_c1"', 'VACUUM FULL "dedup_lab"."units_c0"', 'COPY "dedup_lab"."units_c0" (id) FROM STDIN WITH (FORMAT binary)',
      'INSERT INTO "dedup_lab"."public"."units_c0" (id, size, sha256, payload) VALUES ($1, $2, $3, $4)', "SELECT * FROM pg_stat_user_tables", "CHECKPOINT",
      'ALTER DATABASE "dedup_lab" CONFIGURE ZONE USING gc.ttlseconds = 60',
    ];
    for (const s of ok) expect(auditProblem(s, "dedup_lab"), s).toBeNull();
    const bad = [
      "DROP SCHEMA public CASCADE", "DROP TABLE units_c0", 'DELETE FROM "public"."units_c0" WHERE id = $1', "VACUUM FULL",
      "VACUUM", "GRANT ALL ON SCHEMA public TO dedup_lab", "SELECT * FROM public.keep_me", 'CREATE INDEX i ON public.t (x)',
      'INSERT INTO "dedup_lab"."t" SELECT * FROM public.other', "TRUNCATE TABLE public.keep",
    ];
    for (const s of bad) expect(auditProblem(s, "dedup_lab"), s).not.toBeNull();
  });

  it("joins continuation lines and keeps the user", () => {
    const log = [
      "2026-01-01 00:00:00.000 UTC [1] user=dedup_lab db=appdb LOG:  statement: SELECT 1",
      "2026-01-01 00:00:00.000 UTC [1] user=dedup_lab db=appdb LOG:  execute dedup_lab_ins_c0: INSERT INTO x",
      "  VALUES (1)",
      "2026-01-01 00:00:00.000 UTC [2] user=postgres db=appdb LOG:  statement: DROP TABLE public.keep_me",
      "2026-01-01 00:00:00.000 UTC [2] user=postgres db=appdb ERROR:  boom",
    ].join("\n");
    expect(parseStatementLog(log)).toEqual([
      { user: "dedup_lab", text: "SELECT 1" },
      { user: "dedup_lab", text: "INSERT INTO x\n  VALUES (1)" },
      { user: "postgres", text: "DROP TABLE public.keep_me" },
    ]);
  });
});

const servers: { name: string; env: string; def: SystemDefinition<any>; options: () => unknown }[] = [
  {
    name: "postgres connector on PostgreSQL", env: "DEDUP_PG", def: postgresDefinition,
    options: () => ({ host: process.env.DEDUP_PG_HOST, port: process.env.DEDUP_PG_PORT, database: process.env.DEDUP_PG_DATABASE, user: process.env.DEDUP_PG_USER, passwordEnv: "DEDUP_PG_PASSWORD" }),
  },
  {
    name: "cockroach connector on the TLS PostgreSQL stand-in", env: "DEDUP_PGTLS", def: cockroachDefinition,
    options: () => ({
      host: process.env.DEDUP_PGTLS_HOST, port: process.env.DEDUP_PGTLS_PORT, database: process.env.DEDUP_PGTLS_DATABASE, user: process.env.DEDUP_PGTLS_USER,
      passwordEnv: "DEDUP_PGTLS_PASSWORD", ssl: { mode: "verify-full", caFile: process.env.DEDUP_PGTLS_CA_FILE, serverName: process.env.DEDUP_PGTLS_SERVER_NAME },
    }),
  },
];

beforeAll(() => {
  loadServicesEnv();
});

for (const server of servers) {
  describe(`audit: ${server.name}`, () => {
    let admin: pg.Client;
    beforeAll(async () => {
      admin = new pg.Client({ connectionString: process.env[`${server.env}_ADMIN_URL`] });
      await admin.connect();
      // Objects outside the lab namespace, one of them named exactly like a lab table.
      await admin.query("DROP TABLE IF EXISTS public.keep_me, public.units_c0");
      await admin.query("CREATE TABLE public.keep_me (id int PRIMARY KEY, note text NOT NULL)");
      await admin.query("INSERT INTO public.keep_me VALUES (1, 'production row')");
      await admin.query("CREATE TABLE public.units_c0 (id text PRIMARY KEY)");
      await admin.query("INSERT INTO public.units_c0 VALUES ('not a lab row')");
    });
    afterAll(async () => {
      await admin?.query("DROP TABLE IF EXISTS public.keep_me, public.units_c0");
      await admin?.end();
    });

    it("every DDL/DML of the lab role touched only the lab namespace; outside objects are intact", async () => {
      const logFile = process.env[`${server.env}_LOG`]!;
      const start = statSync(logFile).size;
      const opts = server.def.options.parse(server.options());
      for (const variant of Object.keys(server.def.capabilities.variants)) {
        for (const maintenance of Object.keys(server.def.capabilities.maintenance)) {
          const ds = smallDataset({ units: 12, size: { min: 4096, max: 4096 }, placement: "across", containers: 2 });
          await runCellThrough(server.def.create(opts, lab), { variant, maintenance, dataset: ds });
        }
      }
      const again = server.def.create(opts, lab);
      await again.connect();
      await again.cleanup(); // idempotent
      await again.close();

      const statements = parseStatementLog(readFrom(logFile, start)).filter((s) => s.user === process.env[`${server.env}_USER`]);
      const changes = statements.filter((s) => !READ_ONLY.test(s.text.trim()));
      expect(changes.length).toBeGreaterThan(50);
      expect(changes.some((s) => /^(COPY|INSERT)/.test(s.text))).toBe(true);
      expect(changes.some((s) => /^DELETE/.test(s.text))).toBe(true);
      const problems = statements.map((s) => [s.text, auditProblem(s.text, lab.sqlName)]).filter(([, p]) => p !== null);
      expect(problems).toEqual([]);

      expect((await admin.query("SELECT id, note FROM public.keep_me")).rows).toEqual([{ id: 1, note: "production row" }]);
      expect((await admin.query("SELECT id FROM public.units_c0")).rows).toEqual([{ id: "not a lab row" }]);
      expect((await admin.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [lab.sqlName])).rowCount).toBe(0);
    });

    it("the server log never holds a password", () => {
      const log = readFileSync(process.env[`${server.env}_LOG`]!, "utf8");
      expect(log).not.toContain(process.env[`${server.env}_PASSWORD`]);
      expect(log).not.toContain(process.env[`${server.env}_ADMIN_PASSWORD`]);
    });
  });
}
