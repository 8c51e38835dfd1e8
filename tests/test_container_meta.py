"""Live container metadata from a Docker-compatible Engine API on a unix
socket, looked up off the hot path (falco/live/container_meta.py).

A fake engine (a real HTTP server on a unix socket, answering inspect JSON
as Docker/Podman do) stands in for the runtime; a synthetic record stream
(execve of processes whose cgroup names a container) drives the live path
of the state engine through compiled rules.
"""
from __future__ import annotations

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from falco.live.container_meta import ContainerResolver, info_from_inspect, split_image
from falco.pipeline import build_detector, new_state
from falco.rules.loader import load_rules
from falco.ruletest.synth import encode_param, record
from falco_engine import table as _table
from falco_engine.decoder import scan_records

CID = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e"
CID2 = "9f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"

INSPECT = {
    "Id": CID,
    "Created": "2026-11-27T05:00:00.000000000Z",
    "Name": "/web-frontend",
    "Image": "sha256:e7d92cdc71feacf90708cb59182d0df1b911f8ae022d29e8e95d75ca6a99776a",
    "HostConfig": {"Privileged": True, "NetworkMode": "default", "PidMode": "",
                   "IpcMode": "private"},
    "Config": {
        "Hostname": "3ad7b26ded6d", "Image": "quay.io:5000/acme/nginx:1.25.3",
        "Labels": {
            "io.kubernetes.pod.name": "frontend-7d9f8",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": "0f6c8a52-7d8e-4c1a-9f2b-3c4d5e6f7a8b",
            "io.kubernetes.sandbox.id": CID2,
            "app": "web",
        },
    },
    "Mounts": [
        {"Type": "bind", "Source": "/proc", "Destination": "/host/proc",
         "Mode": "", "RW": False, "Propagation": "rprivate"},
        {"Type": "bind", "Source": "/var/run/docker.sock",
         "Destination": "/var/run/docker.sock", "Mode": "z", "RW": True,
         "Propagation": "rslave"},
    ],
    "NetworkSettings": {"IPAddress": "172.17.0.5", "Networks": {}},
}


class _Engine(BaseHTTPRequestHandler):
    delay = 0.0
    requests: list[str] = []

    def do_GET(self):                       # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        time.sleep(self.delay)
        if self.path.endswith(f"/containers/{CID}/json"):
            body, code = json.dumps(INSPECT).encode(), 200
        else:
            body, code = b'{"message":"No such container"}', 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


@pytest.fixture
def engine_socket(tmp_path):
    path = str(tmp_path / "docker.sock")
    _Engine.delay = 0.0
    _Engine.requests = []
    srv = _UnixHTTPServer(path, _Engine)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield path
    srv.shutdown()
    srv.server_close()


# --- a synthetic live stream ---------------------------------------------------

_EXECVE_E = next(e for e in _table.EVENTS if e.id == 292)
_EXECVE_X = next(e for e in _table.EVENTS if e.id == 293)


def execve_in_cgroup(ts: int, tid: int, comm: str, cgroup: str) -> bytes:
    """An execve enter/exit pair of `comm` run by thread `tid` in `cgroup`
    (a cgroup path), as the live driver records it."""
    vals = {"filename": f"/bin/{comm}", "res": 0, "exe": f"/bin/{comm}", "args": [],
            "tid": tid, "pid": tid, "ptid": 1, "cwd": "/", "fdlimit": 1024,
            "comm": comm, "env": [], "tty": 0, "pgid": tid, "loginuid": 0xFFFFFFFF,
            "flags": 0, "uid": 0, "trusted_exepath": f"/bin/{comm}",
            "cgroups": [f"cpu={cgroup}", f"memory={cgroup}"]}

    def raws(ev):
        return [encode_param(p, vals.get(p.name, 0), "test") for p in ev.params]

    return (record(_EXECVE_E.id, raws(_EXECVE_E), ts, tid)
            + record(_EXECVE_X.id, raws(_EXECVE_X), ts + 1, tid))


def _execve(ts: int, tid: int, comm: str, cid: str) -> bytes:
    return execve_in_cgroup(ts, tid, comm, f"/system.slice/docker-{cid}.scope")


RULES = """
- rule: exec in container
  desc: every exec, with its container's metadata
  condition: evt.type = execve and evt.dir = < and container.id != host
  output: >-
    name=%container.name image=%container.image repo=%container.image.repository
    tag=%container.image.tag imageid=%container.image.id priv=%container.privileged
    ip=%container.ip type=%container.type pod=%k8s.pod.name ns=%k8s.ns.name
    uid=%k8s.pod.uid sandbox=%k8s.pod.sandbox_id app=%container.label[app]
    msrc=%container.mount.source[/host/proc] mdest=%container.mount.dest[/proc]
    mrw=%container.mount.rdwr[/proc] mprop=%container.mount.propagation[/var/run/docker.sock]
    mmode=%container.mount.mode[/var/run/docker.sock] mounts=%container.mounts
  priority: WARNING
- rule: privileged container announced
  desc: the container event made when the metadata arrives
  condition: evt.type = container and container.privileged = true
  output: announced %container.name %container.image.repository %proc.name
  priority: NOTICE
- rule: privileged container exec
  desc: matches only once the runtime answered
  condition: evt.type = execve and evt.dir = < and container.privileged = true
    and container.mount.dest[/proc] = /host/proc
  output: privileged %container.name
  priority: WARNING
"""


