"""Typed AST for Falco filter conditions.

The parser (`filter_parser.parse`) builds these nodes; the checker
(`filter_check`) validates them against the field catalog; the rule loader
expands macros by substituting `Identifier` nodes; a compiler walks the
result once to build evaluators.

Every node is an immutable, slotted dataclass and carries ``pos``: the
0-based character offset in the condition text where the node starts.
Line and column are only computed when an error needs them
(`line_col`), so building the tree stays cheap.

Node kinds
----------
Boolean structure (what a condition is made of):
    BoolOp(op="and"|"or", children)   n-ary, children in source order
    Not(child)
    Identifier(name)                  a bare word: a macro reference
    Compare(left, op, right, modifier)
        ``left``  an operand (FieldRef or Transform)
        ``op``    one of OPERATORS (``exists`` has ``right=None``)
        ``right`` Value | ListValue | ListRef | Transform | None
        ``modifier`` None or "oneof" / "anyof" / "allof"
            (``proc.name startswith oneof (a, b)``)

Operands (what a comparison reads):
    FieldRef(name, arg)               ``proc.aname[2]``; ``arg`` is None
                                      when no ``[...]`` was written
    Transform(name, args, arg)        ``tolower(proc.name)``,
                                      ``val(proc.pname)``,
                                      ``join("-", (fd.name, "x"))``;
                                      ``args`` are operands, Values or
                                      ArgLists; ``arg`` is an optional
                                      ``[...]`` after the closing paren
    Value(text, quoted)               literal (already unescaped)
    ListValue(items)                  ``(a, "b c", 3)`` on the right of a
                                      list operator or modifier
    ListRef(name)                     ``in my_list`` (bare list name)
    ArgList(items)                    a parenthesised list inside a
                                      transformer call: ``join(",", (a, b))``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# Operators in the order the libsinsp grammar lexes them.
UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
STR_OPS = ("==", "=", "!=", "glob", "iglob", "contains", "icontains",
           "bcontains", "startswith", "bstartswith", "endswith", "regex")
LIST_OPS = ("intersects", "in", "pmatch")
OPERATORS = UNARY_OPS + NUM_OPS + STR_OPS + LIST_OPS
MODIFIERS = ("oneof", "anyof", "allof")

# Transformers that take exactly one field (or nested transformer).
FIELD_TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")
# Transformers that take a list of arguments.
LIST_TRANSFORMERS = ("join", "concat", "getopt")
# `val(field)`: right-hand side only, compares against another field.
VAL_TRANSFORMER = "val"


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field read, e.g. ``proc.name`` or ``evt.arg[0]``."""
    name: str
    arg: str | None = None
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: bare word, number or quoted string (unescaped)."""
    text: str
    quoted: bool = False
    pos: int = 0


@dataclass(frozen=True, slots=True)
class ArgList:
    """A parenthesised argument list inside a list transformer call."""
    items: tuple["Operand | Value", ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Transform:
    """A transformer applied to operands: ``tolower(proc.name)``."""
    name: str
    args: tuple["Operand | Value | ArgList", ...]
    arg: str | None = None
    pos: int = 0


@dataclass(frozen=True, slots=True)
class ListValue:
    """A literal list: ``(a, "b c")``; items are unescaped strings."""
    items: tuple[str, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class ListRef:
    """A bare list name on the right of a list operator: ``in my_list``."""
    name: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` (``right`` is None for ``exists``)."""
    left: "Operand"
    op: str
    right: "Value | ListValue | ListRef | Transform | None" = None
    modifier: str | None = None
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Identifier:
    """A bare identifier in boolean position: a macro reference."""
    name: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Not:
    child: "Node"
    pos: int = 0


@dataclass(frozen=True, slots=True)
class BoolOp:
    """n-ary ``and`` / ``or``: ``a and b and c`` is one node."""
    op: str
    children: tuple["Node", ...]
    pos: int = 0


Operand = Union[FieldRef, Transform]
Node = Union[BoolOp, Not, Compare, Identifier]


# --- rendering --------------------------------------------------------------
# The text form follows the libsinsp AST printer, so expanded conditions can
# be compared with Falco's (`get_compiled_rule_condition`): n-ary and/or are
# parenthesised, single checks are not, and values needing it are quoted.

