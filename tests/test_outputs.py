"""Outputs: formats, the dispatcher (queue, rate limiter), every channel
against a real sink, syscall event drops and metrics."""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from falco.config import load_config
from falco.drops import RULE as DROP_RULE
from falco.drops import DropMonitor
from falco.metrics import RULE as METRICS_RULE
from falco.metrics import MetricsCollector
from falco.outputs import (Channel, ChannelError, Message, OutputDispatcher, TokenBucket,
                           build_channels, format_json, format_text, from_alert)
from falco.outputs.file import FileChannel
from falco.outputs.http import HttpChannel
from falco.outputs.program import ProgramChannel
from falco.outputs.stdout import StdoutChannel
from falco.outputs.syslog import SyslogChannel

TS = 1_470_327_477_881_785_348          # 2016-08-04T16:17:57.881785348Z


def msg(rule="Read below etc", priority=4, output="opened /etc/shadow by cat",
        fields=None, tags=("filesystem", "T1005"), ts=TS) -> Message:
    return Message(ts, priority, rule, output,
                   {"fd.name": "/etc/shadow", "proc.pid": 42, "evt.arg.nosuch": None}
                   if fields is None else fields, tags)


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class ListChannel(Channel):
    name = "list"

    def __init__(self):
        self.lines: list[str] = []
        self.reopened = 0

    def emit(self, line, msg):
        self.lines.append(line)

    def reopen(self):
        self.reopened += 1


class BlockingChannel(ListChannel):
    """Holds the output thread inside emit() until released."""
    name = "blocking"

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def emit(self, line, msg):
        self.entered.set()
        assert self.release.wait(30)
        super().emit(line, msg)


class FailingChannel(Channel):
    name = "failing"

    def emit(self, line, msg):
        raise ChannelError("sink is down")


def wait_for(cond, timeout: float = 20.0, what: str = "condition"):
    """Poll for something a real sink does asynchronously (not a timing test:
    the deadline only bounds a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- the JSON schema -------------------------------------------------------------

RFC3339_NS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
PRIORITY_NAMES = {"Emergency", "Alert", "Critical", "Error", "Warning", "Notice",
                  "Informational", "Debug"}

# Falco's alert as JSON Schema (draft 7): what falcosidekick unmarshals
# (types.FalcoPayload: time, rule, priority, output, output_fields, source,
# tags, hostname).
FALCO_ALERT_SCHEMA = {
    "type": "object",
    "required": ["time", "rule", "priority", "output", "output_fields", "source",
                 "tags", "hostname"],
    "additionalProperties": False,
    "properties": {
        "time": {"type": "string", "pattern": RFC3339_NS.pattern},
        "rule": {"type": "string", "minLength": 1},
        "priority": {"enum": sorted(PRIORITY_NAMES)},
        "output": {"type": "string"},
        "output_fields": {"type": "object", "additionalProperties": {
            "type": ["string", "integer", "number", "boolean", "null"]}},
        "source": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "hostname": {"type": "string", "minLength": 1},
    },
}


def check_falco_alert(obj: dict) -> None:
    """The schema above, checked by hand (and by jsonschema where present)."""
    props = FALCO_ALERT_SCHEMA["properties"]
    assert set(obj) == set(props), sorted(obj)
    assert RFC3339_NS.match(obj["time"]), obj["time"]
    assert isinstance(obj["rule"], str) and obj["rule"]
    assert obj["priority"] in PRIORITY_NAMES
    assert isinstance(obj["output"], str)
    assert isinstance(obj["source"], str)
    assert isinstance(obj["hostname"], str) and obj["hostname"]
    assert isinstance(obj["tags"], list) and all(isinstance(t, str) for t in obj["tags"])
    assert obj["tags"] == sorted(obj["tags"])
    assert isinstance(obj["output_fields"], dict)
    for k, v in obj["output_fields"].items():
        assert isinstance(k, str)
        assert v is None or isinstance(v, (str, int, float, bool)), (k, v)
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.validate(obj, FALCO_ALERT_SCHEMA)


def test_json_alert_schema():
    line = format_json(msg(), "host-1")
    obj = json.loads(line)
    check_falco_alert(obj)
    assert obj["time"] == "2016-08-04T16:17:57.881785348Z"
    assert obj["rule"] == "Read below etc"
    assert obj["priority"] == "Warning"
    assert obj["source"] == "syscall"
    assert obj["hostname"] == "host-1"
    assert obj["tags"] == ["T1005", "filesystem"]
    assert obj["output_fields"] == {"fd.name": "/etc/shadow", "proc.pid": 42,
                                    "evt.arg.nosuch": None,
                                    "evt.time": 1470327477881785348}
    assert obj["output"].endswith(": Warning opened /etc/shadow by cat")
    # keys come sorted, as Falco (nlohmann::json) writes them
    assert list(obj) == sorted(obj)


def test_json_alerts_from_the_engine_match_the_schema(tmp_path: Path):
    """Real alerts from a real capture, through the dispatcher, as JSON."""
    from conftest import compat_path

    from falco.capture import open_capture
    from falco.pipeline import RuleSelection, build_detector
    from falco.rules import load_rule_files

    cap_path = compat_path("captures", "falco", "cat_write.scap")
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
- rule: Any open
  desc: every successful open
  condition: evt.type in (open, openat) and evt.dir = < and evt.rawres >= 0
  output: "open %evt.arg.name (res=%evt.rawres proc=%proc.name missing=%evt.arg.nosuch)"
  priority: NOTICE
  tags: [filesystem, T1005]
""")
    loaded = load_rule_files([str(rules)])
    assert not loaded.errors
    detector = build_detector(loaded, RuleSelection())
    sink = ListChannel()
    cfg = load_config(text="json_output: true\n")
    d = OutputDispatcher.from_config(cfg, channels=[sink]).start()
    alerts = []
    with open_capture(str(cap_path)) as cap:
        detector.seed(cap.tables)
        for alert in detector.run(cap.batches()):
            alerts.append(alert)
            assert d.submit(alert)
    d.close()
    assert alerts and len(sink.lines) == len(alerts)
    for alert, line in zip(alerts, sink.lines):
        obj = json.loads(line)
        check_falco_alert(obj)
        assert obj["rule"] == "Any open" and obj["priority"] == "Notice"
        assert obj["output_fields"]["evt.arg.nosuch"] is None
        assert isinstance(obj["output_fields"]["evt.rawres"], int)
        assert obj["output_fields"]["evt.arg.name"] == alert.output_fields["evt.arg.name"]
        assert obj["output"].endswith(alert.output)


