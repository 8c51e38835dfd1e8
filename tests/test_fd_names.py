"""fd.sip.name / fd.cip.name / fd.lip.name / fd.rip.name (the condition's
host names, resolved to addresses off the hot path) and fd.sproto /
fd.cproto / fd.lproto / fd.rproto (ports as protocol names).

Ground truth: sysdig 0.29.3 on the shared captures (the same filters must
match the same events), and the offline-resolvable names of this host
(localhost, /etc/hosts entries, a hosts file written by the test).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import CAPTURES
from falco.live import dns_names
from falco.live.dns_names import HostNames, names_in_condition
from falco.pipeline import build_detector, new_state
from falco.rules.loader import load_rules
from falco_engine import filter_parser, state_fields

SYSDIG = shutil.which("sysdig")
REPO = Path(__file__).resolve().parents[1]

# Captures with IPv4 / IPv6 sockets (client, server, UDP, loopback).
NET_CAPTURES = ["falco/connect_localhost.scap", "sysdig_inspect/502Error.scap",
                "libs/single_ipv6_conn.scap", "libs/test_ipv6_client.scap",
                "libs/curl_google.scap"]
FILTERS = [
    "fd.sip.name = localhost",
    "fd.cip.name = localhost",
    "fd.lip.name = localhost",
    "fd.rip.name = localhost",
    "fd.sip.name != nonexistent.invalid",
    "fd.sip.name != localhost",
    "fd.sip.name in (nonexistent.invalid, localhost)",
    "not fd.rip.name in (localhost)",
    "fd.sproto = 80",
    "fd.cproto = 44434 or fd.cproto = 47192",
    "fd.lproto = 80",
    "fd.rproto = 80",
    "fd.sproto = 443 or fd.sproto = 1234",
]

# Where sysdig 0.29.3 is not the reference, the events left out of the
# comparison: (clause, for the *.name filters only).
_V6 = ("not fd.type = ipv6", True)   # 0.29.3 resolves names for IPv4 only;
#                                     Falco's libs (compare_domain) do IPv6 too
KNOWN_DIFFS = {
    # The UDP socket: sysdig shows an uninitialized tuple (see KNOWN_DIFFS in
    # test_state.py), so its addresses differ.
    "sysdig_inspect/502Error.scap": ("not fd.l4proto = udp", False),
    "libs/single_ipv6_conn.scap": _V6,
    "libs/test_ipv6_client.scap": _V6,
}


def _ours(capture, condition):
    import test_oracle
    dns_names.shared().watch(names_in_condition(filter_parser.parse(condition)))
    return test_oracle._matches(capture, condition)


def _sysdig(capture, condition):
    res = subprocess.run([SYSDIG, "-r", str(capture), "-p", "%evt.num", condition],
                         capture_output=True, text=True, timeout=120)
    return [int(x) for x in res.stdout.split()]


@pytest.mark.skipif(SYSDIG is None, reason="sysdig (Debian 0.29.3) not installed")
@pytest.mark.parametrize("capture", NET_CAPTURES)
def test_filters_agree_with_sysdig(capture):
    path = CAPTURES / capture
    if not path.exists():
        pytest.skip(f"{path} is absent")
    hits = 0
    for condition in FILTERS:
        clause, names_only = KNOWN_DIFFS.get(capture, (None, False))
        if clause and (".name" in condition or not names_only):
            condition = f"({condition}) and {clause}"
        want = _sysdig(path, condition)
        assert _ours(path, condition) == want, condition
        hits += len(want)
    assert hits > 0


def test_connect_to_localhost_matches_by_name():
    path = CAPTURES / "falco/connect_localhost.scap"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    # The connect to 127.0.0.1:80 (sysdig's event 187).
    assert _ours(path, "fd.sip.name = localhost") == [187]
    assert _ours(path, "fd.sip.name in (nonexistent.invalid, localhost)") == [187]
    assert _ours(path, "fd.sip.name = nonexistent.invalid") == []
    assert _ours(path, "fd.sproto = 80 and fd.cproto = 47192") == [187]


def test_ipv6_loopback_is_localhost():
    # As Falco's libs (AF_INET6 in compare_domain): ::1 is localhost.
    path = CAPTURES / "libs/test_ipv6_client.scap"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    got = _ours(path, "fd.sip.name = localhost and fd.type = ipv6")
    assert got and got == _ours(path, 'fd.sip = "::1" and fd.type = ipv6')


def test_host_names_index_and_refresh(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# test\n10.96.0.1 kubernetes.default.svc kubernetes\n"
                     "fd00::5 api6.example\n127.0.0.1 localhost box\n")
    answers = {"api.internal.test": ["192.0.2.10"], "kubernetes": ["10.96.0.1"]}
    asked = []

    def resolve(name):
        asked.append(name)
        if name not in answers:
            raise OSError("Name or service not known")
        return answers[name]

    hn = HostNames(str(hosts), refresh=3600, resolver=resolve)
    hn.watch(["kubernetes.default.svc"])
    # The hosts file answers at once, before any DNS round.
    assert hn.names_for(bytes([10, 96, 0, 1])) == (b"kubernetes.default.svc",)
    assert hn.names_for(bytes(15) + b"\x01") == (b"localhost",)
    assert hn.names_for(b"\x7f\0\0\x01") == (b"box", b"localhost")   # none watched
    hn.watch(["api.internal.test", "localhost"])
    assert hn.wait_round()
    assert hn.names_for(bytes([192, 0, 2, 10])) == (b"api.internal.test",)
    assert hn.names_for(b"\x7f\0\0\x01") == (b"localhost",)          # watched only
    # The name moves: the next round follows it.
    answers["api.internal.test"] = ["192.0.2.99"]
    assert hn.wait_round()
    assert hn.names_for(bytes([192, 0, 2, 10])) == ()
    assert hn.names_for(bytes([192, 0, 2, 99])) == (b"api.internal.test",)
    assert "api.internal.test" in asked and threading.active_count() >= 2


def test_names_in_condition():
    node = filter_parser.parse("fd.sip.name in (a.example, b) or fd.rip.name = c "
                               "and not fd.cip.name != d and proc.name = e")
    assert names_in_condition(node) == {"a.example", "b", "c", "d"}


RULE = """
- list: api_names
  items: [localhost]
