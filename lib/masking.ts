// The one masking primitive: every place that must keep a secret out of a message, a log or
// a bundle (connectors' error wording, the results' Redactor) masks through these two calls.
// A leaf module: it imports nothing, so systems and results can both use it.

export const MASK = "***";

/** `text` with every occurrence of each non-empty secret (at least `minLength` long) replaced by ***. */
export function maskSecrets(text: string, secrets: Iterable<string | undefined>, minLength = 1): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= minLength) out = out.split(secret).join(MASK);
  }
  return out;
}

/** `text` with the password of every `scheme://user:password@host` URL replaced by ***. */
export function maskUrlPasswords(text: string): string {
  return text.replace(/(\/\/[^/\s:@]+:)[^@\s/]+@/g, `$1${MASK}@`);
}

/** `text` with the value of each named environment variable masked (connectors: their passwordEnv). */
export function maskEnvSecrets(text: string, envNames: Iterable<string | undefined>, env: NodeJS.ProcessEnv = process.env): string {
  return maskSecrets(text, [...envNames].map((n) => (n ? env[n] : undefined)));
}
