"""Compiled conditions on real events: operator semantics that the sysdig
oracle does not exercise."""
from __future__ import annotations

from pathlib import Path

import pytest

from falco.capture import open_capture
from falco.pipeline import build_detector
from falco.rules import load_rules

SAMPLE = Path(__file__).resolve().parents[1] / "falco" / "data" / "sample.scap"


def _hits(condition: str) -> list[int]:
    text = (f"- rule: r\n  desc: d\n  condition: >\n    {condition}\n"
            f"  output: o\n  priority: INFO\n")
    loaded = load_rules([("t.yaml", text)])
    assert not loaded.errors, loaded.errors
    det = build_detector(loaded)
    with open_capture(SAMPLE) as cap:
        det.seed(cap.tables)
        return [a.evt_num for a in det.run(cap.batches())]


def test_ancestor_in_means_any_ancestor():
    # Every process the scenario shell started has sh among its ancestors.
    any_anc = _hits("evt.type = execve and proc.aname in (sh, nosuch)")
    assert any_anc == _hits("evt.type = execve and proc.aname intersects (sh, nosuch)")
    assert len(any_anc) >= 10
    assert _hits("evt.type = execve and proc.aname in (nosuch)") == []


def test_ancestor_by_index():
    assert _hits("evt.type = execve and proc.aname[1] = sh") == \
        _hits("evt.type = execve and proc.pname = sh")


@pytest.mark.parametrize("cond,expect", [
    ("evt.type = openat and fd.name = /etc/shadow", 1),
    ("evt.type = openat and fd.name glob '/etc/sh*w'", 1),
    ("evt.type = openat and fd.name pmatch (/etc)", None),
    ("evt.type = openat and fd.name regex '/etc/s.+'", None),
    ("evt.type = openat and fd.name endswith shadow and evt.is_open_read = true", 1),
    ("evt.type = openat and fd.name = /etc/shadow and evt.rawres in (3, 4)", 1),
    ("evt.type = openat and fd.name = /etc/shadow and not evt.rawres in (3, 4)", 0),
    ("evt.type = openat and fd.name icontains /ETC/SHADOW", 1),
    ("evt.type = openat and toupper(fd.name) = /ETC/SHADOW", 1),
    ("evt.type = openat and basename(fd.name) = shadow", 1),
    ("evt.type = openat and fd.directory = /etc and fd.filename = shadow", 1),
    ("evt.type = openat and fd.directory = /etc/ and fd.filename = shadow", 0),
    ("evt.type = openat and fd.name = /etc/shadow and len(fd.name) = 11", 1),
    ("evt.type = connect and fd.sip = 10.255.255.1", 1),
    ("evt.type = connect and fd.net = 10.0.0.0/8", 1),
    ("evt.type = connect and fd.net != 10.0.0.0/8 and fd.typechar = 4", 0),
    ("evt.type = connect and fd.sport = 443", 1),
])
def test_operators(cond: str, expect: int | None):
    n = len(_hits(cond))
    if expect is None:
        assert n >= 1
    else:
        assert n == expect


def test_either_end_negation():
    # != on an either-end field holds only when neither end matches.
    assert len(_hits("evt.type = connect and fd.net != 10.0.0.0/8 and fd.typechar = 4")) == 0
    assert len(_hits("evt.type = connect and fd.net != 172.16.0.0/12 and fd.typechar = 4")) == 1
    assert len(_hits("evt.type = connect and fd.port != 443 and fd.typechar = 4")) == 0


def _compiled(condition: str):
    from falco_engine import compiler as C
    from falco_engine.filter_parser import parse
    from falco.pipeline import extractor_factories
    return C.Compiler(extractor_factories()).compile(parse(condition))


def test_fold_indexed_drops_only_the_type_tests_the_index_implies():
    from falco_engine import compiler as C
    opens = C.event_numbers({"openat"})
    both = C.event_numbers({"openat", "connect"})
    node = _compiled("evt.type in (openat, connect) and evt.num > 0")
    # Given only openat and connect events, the type test always passes.
    folded = C.fold_indexed(node, *both)
    assert type(folded).__name__ == "NumCmp"
    assert type(node).__name__ == "AndNode"          # the original untouched
    # A test narrower than the index still has work to do.
    narrow = _compiled("evt.type = openat and evt.num > 0")
    assert C.fold_indexed(narrow, *both) is narrow
    assert type(C.fold_indexed(narrow, *opens)).__name__ == "NumCmp"
    # Inside a nested conjunction too; an or is left whole.
    nested = _compiled("(evt.type = openat and evt.num > 0) and evt.num < 9")
    assert type(C.fold_indexed(nested, *opens)).__name__ == "AndNode"
    assert C.fold_indexed(nested, *opens) is not nested
    either = _compiled("evt.type = openat or evt.num > 0")
    assert C.fold_indexed(either, *opens) is either
    assert type(C.fold_indexed(_compiled("evt.type = openat"), *opens)).__name__ == "TrueNode"


@pytest.mark.parametrize("cond,same_as", [
    ("evt.type in (openat, connect) and evt.type = openat", "evt.type = openat"),
    ("evt.type in (openat, connect) and evt.type != openat", "evt.type = connect"),
    ("evt.type = openat and (evt.type = openat or evt.num = 0)", "evt.type = openat"),
])
def test_rules_indexed_by_type_match_as_written(cond: str, same_as: str):
    hits = _hits(cond)
    assert hits and hits == _hits(same_as)


def test_failed_calls_are_named_by_errno():
    # Every ENOENT is a failure; naming is the same on each evaluation
    # (names are kept per code after the first).
    enoent = _hits("evt.res = ENOENT")
    failed = _hits("evt.failed = true")
    assert enoent and set(enoent) <= set(failed)
    assert _hits("evt.res = ENOENT or evt.res = ENOENT") == enoent
    assert not set(_hits("evt.res = SUCCESS")) & set(failed)


def test_in_matches_exactly_past_its_length_and_first_byte_filter():
    # `in` rejects by length and first byte before the set lookup: values
    # of other lengths, other first bytes, empty and very long ones must
    # not change what matches.
    sh = _hits("evt.type = execve and proc.name = sh")
    assert sh
    long_value = "s" * 300
    for values in ("sh, zz", "sh, tz, s, shh", f"sh, {long_value}", 'sh, ""'):
        assert _hits(f"evt.type = execve and proc.name in ({values})") == sh, values
    assert _hits("evt.type = execve and proc.name in (sH, hs, zh)") == []
    assert _hits(f"evt.type = execve and proc.name in ({long_value})") == []