def test_json_include_properties():
    obj = json.loads(format_json(msg(), "h", include_output=False, include_tags=False,
                                 include_message=True, include_output_fields=False))
    assert "output" not in obj and "tags" not in obj and "output_fields" not in obj
    assert obj["message"] == "opened /etc/shadow by cat"


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_text_format_matches_falco(utc):
    assert format_text(msg()) == "16:17:57.881785348: Warning opened /etc/shadow by cat"
    assert format_text(msg(), iso8601=True) == (
        "2016-08-04T16:17:57.881785348+0000: Warning opened /etc/shadow by cat")


def test_text_format_of_an_engine_alert(utc):
    from falco_engine.runner import Alert

    a = Alert(TS, "R", 2, "boom", {"x": 1}, ("t",), "syscall", 7)
    assert format_text(from_alert(a)) == "16:17:57.881785348: Critical boom"
    assert format_text(from_alert(a), True) == "2016-08-04T16:17:57.881785348+0000: Critical boom"


def test_internal_text_lists_fields():
    m = Message(TS, 7, DROP_RULE, "Falco internal: syscall event drop. 3 system calls "
                "dropped in last second.", {"n_drops": "3", "ebpf_enabled": "1"},
                (), "internal", True)
    assert format_text(m).endswith(
        "Debug Falco internal: syscall event drop. 3 system calls dropped in last "
        "second. (ebpf_enabled=1, n_drops=3)")
    obj = json.loads(format_json(m, "h"))
    assert obj["source"] == "internal"
    assert obj["output"] == m.output


# -- rate limiter ------------------------------------------------------------------------

