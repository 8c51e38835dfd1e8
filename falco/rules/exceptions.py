"""Rule ``exceptions:``: validation and expansion into the condition.

An exception is a name, a list of fields, a list of comparison operators
(``comps``) and a list of value tuples; the rule's condition becomes
``(cond) and not (exception 1) and not (exception 2) ...`` where each
exception matches when all its fields compare true against one value
tuple.  The text is built exactly as Falco builds it, so the compiled
condition prints the same.
"""

from __future__ import annotations

from typing import Any

from falco_engine.filter_ast import LIST_OPS, MODIFIERS, OPERATORS, STR_OPS, Compare
from falco_engine.filter_check import FilterCheckError, operand_type
from falco_engine.filter_parser import FilterSyntaxError, parse

from . import diagnostics as D

_SINGLE_FIELD_COMPS = ("in", "pmatch", "intersects")


def _normalize_comp(comp: str) -> str:
    return " ".join(comp.split())


def _is_comp(comp: str) -> bool:
    if comp in OPERATORS:
        return True
    parts = comp.split(" ")
    return len(parts) == 2 and parts[0] in STR_OPS and parts[1] in MODIFIERS


def _is_list_comp(comp: str) -> bool:
    return comp in LIST_OPS or " " in comp  # "startswith oneof" takes a list


def _field_defined(text: str) -> bool:
    """True if ``text`` names a known field (transformers allowed)."""
    try:
        node = parse(f"{text} exists")
    except FilterSyntaxError:
        return False
    if not isinstance(node, Compare):
        return False
    try:
        operand_type(node.left)
    except FilterCheckError:
        return False
    return True


def validate_exception(ex: dict[str, Any], check_fields: bool) -> None:
    """Check fields/comps shapes and fill default comps (in place)."""
    from .loader import LoadError  # local: loader imports this module
    ctx = ex["ctx"]

    def fail(message: str) -> None:
        raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE, message))

    fields, comps = ex["fields"], ex.get("comps")
    if isinstance(fields, list):
        if comps is None:
            comps = ["="] * len(fields)
        if not isinstance(comps, list):
            fail("Fields and comps must both be lists or both be strings")
        comps = [_normalize_comp(c) for c in comps]
        if len(fields) != len(comps):
            fail("Fields and comps lists must have equal length")
        for comp in comps:
            if not _is_comp(comp):
                fail(f"'{comp}' is not a supported comparison operator")
        if check_fields:
            for f in fields:
                if not _field_defined(f):
                    fail(f"'{f}' is not a supported filter field")
    else:
        if comps is None:
            comps = "in"
        if isinstance(comps, list):
            fail("Fields and comps must both be strings")
        comps = _normalize_comp(comps)
        if comps not in _SINGLE_FIELD_COMPS:
            fail("When fields is a single value, comps must be one of "
                 "(in, pmatch, intersects)")
        if check_fields and not _field_defined(fields):
            fail(f"'{fields}' is not a supported filter field")
    ex["comps"] = comps


def _quote(item: str) -> str:
    if " " in item and item[:1] not in ("'", '"'):
        return '"' + item + '"'
    return item


def build_exceptions_condition(cond: str, exceptions: list[dict[str, Any]],
                               ex_fields: list[str]) -> str:
    """``(cond) and not (...)`` for every exception with values.  A value
    tuple that does not fit the fields is the exception's error (as in
    Falco: the diagnostic names the exception, not the rule)."""
    from .loader import LoadError  # local: loader imports this module

    def fail(ex: dict[str, Any], message: str) -> None:
        raise LoadError(ex["ctx"].diag(D.LOAD_ERR_VALIDATE, message))

    out = "(" + cond + ")"
    for ex in exceptions:
        fields, comps, values = ex["fields"], ex["comps"], ex.get("values") or []
        if not isinstance(fields, list):
            items = []
            for val in values:
                if isinstance(val, list):
                    fail(ex, "Expected values array to contain a list of strings")
                items.append(_quote(val))
            if fields not in ex_fields:
                ex_fields.append(fields)
            icond = f"({fields} {comps} ({', '.join(items)}))" if items else ""
        else:
            alternatives = []
            for tup in values:
                if not isinstance(tup, list) or len(tup) != len(fields):
                    fail(ex, "Fields and values lists must have equal length")
                terms = []
                for field, comp, val in zip(fields, comps, tup):
                    if isinstance(val, list):
                        if any(isinstance(v, list) for v in val):
                            fail(ex, "Expected values array to contain a list of strings")
                        rhs = "(" + ", ".join(_quote(v) for v in val) + ")"
                    elif _is_list_comp(comp):
                        rhs = val if val.startswith("(") else "(" + val + ")"
                    else:
                        rhs = _quote(val)
                    terms.append(f"{field} {comp} {rhs}")
                    if field not in ex_fields:
                        ex_fields.append(field)
                alternatives.append("(" + " and ".join(terms) + ")")
            icond = "(" + " or ".join(alternatives) + ")" if alternatives else ""
        if icond:
            out += " and not " + icond
    return out
