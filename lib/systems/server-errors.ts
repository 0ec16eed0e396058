// Error wording shared by the connectors: one line, the server's own message first, the
// fix after a dash, never a password (masked through the one primitive in lib/masking.ts).
import { SystemError, errorMessage } from "../errors.js";
import { maskEnvSecrets } from "../masking.js";

/** First line of a message, trimmed. */
export function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}

/** A message folded onto one line. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** The error's message on one line, with the value of `passwordEnv` masked. */
export function serverMessage(e: unknown, passwordEnv?: string): string {
  return maskEnvSecrets(oneLine(errorMessage(e)), [passwordEnv]);
}

/** "connection refused (…) — is the server running on this host and port?" */
export function connectionRefused(msg: string): string {
  return `connection refused (${msg}) — is the server running on this host and port?`;
}

/** "… — check the user and the password in $ENV" (credentials refused). */
export function credentialsRefused(msg: string, passwordEnv: string): string {
  return `${msg} — check the user and the password in $${passwordEnv}`;
}

/** The password variable a connector needs is not set (MySQL-protocol and ClickHouse wording). */
export function passwordVariableUnset(system: string, endpoint: string, passwordEnv: string): SystemError {
  return new SystemError(system, endpoint, `password variable $${passwordEnv} is not set — export it (scripts/services.sh up writes it to .services/env)`);
}

/** A SystemError "<what>: <description>" (or just "<what>" without a cause), keeping the cause. */
export function systemFailure(system: string, endpoint: string, what: string, e: unknown, describe: (e: unknown) => string): SystemError {
  return new SystemError(system, endpoint, e === undefined ? what : `${what}: ${describe(e)}`, { cause: e });
}
