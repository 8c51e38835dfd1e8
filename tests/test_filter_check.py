"""Compile-level checks: the libsinsp compile-level corpus, the field
catalog, operator/type rules and event-type extraction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_engine import fields
from falco_engine.fields import Arg, FieldInfo
from falco_engine.filter_check import (
    EvtTypeError, FilterCheckError, check, evttypes,
)
from falco_engine.filter_parser import FilterSyntaxError, parse

from conftest import COMPAT  # noqa: E402  (one place decides where the data is)
CONDITIONS = COMPAT / "conditions.jsonl"

# libsinsp's compiler tests use a mock filtercheck ("c.true", "c.buffer");
# these stand-ins have the types those tests exercise.
MOCK = {"c.true": FieldInfo("c.true", "CHARBUF", "mock string field"),
        "c.false": FieldInfo("c.false", "CHARBUF", "mock string field"),
        "c.buffer": FieldInfo("c.buffer", "BYTEBUF", "mock binary field")}


def _resolve(name: str):
    if name in MOCK:
        return MOCK[name], None
    return fields.resolve(name)


def _records(*levels: str) -> list[dict]:
    if not CONDITIONS.exists():
        return []
    recs = [json.loads(line) for line in CONDITIONS.read_text().splitlines() if line.strip()]
    return [r for r in recs if r["level"] in levels]


def _rid(rec: dict) -> str:
    src = rec["source"].rsplit("/", 1)[-1].split(".")[0]
    verdict = "ok" if rec["valid"] else "bad"
    return f"{src}:{rec['line']}:{verdict}:{rec['condition'][:60]}"


def _compiles(condition: str) -> bool:
    try:
        check(parse(condition), _resolve)
    except (FilterSyntaxError, FilterCheckError):
        return False
    return True


@pytest.mark.parametrize("rec", _records("compile"), ids=_rid)
def test_compile_level_corpus(rec: dict) -> None:
    assert _compiles(rec["condition"]) == rec["valid"]


# Eval-level records also tell whether a condition compiles.  Those naming
# plugin or mock fields this engine does not have are listed explicitly.
_FOREIGN = ("c.singlequote", "c.doublequote", "sample.")


def _eval_records() -> list:
    out = []
    for rec in _records("eval", "mock_eval"):
        marks = ()
        if any(f in rec["condition"] for f in _FOREIGN):
            marks = (pytest.mark.xfail(reason="plugin/mock field not in the syscall catalog",
                                       strict=True),)
        out.append(pytest.param(rec, marks=marks, id=_rid(rec)))
    return out


@pytest.mark.parametrize("rec", _eval_records())
def test_eval_level_records_compile_as_expected(rec: dict) -> None:
    assert _compiles(rec["condition"]) == rec["valid"]


def test_catalog_lookup_and_suggest() -> None:
    info = fields.lookup("proc.name")
    assert info is not None and info.type == "CHARBUF"
    assert fields.lookup("evt.arg.fd") is fields.lookup("evt.arg")
    assert fields.resolve("evt.arg.fd")[1] == "fd"
    assert fields.lookup("fd.net").type == "IPNET" and fields.lookup("fd.net").filter_only
    assert fields.lookup("proc.aname").arg is Arg.INDEX
    assert fields.lookup("proc.nmae") is None
    assert fields.suggest("proc.nmae") == "proc.name"
    names = [f.name for f in fields.all_fields()]
    assert len(names) == len(set(names)) > 250
    assert all(f.description for f in fields.all_fields())


@pytest.mark.parametrize("condition, message", [
    ("proc.nmae = x", "did you mean 'proc.name'"),
    ("proc.pid = abc", "not a valid integer"),
    ("fd.net = 10.0.0.1", "not a valid network"),
    ("fd.sip = 300.1.1.1", "not a valid IP address"),
    ("fd.sport > 70000", "not a valid port"),
    ("fd.proto = no-such-service", "unrecognized protocol 'no-such-service'"),
    ("fd.port in (80, nosuchproto)", "unrecognized protocol 'nosuchproto'"),
    ("proc.pid contains 1", "operator 'contains'"),
    ("evt.buffer bcontains abc", "hex"),
    ("proc.aname[x] = a", "numeric index"),
    ("proc.name[1] = a", "does not take an argument"),
    ("evt.arg = a", "requires an argument"),
    ("tolower(proc.pid) = a", "does not support type"),
    ("toupper(fd.name)[x] = foo", "does not support field arguments"),
    ("proc.name = val(proc.pid)", "cannot compare"),
    ("proc.name regex '('", "invalid regular expression"),
    ("some_macro", "undefined macro"),
])
def test_check_errors(condition: str, message: str) -> None:
    with pytest.raises(FilterCheckError, match=message.replace("(", r"\(")):
        check(parse(condition))


def test_port_fields_take_service_names() -> None:
    """A PORT operand may name a service (the services database), as in
    libsinsp; it compiles to the port number."""
    import socket
    try:
        http = socket.getservbyname("http")
    except OSError:
        pytest.skip("no services database (/etc/services)")
    assert check(parse("fd.proto = http")) == []
    assert check(parse("fd.sport in (http, 8080)")) == []
    assert fields.port_number("http") == http == 80
    assert fields.port_number("8080") == 8080
    assert fields.port_number("no-such-service") is None


def test_check_warnings() -> None:
    warnings = check(parse("proc.name = proc.pname and proc.name regex abc"))
    msgs = [w.message for w in warnings]
    assert any("may be a valid field misused" in m for m in msgs)
    assert any("regex check with 'abc'" in m for m in msgs)
    assert check(parse("proc.name = bash and fd.name startswith /etc")) == []


@pytest.mark.parametrize("condition, expected", [
    ("evt.type = open", {"open"}),
    ("evt.type in (open, openat) and proc.name = cat", {"open", "openat"}),
    ("not evt.type != openat", {"openat"}),
    ("evt.type = open or evt.type = close", {"open", "close"}),
    ("evt.type = open and evt.type = close", set()),
    ("evt.type in (connect, execve, mmap) and not (proc.name=cat and evt.type=mmap)",
     {"connect", "execve", "mmap"}),
    ("(evt.type=mmap and not evt.type=mmap)", set()),
    ("not (evt.type exists)", set()),
    ("evt.type = open or proc.name = cat", None),
    ("evt.type != open", None),
    ("not proc.name = cat", None),
    ("evt.type=mmap or not evt.type=mmap", None),
    ("evt.type == oneof (open, close)", {"open", "close"}),
])
def test_evttypes(condition: str, expected: set[str] | None) -> None:
    assert evttypes(parse(condition)) == expected


def test_evttypes_refuses_transformed_evt_type() -> None:
    with pytest.raises(EvtTypeError):
        evttypes(parse("b64(evt.type) = close"))
    with pytest.raises(EvtTypeError):
        evttypes(parse("evt.type = val(proc.name)"))
