"""Recursive-descent parser for the Falco filter language.

``parse(text)`` returns a `filter_ast` node or raises `FilterSyntaxError`.
The accepted language is the libsinsp one, token for token, because rule
files written for Falco must parse here unchanged and rule files Falco
rejects must be rejected here too (the conditions.jsonl corpus pins the
corner cases).  A hand-written parser is used rather than a generator
because the libsinsp grammar is defined by its lexer's quirks (operators
that must be followed by a blank, ``not`` that needs a blank or ``(``,
``oneof`` that is a modifier or a plain word depending on what follows),
which a generator would only obscure.

Grammar sketch (``_`` = optional blanks)::

    or        := and (_ "or" (blank and | "(" embedded))*
    and       := not (_ "and" (blank not | "(" embedded))*
    not       := ("not" blank)* ("not(" embedded | check)
    embedded  := _ or _ ")"
    check     := "(" embedded | operand condition | identifier
    operand   := fieldname ["[" arg "]"]
               | ftransformer "(" _ operand _ ")" ["[" arg "]"]
               | ltransformer "(" _ [targ (_ "," _ targ)*] _ ")" ["[" arg "]"]
    condition := _ "exists"
               | _ numop _ (transformer | number)
               | _ strop [blank modifier blank (list | identifier)]
                          _ (transformer | quoted | barestr)
               | _ listop _ (list | transformer | identifier)
    list      := "(" _ [strval (_ "," _ strval)*] _ ")"
"""

from __future__ import annotations

import re

from .filter_ast import (
    FIELD_TRANSFORMERS, LIST_TRANSFORMERS, MODIFIERS, NUM_OPS, ArgList,
    BoolOp, Compare, FieldRef, Identifier, ListRef, ListValue, Node, Not,
    Transform, Value, line_col,
)

__all__ = ["FilterSyntaxError", "parse", "unescape"]

_BLANKS = " \t\b\r\n"
_RX_NOT_BLANK = re.compile(r"not[ \t\b\r\n]+")
_RX_IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RX_FIELDNAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
_RX_FIELDARG_BARE = re.compile(r"[^ \t\b\r\n\[\]\"']+")
_RX_HEXNUM = re.compile(r"0[xX][0-9a-zA-Z]+")
_RX_NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
_RX_BARESTR = re.compile(r"[^ \t\b\r\n(),=\"']+")
_RX_MODIFIER = re.compile("(" + "|".join(MODIFIERS) + r")[ \t\b\r\n]+")

# String operators keep their trailing blank: libsinsp requires one after
# word operators (``containsvalue`` is an error), not after ``=``/``!=``.
_STR_OPS = ("==", "=", "!=", "glob ", "iglob ", "contains ", "icontains ",
            "bcontains ", "startswith ", "bstartswith ", "endswith ",
            "regex ")
_LIST_OPS = ("intersects", "in", "pmatch")
_TRANSFORMER_OPENERS = tuple(t + "(" for t in FIELD_TRANSFORMERS + LIST_TRANSFORMERS)

# Parenthesis nesting allowed before giving up (keeps clear of Python's
# recursion limit; Falco's own limit is deeper but no real rule needs it).
MAX_DEPTH = 150