def _fields(alert) -> dict[str, str]:
    out = {}
    for tok in alert.output.split():
        k, _, v = tok.partition("=")
        out[k] = v
    return out


def live_detector(sockets, tmp_path, rules: str = RULES, cri_sockets=None):
    """A detector with live state whose container lookups go to `sockets`
    (Engine API) and `cri_sockets` (None: the defaults); shared with the
    CRI tests."""
    loaded = load_rules([("test.yaml", rules)])
    assert not loaded.errors, loaded.errors
    state = new_state(container_sockets=sockets, cri_sockets=cri_sockets)
    state.live = True                        # as seed_host leaves it
    state.proc_root = str(tmp_path / "noproc")   # unknown tids: no /proc
    det = build_detector(loaded, first_match=False, state=state)
    assert not det.warnings, det.warnings
    return det, state


def wait_until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_live_lookup_fills_fields_without_delaying_events(engine_socket, tmp_path):
    _Engine.delay = 0.5                      # a slow runtime
    det, state = live_detector([str(tmp_path / "missing.sock"), engine_socket], tmp_path)
    resolver = state.container_resolver
    t0 = time.monotonic()
    first = list(det.run([scan_records(_execve(1000, 100, "nginx", CID))]))
    took = time.monotonic() - t0
    # The event is judged at once, with the metadata still <NA>.
    assert took < 0.4, took
    assert [a.rule for a in first] == ["exec in container"]
    f = _fields(first[0])
    assert f["name"] == "<NA>" and f["image"] == "<NA>" and f["priv"] == "<NA>"
    assert f["pod"] == "<NA>" and f["mounts"] == "<NA>"
    assert f["type"] == "docker"             # from the cgroup, immediately
    assert resolver.n_requested == 1

    assert wait_until(lambda: resolver.n_resolved == 1)
    assert _Engine.requests == [f"/v1.24/containers/{CID}/json"]
    alerts = list(det.run([scan_records(_execve(2000, 101, "sh", CID))]))
    # The answer is announced first as a container event (as libsinsp does),
    # so rules on evt.type = container see it, then the batch's execve.
    assert [a.rule for a in alerts] == ["privileged container announced",
                                        "exec in container", "privileged container exec"]
    assert alerts[0].output == ("announced web-frontend quay.io:5000/acme/nginx "
                                "container:3ad7b26ded6d")
    f = _fields(next(a for a in alerts if a.rule == "exec in container"))
    assert f == {
        "name": "web-frontend", "image": "quay.io:5000/acme/nginx:1.25.3",
        "repo": "quay.io:5000/acme/nginx", "tag": "1.25.3",
        "imageid": "e7d92cdc71feacf90708cb59182d0df1b911f8ae022d29e8e95d75ca6a99776a",
        "priv": "true", "ip": "172.17.0.5", "type": "docker",
        "pod": "frontend-7d9f8", "ns": "shop",
        "uid": "0f6c8a52-7d8e-4c1a-9f2b-3c4d5e6f7a8b", "sandbox": CID2[:12],
        "app": "web", "msrc": "/proc", "mdest": "/host/proc", "mrw": "false",
        "mprop": "rslave", "mmode": "z",
        "mounts": "/proc:/host/proc::false:rprivate,"
                  "/var/run/docker.sock:/var/run/docker.sock:z:true:rslave",
    }
    # One lookup (and one announcement) per container, however many of its
    # processes appear.
    again = list(det.run([scan_records(_execve(3000, 102, "ls", CID))]))
    assert [a.rule for a in again] == ["exec in container", "privileged container exec"]
    assert resolver.n_requested == 1
    resolver.close()


def test_unknown_container_stays_na(engine_socket, tmp_path):
    det, state = live_detector([engine_socket], tmp_path)
    resolver = state.container_resolver
    list(det.run([scan_records(_execve(1000, 200, "sh", CID2))]))
    assert wait_until(lambda: resolver.n_failed == 1)
    assert "HTTP 404" in resolver.last_error
    alerts = list(det.run([scan_records(_execve(2000, 201, "sh", CID2))]))
    f = _fields(alerts[0])
    assert f["name"] == "<NA>" and f["priv"] == "<NA>" and f["type"] == "docker"
    assert resolver.n_requested == 1        # failures are not retried per event
    resolver.close()


