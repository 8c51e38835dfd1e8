"""Container metadata from the runtime's socket, off the hot path.

Live, the state engine knows a container only by the id in a thread's
cgroup path.  The first time it sees an id it leaves a placeholder (the
runtime type; every other `container.*` field reads `<NA>`) and calls
`ContainerResolver.request(full_id, runtime)`.  That only queues the id: a
background thread asks a Docker-compatible Engine API (Docker, or Podman's
compat service) over a unix socket, ``GET /containers/<id>/json``, turns the
answer into the container record libsinsp keeps (the same keys as a
capture's container JSON event) and swaps it in.  Events are never delayed;
fields stay `<NA>` until the answer arrives, and for good if no runtime
answers.

Containers of CRI runtimes (containerd, CRI-O: the cgroup names the
runtime) are asked of the CRI runtime service over gRPC instead
(falco/live/cri_meta.py); Docker and Podman containers of the Engine API.

Sockets: `FALCO_CONTAINER_SOCKETS` (colon-separated) or the constructor's
`sockets`, else Falco's defaults (Docker's, Podman's root and rootless);
CRI sockets likewise from `FALCO_CRI_SOCKETS` or `cri_sockets`, else
Falco's (containerd, CRI-O, k3s).  A lookup that fails leaves the
container's fields `<NA>`; failures are counted by reason
(`ContainerResolver.failures`) and logged at most once a minute.
"""
from __future__ import annotations

import collections
import http.client
import json
import logging
import os
import queue
import re
import socket
import struct
import threading
import time
from typing import Any, Iterable

from falco_engine import table as _table
from falco_engine.decoder import scan_records

__all__ = ["ContainerResolver", "cri_sockets_from_config", "default_cri_sockets",
           "default_sockets", "info_from_inspect", "sockets_from_config", "split_image"]

log = logging.getLogger("falco.container_meta")

#: libsinsp's Docker API version prefix (Podman's compat service accepts it).
API_PREFIX = "/v1.24"

#: The container event with one JSON parameter and 16-bit parameter lengths.
CONTAINER_JSON_E = next(e.id for e in _table.EVENTS if e.name == "container"
                        and [p.name for p in e.params] == ["json"]
                        and not e.flags & 2048)            # EF_LARGE_PAYLOAD


DOCKER_SOCKETS = ("/var/run/docker.sock",)


def podman_sockets() -> tuple[str, ...]:
    return ("/run/podman/podman.sock", f"/run/user/{os.getuid()}/podman/podman.sock")


def default_sockets() -> list[str]:
    env = os.environ.get("FALCO_CONTAINER_SOCKETS")
    if env is not None:
        return [s for s in env.split(":") if s]
    return [*DOCKER_SOCKETS, *podman_sockets()]


def sockets_from_config(engines) -> list[str]:
    """The Engine API sockets falco.yaml's `container_engines` enables
    (docker, podman); FALCO_CONTAINER_SOCKETS still wins.  CRI sockets
    speak gRPC: see cri_sockets_from_config."""
    if os.environ.get("FALCO_CONTAINER_SOCKETS") is not None:
        return default_sockets()
    out: list[str] = []
    if engines.docker.enabled:
        out += DOCKER_SOCKETS
    if engines.podman.enabled:
        out += podman_sockets()
    return out


#: Falco's default `container_engines.cri.sockets`.
CRI_SOCKETS = ("/run/containerd/containerd.sock", "/run/crio/crio.sock",
               "/run/k3s/containerd/containerd.sock")

#: Cgroup runtimes whose containers only a CRI runtime service knows.
CRI_RUNTIMES = frozenset({"containerd", "cri-o", "crio"})
#: Those only the Engine API knows.
ENGINE_RUNTIMES = frozenset({"docker", "podman"})


def default_cri_sockets() -> list[str]:
    env = os.environ.get("FALCO_CRI_SOCKETS")
    if env is not None:
        return [s for s in env.split(":") if s]
    return list(CRI_SOCKETS)


def cri_sockets_from_config(engines) -> list[str]:
    """The CRI (gRPC) sockets of `container_engines.cri` when enabled;
    FALCO_CRI_SOCKETS wins."""
    if os.environ.get("FALCO_CRI_SOCKETS") is not None:
        return default_cri_sockets()
    return [str(s) for s in engines.cri.sockets] if engines.cri.enabled else []


class _LogLimiter:
    """At most one log line per `every` seconds; says how many it held back."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._next = 0.0
        self._held = 0

    def __call__(self, msg: str) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            msg += f" ({self._held} more lookup failures not logged)"
        self._held = 0
        self._next = now + self.every
        log.warning("container metadata: %s", msg)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


def split_image(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference, as libsinsp's
    split_container_image keeps them for Docker: the registry stays in the
    repository ("localhost/busybox", "quay.io:5000/a/b")."""
    repo, digest = image, ""
    if "@" in repo:
        repo, _, digest = repo.partition("@")
    tag = ""
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = repo.rpartition(":")
    return repo, tag, digest


