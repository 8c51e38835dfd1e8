"""A real container runtime, live: Podman's Docker-compatible API on a unix
socket answers `falco run --driver ebpf` for a container it starts.

Needs root, the eBPF probe, kernel BTF, podman + runc and busybox-static
(the image is imported from a busybox rootfs: no registry).  On these
machines crun fails ("cgroups in hybrid mode not supported") and the
process lacks CAP_SYS_RESOURCE, so the container runs under runc with
rlimits at or below the current ones.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "falco" / "data" / "falco.bpf.o"
BUSYBOX = shutil.which("busybox")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not PROBE.exists() or not Path("/sys/kernel/btf/vmlinux").exists()
    or not shutil.which("podman") or not shutil.which("runc") or BUSYBOX is None,
    reason="needs root, the eBPF probe, BTF, podman, runc and busybox")

PODMAN = ["podman", "--runtime", "runc"]

RULES = """
- rule: exec in container
  desc: live container metadata check
  condition: evt.type in (execve, execveat) and evt.dir = < and container.id != host
  output: >-
    EXEC proc=%proc.name cid=%container.id type=%container.type name=%container.name
    image=%container.image repo=%container.image.repository tag=%container.image.tag
    priv=%container.privileged mdest=%container.mount.dest[/proc]
    mrw=%container.mount.rdwr[/proc]
  priority: WARNING
"""


def _image(tmp: Path, tag: str) -> None:
    root = tmp / "rootfs"
    (root / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "etc", "tmp", "host"):
        (root / d).mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for cmd in ("sh", "cat", "sleep", "id"):
        os.symlink("busybox", root / "bin" / cmd)
    tar = tmp / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    res = subprocess.run(["podman", "import", str(tar), tag], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"podman import failed: {res.stderr.strip()}")


def _wait_for(path: Path, text: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def test_podman_container_metadata_live(tmp_path: Path):
    tag = f"localhost/falcotest-{uuid.uuid4().hex[:8]}:v1"
    name = f"falcotest-{uuid.uuid4().hex[:8]}"
    _image(tmp_path, tag)
    sock = tmp_path / "podman.sock"
    service = subprocess.Popen(PODMAN + ["system", "service", "--time=0", f"unix://{sock}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    falco = None
    try:
        end = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < end:
            time.sleep(0.2)
        assert sock.exists(), "podman system service did not create its socket"
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES)
        rules.chmod(0o600)
        out, err = tmp_path / "falco.out", tmp_path / "falco.err"
        env = dict(os.environ, FALCO_CONTAINER_SOCKETS=str(sock))
        with open(out, "w") as fo, open(err, "w") as fe:
            falco = subprocess.Popen(
                [sys.executable, "-m", "falco", "run", "--driver", "ebpf", "-U",
                 "-r", str(REPO / "rules" / "falco_rules.yaml"), "-r", str(rules),
                 "--all-matches", "-M", "60"], stdout=fo, stderr=fe, env=env, cwd=REPO)
        assert _wait_for(err, "watching this host", 45), err.read_text()
        run = subprocess.run(
            PODMAN + ["run", "--rm", "--name", name, "--privileged", "--network=none",
                      "-v", "/proc:/host/proc:ro", "--ulimit", "nofile=1024:1024",
                      "--ulimit", "nproc=1000:1000", tag, "/bin/sh", "-c",
                      "sleep 3; for i in 1 2 3 4; do /bin/cat /etc/hostname; sleep 1; done"],
            capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            pytest.skip(f"podman cannot run containers here: {run.stderr.strip()}")
        assert _wait_for(out, f"name={name}", 20), out.read_text()[-2000:]
    finally:
        if falco is not None:
            falco.terminate()
            falco.wait(30)
        service.terminate()
        service.wait(30)
        subprocess.run(["podman", "rmi", "-f", tag], capture_output=True)
    lines = [ln for ln in out.read_text().splitlines() if "EXEC " in ln and name in ln]
    assert lines, out.read_text()[-2000:]
    fields = dict(tok.split("=", 1) for tok in lines[-1].split("EXEC ", 1)[1].split()
                  if "=" in tok)
    repo, _, imgtag = tag.rpartition(":")
    assert fields["type"] == "podman" and fields["image"] == tag
    assert fields["repo"] == repo and fields["tag"] == imgtag
    assert fields["priv"] == "true" and fields["mdest"] == "/host/proc"
    assert fields["mrw"] == "false"
    text = out.read_text()
    # The default rules see it too: the metadata's container event is the
    # container_init_process branch libsinsp feeds.
    assert "Container started with privileged mode" in text and f"container_name={name}" in text
    assert "Container started with a sensitive host path mounted" in text
