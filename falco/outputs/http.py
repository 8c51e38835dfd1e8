"""http_output: POST each alert to a URL (falcosidekick's `/`, a webhook).

Body: the formatted alert (JSON with Content-Type application/json when
json_output is on, else text/plain), optionally gzip-compressed.  TLS uses
the standard library's `ssl` with Falco's options: `insecure`, `ca_cert`,
`ca_bundle`, `ca_path`, `mtls` with `client_cert`/`client_key`.  A non-2xx
answer is a delivery failure.
"""
from __future__ import annotations

import gzip
import http.client
import logging
import ssl
import urllib.parse

from .base import Channel, ChannelError

log = logging.getLogger("falco.outputs.http")


def tls_context(cfg) -> ssl.SSLContext:
    """An SSLContext from http_output's TLS keys."""
    if cfg.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        cafile = cfg.ca_cert or cfg.ca_bundle or None
        capath = cfg.ca_path or None
        try:
            ctx = ssl.create_default_context(cafile=cafile, capath=capath)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"http_output: cannot load CA certificates: {exc}") from exc
    if cfg.mtls:
        try:
            ctx.load_cert_chain(cfg.client_cert, cfg.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"http_output: cannot load client certificate: {exc}") from exc
    return ctx


class HttpChannel(Channel):
    name = "http"

    def __init__(self, cfg, json_output: bool):
        self.cfg = cfg
        url = urllib.parse.urlsplit(cfg.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ChannelError(f"http_output.url: expected an http(s) URL, got {cfg.url!r}")
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port
        self.target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self.headers = {
            "User-Agent": cfg.user_agent,
            "Content-Type": "application/json" if json_output else "text/plain",
            "Accept": "*/*",
        }
        if url.username:
            import base64
            user = urllib.parse.unquote(url.username)
            cred = f"{user}:{urllib.parse.unquote(url.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        if cfg.compress_uploads:
            self.headers["Content-Encoding"] = "gzip"
        self.headers.update(cfg.custom_headers)
        if not cfg.keep_alive:
            self.headers["Connection"] = "close"
        self._ctx = tls_context(cfg) if self.scheme == "https" else None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.cfg.timeout, context=self._ctx)
            else:
                self._conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.cfg.timeout)
        return self._conn

    def emit(self, line: str, msg) -> None:
        body = line.encode("utf-8", "replace")
        if self.cfg.compress_uploads:
            body = gzip.compress(body)
        # A kept-alive connection the server closed fails once: retry fresh.
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", self.target, body=body, headers=self.headers)
                resp = conn.getresponse()
                answer = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                if attempt or not self.cfg.keep_alive:
                    raise ChannelError(f"POST {self.cfg.url}: {exc}") from exc
                continue
            if not self.cfg.keep_alive or resp.will_close:
                self._drop()
            if self.cfg.echo:
                log.info("http_output: %s", answer.decode("utf-8", "replace"))
            if not 200 <= resp.status < 300:
                raise ChannelError(f"POST {self.cfg.url}: HTTP {resp.status} {resp.reason}")
            return

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reopen(self) -> None:
        self._drop()

    def close(self) -> None:
        self._drop()