def _mounts(raw: Any) -> list[dict]:
    out = []
    for m in raw if isinstance(raw, list) else []:
        if not isinstance(m, dict):
            continue
        out.append({"Source": str(m.get("Source", "")),
                    "Destination": str(m.get("Destination", "")),
                    "Mode": str(m.get("Mode", "")),
                    "RW": bool(m.get("RW", False)),
                    "Propagation": str(m.get("Propagation", ""))})
    return out


# kubectl's copy of the pod spec, where libsinsp finds a pod's probes.
_LAST_APPLIED = "annotation.kubectl.kubernetes.io/last-applied-configuration"


def _unquote(arg: str) -> str:
    """A Healthcheck argument without one pair of surrounding quotes."""
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'":
        return arg[1:-1]
    return arg


def _command(words: Any) -> list[str] | None:
    if isinstance(words, list) and words and all(isinstance(w, str) for w in words):
        return words
    return None


def health_probes(config: dict, labels: dict) -> dict:
    """The container's health probes as container records hold them
    ({"Healthcheck" | "LivenessProbe" | "ReadinessProbe": {"exe", "args"}}),
    with libsinsp's docker parser's rules: the first container's liveness
    probe, else its readiness probe, from kubectl's last-applied pod spec;
    only when there is neither, the image's HEALTHCHECK (CMD, or CMD-SHELL
    run by /bin/sh -c)."""
    spec = labels.get(_LAST_APPLIED)
    if spec:
        try:
            pod = json.loads(spec)
        except ValueError:
            pod = None
        containers = ((pod.get("spec") or {}).get("containers")
                      if isinstance(pod, dict) else None)
        first = containers[0] if isinstance(containers, list) and containers else None
        if isinstance(first, dict):
            for key, name in (("livenessProbe", "LivenessProbe"),
                              ("readinessProbe", "ReadinessProbe")):
                probe = first.get(key)
                run = probe.get("exec") if isinstance(probe, dict) else None
                cmd = _command(run.get("command") if isinstance(run, dict) else None)
                if cmd is not None:
                    return {name: {"exe": cmd[0], "args": cmd[1:]}}
    health = config.get("Healthcheck")
    test = _command(health.get("Test") if isinstance(health, dict) else None)
    if test is not None and test[0] == "CMD" and len(test) >= 2:
        return {"Healthcheck": {"exe": _unquote(test[1]),
                                "args": [_unquote(a) for a in test[2:]]}}
    if test is not None and test[0] == "CMD-SHELL" and len(test) >= 2:
        return {"Healthcheck": {"exe": "/bin/sh", "args": ["-c", test[1]]}}
    return {}


def info_from_inspect(doc: dict, type_num: int | None = None) -> dict:
    """A container record (capture container-JSON keys) from the Engine
    API's inspect answer, with libsinsp's docker parser's rules."""
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    net = doc.get("NetworkSettings") or {}
    full_id = str(doc.get("Id", ""))
    image = str(config.get("Image") or doc.get("ImageName") or "")
    image_ref = str(doc.get("Image", ""))
    image_id = image_ref.split(":", 1)[1] if ":" in image_ref else image_ref
    repo, tag, digest = split_image(image)
    if image_id and (image.startswith(image_id) or image == image_ref):
        repo = tag = digest = ""            # started by image id: no name
    name = str(doc.get("Name", ""))
    if name.startswith("/"):
        name = name[1:]
    ip = str(net.get("IPAddress") or "")
    if not ip:
        for n in (net.get("Networks") or {}).values():
            if isinstance(n, dict) and n.get("IPAddress"):
                ip = str(n["IPAddress"])
                break
    labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
    info = {"id": full_id[:12], "full_id": full_id, "name": name,
            "image": image, "imageid": image_id, "imagerepo": repo,
            "imagetag": tag or "latest", "imagedigest": digest,
            "privileged": bool(host.get("Privileged", False)),
            "Mounts": _mounts(doc.get("Mounts")), "labels": labels,
            "ip": ip or "0.0.0.0",
            "host_pid": host.get("PidMode") == "host",
            "host_network": host.get("NetworkMode") == "host",
            "host_ipc": host.get("IpcMode") == "host",
            "is_pod_sandbox": name.startswith("k8s_POD")}
    info.update(health_probes(config, labels))
    if type_num is not None:
        info["type"] = type_num
    return info