def test_no_runtime_socket_never_blocks(tmp_path):
    det, state = live_detector([str(tmp_path / "nothing.sock")], tmp_path)
    alerts = list(det.run([scan_records(_execve(1000, 300, "sh", CID))]))
    assert _fields(alerts[0])["name"] == "<NA>"
    assert wait_until(lambda: state.container_resolver.n_failed == 1)
    state.container_resolver.close()


def test_replay_never_asks_the_runtime(engine_socket, tmp_path):
    # Offline (no seed_host): containers come only from the capture.
    loaded = load_rules([("test.yaml", RULES)])
    state = new_state(container_sockets=[engine_socket])
    det = build_detector(loaded, first_match=False, state=state)
    alerts = list(det.run([scan_records(_execve(1000, 400, "sh", CID))]))
    assert _fields(alerts[0])["name"] == "<NA>"
    assert state.container_resolver.n_requested == 0 and _Engine.requests == []


def test_inspect_parsing_rules():
    assert split_image("busybox") == ("busybox", "", "")
    assert split_image("localhost/bb:v1") == ("localhost/bb", "v1", "")
    assert split_image("reg:5000/a/b@sha256:ab") == ("reg:5000/a/b", "", "sha256:ab")
    info = info_from_inspect({"Id": CID, "Name": "/x", "Image": "sha256:abcd",
                              "Config": {"Image": "sha256:abcd"},
                              "HostConfig": {}, "NetworkSettings": {
                                  "Networks": {"podman": {"IPAddress": "10.88.0.7"}}}})
    # Started by image id: no repository; untagged images read "latest".
    assert info["imagerepo"] == "" and info["imagetag"] == "latest"
    assert info["imageid"] == "abcd" and info["name"] == "x"
    assert info["privileged"] is False and info["ip"] == "10.88.0.7"


def test_sockets_follow_container_engines(monkeypatch):
    """falco.yaml's container_engines picks the Engine API sockets asked;
    FALCO_CONTAINER_SOCKETS overrides it."""
    from falco.config import load_config
    from falco.live.container_meta import sockets_from_config

    monkeypatch.delenv("FALCO_CONTAINER_SOCKETS", raising=False)
    both = sockets_from_config(load_config(text="{}").container_engines)
    assert both[0] == "/var/run/docker.sock" and "/run/podman/podman.sock" in both
    cfg = load_config(text="container_engines: {docker: {enabled: false}}\n")
    assert "/var/run/docker.sock" not in sockets_from_config(cfg.container_engines)
    cfg = load_config(text="container_engines: {docker: {enabled: false}, "
                           "podman: {enabled: false}}\n")
    assert sockets_from_config(cfg.container_engines) == []
    monkeypatch.setenv("FALCO_CONTAINER_SOCKETS", "/tmp/a.sock:/tmp/b.sock")
    assert sockets_from_config(cfg.container_engines) == ["/tmp/a.sock", "/tmp/b.sock"]


def test_health_probes_from_inspect():
    from falco.live.container_meta import health_probes
    shell = {"Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}}
    assert health_probes(shell, {}) == {"Healthcheck": {
        "exe": "/bin/sh", "args": ["-c", "curl -f http://localhost/ || exit 1"]}}
    # CMD: each word loses one pair of surrounding quotes, as libsinsp's.
    cmd = {"Healthcheck": {"Test": ["CMD", "'/bin/check'", '"--port"', "80"]}}
    assert health_probes(cmd, {}) == {"Healthcheck": {
        "exe": "/bin/check", "args": ["--port", "80"]}}
    assert health_probes({"Healthcheck": {"Test": ["NONE"]}}, {}) == {}
    assert health_probes({"Healthcheck": {"Test": "bogus"}}, {}) == {}
    pod = {"spec": {"containers": [{
        "name": "web",
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}},
        "readinessProbe": {"exec": {"command": ["/ready.sh"]}}}]}}
    labels = {"annotation.kubectl.kubernetes.io/last-applied-configuration": json.dumps(pod)}
    # The liveness probe, and then neither the readiness probe nor the
    # image's healthcheck (libsinsp takes one).
    assert health_probes(shell, labels) == {
        "LivenessProbe": {"exe": "cat", "args": ["/tmp/healthy"]}}
    del pod["spec"]["containers"][0]["livenessProbe"]
    labels[next(iter(labels))] = json.dumps(pod)
    assert health_probes(shell, labels) == {
        "ReadinessProbe": {"exe": "/ready.sh", "args": []}}
    labels[next(iter(labels))] = "{not json"
    assert "Healthcheck" in health_probes(shell, labels)


