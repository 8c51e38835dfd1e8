"""Failing output channels: retried with backoff, counted, logged, reported
as the internal alert "Falco internal: output channel failure" on the other
channels; a kept-alive program that exits is started again and counted."""
from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from falco.config import load_config
from falco.outputs import Channel, ChannelError, Message, OutputDispatcher
from falco.outputs.dispatcher import CHANNEL_FAILURE_RULE
from falco.outputs.program import ProgramChannel
from falco.outputs.retry import RetryPolicy

TS = 1_470_327_477_881_785_348


def alert(i: int) -> Message:
    return Message(TS + i, 4, "R", f"alert {i}", {"n": i})


class FakeClock:
    """Time that only moves when told (a suspension then lasts until the
    test ends it); `sleep` advances it, so backoff costs no real time."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.slept.append(dt)
        self.t += dt


class FlakyServer:
    """A real HTTP endpoint answering 503 to the first `fail` POSTs (or
    while `down` is set), 200 after; it records the bodies it accepted."""

    def __init__(self, fail: int = 0):
        self.fail = fail
        self.down = False
        self.posts = 0
        self.accepted: list[dict] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                srv.posts += 1
                ok = not srv.down and srv.posts > srv.fail
                if ok:
                    srv.accepted.append(json.loads(body))
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def dispatcher(url: str, clock: FakeClock, tmp_path: Path | None = None,
               extra: str = "") -> tuple[OutputDispatcher, io.StringIO]:
    """http + stdout (+ file) channels from falco.yaml, JSON alerts."""
    file_cfg = (f"file_output: {{enabled: true, filename: {tmp_path / 'events.txt'}}}\n"
                if tmp_path else "")
    cfg = load_config(text=(
        "json_output: true\nsyslog_output: {enabled: false}\n" + file_cfg +
        f"http_output: {{enabled: true, url: '{url}'}}\n" + extra))
    stdout = io.StringIO()
    d = OutputDispatcher.from_config(cfg, stdout=stdout, clock=clock, sleep=clock.sleep)
    d.hostname = "h"
    return d, stdout


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_http_fails_twice_then_succeeds_delivered_once(caplog):
    clock = FakeClock()
    with FlakyServer(fail=2) as srv:
        d, stdout = dispatcher(srv.url, clock)
        d.start()
        d.submit(alert(1))
        d.close()
    assert [a["output_fields"]["n"] for a in srv.accepted] == [1]
    assert srv.posts == 3
    c = d.stats()["channels"]["http"]
    assert (c["failures"], c["retries"], c["dropped"], c["internal_alerts"]) == (2, 2, 0, 0)
    assert clock.slept == [0.1, 0.2]             # exponential backoff
    assert [a["rule"] for a in lines(stdout.getvalue())] == ["R"]   # no internal alert
    assert any("http output delivered after 2 failed tries" in r.getMessage()
               for r in caplog.records)


def test_http_down_is_counted_and_reported_on_the_other_channels(tmp_path, caplog):
    clock = FakeClock()
    with FlakyServer() as srv:
        url = srv.url
    # the server is gone: connection refused
    d, stdout = dispatcher(url, clock, tmp_path)
    d.start()
    for i in range(4):
        assert d.submit(alert(i))
    d.close()
    c = d.stats()["channels"]["http"]
    # alert 0: three tries; the channel is then suspended and skips 1..3
    assert (c["failures"], c["retries"], c["dropped"], c["skipped"]) == (3, 2, 4, 3)
    assert c["suspended"] and c["internal_alerts"] == 1
    for text in (stdout.getvalue(), (tmp_path / "events.txt").read_text()):
        got = lines(text)
        internal = [a for a in got if a["rule"] == CHANNEL_FAILURE_RULE]
        assert len(internal) == 1, got
        assert internal[0]["priority"] == "Error" and internal[0]["source"] == "internal"
        assert internal[0]["output_fields"]["channel"] == "http"
        assert "http output failed" in internal[0]["output"]
        assert [a["output_fields"]["n"] for a in got if a["rule"] == "R"] == [0, 1, 2, 3]
    assert any(r.levelno == logging.ERROR and "http output failed after 3 tries"
               in r.getMessage() for r in caplog.records)
    assert "4 lost on http (3 failed tries, 2 retries)" in d.summary()[-1]


def test_dead_sink_alerts_are_rate_limited_and_recovery_is_logged(caplog):
    clock = FakeClock()
    with FlakyServer() as srv:
        d, stdout = dispatcher(srv.url, clock, extra="outputs_retry: {alert_interval: 60}\n")
        srv.down = True
        d.submit(alert(0))
        d.close()                   # no thread: delivers inline
        # Suspended 0.4 s (the doubling continues); a failed probe doubles it.
        clock.t += 0.4
        d.submit(alert(1))
        d.close()
        c = d.stats()["channels"]["http"]
        assert (c["failures"], c["dropped"], c["internal_alerts"]) == (4, 2, 1)
        srv.down = False
        clock.t += 0.8
        d.submit(alert(2))
        d.close()
    c = d.stats()["channels"]["http"]
    assert not c["suspended"] and c["dropped"] == 2
    assert [a["output_fields"]["n"] for a in srv.accepted] == [2]
    # one internal alert for the outage, not one per lost alert
    rules = [a["rule"] for a in lines(stdout.getvalue())]
    assert rules.count(CHANNEL_FAILURE_RULE) == 1
    assert any("http output works again (2 alerts lost meanwhile)" in r.getMessage()
               for r in caplog.records)


def test_retries_stop_at_the_time_budget():
    class Dead(Channel):
        name = "dead"

        def emit(self, line, msg):
            raise ChannelError("nope")

    clock = FakeClock()
    d = OutputDispatcher([Dead()], hostname="h", clock=clock, sleep=clock.sleep,
                         retry=RetryPolicy(attempts=10, backoff=0.1, budget=0.25))
    d.submit(alert(0))
    d.close()
    c = d.stats()["channels"]["dead"]
    # t=0 try, t=0.1 retry; the next (0.2 s later) would pass the budget
    assert (c["failures"], c["retries"], c["dropped"]) == (2, 1, 1)


def test_queue_drops_stay_exact_while_a_channel_fails():
    entered, release = threading.Event(), threading.Event()

    class StuckThenDead(Channel):
        name = "stuck"

        def emit(self, line, msg):
            entered.set()
            assert release.wait(30)
            raise ChannelError("gone")

    class Sink(Channel):
        name = "sink"

        def __init__(self):
            self.lines: list[str] = []

        def emit(self, line, msg):
            self.lines.append(line)

    clock, sink = FakeClock(), Sink()
    d = OutputDispatcher([StuckThenDead(), sink], capacity=3, hostname="h",
                         clock=clock, sleep=clock.sleep).start()
    assert d.submit(alert(0))
    assert entered.wait(20)
    accepted = sum(d.submit(alert(i)) for i in range(1, 10))
    release.set()
    d.close()
    assert accepted == 3 and d.stats()["queue_drops"] == 6
    got = [line for line in sink.lines if CHANNEL_FAILURE_RULE not in line]
    assert [line.rsplit(" ", 1)[1] for line in got] == ["0", "1", "2", "3"]
    assert d.stats()["channels"]["stuck"]["dropped"] == 4


def test_kept_alive_program_that_exits_is_restarted_and_counted(tmp_path):
    out = tmp_path / "got.txt"
    # reads one alert, keeps it, exits
    ch = ProgramChannel(f"read -r line && printf '%s\\n' \"$line\" >> {out}",
                        keep_alive=True)
    d = OutputDispatcher([ch], hostname="h").start()
    for i in range(3):
        d.submit(alert(i))
        assert d.flush()
        assert ch.process.wait(20) == 0        # the program is gone
    d.close()
    assert [line.rsplit(" ", 1)[1] for line in out.read_text().splitlines()] == \
        ["0", "1", "2"]
    c = d.stats()["channels"]["program"]
    assert c["restarts"] == 2 and c["dropped"] == 0
