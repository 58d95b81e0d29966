"""Files from other people, checked before use: one JSON reader and pydantic schemas.

Every file mnas-pred loads (predictor files, search checkpoints and caches, search-space files,
measurement CSVs) goes through a schema before any value is used: types, ranges, sizes, finite
numbers, nesting depth. A file that fails becomes one :class:`MnasPredError` naming the file,
the first offending field and the fix, never a traceback from deep inside numpy or LightGBM.

Why pydantic 2 rather than jsonschema (both are installed):

* finite numbers: JSON Schema has no notion of NaN/Infinity (Python's ``json`` reads them and
  ``jsonschema`` accepts them as numbers); pydantic refuses them per field (``allow_inf_nan``);
* speed: its validator is compiled (pydantic-core, Rust): the search loads predictor files on
  start and on resume, and a CSV has thousands of rows; jsonschema validates in Python;
* the schemas are typed Python classes next to the code that uses the data (strict types, so
  ``"3"`` is not 3 and ``true`` is not 1; ranges with ``Field(ge=, le=)``; cross-field rules as
  validators), and its errors carry the exact location (``predictors.lgbm.calibration.sum``).

Nesting depth is checked on the parsed document without recursion, and a document too deep for
Python's own parser (``RecursionError``) is reported the same way.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mnas_pred.errors import MnasPredError

#: Deeper documents are refused: mnas-pred's own files nest a dozen levels at most.
MAX_JSON_DEPTH = 48

#: A finite float (pydantic refuses NaN and ±inf).
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    """Base of the file schemas: unknown keys are errors, types are not coerced, numbers finite."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str | bytes, what: str, fix: str, *, allow_nan: bool = False, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that turns every way a document can be broken into one :class:`MnasPredError`:
    not UTF-8, not JSON, ``NaN``/``Infinity`` (unless ``allow_nan``), nested deeper than ``max_depth``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        doc = json.loads(text) if allow_nan else json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise MnasPredError(f"{what} is not UTF-8 text", fix) from None
    except RecursionError:
        raise MnasPredError(f"{what} is nested too deeply", fix) from None
    except ValueError as e:  # JSONDecodeError, and NaN/Infinity from _no_constant
        raise MnasPredError(f"{what} is not valid JSON ({str(e).splitlines()[0][:120]})", fix) from None
    check_depth(doc, what, fix, max_depth)
    return doc


def check_depth(doc: Any, what: str, fix: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse lists/dicts nested deeper than ``max_depth`` (iteratively: no recursion to exhaust)."""
    todo = [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise MnasPredError(f"{what} is nested more than {max_depth} levels deep", fix)
        todo.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


_PHRASES = {
    "int_parsing": "must be a whole number", "int_type": "must be a whole number", "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "float_type": "must be a number", "finite_number": "must be a finite number",
    "string_type": "must be text", "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "list_type": "must be a list", "dict_type": "must be a table of keys", "model_type": "must be a table of keys",
    "model_attributes_type": "must be a table of keys",
}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
           "greater_than": ("gt", "above"), "less_than": ("lt", "below"),
           "too_short": ("min_length", "at least this long:"), "too_long": ("max_length", "at most this long:"),
           "string_too_long": ("max_length", "at most this many characters:")}


def describe_error(e: ValidationError, skip: int = 0) -> str:
    """The first problem of a pydantic error, as ``field.path must be ...`` (or ``field.path:
    message``); ``skip``: leave out the first parts of the path (a row number said otherwise)."""
    err = e.errors(include_url=False)[0]
    parts = [str(p) for p in err["loc"][skip:]]
    # a tagged union repeats its tag (predictors.lgbm.lgbm.params): show it once
    loc = ".".join(p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1])
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return f"{loc} is missing"
    if kind == "extra_forbidden":
        return f"unknown key {loc}"
    value = err.get("input")
    shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {repr(value)[:40]})"
    if kind in _PHRASES:
        phrase = _PHRASES[kind]
    elif kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        phrase = f"must be {_BOUNDS[kind][1]} {ctx[_BOUNDS[kind][0]]}"
        if kind.startswith("too_"):
            n = ctx[_BOUNDS[kind][0]]
            phrase, shown = f"must have {'at least' if kind == 'too_short' else 'at most'} {n} {'entry' if n == 1 else 'entries'}", ""
    elif kind == "literal_error":
        phrase = f"must be {ctx.get('expected', 'one of the allowed values')}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        return (f"{loc} {msg}" if msg.startswith("must") else f"{loc}: {msg}") if loc else msg
    return f"{loc} {phrase}{shown}" if loc else f"{phrase}{shown}"


def validate(schema: type[BaseModel] | TypeAdapter, data: Any, what: str, fix: str):
    """``schema``-validated ``data``, or one :class:`MnasPredError` naming the first bad field."""
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(data)
        return schema.model_validate(data)
    except ValidationError as e:
        raise MnasPredError(f"{what}: {describe_error(e)}", fix) from None
    except RecursionError:
        raise MnasPredError(f"{what} is nested too deeply", fix) from None


__all__ = ["MAX_JSON_DEPTH", "Finite", "Strict", "check_depth", "describe_error", "parse_json", "validate"]
