"""Filter parser: the libsinsp parse-level corpus plus focused AST checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_engine.filter_ast import (
    BoolOp, Compare, FieldRef, Identifier, ListRef, ListValue, Not, Transform, Value,
    line_col, to_string,
)
from falco_engine.filter_check import EvtTypeError, evttypes
from falco_engine.filter_parser import FilterSyntaxError, parse

from conftest import COMPAT  # noqa: E402  (one place decides where the data is)
CONDITIONS = COMPAT / "conditions.jsonl"


def _records(level: str) -> list[dict]:
    if not CONDITIONS.exists():
        return []
    recs = [json.loads(line) for line in CONDITIONS.read_text().splitlines() if line.strip()]
    return [r for r in recs if r["level"] == level]


def _rid(rec: dict) -> str:
    src = rec["source"].rsplit("/", 1)[-1].split(".")[0]
    verdict = "ok" if rec["valid"] else "bad"
    return f"{src}:{rec['line']}:{verdict}:{rec['condition'][:60]}"


@pytest.mark.parametrize("rec", _records("parse"), ids=_rid)
def test_parse_level_corpus(rec: dict) -> None:
    """Every parse-level record is accepted or rejected as libsinsp does.

    The filter_ppm_codes records parse and then ask for the event codes:
    evt.type behind a transformer must be refused at that step."""
    ppm = "filter_ppm_codes" in rec["source"]
    try:
        node = parse(rec["condition"])
        if ppm:
            evttypes(node)
        accepted = True
    except (FilterSyntaxError, EvtTypeError):
        accepted = False
    assert accepted == rec["valid"]


@pytest.mark.parametrize("rec", [r for level in ("compile", "eval", "mock_eval")
                                 for r in _records(level) if r["valid"]], ids=_rid)
def test_valid_higher_level_records_parse(rec: dict) -> None:
    parse(rec["condition"])


def test_ast_shape_and_positions() -> None:
    node = parse("evt.type in (open, 'a b') and not proc.aname[2] = bash or m")
    assert isinstance(node, BoolOp) and node.op == "or"
    first, macro = node.children
    assert isinstance(macro, Identifier) and macro.name == "m"
    assert isinstance(first, BoolOp) and first.op == "and"
    cmp, neg = first.children
    assert cmp == Compare(FieldRef("evt.type", None, 0), "in",
                          ListValue(("open", "a b"), 12), None, 0)
    assert isinstance(neg, Not)
    inner = neg.child
    assert inner.left == FieldRef("proc.aname", "2", 34) and inner.right == Value("bash", False, 50)


def test_transformers_modifiers_and_val() -> None:
    node = parse("tolower(proc.name) startswith oneof (a, b)")
    assert node.left == Transform("tolower", (FieldRef("proc.name", None, 8),), None, 0)
    assert node.modifier == "oneof" and node.right.items == ("a", "b")
    node = parse("proc.name == oneof my_list")
    assert node.right == ListRef("my_list", 19)
    node = parse("proc.name = oneof and fd.name exists")
    assert node.children[0].right == Value("oneof", False, 12)
    node = parse("proc.name = val(proc.pname)")
    assert node.right.name == "val"
    node = parse('join("-", (fd.name, "x", 1)) = a')
    assert to_string(node) == 'join(-, (fd.name, x, 1)) = a'


def test_string_escapes() -> None:
    assert parse(r'a.b = "x\"y\\z\tq"').right.text == 'x"y\\z\tq'
    assert parse(r"a.b = 'it\'s'").right.text == "it's"
    with pytest.raises(FilterSyntaxError):
        parse(r'a.b = "bad \q"')


def test_to_string_matches_falco_printer() -> None:
    text = "(a.b=1 or c.d = 'x y') and not e.f exists and g"
    assert to_string(parse(text)) == '((a.b = 1 or c.d = "x y") and not e.f exists and g)'


def test_error_carries_position() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse("proc.name = a and\n  (fd.name = b")
    assert info.value.pos == len("proc.name = a and\n  (fd.name = b")
    assert info.value.line_col == (2, 15)
    assert line_col("ab\ncd", 4) == (2, 2)


def test_empty_input_is_an_error() -> None:
    with pytest.raises(FilterSyntaxError, match="empty"):
        parse("")
