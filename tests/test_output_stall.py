"""A stalled sink never stalls capture: the HTTP endpoint hangs while 10k
alerts fire; submitting never waits for it, nothing within the queue bound
is lost, and exactly the overflow is counted as dropped."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from falco.config import load_config
from falco.outputs.dispatcher import Message, OutputDispatcher

CAPACITY = 100
ALERTS = 10_000
HANG_LIMIT = 30.0


def _server(arrived: threading.Event, release: threading.Event, bodies: list):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrived.set()
            release.wait(HANG_LIMIT)        # the endpoint hangs
            bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _msg(i: int) -> Message:
    return Message(1_700_000_000_000_000_000 + i, 4, "R", f"alert {i}", {"n": i})


def test_hanging_http_sink_never_blocks_submit_and_counts_overflow_exactly():
    arrived, release, bodies = threading.Event(), threading.Event(), []
    srv = _server(arrived, release, bodies)
    cfg = load_config(text=(
        "json_output: true\nstdout_output: {enabled: false}\n"
        "syslog_output: {enabled: false}\n"
        f"outputs_queue: {{capacity: {CAPACITY}}}\n"
        "http_output:\n  enabled: true\n"
        f"  url: http://127.0.0.1:{srv.server_address[1]}/\n  timeout: 60\n"))
    out = OutputDispatcher.from_config(cfg).start()
    try:
        assert out.submit(_msg(0))
        assert arrived.wait(10), "the first alert reached the (now hanging) sink"
        accepted = sum(out.submit(_msg(i)) for i in range(1, ALERTS))
        # Every submit returned while the sink was still hanging.
        assert not release.is_set()
        assert accepted == CAPACITY
        assert out.queue_drops == ALERTS - 1 - CAPACITY
    finally:
        release.set()
        out.close(timeout=60)
        srv.shutdown()
    # Nothing within the bound was lost: the in-flight alert and the queue.
    got = [json.loads(b)["output_fields"]["n"] for b in bodies]
    assert got == list(range(CAPACITY + 1))
    assert out.delivered == CAPACITY + 1
