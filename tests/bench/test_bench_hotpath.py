"""Micro-benchmarks of the hot path (pytest-benchmark): field extraction,
each operator kind, and the rule index dispatch, over a real capture.

CI runs them once with --benchmark-disable, for correctness: every case
asserts what it matched, most of them against an equivalent condition
written with other operators (so a fast wrong answer fails).  Timing on
demand: `pytest tests/bench/test_bench_hotpath.py --benchmark-enable`.
"""
from __future__ import annotations

import pytest

from conftest import compat_path
from falco.capture import open_capture
from falco.pipeline import build_detector
from falco.rules import load_rules


@pytest.fixture(scope="module")
def capture():
    src = compat_path("captures", "sysdig_inspect", "502Error.scap")
    with open_capture(src) as cap:
        return cap.tables, list(cap.batches())


def _rules(conditions: list[str]) -> str:
    return "".join(f"- rule: r{i}\n  desc: d\n  condition: >\n    {c}\n"
                   f"  output: o\n  priority: INFO\n" for i, c in enumerate(conditions))


def _detector(capture, conditions: list[str]):
    tables, _ = capture
    loaded = load_rules([("bench.yaml", _rules(conditions))])
    assert not loaded.errors, loaded.errors
    det = build_detector(loaded)
    assert not det.warnings, det.warnings
    det.seed(tables)
    return det


def _run(det, batches) -> int:
    """Matches of a detector's rules over the batches (the timed part)."""
    alerts: list = []
    for batch in batches:
        det.engine.process(batch, alerts)
    return len(alerts)


def _replay(capture, conditions: list[str]) -> int:
    """Matches of the rules over the whole capture, from a fresh state."""
    return _run(_detector(capture, conditions), capture[1])


def _timed(benchmark, capture, conditions: list[str]) -> int:
    """Benchmark the replay only: compiling and seeding are each round's
    untimed setup (state changes as it runs, so every round starts fresh)."""
    return benchmark.pedantic(
        _run, setup=lambda: ((_detector(capture, conditions), capture[1]), {}),
        rounds=5, iterations=1)


# (operator kind, condition, an equivalent condition or None)
OPERATORS = [
    ("str =", "proc.name = curl", "proc.name in (curl)"),
    ("str in", "proc.name in (curl, ab, haproxy)",
     "proc.name = curl or proc.name = ab or proc.name = haproxy"),
    ("startswith", "fd.name startswith /", "fd.name glob '/*'"),
    ("glob", "fd.name glob '/*'", "fd.name startswith /"),
    ("pmatch", "fd.name pmatch (/etc, /lib)",
     "fd.name in (/etc, /lib) or fd.name startswith /etc/ or fd.name startswith /lib/"),
    ("contains", "fd.name contains /var/", "fd.name glob '*/var/*'"),
    ("icontains", "fd.name icontains /VAR/", None),
    ("num =", "fd.sport = 80", "fd.sport > 79 and fd.sport < 81"),
    ("num in", "fd.sport in (80, 443)", "fd.sport = 80 or fd.sport = 443"),
    ("ip =", "fd.sip = 127.0.0.1", "fd.sip in (127.0.0.1)"),
    ("cidr", "fd.snet = 127.0.0.0/8", "fd.sip = 127.0.0.1 or fd.sip = 127.0.0.11"),
    ("exists", "fd.name exists and fd.typechar = f", "fd.typechar = f"),
    ("evt.type", "evt.type = read", "evt.type in (read)"),
]


@pytest.mark.parametrize("kind,cond,same", OPERATORS, ids=[o[0] for o in OPERATORS])
def test_operator(benchmark, capture, kind: str, cond: str, same: str | None):
    hits = _timed(benchmark, capture, [cond])
    assert hits > 0, f"{cond!r} matches nothing on the capture: not a benchmark"
    if same is not None:
        assert _replay(capture, [same]) == hits, f"{cond!r} and {same!r} disagree"
    if kind == "icontains":
        assert hits >= _replay(capture, ["fd.name contains /var/"])


FIELDS = ("%evt.type %proc.name %proc.cmdline %proc.pname %user.name %fd.name "
          "%fd.sip %fd.sport %container.id %evt.res")


def test_field_extraction(benchmark, capture):
    """A rule that matches every judged event, with ten fields in its
    output: the extractors' (and the alert path's) cost."""
    tables, batches = capture
    loaded = load_rules([("bench.yaml", "- rule: all\n  desc: d\n  condition: evt.num > 0\n"
                                        f"  output: '{FIELDS}'\n  priority: INFO\n")])
    assert not loaded.errors, loaded.errors

    def fresh():
        det = build_detector(loaded)
        det.seed(tables)
        return (det,), {}

    def render_all(det) -> list:
        alerts: list = []
        for batch in batches:
            det.engine.process(batch, alerts)
        return alerts

    alerts = benchmark.pedantic(render_all, setup=fresh, rounds=5, iterations=1)
    events = sum(len(b) for b in batches)
    # Exit events (and non-syscall events) are judged: about half of them.
    assert events // 3 < len(alerts) < events
    assert all(len(a.output.split(" ")) >= 10 for a in alerts)
    assert all(set(a.output_fields) == {f[1:] for f in FIELDS.split()} for a in alerts)
    assert {"haproxy", "curl"} <= {a.output_fields["proc.name"] for a in alerts}


def test_rule_index_dispatch(benchmark, capture):
    """300 rules on event types the capture never has cost their index
    lookup only: none is evaluated on its events, none matches, and the
    capture's own event types have no candidates among them."""
    idle = [f"evt.type = init_module and proc.name = p{i}" for i in range(300)]
    hits = _timed(benchmark, capture, idle)
    assert hits == 0
    det = _detector(capture, idle)
    from falco_engine import table as _table
    read = next(e.id for e in _table.EVENTS if e.name == "read" and e.id % 2 == 1)
    init_module = next(e.id for e in _table.EVENTS
                       if e.name == "init_module" and e.id % 2 == 1)
    assert det.engine.rules_for_type(read) == ()
    assert len(det.engine.rules_for_type(init_module)) == 300
