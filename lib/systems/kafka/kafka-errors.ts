// kafkajs and @platformatic/kafka errors → one line naming the problem and, where there is
// one, the fix. Passwords never reach these messages (the clients do not echo them), and any
// text is scrubbed of the configured password anyway.
import { SystemError, errorMessage } from "../../errors.js";
import type { KafkaConnection } from "./kafka-options.js";
import { kafkaEndpoint } from "./kafka-options.js";

interface ClientError {
  name?: string;
  message?: string;
  type?: string;
  cause?: unknown;
  errors?: unknown[];
}

function innermost(e: unknown): ClientError {
  let cur = e as ClientError;
  for (let i = 0; i < 5 && cur && typeof cur === "object"; i++) {
    const next = (cur.cause ?? (Array.isArray(cur.errors) ? cur.errors[0] : undefined)) as ClientError | undefined;
    if (!next || typeof next !== "object") break;
    cur = next;
  }
  return cur ?? {};
}

/** A one-line description of a Kafka client failure. */
export function describeKafkaError(e: unknown, c: KafkaConnection): string {
  const top = (e ?? {}) as ClientError;
  const inner = innermost(e);
  const text = [top.message, inner.message].filter(Boolean).join(" ");
  const mechanism = c.sasl === "none" ? "none" : c.sasl.mechanism.toUpperCase();
  let msg: string;
  if (top.type === "UNSUPPORTED_SASL_MECHANISM" || inner.type === "UNSUPPORTED_SASL_MECHANISM" || /UNSUPPORTED_SASL_MECHANISM|does not support the requested SASL mechanism/i.test(text)) {
    msg = `the broker does not offer SASL mechanism ${mechanism} on this listener — set options.sasl.mechanism to one it enables (e.g. scram-sha-512)`;
  } else if (top.name === "KafkaJSSASLAuthenticationError" || /authentication failed|SASL_AUTHENTICATION_FAILED|invalid credentials/i.test(text)) {
    const user = c.sasl === "none" ? "" : ` for user "${c.sasl.username}"`;
    const env = c.sasl === "none" ? "" : ` and the password in $${c.sasl.passwordEnv}`;
    msg = `SASL ${mechanism} authentication failed${user} — check options.sasl.username${env}`;
  } else if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Connection timeout/i.test(text)) {
    const why = /ECONNREFUSED[^\s,)]*/.exec(text)?.[0] ?? /ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Connection timeout/i.exec(text)?.[0];
    msg = `broker not reachable (${why}) — is it running and are options.brokers right? (local: scripts/services.sh up kafka)`;
  } else if (top.name === "KafkaJSConnectionClosedError" || /Closed connection|socket hang up|ECONNRESET/i.test(text)) {
    msg = `the broker closed the connection (${inner.message ?? top.message}) — does this listener need SASL or TLS? set options.sasl / options.ssl to match it`;
  } else {
    const first = (top.message || errorMessage(e)).split("\n")[0]!;
    const second = inner !== top && inner.message && inner.message !== top.message ? `: ${inner.message.split("\n")[0]}` : "";
    msg = first + second;
  }
  return scrub(msg.replace(/\s+/g, " ").trim(), c);
}

function scrub(text: string, c: KafkaConnection): string {
  if (c.sasl === "none") return text;
  const pw = process.env[c.sasl.passwordEnv];
  return pw ? text.split(pw).join("***") : text;
}

/** Wrap a client failure as a SystemError for the system at the configured brokers. */
export function kafkaSystemError(system: string, c: KafkaConnection, doing: string, e: unknown): SystemError {
  if (e instanceof SystemError) return e;
  return new SystemError(system, kafkaEndpoint(c), `${doing}: ${describeKafkaError(e, c)}`, { cause: e });
}
