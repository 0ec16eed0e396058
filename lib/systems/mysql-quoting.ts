// MySQL-style quoting (MariaDB, ClickHouse): backtick identifiers restricted to what the lab
// namespace produces, and single-quoted string literals.

const IDENT_RE = /^[a-z0-9_]{1,64}$/;

/** Backtick-quote a lab identifier; refuses anything the lab namespace would not produce. */
export function ident(name: string): string {
  if (!IDENT_RE.test(name)) throw new Error(`not a lab identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

/** `db`.`table` */
export function qualified(db: string, table: string): string {
  return `${ident(db)}.${ident(table)}`;
}

/**
 * A single-quoted string literal with backslashes escaped; a quote inside is written as
 * `quote` ("''" in MariaDB's standard form, "\\'" in ClickHouse's backslash form).
 */
export function quotedLiteral(value: string, quote: "''" | "\\'"): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, quote)}'`;
}
