"""Compile-level validation of a filter AST, and event-type extraction.

`check(node)` accepts or rejects a parsed condition the way the libsinsp
filter compiler does: every field must exist and take the argument it is
given, every operator must suit the field's type, every literal must be a
valid value of that type (numbers for numeric fields, CIDRs for IPNET,
even-length hex for ``bcontains`` ...), transformers must get inputs they
can transform.  It returns the compiler's warnings (a quoted value that
looks like a field name, a regex that could be a plain string test).

`evttypes(node)` computes the event types a condition can match, with
Falco's semantics, so rules can be indexed by event type.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable

from . import fields as _fields
from .fields import NUMERIC_TYPES, STRING_TYPES, FieldInfo
from .filter_ast import (
    FIELD_TRANSFORMERS, LIST_OPS, ArgList, BoolOp, Compare, FieldRef,
    Identifier, ListRef, ListValue, Node, Not, Transform, Value,
)

__all__ = ["CheckWarning", "EvtTypeError", "FilterCheckError", "check",
           "evttypes", "evttype_set", "operand_type"]

Resolver = Callable[[str], "tuple[FieldInfo, str | None] | None"]


class FilterCheckError(ValueError):
    """A condition that parses but does not compile.  ``pos`` = offset."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.node: object = None


class EvtTypeError(ValueError):
    """``evt.type`` used in a way its event types cannot be computed."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class CheckWarning:
    message: str
    pos: int


# --- type rules ---------------------------------------------------------------

_ALL_OPS = frozenset({"exists", "=", "==", "!=", "<", "<=", ">", ">=", "glob",
                      "iglob", "contains", "icontains", "bcontains",
                      "startswith", "bstartswith", "endswith", "regex", "in",
                      "intersects", "pmatch"})
_EQ_OPS = frozenset({"exists", "=", "==", "!=", "in", "intersects"})
_OPS_BY_FAMILY = {
    "num": _EQ_OPS | {"<", "<=", ">", ">="},
    "bool": _EQ_OPS,
    "ip": _EQ_OPS,
    "net": _EQ_OPS,
    "str": _ALL_OPS - {"bcontains", "bstartswith"},
    "bytes": _EQ_OPS | {"contains", "startswith", "endswith", "bcontains",
                        "bstartswith"},
    "any": _ALL_OPS,
    "addr": frozenset({"exists", "=", "==", "!=", "in"}),
}
# evt.rawarg takes the type of the named parameter; these parameters are
# socket addresses and tuples, which only support equality.
_RAWARG_ADDR = frozenset({"addr", "tuple", "sockaddr"})


def _family(ftype: str) -> str:
    if ftype in NUMERIC_TYPES:
        return "num"
    if ftype in STRING_TYPES:
        return "str"
    return {"BOOL": "bool", "IPADDR": "ip", "IPNET": "net", "BYTEBUF": "bytes",
            "DYNAMIC": "any", "SOCKADDR": "addr"}.get(ftype, "str")


@dataclass(frozen=True, slots=True)
class OperandType:
    type: str                    # Falco type name (DYNAMIC for evt.rawarg)
    list_valued: bool = False
    info: FieldInfo | None = None


_RX_INT = re.compile(r"[+-]?(?:[0-9]+|0[xX][0-9a-fA-F]+)")
_RX_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_RX_REGEX_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")
_RX_NOSPACE = re.compile(r"\s+")


# --- operand typing ------------------------------------------------------------

def _field_type(ref: FieldRef, resolve: Resolver) -> OperandType:
    found = resolve(ref.name)
    if found is None:
        hint = _fields.suggest(ref.name)
        msg = f"unknown field '{ref.name}'"
        raise FilterCheckError(msg + (f" (did you mean '{hint}'?)" if hint else ""), ref.pos)
    info, dotted = found
    arg = ref.arg
    if dotted is not None:
        if arg is not None:
            raise FilterCheckError(f"field '{ref.name}' has two arguments", ref.pos)
        arg = dotted
    kind = info.arg
    if arg is None:
        if info.arg_required:
            raise FilterCheckError(f"field '{info.name}' requires an argument", ref.pos)
    elif kind is _fields.Arg.NONE:
        raise FilterCheckError(f"field '{info.name}' does not take an argument", ref.pos)
    elif kind in (_fields.Arg.INDEX, _fields.Arg.INDEX_REQUIRED):
        if not arg.isdigit():
            raise FilterCheckError(
                f"field '{info.name}' needs a numeric index argument, got '{arg}'", ref.pos)
    elif arg == "":
        raise FilterCheckError(f"field '{info.name}' has an empty argument", ref.pos)
    ftype = info.type
    if info.dynamic_type:
        ftype = "SOCKADDR" if arg in _RAWARG_ADDR else "DYNAMIC"
    return OperandType(ftype, info.list_valued, info)


def operand_type(node: object, resolve: Resolver = _fields.resolve) -> OperandType:
    """Type of a left-hand operand (or of a val()/transformer right side)."""
    if isinstance(node, FieldRef):
        return _field_type(node, resolve)
    if not isinstance(node, Transform):
        raise FilterCheckError("expected a field or a transformer", getattr(node, "pos", 0))
    name = node.name
    if name in FIELD_TRANSFORMERS or name == "val":
        if node.arg is not None:
            raise FilterCheckError(f"transformer '{name}' does not support field arguments",
                                   node.pos)
        inner = operand_type(node.args[0], resolve)
        if name == "val":
            return inner
        fam = _family(inner.type)
        if inner.type == "DYNAMIC":
            raise FilterCheckError(f"transformer '{name}' is not supported on field "
                                   f"'{_describe(node.args[0])}' (type depends on the event)",
                                   node.pos)
        if name == "len":
            if fam not in ("str", "bytes") and not inner.list_valued:
                raise FilterCheckError(f"transformer 'len' does not support type {inner.type}",
                                       node.pos)
            return OperandType("UINT64")
        if fam not in ("str", "bytes") or inner.list_valued and name != "basename":
            raise FilterCheckError(f"transformer '{name}' does not support type {inner.type}",
                                   node.pos)
        return OperandType("CHARBUF", inner.list_valued)
    return _list_transformer_type(node, resolve)


def _scalar_arg(arg: object, resolve: Resolver, what: str, pos: int) -> None:
    if isinstance(arg, Value):
        return
    if isinstance(arg, ArgList):
        raise FilterCheckError(f"{what} does not accept a list here", pos)
    t = operand_type(arg, resolve)
    if t.list_valued:
        raise FilterCheckError(f"{what} does not accept the list field "
                               f"'{_describe(arg)}' here", pos)


def _list_transformer_type(node: Transform, resolve: Resolver) -> OperandType:
    name, args, pos = node.name, node.args, node.pos
    if name == "join":
        if len(args) != 2 or not isinstance(args[1], ArgList):
            raise FilterCheckError("join() takes a separator and a list: "
                                   "join(sep, (a, b, ...))", pos)
        _scalar_arg(args[0], resolve, "join() separator", pos)
        for item in args[1].items:
            _scalar_arg(item, resolve, "join() list item", pos)
    elif name == "concat":
        if len(args) < 2:
            raise FilterCheckError("concat() takes at least two arguments", pos)
        for item in args:
            _scalar_arg(item, resolve, "concat() argument", pos)
    elif name == "getopt":
        if len(args) != 2:
            raise FilterCheckError("getopt() takes an argument list and an option string", pos)
        if isinstance(args[0], Value):
            raise FilterCheckError("getopt() first argument must be a list or a field", pos)
        if isinstance(args[0], ArgList):
            for item in args[0].items:
                _scalar_arg(item, resolve, "getopt() argument", pos)
        else:
            operand_type(args[0], resolve)
        if not isinstance(args[1], Value) or not args[1].quoted:
            raise FilterCheckError("getopt() option string must be a quoted string", pos)
        if node.arg is not None:
            if node.arg == "":
                raise FilterCheckError("getopt() needs a non-empty option name argument", pos)
            return OperandType("CHARBUF")
        return OperandType("CHARBUF", list_valued=True)
    else:  # the parser only produces known transformer names
        raise FilterCheckError(f"unknown transformer '{name}'", pos)
    if node.arg is not None:
        raise FilterCheckError(f"transformer '{name}' does not support field arguments", pos)
    return OperandType("CHARBUF")


def _describe(node: object) -> str:
    from .filter_ast import to_string
    return to_string(node)


# --- values ---------------------------------------------------------------------

def _check_value(text: str, ltype: OperandType, op: str, pos: int) -> None:
    fam = _family(ltype.type)
    if fam == "num":
        if ltype.type == "DOUBLE":
            try:
                float(text)
            except ValueError:
                raise FilterCheckError(f"'{text}' is not a valid number", pos) from None
            return
        if ltype.type == "PORT" and not _RX_INT.fullmatch(text):
            # A service name, resolved when the condition compiles.
            if _fields.port_number(text) is None:
                raise FilterCheckError(f"unrecognized protocol '{text}'", pos)
            return
        if not _RX_INT.fullmatch(text):
            raise FilterCheckError(f"'{text}' is not a valid integer for a "
                                   f"{ltype.type} field", pos)
        if ltype.type == "PORT":
            if not 0 <= int(text, 0) <= 65535:
                raise FilterCheckError(f"'{text}' is not a valid port number", pos)
        return
    if fam == "bool":
        if text.lower() not in ("true", "false", "0", "1"):
            raise FilterCheckError(f"'{text}' is not a valid boolean (true or false)", pos)
        return
    if fam == "ip":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise FilterCheckError(f"'{text}' is not a valid IP address", pos) from None
        return
    if fam == "net":
        try:
            if "/" not in text:
                raise ValueError
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise FilterCheckError(f"'{text}' is not a valid network (CIDR, e.g. 10.0.0.0/8)",
                                   pos) from None
        return
    if fam == "bytes":
        if op in ("bcontains", "bstartswith") and not _RX_HEX.fullmatch(text):
            raise FilterCheckError(f"'{text}' is not a valid hex string for '{op}' "
                                   "(even number of hex digits)", pos)
        return
    if fam in ("str", "any"):
        if "\x00" in text:
            raise FilterCheckError("string values cannot contain NUL bytes", pos)
        if op == "regex":
            try:
                re.compile(text)
            except re.error as exc:
                raise FilterCheckError(f"invalid regular expression '{text}': {exc}", pos) from None


def _value_warnings(text: str, pos: int, op: str, resolve: Resolver,
                    out: list[CheckWarning]) -> None:
    nospace = _RX_NOSPACE.sub("", text)
    if "." in nospace and (resolve(nospace) is not None
                           or ("[" in nospace and nospace.endswith("]")
                               and resolve(nospace.split("[", 1)[0]) is not None)):
        out.append(CheckWarning(f"'{text}' may be a valid field misused as a const string value",
                                pos))
    for t in ("val",) + FIELD_TRANSFORMERS:
        if (len(nospace) >= len(t) + 2 and nospace.startswith(t + "(")
                and nospace.endswith(")")):
            out.append(CheckWarning(f"'{text}' may be a valid field transformer misused "
                                    "as a const string value", pos))
    if op == "regex" and not _RX_REGEX_SPECIAL.search(text):
        out.append(CheckWarning(f"regex check with '{text}' may be optimized with simpler "
                                "operators such as '=', 'contains', 'startswith', 'endswith'",
                                pos))


# --- the checker ----------------------------------------------------------------

def _check_compare(node: Compare, resolve: Resolver, warnings: list[CheckWarning]) -> None:
    ltype = operand_type(node.left, resolve)
    op = node.op
    fam = _family(ltype.type)
    if op not in _OPS_BY_FAMILY[fam]:
        raise FilterCheckError(f"operator '{op}' is not supported on "
                               f"'{_describe(node.left)}' (type {ltype.type})", node.pos)
    right = node.right
    if right is None:
        return
    if isinstance(right, Transform):
        if op == "regex":
            raise FilterCheckError("operator 'regex' does not support a field on the "
                                   "right-hand side", right.pos)
        rtype = operand_type(right, resolve)
        for side in (ltype, rtype):
            if side.info is not None and side.info.no_rhs:
                raise FilterCheckError(f"field '{side.info.name}' cannot be compared "
                                       "with another field", right.pos)
        rfam = _family(rtype.type)
        if "any" not in (fam, rfam) and fam != rfam:
            raise FilterCheckError(f"cannot compare {ltype.type} '{_describe(node.left)}' "
                                   f"with {rtype.type} '{_describe(right)}'", right.pos)
        return
    if isinstance(right, ListValue):
        items = right.items
    elif isinstance(right, ListRef):
        items = (right.name,)
    else:
        items = (right.text,)  # type: ignore[union-attr]
    if op in ("bcontains", "bstartswith") and isinstance(right, Value) and right.quoted \
            and fam == "bytes" and not _RX_HEX.fullmatch(right.text):
        raise FilterCheckError(f"'{op}' needs a hex string", right.pos)
    for text in items:
        _check_value(text, ltype, op, right.pos)
        if fam in ("str", "any") and op not in LIST_OPS:
            _value_warnings(text, right.pos, op, resolve, warnings)
        elif fam in ("str", "any") and isinstance(right, ListValue):
            _value_warnings(text, right.pos, op, resolve, warnings)


def check(node: Node, resolve: Resolver = _fields.resolve) -> list[CheckWarning]:
    """Validate ``node`` against the field catalog.

    Raises `FilterCheckError` on the first problem (as the libsinsp
    compiler does); returns the list of non-fatal warnings.  ``resolve``
    maps a field name to ``(FieldInfo, dotted_arg)`` and defaults to the
    syscall catalog; tests pass their own for mock fields.
    """
    warnings: list[CheckWarning] = []
    stack: list[object] = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, BoolOp):
            stack.extend(reversed(cur.children))
        elif isinstance(cur, Not):
            stack.append(cur.child)
        elif isinstance(cur, Compare):
            try:
                _check_compare(cur, resolve, warnings)
            except FilterCheckError as exc:
                exc.node = cur  # lets callers tell which check (and macro) failed
                raise
        elif isinstance(cur, Identifier):
            raise FilterCheckError(f"undefined macro '{cur.name}'", cur.pos)
    return warnings


# --- event types ----------------------------------------------------------------
# A set of event type names is kept as (cofinite, names): cofinite=False is
# exactly `names`; cofinite=True is every event type except `names`.  That is
# closed under union, intersection and complement without needing the full
# list of event names.

EvtSet = tuple[bool, frozenset]
_ALL: EvtSet = (True, frozenset())
_NONE: EvtSet = (False, frozenset())


def _union(a: EvtSet, b: EvtSet) -> EvtSet:
    if not a[0] and not b[0]:
        return False, a[1] | b[1]
    if a[0] and b[0]:
        return True, a[1] & b[1]
    co, fin = (a, b) if a[0] else (b, a)
    return True, co[1] - fin[1]


def _intersect(a: EvtSet, b: EvtSet) -> EvtSet:
    if not a[0] and not b[0]:
        return False, a[1] & b[1]
    if a[0] and b[0]:
        return True, a[1] | b[1]
    co, fin = (a, b) if a[0] else (b, a)
    return False, fin[1] - co[1]


def _is_evt_type(operand: object) -> bool:
    return isinstance(operand, FieldRef) and operand.name == "evt.type" and operand.arg is None


def _touches_evt_type(operand: object) -> bool:
    if isinstance(operand, FieldRef):
        return operand.name == "evt.type"
    if isinstance(operand, Transform):
        return any(_touches_evt_type(a) for a in operand.args)
    if isinstance(operand, ArgList):
        return any(_touches_evt_type(a) for a in operand.items)
    return False


def _compare_set(node: Compare) -> EvtSet:
    left, right = node.left, node.right
    if isinstance(left, Transform) and _touches_evt_type(left):
        raise EvtTypeError("evt.type cannot be used with a transformer when "
                           "computing event types", node.pos)
    if not _is_evt_type(left):
        return _ALL
    if isinstance(right, Transform):
        raise EvtTypeError("evt.type cannot be compared with a transformer or "
                           "another field when computing event types", right.pos)
    if isinstance(right, Value):
        names = frozenset((right.text,))
    elif isinstance(right, ListValue):
        names = frozenset(right.items)
    elif isinstance(right, ListRef):
        names = frozenset((right.name,))
    else:
        return _ALL  # exists
    op, mod = node.op, node.modifier
    if op in ("=", "==") and mod in (None, "oneof", "anyof"):
        return False, names
    if op in ("=", "==") and mod == "allof":
        return (False, names) if len(names) <= 1 else _NONE
    if op == "in":
        return False, names
    if op == "!=" and (mod in (None, "oneof", "allof") or len(names) <= 1):
        return True, names
    return _ALL


def evttype_set(node: Node, negated: bool = False) -> EvtSet:
    """Event types as ``(cofinite, names)``, following libsinsp's rules:
    checks not on ``evt.type`` match every type, negated or not; ``and``
    and ``or`` swap under negation (De Morgan)."""
    if isinstance(node, BoolOp):
        sets = [evttype_set(c, negated) for c in node.children]
        combine = _intersect if (node.op == "and") != negated else _union
        result = sets[0]
        for s in sets[1:]:
            result = combine(result, s)
        return result
    if isinstance(node, Not):
        return evttype_set(node.child, not negated)
    if isinstance(node, Compare):
        s = _compare_set(node)
        if negated and _is_evt_type(node.left):
            return not s[0], s[1]
        return s
    return _ALL


def evttypes(node: Node) -> set[str] | None:
    """Event type names ``node`` can match; None means (nearly) all of them.

    An empty set means the condition can never match any event type
    (``evt.type = open and evt.type = close``).  Raises `EvtTypeError`
    when ``evt.type`` is used through a transformer, as Falco does.
    """
    cofinite, names = evttype_set(node)
    return None if cofinite else set(names)