- rule: to api by name
  desc: test
  condition: evt.type = connect and evt.dir = < and fd.sip.name in (api_names)
  output: "to %fd.sip.name port %fd.sproto from %fd.cproto (%fd.lip.name)"
  priority: NOTICE
"""


def test_rule_compiles_matches_and_outputs():
    path = CAPTURES / "falco/connect_localhost.scap"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    from falco.capture import open_capture
    loaded = load_rules([("t.yaml", RULE)])
    det = build_detector(loaded)
    assert not det.warnings, det.warnings
    assert "localhost" in dns_names.shared().watched       # registered by the pipeline
    with open_capture(path) as cap:
        det.seed(cap.tables)
        alerts = list(det.run(cap.batches()))
    assert [a.output for a in alerts] == ["to localhost port 80 from 47192 (localhost)"]


def test_port_names_from_services(tmp_path):
    services = tmp_path / "services"
    services.write_text("http 80/tcp www\nsyslog 514/udp\nfoo 514/tcp\n")
    table = state_fields._services(str(services))
    assert table[(80, "tcp")] == "http" and table[(514, "udp")] == "syslog"
    path = CAPTURES / "sysdig_inspect/502Error.scap"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    state_fields.set_port_names(True)
    old = state_fields._SERVICES
    state_fields._SERVICES = table
    try:
        assert _ours(path, "fd.sproto = http")[:1] and _ours(path, "fd.sproto = 80") == []
        assert _ours(path, "fd.sproto = syslog and fd.l4proto = udp")
    finally:
        state_fields.set_port_names(False)
        state_fields._SERVICES = old


def test_fields_listed():
    res = subprocess.run(["falco", "list-fields"], capture_output=True, text=True,
                         timeout=120)
    for f in ("fd.sip.name", "fd.cip.name", "fd.lip.name", "fd.rip.name",
              "fd.sproto", "fd.cproto", "fd.lproto", "fd.rproto",
              "thread.cpu", "thread.cpu.user", "thread.cpu.system",
              "container.mount.dest", "k8s.pod.name"):
        assert f in res.stdout, f
    assert new_state().host_names is dns_names.shared()


LIVE_RULE = """
- rule: connect to localhost by name
  desc: live fd.sip.name
  condition: evt.type = connect and evt.dir = < and fd.sip.name = localhost and fd.sport = %d
  output: "byname %%fd.sip.name %%fd.sproto %%fd.name"
  priority: WARNING
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not (REPO / "falco" / "data" / "falco.bpf.o").exists()
    or not Path("/sys/kernel/btf/vmlinux").exists(),
    reason="live capture needs root, the eBPF probe and kernel BTF")
def test_live_connect_matches_by_name(tmp_path):
    import socket
    import sys
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    rules = tmp_path / "rules.yaml"
    rules.write_text(LIVE_RULE % port)
    rules.chmod(0o600)
    err = tmp_path / "err"
    with open(err, "w") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "falco", "run", "--driver", "ebpf",
                                 "-U", "-r", str(rules), "-M", "20"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=fe, text=True)
    try:
        end = time.monotonic() + 45
        while "watching this host" not in err.read_text() and time.monotonic() < end:
            time.sleep(0.2)
        for _ in range(3):
            c = socket.create_connection(("127.0.0.1", port))
            srv.accept()[0].close()
            c.close()
            time.sleep(0.3)
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    finally:
        srv.close()
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in out.splitlines() if "byname" in ln]
    assert lines, (out, err.read_text())
    assert f"byname localhost {port} 127.0.0.1:" in lines[0]
    assert lines[0].endswith(f"->127.0.0.1:{port}")
