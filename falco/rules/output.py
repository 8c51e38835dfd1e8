"""Validation of rule ``output`` format strings.

An output is text with ``%field`` (or ``%field[arg]``, ``%evt.arg.name``,
``%tolower(proc.name)``) placeholders; every placeholder must name a
field of the source, as Falco's formatter requires.
"""

from __future__ import annotations

import re

from falco_engine import fields as _fields
from falco_engine.filter_ast import FIELD_TRANSFORMERS

_RX_TOKEN = re.compile(
    r"%(?:(?P<tr>" + "|".join(FIELD_TRANSFORMERS) + r")\(\s*)?"
    r"(?P<field>[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+)(?P<arg>\[[^\]]*\])?")
# Any %word: a token that is not a field is an error, as in Falco's
# formatter (a literal percent sign is "%" not followed by a letter).
_RX_ANY_TOKEN = re.compile(r"%([a-zA-Z_][a-zA-Z0-9_.]*)")


def output_fields(fmt: str) -> list[str]:
    """Field names referenced by an output format, in order."""
    return [m.group("field") for m in _RX_TOKEN.finditer(fmt)]


def check_output(fmt: str) -> str | None:
    """None if every placeholder is a known field, else an error message."""
    for m in _RX_ANY_TOKEN.finditer(fmt):
        word = m.group(1).rstrip(".")
        if word in FIELD_TRANSFORMERS:
            continue
        if _fields.lookup(word) is None:
            hint = _fields.suggest(word)
            return (f"invalid formatting token %{word}: unknown field '{word}'"
                    + (f" (did you mean '{hint}'?)" if hint else ""))
    for m in _RX_TOKEN.finditer(fmt):
        name = m.group("field")
        info = _fields.lookup(name)
        if info is None:
            hint = _fields.suggest(name)
            return (f"invalid formatting token %{name}: unknown field '{name}'"
                    + (f" (did you mean '{hint}'?)" if hint else ""))
        found = _fields.resolve(name)
        has_arg = m.group("arg") is not None or (found is not None and found[1] is not None)
        if info.arg_required and not has_arg:
            return f"invalid formatting token %{name}: field '{name}' requires an argument"
    return None