class FilterSyntaxError(ValueError):
    """A condition that does not parse.  ``pos`` is a 0-based offset."""

    def __init__(self, message: str, pos: int, text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.text = text

    @property
    def line_col(self) -> tuple[int, int]:
        return line_col(self.text, self.pos)

    def __str__(self) -> str:
        line, col = self.line_col
        return f"{self.message} (at line {line}, column {col})"


def unescape(token: str) -> str:
    """Unescape a quoted token (delimiters included), as libsinsp does."""
    delim = token[0]
    out: list[str] = []
    i, end = 1, len(token) - 1
    while i < end:
        c = token[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= end:
            break
        e = token[i]
        simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                  # "\ " is accepted as a backslash for old rule files.
                  " ": "\\", "\\": "\\", "/": "/"}
        if e in simple:
            out.append(simple[e])
        elif e in "\"'":
            if e != delim:
                other = "'" if e == '"' else '"'
                raise ValueError(f"invalid \\{e} escape in {other}-quoted string")
            out.append(e)
        elif e == "x" and i + 2 < end and re.fullmatch(r"[0-9a-fA-F]{2}", token[i + 1:i + 3]):
            out.append(chr(int(token[i + 1:i + 3], 16)))
            i += 2
        else:
            raise ValueError(f"unsupported string escape sequence: \\{e}")
        i += 1
    return "".join(out)


class _Parser:
    __slots__ = ("text", "i", "last", "depth")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.last = ""
        self.depth = 0

    # --- lexing helpers ---------------------------------------------------
    def error(self, message: str, pos: int | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.i if pos is None else pos, self.text)

    def blank(self) -> bool:
        text, i, n = self.text, self.i, len(self.text)
        start = i
        while i < n and text[i] in _BLANKS:
            i += 1
        self.i = i
        return i > start

    def lit(self, s: str) -> bool:
        if self.text.startswith(s, self.i):
            self.i += len(s)
            self.last = s
            return True
        return False

    def lit_any(self, options: tuple[str, ...]) -> str | None:
        for s in options:
            if self.text.startswith(s, self.i):
                self.i += len(s)
                self.last = s
                return s
        return None

    def rx(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.i)
        if m is None:
            return None
        self.i = m.end()
        self.last = m.group(0)
        return self.last

    def quoted(self) -> str | None:
        text, start = self.text, self.i
        if start >= len(text) or text[start] not in "'\"":
            return None
        delim = text[start]
        prev = "\\"  # makes the opening delimiter not count as the closing one
        i = start
        while i < len(text):
            c = text[i]
            if c == delim and prev != "\\":
                token = text[start:i + 1]
                try:
                    value = unescape(token)
                except ValueError as exc:
                    raise self.error(str(exc), start) from None
                self.i = i + 1
                self.last = token
                return value
            prev = c
            i += 1
        return None

    # --- grammar ------------------------------------------------------------
    def parse(self) -> Node:
        if not self.text:
            raise self.error("filter input string is empty", 0)
        node = self.parse_or()
        if self.i != len(self.text):
            raise self.error(f"unexpected token after '{self.last}', expecting 'or', 'and'")
        return node

    def parse_or(self) -> Node:
        self.blank()
        pos = self.i
        children = [self.parse_and()]
        self.blank()
        while self.lit("or"):
            if self.blank():
                children.append(self.parse_and())
            elif self.lit("("):
                children.append(self.embedded())
            else:
                raise self.error("expected blank or '(' after 'or'")
            self.blank()
        return children[0] if len(children) == 1 else BoolOp("or", tuple(children), pos)

    def parse_and(self) -> Node:
        self.blank()
        pos = self.i
        children = [self.parse_not()]
        self.blank()
        while self.lit("and"):
            if self.blank():
                children.append(self.parse_not())
            elif self.lit("("):
                children.append(self.embedded())
            else:
                raise self.error("expected blank or '(' after 'and'")
            self.blank()
        return children[0] if len(children) == 1 else BoolOp("and", tuple(children), pos)

    def parse_not(self) -> Node:
        self.blank()
        pos = self.i
        negate = False
        while self.rx(_RX_NOT_BLANK):
            negate = not negate
        if self.lit("not("):
            negate = not negate
            child = self.embedded()
        else:
            child = self.parse_check()
        return Not(child, pos) if negate else child

    def embedded(self) -> Node:
        """The rest of a parenthesised expression, after its '('."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"exceeded max depth limit of {MAX_DEPTH}")
        self.blank()
        child = self.parse_or()
        self.blank()
        if not self.lit(")"):
            raise self.error("expected a ')' token")
        self.depth -= 1
        return child

    def parse_check(self) -> Node:
        self.blank()
        pos = self.i
        if self.lit("("):
            return self.embedded()
        name = self.rx(_RX_FIELDNAME)
        if name is not None:
            left = self.field_remainder(name, pos)
            return self.condition(left, pos)
        opener = self.lit_any(_TRANSFORMER_OPENERS)
        if opener is not None:
            left = self.transformer_remainder(opener[:-1], pos)
            return self.condition(left, pos)
        name = self.rx(_RX_IDENTIFIER)
        if name is not None:
            return Identifier(name, pos)
        raise self.error("expected a '(' token, a field check, or an identifier")

    def field_arg(self) -> str | None:
        if not self.lit("["):
            return None
        arg = self.quoted()
        if arg is None:
            arg = self.rx(_RX_FIELDARG_BARE)
        if arg is None:
            raise self.error("expected a valid field argument: a quoted string or a bare string")
        if not self.lit("]"):
            raise self.error("expected a ']' token")
        return arg

    def field_remainder(self, name: str, pos: int) -> FieldRef:
        return FieldRef(name, self.field_arg(), pos)

    def transformer_remainder(self, name: str, pos: int) -> Transform:
        """The rest of ``name(...)`` after the '('."""
        # Transformers nest like parentheses: the same depth limit keeps
        # tolower(tolower(...)) clear of Python's recursion limit.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"exceeded max depth limit of {MAX_DEPTH}")
        self.blank()
        if name in LIST_TRANSFORMERS:
            args = self.call_args()
        else:
            arg_pos = self.i
            opener = self.lit_any(_TRANSFORMER_OPENERS)
            if opener is not None:
                child: object = self.transformer_remainder(opener[:-1], arg_pos)
            else:
                field = self.rx(_RX_FIELDNAME)
                if field is None:
                    raise self.error("expected a field or a nested valid transformer: "
                                     + ", ".join(f"'{t}'" for t in ("val",) + FIELD_TRANSFORMERS))
                child = self.field_remainder(field, arg_pos)
            self.blank()
            if not self.lit(")"):
                raise self.error("expected a ')' token closing the transformer")
            args = (child,)
        self.depth -= 1
        return Transform(name, tuple(args), self.field_arg(), pos)

    def call_args(self) -> list[object]:
        """Arguments of a list transformer, up to and including ')'."""
        args: list[object] = []
        if self.lit(")"):
            return args
        while True:
            self.blank()
            pos = self.i
            if self.lit("("):
                items: list[object] = []
                self.blank()
                if not self.lit(")"):
                    while True:
                        self.blank()
                        items.append(self.call_item())
                        self.blank()
                        if self.lit(","):
                            continue
                        if self.lit(")"):
                            break
                        raise self.error("expected ',' or ')' in transformer argument list")
                args.append(ArgList(tuple(items), pos))
            else:
                args.append(self.call_item())
            self.blank()
            if self.lit(","):
                continue
            if self.lit(")"):
                return args
            raise self.error("expected ',' or ')' closing the transformer")

    def call_item(self) -> object:
        pos = self.i
        opener = self.lit_any(_TRANSFORMER_OPENERS)
        if opener is not None:
            return self.transformer_remainder(opener[:-1], pos)
        name = self.rx(_RX_FIELDNAME)
        if name is not None:
            return self.field_remainder(name, pos)
        text = self.quoted()
        if text is not None:
            return Value(text, True, pos)
        num = self.rx(_RX_HEXNUM) or self.rx(_RX_NUMBER)
        if num is not None:
            return Value(num, False, pos)
        raise self.error("expected a field, a transformer, a quoted string or a number")

    def condition(self, left: object, pos: int) -> Compare:
        self.blank()
        if self.lit("exists"):
            return Compare(left, "exists", None, None, pos)
        op = self.lit_any(NUM_OPS)
        if op is not None:
            return Compare(left, op, self.num_value(), None, pos)
        op = self.lit_any(_STR_OPS)
        if op is not None:
            modifier, right = self.maybe_modifier(op)
            if modifier is None:
                right = self.str_value(allow_transformer=True)
            return Compare(left, op.strip(), right, modifier, pos)
        op = self.lit_any(_LIST_OPS)
        if op is not None:
            return Compare(left, op, self.list_value(), None, pos)
        raise self.error("expected a valid check operator: one of "
                         + ", ".join(f"'{o.strip()}'" for o in
                                     ("exists",) + NUM_OPS + _STR_OPS + _LIST_OPS))

    def maybe_modifier(self, op: str) -> tuple[str | None, object]:
        """``== oneof (a, b)``: a modifier is only a modifier when a blank
        precedes it and a list or a list name (not and/or) follows it;
        otherwise ``oneof`` is an ordinary bare-string value."""
        start = self.i
        if not (op.endswith(" ") or self.blank()):
            return None, None
        m = _RX_MODIFIER.match(self.text, self.i)
        if m is not None:
            after = m.end()
            if self.text.startswith("(", after):
                self.i = after
                return m.group(1), self.list_literal()
            ident = _RX_IDENTIFIER.match(self.text, after)
            if ident is not None and ident.group(0) not in ("and", "or"):
                self.i = ident.end()
                self.last = ident.group(0)
                return m.group(1), ListRef(ident.group(0), after)
        self.i = start
        return None, None

    def num_value(self) -> object:
        self.blank()
        pos = self.i
        res = self.transformer_or_val()
        if res is not None:
            return res
        num = self.rx(_RX_HEXNUM) or self.rx(_RX_NUMBER)
        if num is not None:
            return Value(num, False, pos)
        raise self.error("expected a number value or a field with a valid transformer")

    def str_value(self, allow_transformer: bool) -> object:
        self.blank()
        pos = self.i
        if allow_transformer:
            res = self.transformer_or_val()
            if res is not None:
                return res
        text = self.quoted()
        if text is not None:
            return Value(text, True, pos)
        bare = self.rx(_RX_BARESTR)
        if bare is not None:
            return Value(bare, False, pos)
        raise self.error("expected a string value" if not allow_transformer else
                         "expected a string value or a field with a valid transformer")

    def list_literal(self) -> ListValue:
        """``(a, 'b', c)`` starting at '('."""
        pos = self.i
        self.lit("(")
        self.blank()
        items: list[str] = []
        save = self.i
        try:
            first = self.str_value(allow_transformer=False)
        except FilterSyntaxError:
            self.i = save  # libsinsp: a failed first item means "empty list"
        else:
            items.append(first.text)  # type: ignore[attr-defined]
            self.blank()
            while self.lit(","):
                items.append(self.str_value(allow_transformer=False).text)  # type: ignore[attr-defined]
                self.blank()
        if not self.lit(")"):
            raise self.error("expected a ')' token")
        return ListValue(tuple(items), pos)

    def list_value(self) -> object:
        self.blank()
        pos = self.i
        if self.text.startswith("(", self.i):
            return self.list_literal()
        res = self.transformer_or_val()
        if res is not None:
            return res
        name = self.rx(_RX_IDENTIFIER)
        if name is not None:
            return ListRef(name, pos)
        raise self.error("expected a list, an identifier, or a field with a valid transformer")

    def transformer_or_val(self) -> Transform | None:
        self.blank()
        pos = self.i
        if self.lit("val("):
            self.blank()
            field_pos = self.i
            name = self.rx(_RX_FIELDNAME)
            if name is None:
                raise self.error("expected a field within 'val' transformer")
            child = self.field_remainder(name, field_pos)
            self.blank()
            if not self.lit(")"):
                raise self.error("expected a ')' token closing the transformer")
            return Transform("val", (child,), self.field_arg(), pos)
        opener = self.lit_any(_TRANSFORMER_OPENERS)
        if opener is not None:
            return self.transformer_remainder(opener[:-1], pos)
        return None


def parse(text: str) -> Node:
    """Parse a filter condition into an AST (see `filter_ast`)."""
    return _Parser(text).parse()

