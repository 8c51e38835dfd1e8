"""A real CRI runtime: Debian's containerd (its CRI plugin is on by default)
answers the CRI client (falco/live/cri_meta.py) on a private socket.

No image registry is reachable here, so no pod runs: the test covers the
version handshake and the NOT_FOUND path (container, then pod sandbox) of
a real server, through the client and through the resolver.  Needs root
and the `containerd` package.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from falco.live.container_meta import ContainerResolver
from falco.live.cri_meta import CriError, CriResolver, CriSocket

CONTAINERD = shutil.which("containerd")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or CONTAINERD is None,
    reason="needs root and containerd (Debian package `containerd`)")


@pytest.fixture
def containerd(tmp_path: Path):
    sock = tmp_path / "containerd.sock"
    config = tmp_path / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{tmp_path / "root"}"\n'
        f'state = "{tmp_path / "state"}"\n'
        f'[grpc]\n  address = "{sock}"\n'
        f'[ttrpc]\n  address = "{sock}.ttrpc"\n')
    log = open(tmp_path / "containerd.log", "w")
    proc = subprocess.Popen([CONTAINERD, "--config", str(config)], stdout=log, stderr=log)
    try:
        # The socket comes first; the CRI plugin answers a little later.
        client = CriSocket(str(sock), timeout=1.0, retry_after=0)
        end = time.monotonic() + 30
        err: Exception | None = None
        while time.monotonic() < end and proc.poll() is None:
            try:
                client.version()
                break
            except CriError as exc:
                err = exc
                time.sleep(0.2)
        else:
            pytest.skip(f"containerd's CRI service did not answer: {err}; "
                        f"log: {(tmp_path / 'containerd.log').read_text()[-2000:]}")
        client.close()
        yield str(sock)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_version_handshake(containerd):
    sock = CriSocket(containerd)
    name, version = sock.version()
    assert name == "containerd" and version
    assert sock.api.package == "runtime.v1"          # containerd >= 1.6 serves CRI v1
    assert sock.kind == "containerd"
    sock.close()


def test_unknown_container_not_found(containerd):
    res = CriResolver([containerd])
    assert res.lookup("0123456789ab" * 5 + "cdef") is None
    assert "NOT_FOUND" in res.last_error
    res.close()


def test_resolver_counts_the_real_not_found(containerd):
    r = ContainerResolver([], cri_sockets=[containerd])
    r.request(("fedcba987654" * 5 + "3210").encode(), "containerd")
    end = time.monotonic() + 10
    while r.n_failed == 0 and time.monotonic() < end:
        time.sleep(0.05)
    assert r.n_failed == 1 and r.failures == {"NOT_FOUND": 1}
    r.close()
