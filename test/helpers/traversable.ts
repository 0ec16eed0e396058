// Tests that run a command as the unprivileged user `nobody` need it to reach the checkout: a
// clone in a `mktemp -d` directory (mode 700) is not. Open the missing o+x (traverse only, no
// listing) on the checkout's ancestors for the duration of the call, then put the modes back.
import { chmodSync, statSync } from "node:fs";
import { dirname } from "node:path";

export function withTraversableAncestors<T>(path: string, fn: () => T): T {
  const changed: [string, number][] = [];
  for (let d = path; ; d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if (!(mode & 0o001)) {
      chmodSync(d, mode | 0o001);
      changed.push([d, mode]);
    }
    if (dirname(d) === d) break;
  }
  try {
    return fn();
  } finally {
    for (const [d, mode] of changed) chmodSync(d, mode);
  }
}
