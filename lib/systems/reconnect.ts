// Bounded reconnects with exponential backoff, shared by every connector that reopens a
// dropped connection inside a stage (postgres/cockroach, mariadb, clickhouse).
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

/** Delay before reconnect attempt `attempt` (0-based): baseDelayMs · 2^attempt. */
export function backoffDelayMs(baseDelayMs: number, attempt: number): number {
  return baseDelayMs * 2 ** attempt;
}

/** The delays of `attempts` reconnects starting at baseDelayMs. */
export function backoffDelays(baseDelayMs: number, attempts: number): number[] {
  return Array.from({ length: attempts }, (_, k) => backoffDelayMs(baseDelayMs, k));
}

/** Default backoff between reconnect attempts when a connection drops inside a stage: 250 ms … 4 s (~7.8 s in all). */
export const RECONNECT_DELAYS_MS: readonly number[] = backoffDelays(250, 5);
