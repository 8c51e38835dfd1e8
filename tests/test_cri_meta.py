"""Container metadata from a CRI runtime service over gRPC
(falco/live/cri_meta.py, wired into falco/live/container_meta.py).

A real gRPC server on a unix socket stands in for containerd: it serves
RuntimeService Version / ContainerStatus / PodSandboxStatus and
ImageService ListImages with the minimal messages, answering as containerd
1.6+ does for a Kubernetes pod (k8s labels, mounts, the verbose info JSON
with the CRI config and the OCI runtime spec).  A synthetic record stream
(execve of processes whose cgroup is a `cri-containerd-<id>.scope`) drives
the live path of the state engine through compiled rules.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent import futures

import grpc
import pytest

from falco.live import cri_meta
from falco.live.container_meta import ContainerResolver, cri_sockets_from_config
from falco.live.cri_meta import CriResolver, CriSocket
from falco_engine.decoder import scan_records
from test_container_meta import execve_in_cgroup, live_detector, wait_until

CID = "4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
SID = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
DIGEST = "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31"
IMAGE_ID = "sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6"
POD_UID = "0f6c8a52-7d8e-4c1a-9f2b-3c4d5e6f7a8b"
CREATED_NS = 1_764_000_000_123_456_789

#: The verbose `info` of containerd's CRI plugin (abridged to what is read,
#: plus neighbours so the parser has to pick).
CONTAINER_INFO = {
    "sandboxID": SID,
    "pid": 4242,
    "removing": False,
    "snapshotKey": CID,
    "snapshotter": "overlayfs",
    "runtimeType": "io.containerd.runc.v2",
    "config": {
        "metadata": {"name": "nginx"},
        "image": {"image": IMAGE_ID},
        "envs": [{"key": "PATH", "value": "/usr/bin"}],
        "linux": {"security_context": {"privileged": True,
                                       "namespace_options": {"pid": 1}}},
    },
    "runtimeSpec": {
        "ociVersion": "1.0.2-dev",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["nginx"]},
        "annotations": {"io.kubernetes.cri.container-type": "container",
                        "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25.3",
                        "io.kubernetes.cri.sandbox-id": SID},
        "linux": {"resources": {"memory": {"limit": 268435456}},
                  "namespaces": [{"type": "pid"}, {"type": "mount"}]},
    },
}

SANDBOX_INFO = {
    "pid": 4100,
    "cniResult": {"Interfaces": {
        "eth0": {"IPConfigs": [{"IP": "10.244.1.17", "Gateway": "10.244.1.1"}],
                 "Mac": "2e:4f:aa:01:02:03", "Sandbox": "/var/run/netns/cni-1234"},
        "lo": {"IPConfigs": [{"IP": "127.0.0.1"}]},
        "veth0a1b2c3d": {"Mac": "ee:ee:ee:ee:ee:ee"},
    }},
}


class FakeCri:
    """The RuntimeService/ImageService of one API package, as containerd
    answers; `hang` names methods that wait until the test ends."""

    def __init__(self, package: str = "runtime.v1") -> None:
        self.a = cri_meta.api(package)
        self.package = package
        self.calls: list[tuple[str, str]] = []
        self.hang: set[str] = set()
        self.release = threading.Event()

    def _enter(self, method: str, arg: str) -> None:
        self.calls.append((method, arg))
        if method in self.hang:
            self.release.wait(10)

    def version(self, req, ctx):
        self._enter("Version", req.version)
        return self.a.VersionResponse(version="0.1.0", runtime_name="containerd",
                                      runtime_version="v1.7.24", runtime_api_version="v1")

    def container_status(self, req, ctx):
        self._enter("ContainerStatus", req.container_id)
        if req.container_id != CID:
            ctx.abort(grpc.StatusCode.NOT_FOUND,
                      f'an error occurred when try to find container "{req.container_id}": '
                      "not found")
        assert req.verbose
        resp = self.a.ContainerStatusResponse()
        st = resp.status
        st.id = CID
        st.metadata.name = "nginx"
        st.state = 1                                     # CONTAINER_RUNNING
        st.created_at = CREATED_NS
        st.started_at = CREATED_NS + 10**8
        st.image.image = "docker.io/library/nginx:1.25.3"
        st.image_ref = f"docker.io/library/nginx@{DIGEST}"
        st.labels.update({
            "io.kubernetes.container.name": "nginx",
            "io.kubernetes.pod.name": "web-7d9f8",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": POD_UID,
            "app.kubernetes.io/long": "x" * 101,          # over libsinsp's 100: dropped
        })
        st.mounts.add(container_path="/var/run/secrets/kubernetes.io/serviceaccount",
                      host_path=f"/var/lib/kubelet/pods/{POD_UID}/volumes/token",
                      readonly=True, propagation=0)
        st.mounts.add(container_path="/host/proc", host_path="/proc", readonly=True,
                      propagation=1)
        st.mounts.add(container_path="/run/containerd/containerd.sock",
                      host_path="/run/containerd/containerd.sock", propagation=2)
        st.log_path = f"/var/log/pods/shop_web-7d9f8_{POD_UID}/nginx/0.log"
        resp.info["info"] = json.dumps(CONTAINER_INFO)
        return resp

    def pod_sandbox_status(self, req, ctx):
        self._enter("PodSandboxStatus", req.pod_sandbox_id)
        if req.pod_sandbox_id != SID:
            ctx.abort(grpc.StatusCode.NOT_FOUND, f"an error occurred when try to find "
                      f'sandbox "{req.pod_sandbox_id}": not found')
        resp = self.a.PodSandboxStatusResponse()
        st = resp.status
        st.id = SID
        st.metadata.name = "web-7d9f8"
        st.metadata.uid = POD_UID
        st.metadata.namespace = "shop"
        st.created_at = CREATED_NS - 5 * 10**9
        st.network.ip = "10.244.1.17"
        st.linux.namespaces.options.network = 0          # POD: its own netns
        st.labels.update({"app": "web", "pod-template-hash": "7d9f8",
                          "io.kubernetes.pod.name": "web-7d9f8"})
        resp.info["info"] = json.dumps(SANDBOX_INFO)
        return resp

    def list_images(self, req, ctx):
        self._enter("ListImages", req.filter.image.image)
        resp = self.a.ListImagesResponse()
        resp.images.add(id=IMAGE_ID, repo_tags=["docker.io/library/nginx:1.25.3"])
        return resp

    def handlers(self) -> list:
        a = self.a

        def h(fn, req_cls, resp_cls):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req_cls.FromString,
                response_serializer=resp_cls.SerializeToString)

        rt = grpc.method_handlers_generic_handler(f"{self.package}.RuntimeService", {
            "Version": h(self.version, a.VersionRequest, a.VersionResponse),
            "ContainerStatus": h(self.container_status, a.ContainerStatusRequest,
                                 a.ContainerStatusResponse),
            "PodSandboxStatus": h(self.pod_sandbox_status, a.PodSandboxStatusRequest,
                                  a.PodSandboxStatusResponse),
        })
        img = grpc.method_handlers_generic_handler(f"{self.package}.ImageService", {
            "ListImages": h(self.list_images, a.ListImagesRequest, a.ListImagesResponse),
        })
        return [rt, img]


def _serve(tmp_path, package="runtime.v1"):
    fake = FakeCri(package)
    path = str(tmp_path / "containerd.sock")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(fake.handlers())
    assert server.add_insecure_port(f"unix://{path}")
    server.start()
    return fake, path, server


@pytest.fixture
def cri(tmp_path):
    fake, path, server = _serve(tmp_path)
    yield fake, path
    fake.release.set()
    server.stop(0)


# --- the client against the fake runtime -------------------------------------------


def test_container_status_gives_falcos_fields(cri):
    fake, path = cri
    res = CriResolver([path], timeout=2.0)
    info = res.lookup(CID)
    assert info is not None, res.last_error
    assert fake.calls == [("Version", "v1"), ("ContainerStatus", CID),
                          ("PodSandboxStatus", SID)]      # image id came from the info
    labels = info.pop("labels")
    assert labels == {"io.kubernetes.container.name": "nginx",
                      "io.kubernetes.pod.name": "web-7d9f8",
                      "io.kubernetes.pod.namespace": "shop",
                      "io.kubernetes.pod.uid": POD_UID,
                      "io.kubernetes.sandbox.id": SID}
    assert info == {
        "id": CID[:12], "full_id": CID, "type": 7,            # containerd
        "name": "nginx", "image": "docker.io/library/nginx:1.25.3",
        "imagerepo": "docker.io/library/nginx", "imagetag": "1.25.3",
        "imagedigest": DIGEST, "imageid": IMAGE_ID.split(":", 1)[1],
        "privileged": True,
        "Mounts": [
            {"Source": f"/var/lib/kubelet/pods/{POD_UID}/volumes/token",
             "Destination": "/var/run/secrets/kubernetes.io/serviceaccount",
             "Mode": "", "RW": False, "Propagation": "private"},
            {"Source": "/proc", "Destination": "/host/proc", "Mode": "", "RW": False,
             "Propagation": "rslave"},
            {"Source": "/run/containerd/containerd.sock",
             "Destination": "/run/containerd/containerd.sock", "Mode": "", "RW": True,
             "Propagation": "rshared"},
        ],
        "ip": "10.244.1.17",
        "cni_json": '{"eth0":{"IPConfigs":[{"Gateway":"10.244.1.1","IP":"10.244.1.17"}]}}',
        "host_pid": False, "host_network": False, "host_ipc": False,
        "is_pod_sandbox": False, "pod_sandbox_id": SID,
        "pod_sandbox_labels": {"app": "web", "pod-template-hash": "7d9f8",
                               "io.kubernetes.pod.name": "web-7d9f8"},
        "created_time": CREATED_NS // 10**9, "User": "0",
    }
    # The version handshake is made once per socket.
    assert res.lookup(CID)["name"] == "nginx"
    assert [c for c, _ in fake.calls].count("Version") == 1
    res.close()


def test_pod_sandbox_id_resolves_as_the_pod(cri):
    fake, path = cri
    res = CriResolver([path])
    info = res.lookup(SID)
    assert fake.calls[1:] == [("ContainerStatus", SID), ("PodSandboxStatus", SID)]
    assert info["is_pod_sandbox"] is True and info["name"] == "web-7d9f8"
    assert info["pod_sandbox_id"] == SID and info["ip"] == "10.244.1.17"
    assert info["labels"]["io.kubernetes.pod.namespace"] == "shop"
    assert info["labels"]["io.kubernetes.pod.uid"] == POD_UID
    assert info["labels"]["io.kubernetes.sandbox.id"] == SID
    assert info["image"] == "" and info["privileged"] is False
    res.close()


def test_unknown_container_is_not_found(cri):
    fake, path = cri
    res = CriResolver([path])
    assert res.lookup("f" * 64) is None
    assert "NOT_FOUND" in res.last_error and path in res.last_error
    res.close()


def test_hanging_runtime_times_out(cri):
    fake, path = cri
    fake.hang.add("ContainerStatus")
    res = CriResolver([path], timeout=0.3)
    t0 = time.monotonic()
    assert res.lookup(CID) is None
    assert time.monotonic() - t0 < 1.5
    assert "DEADLINE_EXCEEDED" in res.last_error
    # A runtime that does not answer is not asked for the pod sandbox too.
    assert [c for c, _ in fake.calls] == ["Version", "ContainerStatus"]
    res.close()


def test_hanging_version_leaves_the_socket_alone_for_a_while(cri):
    fake, path = cri
    fake.hang.add("Version")
    sock = CriSocket(path, timeout=0.2, retry_after=60)
    with pytest.raises(cri_meta.CriError) as e1:
        sock.container_status(CID)
    assert e1.value.code == "DEADLINE_EXCEEDED"
    with pytest.raises(cri_meta.CriError) as e2:
        sock.container_status(CID)
    assert e2.value.code == "DOWN" and len(fake.calls) == 1
    sock.close()


def test_missing_socket(tmp_path):
    res = CriResolver([str(tmp_path / "none.sock")])
    assert res.lookup(CID) is None and res.last_error is None


def test_v1alpha2_runtime(tmp_path):
    """Runtimes older than CRI v1 (containerd 1.5) serve runtime.v1alpha2
    only: v1 answers UNIMPLEMENTED and the client falls back."""
    fake, path, server = _serve(tmp_path, "runtime.v1alpha2")
    try:
        sock = CriSocket(path)
        assert sock.version() == ("containerd", "v1.7.24")
        assert sock.api.package == "runtime.v1alpha2"
        res = CriResolver([path])
        assert res.lookup(CID)["image"] == "docker.io/library/nginx:1.25.3"
        sock.close()
        res.close()
    finally:
        server.stop(0)


# --- the parser's other branches (no server) ---------------------------------------


def _status(image: str, ref: str, info: dict | None = None):
    a = cri_meta.api()
    resp = a.ContainerStatusResponse()
    resp.status.id = CID
    resp.status.image.image = image
    resp.status.image_ref = ref
    if info is not None:
        resp.info["info"] = json.dumps(info)
    return resp


def test_image_started_by_id_takes_the_annotation_name():
    spec = {"runtimeSpec": {"annotations": {
        "io.kubernetes.cri-o.ImageName": "quay.io:5000/acme/api:2.1"}}}
    info = cri_meta.info_from_container_status(_status("sha256:abcd", DIGEST, spec), "cri-o")
    assert info["type"] == 8
    assert (info["image"], info["imagerepo"], info["imagetag"], info["imagedigest"]) == (
        "quay.io:5000/acme/api:2.1", "quay.io:5000/acme/api", "2.1", DIGEST)
    # No runtimeSpec.linux: libsinsp does not look for the privileged flag.
    assert info["privileged"] is False and info["imageid"] == ""


def test_image_without_digest_and_crio_privileged():
    spec = {"privileged": True, "runtimeSpec": {"linux": {}}}
    info = cri_meta.info_from_container_status(
        _status("registry.local/team/app:v3@sha256:ff", "", spec), "cri-o")
    assert (info["image"], info["imagerepo"], info["imagetag"], info["imagedigest"]) == (
        "registry.local/team/app:v3@sha256:ff", "registry.local/team/app", "v3", "sha256:ff")
    assert info["privileged"] is True
    info = cri_meta.info_from_container_status(_status("busybox", "", None))
    assert info["imagetag"] == "" and info["type"] == 6 and info["privileged"] is False


def test_image_id_from_list_images(cri):
    fake, path = cri
    sock = CriSocket(path)
    assert sock.image_id(f"docker.io/library/nginx@{DIGEST}") == IMAGE_ID
    assert fake.calls[-1] == ("ListImages", f"docker.io/library/nginx@{DIGEST}")
    sock.close()


def test_type_numbers_are_the_engines():
    from falco_engine import state
    for name, num in cri_meta.TYPE_NUMS.items():
        assert state.CONTAINER_TYPES[num] == name


def test_cri_sockets_follow_container_engines(monkeypatch):
    from falco.config import load_config

    monkeypatch.delenv("FALCO_CRI_SOCKETS", raising=False)
    engines = load_config(text="{}").container_engines
    assert cri_sockets_from_config(engines) == [
        "/run/containerd/containerd.sock", "/run/crio/crio.sock",
        "/run/k3s/containerd/containerd.sock"]
    cfg = load_config(text="container_engines: {cri: {sockets: [/tmp/c.sock]}}\n")
    assert cri_sockets_from_config(cfg.container_engines) == ["/tmp/c.sock"]
    cfg = load_config(text="container_engines: {cri: {enabled: false}}\n")
    assert cri_sockets_from_config(cfg.container_engines) == []
    monkeypatch.setenv("FALCO_CRI_SOCKETS", "/tmp/x.sock:/tmp/y.sock")
    assert cri_sockets_from_config(cfg.container_engines) == ["/tmp/x.sock", "/tmp/y.sock"]


# --- end to end: the live state engine ------------------------------------------------


def _k8s_cgroup(cid: str) -> str:
    return (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
            f"{POD_UID.replace('-', '_')}.slice/cri-containerd-{cid}.scope")


RULES = """
- rule: exec in container
  desc: every exec, with its container's metadata
  condition: evt.type = execve and evt.dir = < and container.id != host
  output: >-
    name=%container.name image=%container.image repo=%container.image.repository
    tag=%container.image.tag digest=%container.image.digest imageid=%container.image.id
    priv=%container.privileged type=%container.type ip=%container.ip
    pod=%k8s.pod.name ns=%k8s.ns.name uid=%k8s.pod.uid sandbox=%k8s.pod.sandbox_id
    cname=%container.label[io.kubernetes.container.name]
    podapp=%k8s.pod.label[app] podip=%k8s.pod.ip
    mdest=%container.mount.dest[/proc] mrw=%container.mount.rdwr[/proc]
    mprop=%container.mount.propagation[/run/containerd/containerd.sock]
    cni=%container.cni.json info=%container.info
  priority: WARNING
