import { describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import {
  MAX_ROWS_PER_INSERT,
  createTableSql,
  deleteSql,
  dirtyPagesSql,
  ident,
  insertSql,
  literal,
  tableMaintenanceSql,
  tableStatusSql,
  tablespacesSql,
} from "../../lib/systems/mariadb/mariadb-sql.js";
import { mariadbDefinition } from "../../lib/systems/mariadb/mariadb-options.js";

describe("mariadb SQL", () => {
  it("quotes only lab-shaped identifiers", () => {
    expect(ident("units_ab12_c0")).toBe("`units_ab12_c0`");
    for (const bad of ["keep`me", "a.b", "Units", "", "x".repeat(65), "a b"]) expect(() => ident(bad)).toThrow(/not a lab identifier/);
  });

  it("escapes string literals", () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(literal("a\\b")).toBe("'a\\\\b'");
  });

  it("creates one table per variant with the right options, always qualified", () => {
    expect(createTableSql("dedup_lab", "units_x_c0", "default")).toBe(
      "CREATE TABLE `dedup_lab`.`units_x_c0` (id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, " +
        "size BIGINT UNSIGNED NOT NULL, sha256 BINARY(32) NOT NULL, payload LONGBLOB NOT NULL) ENGINE=InnoDB",
    );
    expect(createTableSql("dedup_lab", "t", "page_compressed")).toMatch(/\) ENGINE=InnoDB PAGE_COMPRESSED=1$/);
    expect(createTableSql("dedup_lab", "t", "row_compressed")).toMatch(/\) ENGINE=InnoDB ROW_FORMAT=COMPRESSED$/);
  });

  it("builds multi-row INSERTs within the placeholder limit", () => {
    expect(insertSql("dedup_lab", "t")).toBe("INSERT INTO `dedup_lab`.`t` (id, size, sha256, payload) VALUES (?,?,?,?)");
    expect(insertSql("dedup_lab", "t", 3)).toMatch(/VALUES \(\?,\?,\?,\?\),\(\?,\?,\?,\?\),\(\?,\?,\?,\?\)$/);
    expect(MAX_ROWS_PER_INSERT * 4).toBeLessThan(65536);
    expect(() => insertSql("dedup_lab", "t", 0)).toThrow();
    expect(() => insertSql("dedup_lab", "t", MAX_ROWS_PER_INSERT + 1)).toThrow();
    expect(deleteSql("dedup_lab", "t")).toBe("DELETE FROM `dedup_lab`.`t` WHERE id = ?");
  });

  it("targets only the cell's tables in maintenance and size queries", () => {
    expect(tableMaintenanceSql("OPTIMIZE", "dedup_lab", ["a_c0", "a_c1"])).toBe("OPTIMIZE TABLE `dedup_lab`.`a_c0`, `dedup_lab`.`a_c1`");
    expect(tablespacesSql("dedup_lab", ["a_c0"])).toMatch(/WHERE NAME IN \('dedup_lab\/a_c0'\)$/);
    expect(tableStatusSql("dedup_lab", "units_ab_")).toBe("SHOW TABLE STATUS FROM `dedup_lab` LIKE 'units\\\\_ab\\\\_%'");
    expect(dirtyPagesSql([5, 6])).toMatch(/WHERE SPACE IN \(5, 6\) AND OLDEST_MODIFICATION > 0$/);
    expect(() => dirtyPagesSql([Number.NaN])).toThrow();
  });

  it("validates options and refuses a non-lab database before connecting", () => {
    const lab = new LabNamespace();
    const o = mariadbDefinition.options.parse({ port: "53306", database: "prod" });
    expect(o.port).toBe(53306);
    expect(o.passwordEnv).toBe("DEDUP_MARIADB_PASSWORD");
    expect(mariadbDefinition.checkNamespace!(o, lab)).toMatch(/database "prod" is outside the lab namespace/);
    expect(mariadbDefinition.endpoint(o)).toBe("127.0.0.1:53306");
    expect(() => mariadbDefinition.options.parse({ password: "x" })).toThrow();
  });
});
