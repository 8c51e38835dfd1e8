"""Live differential test: the project's own rule conditions, evaluated by
this engine and by Debian's sysdig on every shared capture, must match the
same events (sysdig is the reference for what a condition means).

Rules whose fields or event names sysdig 0.29.3 does not know are skipped
by name, with sysdig's own error as the reason."""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import all_captures, capture_id
from falco.capture import open_capture
from falco.pipeline import extractor_factories, new_state
from falco.rules import load_rule_files
from falco_engine import compiler
from falco_engine.filter_ast import to_string
from falco_engine.runner import CompiledRule, OutputFormat, RuleEngine
from sysdig_view import sysdig_view

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
CAPTURES = [p for p in all_captures() if p.name != "curl_google_comments.scap"]


@lru_cache(maxsize=1)
def _rules():
    loaded = load_rule_files([str(RULES_DIR / f) for f in
                              ("falco_rules.yaml", "falco-incubating_rules.yaml",
                               "falco-sandbox_rules.yaml")])
    assert loaded.ok
    return {r.name: r for r in loaded.rules}


def _ours(path: Path, rule) -> list[int]:
    comp = compiler.Compiler(extractor_factories())
    compiled = CompiledRule(rule.name, comp.compile(rule.condition), OutputFormat("", comp),
                            7, (), "syscall", None)
    state = new_state()
    engine = RuleEngine([compiled], state=state, syscall_enter_events=True)
    hits: set[int] = set()
    events = []
    with open_capture(path) as cap:
        state.seed(cap.tables)
        for batch in cap.batches():
            hits.update(engine.match_numbers(batch))
            events.extend(batch)
    return [num for num, ev in sysdig_view(events) if ev.num in hits]


@pytest.mark.sysdig
@pytest.mark.parametrize("name", sorted(_rules()) if RULES_DIR.exists() else [])
def test_rule_condition_matches_sysdig(sysdig: str, name: str):
    if not CAPTURES:
        pytest.skip("the shared captures are absent")
    rule = _rules()[name]
    text = to_string(rule.condition, reparse=True)
    for cap in CAPTURES:
        want, error = _sysdig_matches(sysdig, cap, text)
        if error is not None:
            pytest.skip(f"sysdig 0.29.3 cannot evaluate this rule: {error}")
        assert _ours(cap, rule) == want, capture_id(cap)


def _sysdig_matches(sysdig: str, cap: Path, text: str) -> tuple[list[int], str | None]:
    """The evt.num of every event sysdig matches with `text` on `cap`, and
    the last line of its error when it refuses the filter."""
    proc = subprocess.run([sysdig, "-r", str(cap), "-p", "%evt.num", text],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return [], (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
    return [int(x) for x in proc.stdout.split()], None


class _Condition:
    """A bare condition, shaped like a loaded rule for _ours."""

    def __init__(self, text: str) -> None:
        from falco_engine import filter_parser
        self.name = text
        self.condition = filter_parser.parse(text)


def _service_port(name: str) -> int | None:
    import socket
    try:
        return socket.getservbyname(name)
    except OSError:
        return None


@pytest.mark.sysdig
@pytest.mark.parametrize("text", [
    "fd.proto = 80", "fd.proto in (53, 443, 8080)", "fd.proto != 80",
    "fd.proto > 1024", "fd.proto = http", "fd.proto in (domain, https)",
    "fd.port = http and evt.dir = <"])
def test_port_conditions_match_sysdig(sysdig: str, text: str):
    """fd.proto (either end's port, by number or service name) and service
    names on port fields, next to sysdig on every capture."""
    if not CAPTURES:
        pytest.skip("the shared captures are absent")
    if _service_port("http") is None:
        pytest.skip("no services database (/etc/services) to name ports")
    _assert_matches_sysdig(sysdig, text)


# The UDP socket connected a second time (to ::1:2345): sysdig keeps its
# first peer's tuple, we the kernel's (test_state's KNOWN_DIFFS).
_UDP_RECONNECT = {"libs/test_ipv6_client.scap": (231, 232, 233, 237)}


def _assert_matches_sysdig(sysdig: str, text: str) -> None:
    """Condition `text` matches the events sysdig's filter does on every
    capture (but the UDP reconnect), and some event somewhere."""
    matched = 0
    for cap in CAPTURES:
        want, error = _sysdig_matches(sysdig, cap, text)
        assert error is None, error
        got = _ours(cap, _Condition(text))
        skip = _UDP_RECONNECT.get(capture_id(cap), ())
        assert [n for n in got if n not in skip] == [n for n in want if n not in skip], \
            capture_id(cap)
        matched += len(want)
    assert matched > 0


@pytest.mark.sysdig
@pytest.mark.parametrize("text", [
    "fd.ip = 127.0.0.1 and fd.l4proto = tcp", "fd.ip = 192.168.0.3",
    "fd.cnet = 192.168.0.0/16 and fd.l4proto = tcp", "fd.cnet = 10.0.0.0/8",
    "fd.snet = 192.168.0.0/24", "fd.lnet = 127.0.0.0/8",
    "fd.lnet = 192.168.0.0/16 and fd.l4proto = tcp", "fd.rnet = 192.168.0.0/16",
    "fd.typechar = 4 and not fd.rnet = 192.168.0.0/16"])
def test_network_conditions_match_sysdig(sysdig: str, text: str):
    """fd.ip (either end's address) and fd.cnet/snet/lnet/rnet (an end in a
    CIDR range): filter-only fields, so compared by the events a condition
    on them matches, next to sysdig on every capture.  Each matches some.

    Left out, as sysdig 0.29.3 gets them wrong: the 73 sendmsg events on
    502Error's unconnected UDP socket (its uninitialized tuple, see
    test_state's KNOWN_DIFFS; "fd.l4proto = tcp" keeps them out), IPv6
    constants ("fd.ip = ::1" matches the zeroed tuple of unconnected IPv4
    sockets, as "fd.ip = 0.0.0.0" does) and IPv6 networks (it refuses
    "2001:4860::/32" as an unrecognized address)."""
    if not CAPTURES:
        pytest.skip("the shared captures are absent")
    _assert_matches_sysdig(sysdig, text)
