// Papermill-style parameters for TypeScript notebooks (papermill has no JS/TS translator
// and is not in Debian 12). The cell tagged `parameters` declares each parameter with a
// JSON literal default, e.g.  `let units = 20;`  `let systems: string[] = ["sqlite"];`.
// `-p name=value` values are parsed against the declared type and injected as a new cell
// tagged `injected-parameters` right after it; tslab allows redeclaring let/const there.
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.js";

export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  metadata: { tags?: string[]; [key: string]: unknown };
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export type ParamValue = string | number | boolean | null | (string | number | boolean)[];

export type ParamKind = "number" | "string" | "boolean" | "number[]" | "string[]" | "boolean[]";

export interface ParamDecl {
  name: string;
  keyword: "let" | "const" | "var";
  /** The annotation as written (e.g. "string[]"), or "" when inferred. */
  annotation: string;
  kind: ParamKind;
  nullable: boolean;
  defaultValue: ParamValue;
  line: number;
}

export function cellSource(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

export function readNotebook(path: string): Notebook {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read notebook ${path} (${(e as NodeJS.ErrnoException).code})`, "check the path (notebooks/*.ipynb)");
  }
  try {
    const nb = JSON.parse(text) as Notebook;
    if (!Array.isArray(nb.cells)) throw new Error("no cells");
    return nb;
  } catch {
    throw new UsageError(`${path} is not a Jupyter notebook (.ipynb JSON)`, "pass a notebook file");
  }
}

const hasTag = (cell: NotebookCell, tag: string) => (cell.metadata?.tags ?? []).includes(tag);

export function parametersCellIndex(nb: Notebook): number {
  return nb.cells.findIndex((c) => c.cell_type === "code" && hasTag(c, "parameters"));
}

const DECL = /^\s*(let|const|var)\s+([A-Za-z_$][\w$]*)\s*(?::\s*([^=]+?))?\s*=\s*(.+?)\s*;?\s*(?:\/\/.*)?$/;

function kindOfAnnotation(annotation: string): { kind: ParamKind; nullable: boolean } | null {
  const parts = annotation.split("|").map((s) => s.trim()).filter(Boolean);
  const nullable = parts.includes("null");
  const rest = parts.filter((p) => p !== "null" && p !== "undefined").map((p) => p.replace(/^Array<(\w+)>$/, "$1[]"));
  if (rest.length !== 1) return null;
  const k = rest[0]!;
  return (["number", "string", "boolean", "number[]", "string[]", "boolean[]"] as const).includes(k as ParamKind) ? { kind: k as ParamKind, nullable } : null;
}

function kindOfValue(v: unknown): ParamKind | null {
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return typeof v as ParamKind;
  if (Array.isArray(v)) {
    const kinds = new Set(v.map((x) => typeof x));
    if (kinds.size === 0) return "string[]";
    if (kinds.size === 1) {
      const k = [...kinds][0];
      if (k === "number" || k === "string" || k === "boolean") return `${k}[]`;
    }
  }
  return null;
}

/** The parameters a notebook declares (empty when it has no `parameters` cell). */
export function parameterDecls(nb: Notebook, where = "notebook"): ParamDecl[] {
  const i = parametersCellIndex(nb);
  if (i < 0) return [];
  const decls: ParamDecl[] = [];
  cellSource(nb.cells[i]!).split("\n").forEach((text, line) => {
    const m = DECL.exec(text);
    if (!m) return;
    const [, keyword, name, annotation = "", literal] = m;
    let value: unknown;
    try {
      value = JSON.parse(literal!);
    } catch {
      throw new UsageError(`${where}: parameter ${name} (parameters cell, line ${line + 1}) has a default that is not a JSON literal: ${literal}`, "write numbers, booleans, \"strings\", [arrays] or null");
    }
    const fromAnnotation = annotation ? kindOfAnnotation(annotation) : null;
    const inferred = kindOfValue(value);
    const kind = fromAnnotation?.kind ?? inferred;
    if (!kind) {
      throw new UsageError(`${where}: parameter ${name} (parameters cell, line ${line + 1}) needs a type annotation`, "declare it like `let name: string | null = null;`");
    }
    decls.push({ name: name!, keyword: keyword as ParamDecl["keyword"], annotation: annotation.trim(), kind, nullable: fromAnnotation?.nullable ?? value === null, defaultValue: value as ParamValue, line: line + 1 });
  });
  return decls;
}

/** "-p name=value" strings → [name, raw value] pairs (later ones win). */
export function parseParamArgs(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq).trim() : "";
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new UsageError(`-p ${a}: expected name=value`, "e.g. -p units=20 -p systems=sqlite,duckdb");
    out.set(name, a.slice(eq + 1));
  }
  return out;
}

function example(kind: ParamKind): string {
  return { number: "20", string: "text", boolean: "true", "number[]": "[1,2]", "string[]": "sqlite,duckdb", "boolean[]": "[true,false]" }[kind];
}

/** Parse a raw -p value as the declared type: numbers, booleans, JSON arrays (or a,b,c), strings. */
export function parseParamValue(raw: string, decl: ParamDecl, where = "notebook"): ParamValue {
  const bad = (why: string) =>
    new UsageError(`-p ${decl.name}=${raw}: ${why}; ${where} declares ${decl.name} as ${decl.annotation || decl.kind}${decl.nullable ? " | null" : ""}`, `pass e.g. -p ${decl.name}=${example(decl.kind)}`);
  const text = raw.trim();
  if (decl.nullable && text === "null") return null;
  const scalar = (s: string, kind: "number" | "string" | "boolean"): string | number | boolean => {
    if (kind === "number") {
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(s)) throw bad(`"${s}" is not a number`);
      return Number(s);
    }
    if (kind === "boolean") {
      if (s !== "true" && s !== "false") throw bad(`"${s}" is not true or false`);
      return s === "true";
    }
    return s;
  };
  switch (decl.kind) {
    case "number":
    case "boolean":
      return scalar(text, decl.kind);
    case "string":
      if (text.startsWith('"')) {
        try {
          const v = JSON.parse(text);
          if (typeof v === "string") return v;
        } catch {
          /* a plain string that happens to start with a quote */
        }
      }
      return raw;
    default: {
      const element = decl.kind.slice(0, -2) as "number" | "string" | "boolean";
      if (text.startsWith("[")) {
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch {
          throw bad("not a valid JSON array");
        }
        if (!Array.isArray(v)) throw bad("not an array");
        for (const x of v) if (typeof x !== element) throw bad(`element ${JSON.stringify(x)} is not a ${element}`);
        return v as (string | number | boolean)[];
      }
      return text === "" ? [] : text.split(",").map((s) => scalar(s.trim(), element));
    }
  }
}

export interface Injection {
  notebook: Notebook;
  values: Record<string, ParamValue>;
}

/**
 * A copy of `nb` with a cell tagged `injected-parameters` after the `parameters` cell
 * (replacing an earlier injected cell). Every name must be declared; bad input throws UsageError.
 */
export function injectParameters(nb: Notebook, raw: Map<string, string>, where = "notebook"): Injection {
  const copy = JSON.parse(JSON.stringify(nb)) as Notebook;
  if (raw.size === 0) return { notebook: copy, values: {} };
  const i = parametersCellIndex(copy);
  if (i < 0) {
    throw new UsageError(`${where} has no cell tagged "parameters", so -p ${[...raw.keys()].join(", ")} cannot be applied`, "drop -p, or tag the cell that declares the parameters with \"parameters\"");
  }
  const decls = parameterDecls(copy, where);
  const values: Record<string, ParamValue> = {};
  const lines = [
    "// Parameters injected by `dedup-lab nb run` or papermill: these values override the parameters cell above.",
  ];
  for (const [name, text] of raw) {
    const decl = decls.find((d) => d.name === name);
    if (!decl) throw new UsageError(`unknown parameter "${name}" for ${where}`, `it declares: ${decls.map((d) => d.name).join(", ") || "(none)"}`);
    const value = parseParamValue(text, decl, where);
    values[name] = value;
    lines.push(`${decl.keyword} ${name}${decl.annotation ? `: ${decl.annotation}` : ""} = ${JSON.stringify(value)};`);
  }
  const existing = copy.cells.findIndex((c) => hasTag(c, "injected-parameters"));
  if (existing >= 0) copy.cells.splice(existing, 1);
  const at = parametersCellIndex(copy) + 1;
  copy.cells.splice(at, 0, {
    cell_type: "code",
    id: "injected-parameters",
    metadata: { tags: ["injected-parameters"] },
    source: lines.join("\n"),
    outputs: [],
    execution_count: null,
  });
  return { notebook: copy, values };
}