class ContainerResolver:
    """Looks containers up on a background thread; see the module doc."""

    def __init__(self, sockets: Iterable[str] | None = None,
                 timeout: float = 2.0, max_pending: int = 1024,
                 cri_sockets: Iterable[str] | None = None,
                 cri_timeout: float = 1.0) -> None:
        self.sockets = list(default_sockets() if sockets is None else sockets)
        self.cri_sockets = list(default_cri_sockets() if cri_sockets is None else cri_sockets)
        self.timeout = timeout
        self.cri_timeout = cri_timeout
        self._cri = None            # the CriResolver, made on the thread (grpc import)
        self.engine = None
        self._queue: queue.Queue = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.n_requested = 0
        self.n_resolved = 0
        self.n_failed = 0
        self.n_dropped = 0          # queue full: the container stays <NA>
        self.failures: collections.Counter = collections.Counter()   # by reason
        self.last_error: str | None = None
        self._warn = _LogLimiter()
        self.resolved = threading.Event()   # set after each answer (tests)
        # Answers not yet announced to the rules: as libsinsp, each becomes a
        # container event (evt.type = container) before the next batch.
        self.ready: collections.deque = collections.deque()

    def attach(self, engine) -> "ContainerResolver":
        """Serve `engine` (a StateEngine): its new container ids come here."""
        self.engine = engine
        engine.container_resolver = self
        return self

    # -- called on the hot path: never blocks ---------------------------------

    def request(self, full_id: bytes, runtime: str | None) -> None:
        if not self.sockets and not self.cri_sockets:
            return
        try:
            self._queue.put_nowait((bytes(full_id).decode("ascii", "replace"), runtime))
        except queue.Full:
            self.n_dropped += 1
            return
        self.n_requested += 1
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._work, name="falco-container-meta", daemon=True)
                    self._thread.start()

    # -- the background thread -------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            cid, runtime = item
            self.last_error = None
            try:
                info = self.lookup(cid, runtime)
            except Exception as exc:            # noqa: BLE001 - the thread must live on
                info, self.last_error = None, f"{type(exc).__name__}: {exc}"
            engine = self.engine
            key = cid[:12].encode()
            if info is None:
                self.n_failed += 1
                reason = self.last_error or "no runtime socket"
                self.failures[_reason(reason)] += 1
                self._warn(f"{cid[:12]} ({runtime or 'unknown runtime'}): {reason}")
                if engine is not None:
                    old = engine.containers.get(key)
                    if isinstance(old, dict) and old.get("lookup") == "pending":
                        engine.containers[key] = dict(old, lookup="failed")
            else:
                self.n_resolved += 1
                if engine is not None:
                    old = engine.containers.get(key) or {}
                    if "type" in old:
                        info.setdefault("type", old["type"])
                    engine.containers[key] = info   # one store: atomic under the GIL
                    self.ready.append(info)
            self.resolved.set()

    def take_events(self):
        """The container events of the answers that arrived since the last
        call, as one EventBatch (None if there are none)."""
        recs = []
        while self.ready:
            info = self.ready.popleft()
            body = json.dumps({"container": info}).encode() + b"\0"
            if len(body) > 0xFFFF:
                continue                    # too big for the event: fields still work
            recs.append(struct.pack("<QQIHI", time.time_ns(), 0xFFFFFFFFFFFFFFFF,
                                    26 + 2 + len(body), CONTAINER_JSON_E, 1)
                        + struct.pack("<H", len(body)) + body)
        return scan_records(b"".join(recs)) if recs else None

    def lookup(self, cid: str, runtime: str | None = None) -> dict | None:
        """The container record from the first runtime that knows `cid`:
        CRI runtimes' containers from the CRI sockets, Docker's and Podman's
        from the Engine API; a runtime the cgroup did not tell (or the
        kubepods "cri") asks both."""
        if runtime in ENGINE_RUNTIMES:
            return self.engine_lookup(cid)
        if runtime in CRI_RUNTIMES:
            return self.cri_lookup(cid)
        if runtime == "cri":
            return self.cri_lookup(cid) or self.engine_lookup(cid)
        return self.engine_lookup(cid) or self.cri_lookup(cid)

    def cri_lookup(self, cid: str) -> dict | None:
        if not self.cri_sockets:
            return None
        if self._cri is None:
            try:
                from falco.live.cri_meta import CriResolver
            except ImportError as exc:              # grpcio/protobuf missing
                self.last_error = f"CRI lookups need grpcio and protobuf: {exc}"
                return None
            self._cri = CriResolver(self.cri_sockets, self.cri_timeout)
        info = self._cri.lookup(cid)
        if info is None and self._cri.last_error:
            self.last_error = self._cri.last_error
        return info

    def engine_lookup(self, cid: str) -> dict | None:
        """The container record from the first Engine API socket that knows `cid`."""
        for path in self.sockets:
            if not os.path.exists(path):
                continue
            conn = _UnixHTTPConnection(path, self.timeout)
            try:
                conn.request("GET", f"{API_PREFIX}/containers/{cid}/json",
                             headers={"Host": "localhost"})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    self.last_error = f"{path}: HTTP {resp.status}"
                    continue
                doc = json.loads(body)
                if isinstance(doc, dict):
                    return info_from_inspect(doc)
                self.last_error = f"{path}: answer is not an object"
            except (OSError, ValueError, http.client.HTTPException) as exc:
                self.last_error = f"{path}: {exc}"
            finally:
                conn.close()
        return None

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(max(self.timeout, self.cri_timeout) * 2)
            self._thread = None
        if self._cri is not None:
            self._cri.close()
            self._cri = None


def _reason(error: str) -> str:
    """A short failure reason to count: "HTTP 404", a gRPC code
    ("NOT_FOUND", "DEADLINE_EXCEEDED"), else the error's start."""
    m = re.search(r"HTTP \d+|\b[A-Z][A-Z_]{3,}\b", error)
    return m.group(0) if m else error.split(":", 1)[0][:40]
