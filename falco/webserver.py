"""The embedded webserver: health and metrics, read-only.

`GET <k8s_healthz_endpoint>` (default `/healthz`) answers `{"status": "ok"}`
(503 with `{"status": "unhealthy"}` when the `healthy` callable says so),
`GET /metrics` answers Prometheus text when
`webserver.prometheus_metrics_enabled` is on, `GET /versions` answers the
versions as JSON.  Any other method is 405: there are no write endpoints.
It listens on `listen_address` (127.0.0.1 by default) in one daemon thread
(a thread per request, standard library `http.server`); `ssl_enabled` serves
HTTPS with `ssl_certificate` (one PEM holding certificate and key, as
Falco's).
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

log = logging.getLogger("falco.webserver")

__all__ = ["WebServer", "WebServerError"]


class WebServerError(Exception):
    """The server could not start (port taken, bad certificate); one line."""


class _Handler(BaseHTTPRequestHandler):
    server_version = "falco"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):      # to the logger, never stderr
        log.debug("webserver: %s - %s", self.address_string(), fmt % args)

    def _send(self, code: int, body: str, ctype: str) -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        app: WebServer = self.server.app     # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        try:
            if path == app.healthz_path:
                ok = app.healthy() if app.healthy is not None else True
                self._send(200 if ok else 503,
                           json.dumps({"status": "ok" if ok else "unhealthy"}),
                           "application/json")
            elif path == "/metrics" and app.metrics is not None:
                self._send(200, app.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/versions":
                self._send(200, json.dumps(app.versions()), "application/json")
            else:
                self._send(404, json.dumps({"error": "not found"}), "application/json")
        except Exception as exc:   # noqa: BLE001 - answer 500, keep serving
            log.error("webserver: %s failed: %s", path, exc)
            self._send(500, json.dumps({"error": "internal error"}), "application/json")

    do_HEAD = do_GET

    def _refuse(self):
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


class WebServer:
    """`start()` binds and serves in a thread; `stop()` shuts it down."""

    def __init__(self, cfg, *, metrics: Callable[[], str] | None = None,
                 healthy: Callable[[], bool] | None = None):
        self.cfg = cfg
        self.healthz_path = cfg.k8s_healthz_endpoint or "/healthz"
        self.metrics = metrics if cfg.prometheus_metrics_enabled else None
        self.healthy = healthy
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config, metrics_collector=None, healthy=None) -> "WebServer":
        """From the whole Config; `/metrics` from a MetricsCollector."""
        prom = metrics_collector.prometheus if metrics_collector is not None else None
        return cls(config.webserver, metrics=prom, healthy=healthy)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self.cfg.listen_port

    @property
    def url(self) -> str:
        scheme = "https" if self.cfg.ssl_enabled else "http"
        host = self.cfg.listen_address
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def versions(self) -> dict:
        from falco.metrics import _version
        import platform
        return {"falco_version": _version(), "engine": "falco (Python)",
                "kernel_release": platform.release()}

    def start(self) -> "WebServer":
        if self._httpd is not None:
            return self
        addr = (self.cfg.listen_address, self.cfg.listen_port)
        server_cls = ThreadingHTTPServer
        if ":" in self.cfg.listen_address:
            import socket

            class _V6(ThreadingHTTPServer):
                address_family = socket.AF_INET6
            server_cls = _V6
        try:
            httpd = server_cls(addr, _Handler)
        except OSError as exc:
            raise WebServerError(f"webserver: cannot listen on {addr[0]}:{addr[1]}: "
                                 f"{exc.strerror or exc}") from exc
        httpd.daemon_threads = True
        httpd.app = self   # type: ignore[attr-defined]
        if self.cfg.ssl_enabled:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                ctx.load_cert_chain(self.cfg.ssl_certificate)
            except (OSError, ssl.SSLError) as exc:
                httpd.server_close()
                raise WebServerError(f"webserver.ssl_certificate: cannot load "
                                     f"{self.cfg.ssl_certificate}: {exc}") from exc
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="falco-webserver",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None