_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\\": "\\\\", '"': '\\"'}
_QUOTE_TRIGGERS = frozenset("\b\f\n\r\t \\\"'")


# Characters a bare value may hold and still read back as the same value
# in any filter parser (libsinsp's included).
_BARE_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789_./:*-+@%~?[]!$")


def quote(text: str, reparse: bool = False) -> str:
    """Render a string value, quoting it only when the printer would (or,
    with `reparse`, whenever another parser could read it differently)."""
    if reparse:
        if text and all(c in _BARE_SAFE for c in text):
            return text
        # Older parsers take no escapes inside quotes: pick the quote
        # character the value does not contain where one exists.
        if '"' in text and "'" not in text and "\\" not in text:
            return "'" + text + "'"
    elif not any(c in _QUOTE_TRIGGERS for c in text):
        return text
    return '"' + "".join(_ESCAPES.get(c, c) for c in text) + '"'


def to_string(node: object, reparse: bool = False) -> str:
    """Render any node back to condition text (canonical spacing).

    `reparse=True` quotes every value that is not plainly bare, for text
    handed to another filter parser (sysdig) rather than compared with
    Falco's printed conditions."""
    if reparse:
        return _render(node, True)
    return _render(node, False)


def _arg(node: object, rp: bool) -> str:
    """A transformer argument: string literals there must be quoted for a
    parser to read them back."""
    if rp and isinstance(node, Value) and not node.text.lstrip("-").isdigit():
        return '"' + "".join(_ESCAPES.get(c, c) for c in node.text) + '"'
    return _render(node, rp)


def _render(node: object, rp: bool) -> str:
    to_string = lambda n: _render(n, rp)  # noqa: E731  (recursion keeps the flag)
    if isinstance(node, BoolOp):
        sep = f" {node.op} "
        return "(" + sep.join(to_string(c) for c in node.children) + ")"
    if isinstance(node, Not):
        if rp and isinstance(node.child, Not):
            return "not (" + to_string(node.child) + ")"
        return "not " + to_string(node.child)
    if isinstance(node, Identifier):
        return node.name
    if isinstance(node, Compare):
        out = to_string(node.left) + " " + node.op
        if node.modifier:
            out += " " + node.modifier
        if node.right is not None:
            out += " " + to_string(node.right)
        return out
    if isinstance(node, FieldRef):
        if node.arg is None:
            return node.name
        arg = node.arg
        if rp and not (arg and all(c in _BARE_SAFE and c not in "[]" for c in arg)):
            arg = '"' + "".join(_ESCAPES.get(c, c) for c in arg) + '"'
        return f"{node.name}[{arg}]"
    if isinstance(node, Transform):
        out = node.name + "(" + ", ".join(_arg(a, rp) for a in node.args) + ")"
        return out if node.arg is None else f"{out}[{node.arg}]"
    if isinstance(node, Value):
        return quote(node.text, rp)
    if isinstance(node, ListValue):
        return "(" + ", ".join(quote(i, rp) for i in node.items) + ")"
    if isinstance(node, ArgList):
        return "(" + ", ".join(_arg(i, rp) for i in node.items) + ")"
    if isinstance(node, ListRef):
        return node.name
    raise TypeError(f"not an AST node: {node!r}")


def walk(node: object):
    """Yield ``node`` and every node below it, depth first."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        if isinstance(cur, BoolOp):
            stack.extend(reversed(cur.children))
        elif isinstance(cur, Not):
            stack.append(cur.child)
        elif isinstance(cur, Compare):
            if cur.right is not None:
                stack.append(cur.right)
            stack.append(cur.left)
        elif isinstance(cur, Transform):
            stack.extend(reversed(cur.args))
        elif isinstance(cur, ArgList):
            stack.extend(reversed(cur.items))


def base_field(operand: object) -> FieldRef | None:
    """The field an operand finally reads through single-field transformers."""
    while isinstance(operand, Transform):
        if operand.name in LIST_TRANSFORMERS or len(operand.args) != 1:
            return None
        operand = operand.args[0]
    return operand if isinstance(operand, FieldRef) else None
