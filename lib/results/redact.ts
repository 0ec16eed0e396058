// Credentials never reach a bundle, a log or a notebook: configs name environment
// variables (`passwordEnv: DEDUP_PG_PASSWORD`), and every string we persist passes
// through a Redactor that knows the values of those variables. The masking itself is the
// shared primitive in lib/masking.ts, the same one the connectors' error messages use.
import { maskSecrets, maskUrlPasswords } from "../masking.js";

// Secrets by what they are, not by where they sit: passwords, secret keys, tokens. User names
// and access-key ids are identifiers — masking them rewrote topic and bucket names whenever an
// access key equalled the lab prefix ("dedup-lab").
const SECRET_KEY = /(pass(word)?|passwd|secret([-_]?key)?|token|credential|private[-_]?key)$/i;

/** Collect the env var names a config references through secret `…Env` keys (passwordEnv, secretKeyEnv, tokenEnv…). */
export function secretEnvNames(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => secretEnvNames(v, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (/Env$/.test(k) && typeof v === "string") {
        if (SECRET_KEY.test(k.slice(0, -3))) out.add(v);
      } else secretEnvNames(v, out);
    }
  }
  return out;
}

export class Redactor {
  private readonly secrets: string[];

  constructor(envNames: Iterable<string>, env: NodeJS.ProcessEnv = process.env) {
    this.secrets = [...envNames].map((n) => env[n]).filter((v): v is string => !!v && v.length >= 4);
  }

  text(s: string): string {
    return maskSecrets(maskUrlPasswords(s), this.secrets);
  }

  /** Deep copy with secret-looking keys masked and every string scrubbed. */
  value<T>(v: T): T {
    const walk = (x: unknown, key = ""): unknown => {
      if (typeof x === "string") return SECRET_KEY.test(key) ? "[redacted]" : this.text(x);
      if (Array.isArray(x)) return x.map((e) => walk(e));
      if (x && typeof x === "object") {
        return Object.fromEntries(Object.entries(x).map(([k, e]) => [k, walk(e, k)]));
      }
      return x;
    };
    return walk(v) as T;
  }
}
