"""papermill translator for TypeScript notebooks run by the dedup-lab (tslab) kernel.

Produces exactly the cell `dedup-lab nb run` injects (lib/notebook/params.ts): the values
are coerced to the types the notebook's `parameters` cell declares (`let name[: type] =
<JSON literal>;`) and written as `<keyword> name[: annotation] = <JSON>;` under the same
header line. papermill hands a translator only the values, so the declarations are read
from the notebook papermill is parameterizing (the `nb` of its parameterize_notebook frame);
without it, values are written by their Python type with `const`.
"""
import inspect
import json
import re

from papermill.engines import NBClientEngine
from papermill.exceptions import PapermillException
from papermill.translators import Translator, papermill_translators

HEADER = "// Parameters injected by `dedup-lab nb run` or papermill: these values override the parameters cell above."

DECL = re.compile(r"^\s*(let|const|var)\s+([A-Za-z_$][\w$]*)\s*(?::\s*([^=]+?))?\s*=\s*(.+?)\s*;?\s*(?://.*)?$")
KINDS = ("number", "string", "boolean", "number[]", "string[]", "boolean[]")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$", re.I)


def js(value):
    """JSON.stringify of a parameter value."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        value = int(value)
    if isinstance(value, list):
        return "[" + ",".join(js(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _kind_of_annotation(annotation):
    parts = [p.strip() for p in annotation.split("|") if p.strip()]
    nullable = "null" in parts
    rest = [re.sub(r"^Array<(\w+)>$", r"\1[]", p) for p in parts if p not in ("null", "undefined")]
    if len(rest) != 1 or rest[0] not in KINDS:
        return None
    return rest[0], nullable


def _kind_of_value(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        kinds = {_kind_of_value(x) for x in v}
        if not kinds:
            return "string[]"
        if len(kinds) == 1 and next(iter(kinds)) in ("number", "string", "boolean"):
            return next(iter(kinds)) + "[]"
    return None


def declarations(nb):
    """name → (keyword, annotation, kind, nullable) from the cell tagged `parameters`."""
    out = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            for line in source.split("\n"):
                m = DECL.match(line)
                if not m:
                    continue
                keyword, name, annotation, literal = m.group(1), m.group(2), (m.group(3) or "").strip(), m.group(4)
                try:
                    default = json.loads(literal)
                except ValueError:
                    continue
                from_annotation = _kind_of_annotation(annotation) if annotation else None
                kind = from_annotation[0] if from_annotation else _kind_of_value(default)
                nullable = from_annotation[1] if from_annotation else default is None
                if kind:
                    out[name] = (keyword, annotation, kind, nullable)
            break
    return out


def _scalar(name, value, kind):
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise PapermillException(f"parameter {name}: {value!r} is not a number")
        if isinstance(value, str):
            if not NUMBER.match(value.strip()):
                raise PapermillException(f"parameter {name}: {value!r} is not a number")
            value = float(value)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise PapermillException(f"parameter {name}: {value!r} is not true or false")
    return value if isinstance(value, str) else js(value)


def coerce(name, value, kind, nullable):
    """A papermill value (already typed by papermill: str, int, float, bool, list) as `kind`."""
    if nullable and (value is None or value == "null"):
        return None
    if kind in ("number", "boolean"):
        return _scalar(name, value.strip() if isinstance(value, str) else value, kind)
    if kind == "string":
        if isinstance(value, str) and value.strip().startswith('"'):
            try:
                parsed = json.loads(value.strip())
                if isinstance(parsed, str):
                    return parsed
            except ValueError:
                pass
        return value if isinstance(value, str) else js(value)
    element = kind[:-2]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise PapermillException(f"parameter {name}: not a valid JSON array: {text}")
        else:
            value = [] if text == "" else [s.strip() for s in text.split(",")]
            return [_scalar(name, s, element) for s in value]
    if not isinstance(value, list):
        value = [value]
    for x in value:
        ok = {"number": isinstance(x, (int, float)) and not isinstance(x, bool), "boolean": isinstance(x, bool), "string": isinstance(x, str)}[element]
        if not ok:
            raise PapermillException(f"parameter {name}: element {js(x)} is not a {element}")
    return value


def _notebook_being_parameterized():
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code.co_name == "parameterize_notebook" and "nb" in frame.f_locals:
                return frame.f_locals["nb"]
            frame = frame.f_back
    finally:
        del frame
    return None


class TypeScriptTranslator(Translator):
    @classmethod
    def translate_none(cls, val):
        return "null"

    @classmethod
    def translate_escaped_str(cls, str_val):
        return js(str_val)

    @classmethod
    def translate_str(cls, val):
        return js(val)

    @classmethod
    def translate_int(cls, val):
        return js(val)

    @classmethod
    def translate_float(cls, val):
        return js(val)

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_dict(cls, val):
        return js(val)

    @classmethod
    def translate_list(cls, val):
        return js(val)

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"const {name} = {str_val};"

    @classmethod
    def codify(cls, parameters, comment="Parameters"):
        nb = _notebook_being_parameterized()
        decls = declarations(nb) if nb is not None else {}
        lines = [HEADER]
        for name, value in parameters.items():
            decl = decls.get(name)
            if nb is not None and decls and decl is None:
                raise PapermillException(f'unknown parameter "{name}"; the notebook declares: {", ".join(decls) or "(none)"}')
            if decl is None:
                lines.append(cls.assign(name, cls.translate(value)))
                continue
            keyword, annotation, kind, nullable = decl
            typed = coerce(name, value, kind, nullable)
            lines.append(f"{keyword} {name}{': ' + annotation if annotation else ''} = {js(typed)};")
        # nb run joins its lines with "\n" and no trailing newline
        return "\n".join(lines)


class TypeScriptEngine(NBClientEngine):
    """papermill's own nbclient engine, unchanged: the entry point that gets this module imported."""


papermill_translators.register("typescript", TypeScriptTranslator)
papermill_translators.register("dedup-lab", TypeScriptTranslator)