- rule: privileged pod container announced
  desc: the container event made when the CRI answer arrives
  condition: evt.type = container and container.privileged = true
  output: announced %container.name %k8s.ns.name/%k8s.pod.name
  priority: NOTICE
"""


def _fields(alert) -> dict[str, str]:
    return dict(tok.partition("=")[::2] for tok in alert.output.split())


def _live_detector(tmp_path, cri_sockets, container_sockets=()):
    return live_detector(list(container_sockets), tmp_path, RULES, cri_sockets)


def test_live_containerd_container_gets_its_metadata(cri, tmp_path):
    fake, path = cri
    det, state = _live_detector(tmp_path, [str(tmp_path / "crio.sock"), path])
    resolver = state.container_resolver
    first = list(det.run([scan_records(execve_in_cgroup(1000, 100, "nginx", _k8s_cgroup(CID)))]))
    f = _fields(first[0])
    assert f["name"] == "<NA>" and f["pod"] == "<NA>" and f["type"] == "containerd"
    assert wait_until(lambda: resolver.n_resolved == 1), resolver.last_error
    alerts = list(det.run([scan_records(execve_in_cgroup(2000, 101, "sh", _k8s_cgroup(CID)))]))
    assert [a.rule for a in alerts] == ["privileged pod container announced",
                                        "exec in container"]
    assert alerts[0].output == "announced nginx shop/web-7d9f8"
    assert _fields(alerts[1]) == {
        "name": "nginx", "image": "docker.io/library/nginx:1.25.3",
        "repo": "docker.io/library/nginx", "tag": "1.25.3", "digest": DIGEST,
        "imageid": IMAGE_ID.split(":", 1)[1], "priv": "true", "type": "containerd",
        "ip": "10.244.1.17", "pod": "web-7d9f8", "ns": "shop", "uid": POD_UID,
        "sandbox": SID[:12], "cname": "nginx", "podapp": "web", "podip": "10.244.1.17",
        "mdest": "/host/proc", "mrw": "false",
        "mprop": "rshared",
        # SANDBOX_INFO's CNI result without loopback, host-side veth, MAC
        # and netns path, keys sorted, compact; container.info (a legacy
        # output shortcut) expands to nothing.
        "cni": '{"eth0":{"IPConfigs":[{"Gateway":"10.244.1.1","IP":"10.244.1.17"}]}}',
        "info": "",
    }
    resolver.close()


def test_live_not_found_and_docker_ids_never_go_to_cri(cri, tmp_path):
    fake, path = cri
    det, state = _live_detector(tmp_path, [path])
    resolver = state.container_resolver
    other = "e" * 64
    list(det.run([scan_records(execve_in_cgroup(1000, 200, "sh", _k8s_cgroup(other))
                               + execve_in_cgroup(1100, 201, "sh",
                                         f"/system.slice/docker-{'d' * 64}.scope"))]))
    assert wait_until(lambda: resolver.n_failed == 2)
    assert resolver.failures == {"NOT_FOUND": 1, "no runtime socket": 1}
    assert ("ContainerStatus", other) in fake.calls
    assert all(arg != "d" * 64 for _, arg in fake.calls)
    alerts = list(det.run([scan_records(execve_in_cgroup(2000, 202, "sh", _k8s_cgroup(other)))]))
    assert _fields(alerts[0])["name"] == "<NA>"
    assert resolver.n_requested == 2                 # not asked again per event
    resolver.close()


def test_live_hanging_runtime_never_blocks_the_stream(cri, tmp_path):
    fake, path = cri
    fake.hang.add("ContainerStatus")
    det, state = _live_detector(tmp_path, [path])
    resolver = state.container_resolver
    resolver.cri_timeout = 0.5
    t0 = time.monotonic()
    for i in range(3):
        cid = f"{i + 1:x}" * 64                   # distinct 12-char ids
        alerts = list(det.run([scan_records(execve_in_cgroup(1000 + i, 300 + i, "sh",
                                                    _k8s_cgroup(cid)))]))
        assert _fields(alerts[0])["name"] == "<NA>"
    assert time.monotonic() - t0 < 0.4               # three lookups queued, none waited on
    assert wait_until(lambda: resolver.n_failed == 3, timeout=10), resolver.failures
    assert resolver.failures == {"DEADLINE_EXCEEDED": 3}
    resolver.close()


def test_live_missing_cri_socket(tmp_path):
    det, state = _live_detector(tmp_path, [str(tmp_path / "nothing.sock")])
    resolver = state.container_resolver
    alerts = list(det.run([scan_records(execve_in_cgroup(1000, 400, "sh", _k8s_cgroup(CID)))]))
    assert _fields(alerts[0])["name"] == "<NA>"
    assert wait_until(lambda: resolver.n_failed == 1)
    assert resolver.failures == {"no runtime socket": 1}
    resolver.close()


def test_resolver_without_grpc_sockets_keeps_engine_api_only(tmp_path):
    r = ContainerResolver([], cri_sockets=[])
    r.request(CID.encode(), "containerd")
    assert r.n_requested == 0                        # nothing to ask: nothing queued
