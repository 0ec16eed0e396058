// ClickHouse error texts in both generations of the format, reduced to one line:
//   18.x: "Code: 193, e.displayText() = DB::Exception: Wrong password for user x, e.what() = DB::Exception\n"
//   new:  "Code: 193. DB::Exception: Wrong password for user x. (WRONG_PASSWORD) (version 23.8.1.1)"

export interface ServerError {
  code: number | null;
  text: string;
}

const OLD = /Code: (\d+), e\.displayText\(\) = (?:DB::Exception: )?([\s\S]*?)(?:, e\.what\(\) = [\s\S]*)?$/;
const NEW = /Code: (\d+)\. (?:DB::Exception: )?([\s\S]*?)(?: \(version .*\))?\s*$/;

export function parseServerError(message: string): ServerError {
  const m = OLD.exec(message) ?? NEW.exec(message);
  const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();
  if (!m) return { code: null, text: oneLine(message) };
  return { code: Number(m[1]), text: oneLine(m[2]!) };
}

/** Codes that mean the credentials were refused (UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED). */
export const AUTH_ERROR_CODES = new Set([192, 193, 194, 516]);