def test_token_bucket_burst_then_refill():
    clock = FakeClock()
    b = TokenBucket(rate=2.0, max_burst=3, clock=clock)
    assert [b.claim() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.4)                  # 0.8 token
    assert not b.claim()
    clock.advance(0.1)                  # 1.0 token
    assert b.claim()
    assert not b.claim()
    clock.advance(100)                  # capped at max_burst
    assert [b.claim() for _ in range(4)] == [True, True, True, False]


def test_token_bucket_rate_zero_is_unlimited():
    b = TokenBucket(rate=0, max_burst=1, clock=FakeClock())
    assert all(b.claim() for _ in range(10_000))


def test_dispatcher_rate_limits_rule_alerts_not_internal():
    clock = FakeClock()
    sink = ListChannel()
    d = OutputDispatcher([sink], rate=1.0, max_burst=3, clock=clock, hostname="h")
    results = [d.submit(msg(output=f"a{i}")) for i in range(10)]
    assert results == [True] * 3 + [False] * 7
    clock.advance(2.0)
    assert [d.submit(msg(output="late")) for _ in range(3)] == [True, True, False]
    # internal messages bypass the limiter
    assert d.submit_internal(Message(TS, 7, DROP_RULE, "x", {}, (), "internal", True))
    d.close()
    s = d.stats()
    assert s["submitted"] == 13 and s["rate_limited"] == 8
    assert len(sink.lines) == 6 and s["delivered"] == 6
    assert s["rules"][("Read below etc", 4, "syscall", ("T1005", "filesystem"))] == 13
    assert d.summary() == ["Events detected: 13", "Rule counts by severity:", "   WARNING: 13",
                           "Triggered rules by rule name:", "   Read below etc: 13",
                           "Outputs: 8 rate-limited"]


# -- queue -----------------------------------------------------------------------------