def _exec_detector(output: str):
    """A detector (offline state) whose one rule reports `output` for every
    execve exit."""
    loaded = load_rules([("test.yaml", f"""
- rule: exec anywhere
  desc: every exec
  condition: evt.type = execve and evt.dir = <
  output: "{output}"
  priority: WARNING
""")])
    det = build_detector(loaded, first_match=False, state=new_state())
    assert not det.warnings, det.warnings
    return det


def test_probe_fields_read_the_container_record(tmp_path):
    """The record the resolver announces (as libsinsp writes it in a
    container event) answers the probe fields; a container without probes
    reads NONE, the host <NA>."""
    inspect = json.loads(json.dumps(INSPECT))
    inspect["Config"]["Healthcheck"] = {"Test": ["CMD-SHELL", "pgrep nginx"]}
    other = json.loads(json.dumps(INSPECT))
    other["Id"] = CID2
    resolver = ContainerResolver([str(tmp_path / "none.sock")])
    resolver.ready.extend([info_from_inspect(inspect, 0), info_from_inspect(other, 0)])
    announced = resolver.take_events()
    assert announced is not None and len(announced) == 2
    det = _exec_detector(
        "%container.healthcheck|%container.liveness_probe|%container.readiness_probe")
    host = execve_in_cgroup(3000, 502, "ls", "/user.slice")
    alerts = list(det.run([announced, scan_records(
        _execve(1000, 500, "nginx", CID) + _execve(2000, 501, "sh", CID2) + host)]))
    assert [a.output for a in alerts] == [
        "/bin/sh -c pgrep nginx|NONE|NONE", "NONE|NONE|NONE", "<NA>|<NA>|<NA>"]
    resolver.close()


_CLONE_X = next(e for e in _table.EVENTS if e.id == 223)


def _clone_child(ts: int, tid: int, cgroup: str, pidns_start: int) -> bytes:
    """The child's side of a clone, as the live driver records it."""
    vals = {"res": 0, "exe": "/bin/sh", "args": [], "tid": tid, "pid": tid, "ptid": 1,
            "cwd": "/", "fdlimit": 1024, "comm": "sh", "flags": 0, "uid": 0, "gid": 0,
            "cgroups": [f"cpu={cgroup}", f"memory={cgroup}"], "vtid": 1, "vpid": 1,
            "pidns_init_start_ts": pidns_start}
    return record(_CLONE_X.id, [encode_param(p, vals.get(p.name, 0), "test")
                                for p in _CLONE_X.params], ts, tid)


def test_container_start_ts_is_its_pid_namespace_start(tmp_path):
    """container.start_ts is when the container's pid namespace started (its
    init's start time, from the clone), as libsinsp has it; duration is the
    time since then.  <NA> on the host and where the start is unknown."""
    det = _exec_detector("%container.id %container.start_ts %container.duration")
    start = 1_700_000_000_000_000_000
    docker = f"/system.slice/docker-{CID}.scope"
    stream = (_clone_child(start + 5_000, 600, docker, start)
              + execve_in_cgroup(start + 9_000, 600, "nginx", docker)
              + _execve(start + 10_000, 601, "sh", CID2)         # start unknown
              + _clone_child(start + 11_000, 602, "/user.slice", start)
              + execve_in_cgroup(start + 12_000, 602, "ls", "/user.slice"))
    alerts = list(det.run([scan_records(stream)]))
    assert [a.output for a in alerts] == [
        f"{CID[:12]} {start} 9001",
        f"{CID2[:12]} <NA> <NA>",
        "host <NA> <NA>"]
    start_ts = alerts[0].output_fields["container.start_ts"]
    assert start_ts == start


def test_record_fields_full_id_labels_and_host_namespaces(tmp_path):
    """container.full_id, container.labels and container.host_* from the
    record the Engine API lookup makes: a container sharing the host's pid,
    network and IPC namespaces, and one with its own."""
    shared = json.loads(json.dumps(INSPECT))
    shared["HostConfig"].update(PidMode="host", NetworkMode="host", IpcMode="host")
    shared["Config"]["Labels"] = {"app": "web", "tier": "front"}
    own = json.loads(json.dumps(INSPECT))
    own["Id"] = CID2
    own["Config"]["Labels"] = {}
    resolver = ContainerResolver([str(tmp_path / "none.sock")])
    resolver.ready.extend([info_from_inspect(shared, 0), info_from_inspect(own, 0)])
    det = _exec_detector("%container.full_id|%container.labels|%container.host_pid"
                         "|%container.host_network|%container.host_ipc")
    alerts = list(det.run([resolver.take_events(), scan_records(
        _execve(1000, 700, "nginx", CID) + _execve(2000, 701, "sh", CID2))]))
    assert [a.output for a in alerts] == [
        f"{CID}|app:web, tier:front|true|true|true",
        f"{CID2}|<NA>|false|false|false"]
    resolver.close()
