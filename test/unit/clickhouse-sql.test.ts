import { describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { parseServerError } from "../../lib/systems/clickhouse/clickhouse-connection.js";
import { rowHeader } from "../../lib/systems/clickhouse/clickhouse-rowbinary.js";
import {
  createTableSql,
  deleteSql,
  ident,
  insertRowBinarySql,
  literal,
  partTotalsSql,
  pendingMutationsSql,
  versionAtLeast,
} from "../../lib/systems/clickhouse/clickhouse-sql.js";
import { clickhouseDefinition } from "../../lib/systems/clickhouse/clickhouse-options.js";

describe("clickhouse SQL", () => {
  it("quotes only lab-shaped identifiers and escapes literals", () => {
    expect(ident("units_ab_c0")).toBe("`units_ab_c0`");
    for (const bad of ["a`b", "system.parts", "", "A"]) expect(() => ident(bad)).toThrow(/not a lab identifier/);
    expect(literal("it's \\ fine")).toBe("'it\\'s \\\\ fine'");
  });

  it("creates the variant's engine, sort key and (where supported) payload codec", () => {
    expect(createTableSql("dedup_lab", "t", "mergetree_lz4", true)).toBe(
      "CREATE TABLE IF NOT EXISTS `dedup_lab`.`t` (id String, size UInt64, sha256 FixedString(32), payload String CODEC(LZ4)) ENGINE = MergeTree ORDER BY id",
    );
    expect(createTableSql("dedup_lab", "t", "replacing_zstd", true)).toMatch(/payload String CODEC\(ZSTD\)\) ENGINE = ReplacingMergeTree ORDER BY sha256$/);
    // 18.16 has no per-column codecs: no CODEC clause at all
    expect(createTableSql("dedup_lab", "t", "replacing_zstd", false)).toMatch(/payload String\) ENGINE = ReplacingMergeTree ORDER BY sha256$/);
  });

  it("qualifies every statement with the lab database and filters system tables to it", () => {
    expect(insertRowBinarySql("dedup_lab", "t")).toBe("INSERT INTO `dedup_lab`.`t` (id, size, sha256, payload) FORMAT RowBinary");
    expect(deleteSql("dedup_lab", "t", "u'1")).toBe("ALTER TABLE `dedup_lab`.`t` DELETE WHERE id = 'u\\'1'");
    expect(pendingMutationsSql("dedup_lab", ["a", "b"])).toMatch(/WHERE database = 'dedup_lab' AND table IN \('a', 'b'\) AND is_done = 0$/);
    expect(partTotalsSql("dedup_lab", ["a"])).toMatch(/FROM system\.parts WHERE database = 'dedup_lab' AND table IN \('a'\) GROUP BY table, active/);
  });

  it("compares server versions", () => {
    expect(versionAtLeast("18.16.1", 19, 1)).toBe(false);
    expect(versionAtLeast("19.1.6", 19, 1)).toBe(true);
    expect(versionAtLeast("24.12.2.59", 19, 1)).toBe(true);
  });
});

describe("clickhouse RowBinary", () => {
  it("encodes id, UInt64 size, raw digest and a varint payload length", () => {
    const sha256 = Buffer.alloc(32, 0xab);
    const payload = Buffer.alloc(300, 1);
    const h = rowHeader({ id: "u01", size: 300, sha256, payload });
    expect(h.subarray(0, 4)).toEqual(Buffer.from([3, 0x75, 0x30, 0x31]));
    expect(h.readBigUInt64LE(4)).toBe(300n);
    expect(h.subarray(12, 44)).toEqual(sha256);
    expect(h.subarray(44)).toEqual(Buffer.from([0xac, 0x02]));
    expect(rowHeader({ id: "x", size: 0, sha256, payload: Buffer.alloc(0) }).at(-1)).toBe(0);
    expect(rowHeader({ id: "x", size: 70_000, sha256, payload: Buffer.alloc(70_000) }).subarray(-3)).toEqual(Buffer.from([0xf0, 0xa2, 0x04]));
    expect(() => rowHeader({ id: "x", size: 1, sha256: Buffer.alloc(31), payload: Buffer.alloc(1) })).toThrow(/expected 32/);
  });
});

describe("clickhouse errors", () => {
  it("reduces both error formats to one line with the code", () => {
    expect(parseServerError("Code: 193, e.displayText() = DB::Exception: Wrong password for user dedup_lab, e.what() = DB::Exception\n")).toEqual({
      code: 193,
      text: "Wrong password for user dedup_lab",
    });
    expect(parseServerError("Code: 60. DB::Exception: Table dedup_lab.x does not exist. (UNKNOWN_TABLE) (version 24.12.2.59 (official build))\n")).toEqual({
      code: 60,
      text: "Table dedup_lab.x does not exist. (UNKNOWN_TABLE)",
    });
    expect(parseServerError("connect ECONNREFUSED 127.0.0.1:1")).toEqual({ code: null, text: "connect ECONNREFUSED 127.0.0.1:1" });
  });

  it("validates options and refuses a non-lab database before connecting", () => {
    const o = clickhouseDefinition.options.parse({ port: "58123", database: "default" });
    expect(o.port).toBe(58123);
    expect(clickhouseDefinition.endpoint(o)).toBe("127.0.0.1:58123");
    expect(clickhouseDefinition.checkNamespace!(o, new LabNamespace())).toMatch(/database "default" is outside the lab namespace/);
    expect(() => clickhouseDefinition.options.parse({ password: "x" })).toThrow();
  });
});