def test_full_queue_drops_and_counts_without_blocking():
    sink = BlockingChannel()
    d = OutputDispatcher([sink], capacity=2, hostname="h").start()
    assert d.submit(msg(output="first"))
    assert sink.entered.wait(20)        # the output thread is stuck in the sink
    results = [d.submit(msg(output=f"n{i}")) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert d.stats()["queue_drops"] == 3
    sink.release.set()
    d.close()
    assert [line.rsplit(" ", 1)[1] for line in sink.lines] == ["first", "n0", "n1"]


def test_failing_channel_does_not_stop_others(caplog):
    good = ListChannel()
    # A clock that stands still: the failing channel stays suspended.
    d = OutputDispatcher([FailingChannel(), good], hostname="h", clock=FakeClock(),
                         sleep=lambda s: None).start()
    for i in range(3):
        d.submit(msg(output=f"x{i}"))
    d.close()
    alerts = [l for l in good.lines if "Falco internal" not in l]
    assert [l.rsplit(" ", 1)[1] for l in alerts] == ["x0", "x1", "x2"]
    # x0: three tries, then the channel is suspended and skips x1, x2
    assert d.stats()["errors"] == {"failing": 3}
    assert d.stats()["channels"]["failing"] == {
        "failures": 3, "retries": 2, "dropped": 3, "skipped": 2, "internal_alerts": 1,
        "restarts": 0, "suspended": True}
    assert any("failing output failed after 3 tries" in r.getMessage()
               for r in caplog.records)


def test_build_channels_from_config(tmp_path: Path):
    cfg = load_config(text=f"""
stdout_output: {{enabled: true}}
syslog_output: {{enabled: false}}
file_output: {{enabled: true, filename: {tmp_path / 'a.txt'}}}
program_output: {{enabled: true, program: cat}}
http_output: {{enabled: true, url: "http://127.0.0.1:9/x"}}
""")
    names = [c.name for c in build_channels(cfg)]
    assert names == ["stdout", "file", "program", "http"]


def test_stdout_channel():
    import io
    buf = io.StringIO()
    d = OutputDispatcher([StdoutChannel(buf)], hostname="h").start()
    d.submit(msg())
    d.close()
    assert buf.getvalue().endswith("Warning opened /etc/shadow by cat\n")


# -- file ----------------------------------------------------------------------------------

def test_file_output_reopens_on_sigusr1(tmp_path: Path):
    path = tmp_path / "events.txt"
    cfg = load_config(text=f"""
stdout_output: {{enabled: false}}
syslog_output: {{enabled: false}}
file_output: {{enabled: true, keep_alive: true, filename: {path}}}
""")
    d = OutputDispatcher.from_config(cfg).start()
    old = signal.signal(signal.SIGUSR1, lambda *_: d.reopen())
    try:
        d.submit(msg(output="one"))
        assert d.flush()
        rotated = tmp_path / "events.txt.1"
        path.rename(rotated)              # what logrotate does
        d.submit(msg(output="two"))       # still the open file
        assert d.flush()
        os.kill(os.getpid(), signal.SIGUSR1)
        d.submit(msg(output="three"))     # a fresh file at the path
        d.close()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert [l.rsplit(" ", 1)[1] for l in rotated.read_text().splitlines()] == ["one", "two"]
    assert [l.rsplit(" ", 1)[1] for l in path.read_text().splitlines()] == ["three"]


def test_file_output_without_keep_alive_appends_per_alert(tmp_path: Path):
    path = tmp_path / "events.txt"
    path.write_text("existing\n")
    ch = FileChannel(str(path), keep_alive=False)
    ch.emit("a", msg())
    path.rename(tmp_path / "old")
    ch.emit("b", msg())
    ch.close()
    assert (tmp_path / "old").read_text() == "existing\na\n"
    assert path.read_text() == "b\n"


def test_file_output_unwritable_is_a_counted_error(tmp_path: Path):
    d = OutputDispatcher([FileChannel(str(tmp_path / "no" / "such" / "dir" / "f"))],
                         hostname="h").start()
    d.submit(msg())
    d.close()
    c = d.stats()["channels"]["file"]
    assert c["failures"] == 3 and c["dropped"] == 1


# -- program ----------------------------------------------------------------------------------

EVIL = "opened $(touch PWNED) `touch PWNED2`; touch PWNED3 | x' \" && exit 1"


@pytest.mark.parametrize("keep_alive", [True, False])
def test_program_output_gets_alerts_on_stdin(tmp_path: Path, keep_alive: bool):
    out = tmp_path / "got.txt"
    ch = ProgramChannel(f"cat >> {out}", keep_alive=keep_alive)
    d = OutputDispatcher([ch], json_output=True, hostname="h").start()
    d.submit(msg(output="first"))
    d.submit(msg(output=EVIL))
    d.close()
    lines = out.read_text().splitlines()
    assert [json.loads(l)["output"].split(": Warning ", 1)[1] for l in lines] == ["first", EVIL]
    # event data never reached a shell
    for name in ("PWNED", "PWNED2", "PWNED3"):
        assert not (tmp_path / name).exists() and not Path(name).exists()
    assert d.stats()["errors"] == {}


def test_program_keep_alive_is_spawned_once(tmp_path: Path):
    out = tmp_path / "pids.txt"
    # each line of input makes the program print its own pid once
    ch = ProgramChannel(f"while read -r line; do echo $$ >> {out}; done", keep_alive=True)
    d = OutputDispatcher([ch], hostname="h").start()
    for i in range(5):
        d.submit(msg(output=f"n{i}"))
    d.close()
    pids = out.read_text().split()
    assert len(pids) == 5 and len(set(pids)) == 1


def test_program_failure_is_counted(tmp_path: Path):
    d = OutputDispatcher([ProgramChannel("cat >/dev/null; exit 3")], hostname="h").start()
    d.submit(msg())
    d.close()
    c = d.stats()["channels"]["program"]
    assert c["failures"] == 3 and c["retries"] == 2 and c["dropped"] == 1


# -- http -------------------------------------------------------------------------------------------

class Recorder:
    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []
        self.connections: set = set()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                rec.connections.add(self.client_address)
                rec.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "body": body})
                reply = b'{"ok": true}'
                self.send_response(rec.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def http_cfg(url: str, extra: str = "", json_output: bool = True):
    return load_config(text=f"""
json_output: {str(json_output).lower()}
stdout_output: {{enabled: false}}
syslog_output: {{enabled: false}}
http_output:
  enabled: true
  url: "{url}"
  custom_headers:
    X-Falco-Test: yes-it-is
    Authorization: Bearer abc
{extra}
""")


def test_http_output_posts_json():
    with Recorder() as srv:
        cfg = http_cfg(srv.url + "/falco?x=1")
        d = OutputDispatcher.from_config(cfg).start()
        d.submit(msg(output="one"))
        d.submit(msg(output="two"))
        d.close()
    assert d.stats()["errors"] == {}
    assert [r["path"] for r in srv.requests] == ["/falco?x=1"] * 2
    h = srv.requests[0]["headers"]
    assert h["Content-Type"] == "application/json"
    assert h["User-Agent"] == "falcosecurity/falco"
    assert h["X-Falco-Test"] == "yes-it-is"
    assert h["Authorization"] == "Bearer abc"
    bodies = [json.loads(r["body"]) for r in srv.requests]
    for b in bodies:
        check_falco_alert(b)
    assert [b["output"].rsplit(" ", 1)[1] for b in bodies] == ["one", "two"]


def test_http_output_text_gzip_and_keep_alive():
    with Recorder() as srv:
        cfg = http_cfg(srv.url, "  compress_uploads: true\n  keep_alive: true",
                       json_output=False)
        d = OutputDispatcher.from_config(cfg).start()
        for i in range(3):
            d.submit(msg(output=f"n{i}"))
        d.close()
    assert d.stats()["errors"] == {}
    assert all(r["headers"]["Content-Type"] == "text/plain" for r in srv.requests)
    assert all(r["headers"]["Content-Encoding"] == "gzip" for r in srv.requests)
    texts = [gzip.decompress(r["body"]).decode() for r in srv.requests]
    assert [t.rsplit(" ", 1)[1] for t in texts] == ["n0", "n1", "n2"]
    assert len(srv.connections) == 1          # one kept-alive connection


def test_http_output_error_status_is_counted():
    with Recorder(status=500) as srv:
        d = OutputDispatcher.from_config(http_cfg(srv.url)).start()
        d.submit(msg())
        d.close()
    assert d.stats()["errors"] == {"http": 3}          # the alert and two retries
    assert len(srv.requests) == 3


def test_http_output_unreachable_is_counted():
    with Recorder() as srv:
        url = srv.url
    d = OutputDispatcher.from_config(http_cfg(url)).start()   # server gone
    d.submit(msg())
    d.close()
    assert d.stats()["errors"] == {"http": 3}
    assert d.stats()["channels"]["http"]["dropped"] == 1


def test_http_output_bad_url():
    cfg = http_cfg("ftp://example.invalid/")
    with pytest.raises(ChannelError, match="http_output.url"):
        HttpChannel(cfg.http_output, True)


@pytest.fixture
def tls_pair(tmp_path: Path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, crt


def test_https_output_verifies_with_ca_cert(tls_pair, tmp_path: Path):
    import ssl
    key, crt = tls_pair
    with Recorder() as srv:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        srv.httpd.socket = ctx.wrap_socket(srv.httpd.socket, server_side=True)
        url = srv.url.replace("http://", "https://")
        good = OutputDispatcher.from_config(http_cfg(url, f"  ca_cert: {crt}")).start()
        good.submit(msg(output="trusted"))
        good.close()
        bad = OutputDispatcher.from_config(
            http_cfg(url, f"  ca_cert: ''\n  ca_path: {tmp_path}")).start()
        bad.submit(msg(output="untrusted"))
        bad.close()
        insecure = OutputDispatcher.from_config(http_cfg(url, "  insecure: true")).start()
        insecure.submit(msg(output="insecure"))
        insecure.close()
    assert good.stats()["errors"] == {} and insecure.stats()["errors"] == {}
    assert bad.stats()["channels"]["http"]["dropped"] == 1
    got = [json.loads(r["body"])["output"].rsplit(" ", 1)[1] for r in srv.requests]
    assert got == ["trusted", "insecure"]


# -- syslog ------------------------------------------------------------------------------------------

@pytest.fixture
def rsyslog(tmp_path: Path):
    """A real rsyslogd listening on its own socket, writing to a file."""
    exe = shutil.which("rsyslogd") or (
        "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
    if exe is None:
        pytest.skip("rsyslogd is not installed (Debian: apt-get install rsyslog)")
    sock, out = tmp_path / "log", tmp_path / "out.log"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{tmp_path}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on")
template(name="t" type="string"
         string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")
*.* action(type="omfile" file="{out}" template="t")
""")
    proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(tmp_path / "pid")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, what="rsyslog socket")
        if proc.poll() is not None:
            pytest.fail(f"rsyslogd exited: {proc.stdout.read().decode()}")
        yield sock, out
    finally:
        proc.terminate()
        proc.wait(10)


def test_syslog_output_to_real_rsyslog(rsyslog):
    sock, out = rsyslog
    cfg = load_config(text=f"""
stdout_output: {{enabled: false}}
syslog_output: {{enabled: true, address: {sock}}}
""")
    d = OutputDispatcher.from_config(cfg).start()
    d.submit(msg(priority=4, output="warned"))
    d.submit(msg(priority=2, output="critical one"))
    d.submit(msg(priority=7, output="debug one"))
    d.close()
    assert d.stats()["errors"] == {}
    text = wait_for(lambda: out.exists() and out.read_text().count("\n") >= 3 and out.read_text(),
                    what="rsyslog output")
    lines = text.splitlines()
    pid = os.getpid()
    assert lines[0].startswith(f"user.warning falco[{pid}]: ") and lines[0].endswith(" warned")
    assert lines[1].startswith("user.crit ") and lines[1].endswith(" critical one")
    assert lines[2].startswith("user.debug ") and lines[2].endswith(" debug one")


def test_syslog_without_daemon_reports_once_then_skips(tmp_path: Path):
    clock = FakeClock()
    ch = SyslogChannel(str(tmp_path / "nothing-here"), clock=clock)
    d = OutputDispatcher([ch], hostname="h")
    for _ in range(3):
        d.submit(msg())
    d.close()                                   # delivers inline (no thread)
    # Paused, not retried: one failure, the first alert lost, the rest skipped
    assert d.stats()["errors"] == {"syslog": 1}
    assert ch.skipped == 2 and d.stats()["skipped"] == {"syslog": 2}
    assert d.stats()["channels"]["syslog"]["dropped"] == 3
    assert d.stats()["channels"]["syslog"]["internal_alerts"] == 0
    clock.advance(SyslogChannel.RETRY)         # retried (still down): skipped, no new error
    d.submit(msg())
    d.close()
    assert d.stats()["errors"] == {"syslog": 1} and ch.skipped == 3


# -- syscall event drops -------------------------------------------------------------------------------

class Counters:
    def __init__(self):
        self.c = {"events": 0, "drops": 0, "drops_buffer": 0, "drops_max_size": 0,
                  "drops_scratch": 0, "faults": 0, "filtered": 0}

    def add(self, events=0, drops=0):
        self.c["events"] += events
        self.c["drops"] += drops
        self.c["drops_buffer"] += drops

    def __call__(self):
        return dict(self.c)


def drops_cfg(extra: str = ""):
    return load_config(text="syscall_event_drops:\n" + (extra or "  threshold: 0.1\n"))


def test_drops_alert_with_falco_fields_and_rate_limit():
    clock, counters, sink = FakeClock(), Counters(), ListChannel()
    d = OutputDispatcher([sink], json_output=True, hostname="h")
    mon = DropMonitor(drops_cfg().syscall_event_drops, counters, d, clock=clock,
                      wallclock=lambda: TS)
    counters.add(events=95, drops=5)            # 5% <= 10%: nothing
    clock.advance(1)
    assert mon.poll()
    assert mon.drop_events == 0
    counters.add(events=80, drops=20)           # 20% > 10%
    clock.advance(1)
    assert mon.poll()
    assert mon.drop_events == 1 and mon.actions_taken == 1
    counters.add(events=10, drops=90)           # again, within 30 s: bucket empty
    clock.advance(1)
    mon.poll()
    assert mon.drop_events == 2 and mon.actions_taken == 1
    clock.advance(31)
    counters.add(events=10, drops=90)
    mon.poll()
    assert mon.actions_taken == 2
    d.close()
    assert len(sink.lines) == 2
    obj = json.loads(sink.lines[0])
    assert obj["rule"] == "Falco internal: syscall event drop"
    assert obj["priority"] == "Debug" and obj["source"] == "internal"
    assert obj["output"] == ("Falco internal: syscall event drop. 20 system calls "
                             "dropped in last second.")
    f = obj["output_fields"]
    assert f["n_evts"] == "100" and f["n_drops"] == "20"
    assert f["n_drops_buffer_total"] == "20" and f["ebpf_enabled"] == "1"
    assert set(f) == {
        "n_evts", "n_drops", "n_drops_buffer_total", "n_drops_buffer_clone_fork_exit",
        "n_drops_buffer_execve_exit", "n_drops_buffer_connect_exit",
        "n_drops_buffer_open_exit", "n_drops_buffer_dir_file_exit",
        "n_drops_buffer_other_interest_exit", "n_drops_buffer_close_exit",
        "n_drops_buffer_proc_exit", "n_drops_scratch_map", "n_drops_page_faults",
        "n_drops_bug", "ebpf_enabled"}
    assert all(isinstance(v, str) for v in f.values())


def test_drops_poll_checks_once_a_second():
    clock, counters = FakeClock(), Counters()
    calls = []

    def counting():
        calls.append(1)
        return counters()
    mon = DropMonitor(drops_cfg().syscall_event_drops, counting, None, clock=clock)
    for _ in range(10):
        mon.poll()
        clock.advance(0.25)
    assert len(calls) == 1 + 2                 # the baseline, then t=1.0 and t=2.0


def test_drops_log_and_exit(caplog):
    clock, counters = FakeClock(), Counters()
    stopped = []
    cfg = drops_cfg("  actions: [log, exit]\n").syscall_event_drops
    mon = DropMonitor(cfg, counters, None, clock=clock, on_exit=lambda: stopped.append(1))
    counters.add(events=1, drops=9)
    clock.advance(1)
    assert mon.poll() is False
    assert mon.exit_requested and stopped == [1]
    text = [r.getMessage() for r in caplog.records]
    assert "Falco internal: syscall event drop. 9 system calls dropped in last second." in text
    assert "Exiting." in text


def test_drops_ignore_and_simulate():
    clock, counters, sink = FakeClock(), Counters(), ListChannel()
    d = OutputDispatcher([sink], hostname="h")
    cfg = drops_cfg("  actions: [ignore]\n").syscall_event_drops
    mon = DropMonitor(cfg, counters, d, clock=clock)
    counters.add(events=0, drops=50)
    mon.check()
    assert mon.actions_taken == 1 and d.stats()["queued"] == 0
    sim = drops_cfg("  simulate_drops: true\n  actions: [alert]\n").syscall_event_drops
    mon = DropMonitor(sim, counters, d, clock=clock)
    counters.add(events=1000)                  # no real drops: one simulated
    mon.check()
    d.close()
    assert len(sink.lines) == 1 and "1 system calls dropped" in sink.lines[0]


def test_drops_background_thread_checks_counters():
    counters, sink = Counters(), ListChannel()
    d = OutputDispatcher([sink], hostname="h").start()
    cfg = drops_cfg("  actions: [alert]\n").syscall_event_drops
    mon = DropMonitor(cfg, counters, d, interval=0.05).start()
    counters.add(events=10, drops=10)
    wait_for(lambda: mon.actions_taken >= 1, what="drop check")
    mon.stop()
    d.close()
    assert "10 system calls dropped" in sink.lines[0]


# -- metrics ---------------------------------------------------------------------------------------------

PROM_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                       r'-?[0-9.e+-]+$')


def test_metrics_snapshot_output_rule_and_file(tmp_path: Path):
    counters, sink = Counters(), ListChannel()
    counters.add(events=900, drops=100)
    out_file = tmp_path / "metrics.jsonl"
    cfg = load_config(text=f"metrics: {{enabled: true, interval: 15s, output_file: {out_file}}}\n"
                           "json_output: true\n")
    d = OutputDispatcher.from_config(cfg, channels=[sink])
    d.submit(msg(rule="A"))
    d.submit(msg(rule="A"))
    d.submit(msg(rule="B", priority=2, tags=()))
    mc = MetricsCollector(cfg, d, counters=counters, events=lambda: 1234)
    snap = mc.emit()
    d.close()
    assert snap["scap.n_evts"] == 1000 and snap["scap.n_drops"] == 100
    assert snap["scap.n_drops_perc"] == 10.0
    assert snap["falco.num_evts"] == 1234
    assert snap["falco.rules.A"] == 2 and snap["falco.rules.B"] == 1
    assert snap["falco.rules.matches_total"] == 3
    assert snap["falco.memory_rss_mb"] > 0
    assert 0 <= snap["falco.cpu_usage_perc"]
    rule_line = json.loads(sink.lines[-1])
    assert rule_line["rule"] == METRICS_RULE and rule_line["priority"] == "Informational"
    assert rule_line["output"] == "Falco metrics snapshot"
    assert rule_line["output_fields"]["falco.rules.A"] == 2
    filed = json.loads(out_file.read_text().splitlines()[0])
    assert filed["output_fields"]["scap.n_drops"] == 100


def test_metrics_prometheus_text():
    from prometheus_client.parser import text_string_to_metric_families

    counters = Counters()
    counters.add(events=10, drops=2)
    cfg = load_config(text="metrics: {enabled: true}\n")
    d = OutputDispatcher([ListChannel()], hostname="h")
    d.submit(msg(rule='Weird "rule"\nname'))
    text = MetricsCollector(cfg, d, counters=counters, events=lambda: 5).prometheus()
    d.close()
    for line in text.splitlines():
        if not line.startswith("#"):
            assert PROM_LINE.match(line), line
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("falcosecurity_scap_n_drops_total", ())] == 2
    assert samples[("falcosecurity_scap_n_evts_total", ())] == 12
    assert samples[("falcosecurity_falco_num_evts_total", ())] == 5
    assert samples[("falcosecurity_falco_rules_matches_total", (
        ("priority", "4"), ("rule_name", 'Weird "rule"\nname'), ("source", "syscall"),
        ("tags", "T1005, filesystem")))] == 1
    assert samples[("falcosecurity_falco_memory_rss_bytes", ())] > 0


def test_metrics_periodic_thread():
    sink = ListChannel()
    cfg = load_config(text="metrics: {enabled: true, interval: 100ms}\n")
    d = OutputDispatcher([sink], hostname="h").start()
    mc = MetricsCollector(cfg, d).start()
    wait_for(lambda: len(sink.lines) >= 2, what="two metrics snapshots")
    mc.stop()
    d.close()
    assert "Informational Falco metrics snapshot (" in sink.lines[0]


def test_metrics_state_counters_from_a_replayed_capture():
    """state_counters_enabled: the state engine's table sizes and counts,
    with Falco's names in the snapshot and on /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    from falco.capture import open_capture
    from falco_engine.state import StateEngine
    from conftest import compat_path

    engine = StateEngine()
    with open_capture(compat_path("captures", "falco_psp",
                                  "run_as_user_0_container.scap")) as cap:
        engine.seed(cap.tables)
        for batch in cap.batches():
            engine.process_batch_debug(batch)
    cfg = load_config(text="metrics: {enabled: true}\n")
    d = OutputDispatcher([ListChannel()], hostname="h")
    mc = MetricsCollector(cfg, d, state=engine.state_counters)
    snap = mc.snapshot()
    assert snap["falco.n_threads"] == len(engine.threads) > 0
    assert snap["falco.n_added_threads"] == engine.n_threads_created
    assert snap["falco.n_removed_fds"] == engine.n_fds_removed
    assert snap["falco.n_containers"] == len(engine.containers) >= 1
    assert 0 <= snap["falco.n_missing_container_images"] <= snap["falco.n_containers"]
    tables = {id(t.fds): len(t.fds) for t in engine.threads.values()}
    assert snap["falco.n_fds"] == sum(tables.values()) > 0
    samples = {s.name: s.value for fam in text_string_to_metric_families(mc.prometheus())
               for s in fam.samples}
    d.close()
    assert samples["falcosecurity_scap_n_threads_total"] == snap["falco.n_threads"]
    assert samples["falcosecurity_scap_n_added_fds_total"] == snap["falco.n_added_fds"]
    assert samples["falcosecurity_scap_n_drops_full_threadtable_total"] == 0
    assert samples["falcosecurity_falco_n_container_lookups_failed_total"] == 0
    off = load_config(text="metrics: {enabled: true, state_counters_enabled: false}\n")
    assert "falco.n_threads" not in MetricsCollector(off, state=engine.state_counters).snapshot()
