"""The embedded webserver: /healthz, /metrics (Prometheus), read-only."""
from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from falco.config import load_config
from falco.metrics import MetricsCollector
from falco.outputs import Message, OutputDispatcher
from falco.webserver import WebServer, WebServerError


def web_cfg(extra: str = ""):
    return load_config(text="webserver:\n  enabled: true\n  listen_port: 0\n" + extra)


def get(url: str, method: str = "GET", context=None):
    req = urllib.request.Request(url, method=method,
                                 data=b"x" if method in ("POST", "PUT") else None)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


@pytest.fixture
def server():
    servers = []

    def make(cfg, **kw):
        s = WebServer.from_config(cfg, **kw).start()
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


def test_healthz(server):
    srv = server(web_cfg())
    status, headers, body = get(srv.url + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"


def test_listens_on_localhost_by_default(server):
    srv = server(web_cfg())
    assert srv._httpd.server_address[0] == "127.0.0.1"
    assert srv.url.startswith("http://127.0.0.1:")


def test_custom_healthz_endpoint_and_unhealthy(server):
    state = {"ok": True}
    srv = server(web_cfg("  k8s_healthz_endpoint: /health\n"),
                 healthy=lambda: state["ok"])
    assert get(srv.url + "/health")[0] == 200
    assert get(srv.url + "/healthz")[0] == 404
    state["ok"] = False
    status, _, body = get(srv.url + "/health")
    assert status == 503 and json.loads(body) == {"status": "unhealthy"}


def test_no_write_endpoints(server):
    srv = server(web_cfg())
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = get(srv.url + "/healthz", method)
        assert status == 405, method
        assert headers["Allow"] == "GET, HEAD"


def test_metrics_off_unless_enabled(server):
    srv = server(web_cfg(), metrics_collector=MetricsCollector(web_cfg()))
    assert get(srv.url + "/metrics")[0] == 404


def scrape(url: str) -> dict:
    """GET /metrics and parse it as Prometheus does: (name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    status, headers, body = get(url + "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(body))
    assert families and all(f.name.startswith("falcosecurity_") for f in families)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families for s in f.samples}


def test_prometheus_metrics(server):
    cfg = web_cfg("  prometheus_metrics_enabled: true\nmetrics:\n  enabled: true\n")
    d = OutputDispatcher([], hostname="h")
    d.submit(Message(0, 4, "Some rule", "x", {}, ("b", "a")))
    d.submit(Message(0, 4, "Some rule", "x", {}, ("b", "a")))
    counters = lambda: {"events": 90, "drops": 10, "drops_buffer": 10}  # noqa: E731
    mc = MetricsCollector(cfg, d, counters=counters, events=lambda: 77)
    srv = server(cfg, metrics_collector=mc)
    got = scrape(srv.url)
    d.close()
    assert got[("falcosecurity_scap_n_drops_total", ())] == 10
    assert got[("falcosecurity_scap_n_drops_buffer_total", ())] == 10
    assert got[("falcosecurity_scap_n_evts_total", ())] == 100
    assert got[("falcosecurity_falco_num_evts_total", ())] == 77
    assert got[("falcosecurity_falco_outputs_queue_num_drops_total", ())] == 0
    assert got[("falcosecurity_falco_rules_matches_total", (
        ("priority", "4"), ("rule_name", "Some rule"), ("source", "syscall"),
        ("tags", "a, b")))] == 2
    assert got[("falcosecurity_falco_memory_rss_bytes", ())] > 0
    assert got[("falcosecurity_evt_hostname_info", (("hostname", "h"),))] == 1
    assert any(name == "falcosecurity_falco_version_info" for name, _ in got)


def test_prometheus_counts_output_failures(server):
    """Per-channel failures, retries and losses of a dead sink, scraped."""
    from falco.outputs import Channel, ChannelError

    class Dead(Channel):
        name = "http"

        def emit(self, line, msg):
            raise ChannelError("connection refused")

    cfg = web_cfg("  prometheus_metrics_enabled: true\nmetrics:\n  enabled: true\n")
    d = OutputDispatcher([Dead()], hostname="h", clock=lambda: 0.0, sleep=lambda s: None)
    for i in range(4):
        d.submit(Message(0, 4, "R", f"x{i}", {}))
    d.close()               # delivered inline: one alert tried 3 times, 3 skipped
    srv = server(cfg, metrics_collector=MetricsCollector(cfg, d))
    got = scrape(srv.url)
    label = (("channel", "http"),)
    assert got[("falcosecurity_falco_outputs_channel_failures_total", label)] == 3
    assert got[("falcosecurity_falco_outputs_channel_retries_total", label)] == 2
    assert got[("falcosecurity_falco_outputs_channel_dropped_total", label)] == 4


def test_versions_and_unknown_path(server):
    srv = server(web_cfg())
    status, _, body = get(srv.url + "/versions")
    assert status == 200 and "falco_version" in json.loads(body)
    assert get(srv.url + "/nope")[0] == 404


def test_port_in_use_is_a_one_line_error(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = load_config(text=f"webserver: {{enabled: true, listen_port: {port}}}\n")
        with pytest.raises(WebServerError) as exc:
            WebServer.from_config(cfg).start()
    assert "\n" not in str(exc.value) and f"127.0.0.1:{port}" in str(exc.value)


def test_stop_releases_the_port(server):
    srv = server(web_cfg())
    url = srv.url
    srv.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=5)


def test_https(server, tmp_path: Path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    pem = tmp_path / "falco.pem"
    key = tmp_path / "key.pem"
    crt = tmp_path / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    pem.write_text(key.read_text() + crt.read_text())
    srv = server(web_cfg(f"  ssl_enabled: true\n  ssl_certificate: {pem}\n"))
    assert srv.url.startswith("https://")
    ctx = ssl.create_default_context(cafile=str(crt))
    status, _, body = get(srv.url + "/healthz", context=ctx)
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_bad_certificate_is_an_error(tmp_path: Path):
    cfg = web_cfg(f"  ssl_enabled: true\n  ssl_certificate: {tmp_path / 'none.pem'}\n")
    with pytest.raises(WebServerError, match="webserver.ssl_certificate"):
        WebServer.from_config(cfg).start()
