"""Container metadata from a CRI runtime (containerd, CRI-O) over gRPC.

Kubernetes runtimes do not serve the Docker Engine API: Falco asks their
CRI runtime service instead, on a unix socket (falco.yaml
`container_engines.cri.sockets`).  For a container id it calls
`RuntimeService/ContainerStatus` with `verbose` set, then turns the answer
into the container record libsinsp keeps (the keys of a capture's container
JSON event), with libsinsp's CRI parser's rules:

- name: `status.metadata.name`; labels: `status.labels` (values longer than
  100 characters are left out); created_time: `created_at` in seconds;
- image, repository, tag, digest: from `status.image.image` and
  `status.image_ref` (`host/repo@sha256:...` or `sha256:...`), or from the
  image-name annotations of the runtime spec when the name is an image id;
- image id: the verbose info's `config.image.image`, else the one image
  `ImageService/ListImages` gives for `image_ref`;
- mounts: `status.mounts` (host path, container path, no mode, RW = not
  readonly, propagation private/rslave/rshared);
- privileged: the verbose info (`runtimeSpec.linux.security_context`,
  `config.linux.security_context` for containerd, `privileged` for CRI-O);
- pod sandbox id (`sandboxID`, also kept as label io.kubernetes.sandbox.id),
  then `PodSandboxStatus` of that sandbox: pod ip, CNI result, pod labels.

An id that is not a container may be a pod sandbox (its pause process has
its own cgroup): then the record comes from `PodSandboxStatus`.

The protocol messages are built here at import time from a schema that holds
only the fields read (numbers as in the CRI api.proto, package runtime.v1,
and the same for runtime.v1alpha2, which older containerd serves): no
generated code, no protoc at build time.  Enum fields are declared int32,
which has the same wire encoding.

Everything here runs on the resolver's background thread
(falco/live/container_meta.py); every call has a deadline.
"""
from __future__ import annotations

import functools
import ipaddress
import json
import os
import time
from typing import Any, Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from falco.live.container_meta import split_image

__all__ = ["CRI_TIMEOUT", "CriError", "CriResolver", "CriSocket", "api",
           "info_from_container_status", "info_from_pod_sandbox", "runtime_type"]

#: Per-call deadline, seconds (libsinsp's default CRI timeout is one second).
CRI_TIMEOUT = 1.0

#: Newest first: containerd >= 1.6 and CRI-O >= 1.20 serve v1.
PACKAGES = ("runtime.v1", "runtime.v1alpha2")

#: Container type numbers of the container JSON event (libsinsp's enum; the
#: engine's CONTAINER_TYPES tuple is the same list, tests check it).
TYPE_NUMS = {"cri": 6, "containerd": 7, "cri-o": 8}

#: Labels longer than this are not reported (libsinsp's default).
LABEL_MAX_LEN = 100

#: MountPropagation enum -> the text libsinsp's CRI parser keeps.
PROPAGATION = {0: "private", 1: "rslave", 2: "rshared"}

#: NamespaceMode NODE: the pod shares the host's network (no pod ip).
NAMESPACE_NODE = 2

MAX_CNIRESULT = 4096

# --- the protocol: messages built from a minimal schema ---------------------------

_F = descriptor_pb2.FieldDescriptorProto
_S, _BOOL, _I32, _U32, _I64 = (_F.TYPE_STRING, _F.TYPE_BOOL, _F.TYPE_INT32,
                               _F.TYPE_UINT32, _F.TYPE_INT64)
_MAP = "map<string,string>"

# message -> ((field, number, type[, repeated]), ...); a type that is a str
# names another message of this schema.  Field numbers: CRI api.proto.
_SCHEMA: dict[str, tuple] = {
    "VersionRequest": (("version", 1, _S),),
    "VersionResponse": (("version", 1, _S), ("runtime_name", 2, _S),
                        ("runtime_version", 3, _S), ("runtime_api_version", 4, _S)),
    "ContainerMetadata": (("name", 1, _S), ("attempt", 2, _U32)),
    "ImageSpec": (("image", 1, _S), ("annotations", 2, _MAP)),
    "Mount": (("container_path", 1, _S), ("host_path", 2, _S), ("readonly", 3, _BOOL),
              ("selinux_relabel", 4, _BOOL), ("propagation", 5, _I32)),
    "ContainerStatus": (("id", 1, _S), ("metadata", 2, "ContainerMetadata"),
                        ("state", 3, _I32), ("created_at", 4, _I64),
                        ("started_at", 5, _I64), ("finished_at", 6, _I64),
                        ("exit_code", 7, _I32), ("image", 8, "ImageSpec"),
                        ("image_ref", 9, _S), ("reason", 10, _S), ("message", 11, _S),
                        ("labels", 12, _MAP), ("annotations", 13, _MAP),
                        ("mounts", 14, "Mount", True), ("log_path", 15, _S)),
    "ContainerStatusRequest": (("container_id", 1, _S), ("verbose", 2, _BOOL)),
    "ContainerStatusResponse": (("status", 1, "ContainerStatus"), ("info", 2, _MAP)),
    "PodSandboxMetadata": (("name", 1, _S), ("uid", 2, _S), ("namespace", 3, _S),
                           ("attempt", 4, _U32)),
    "PodSandboxNetworkStatus": (("ip", 1, _S),),
    "NamespaceOption": (("network", 1, _I32), ("pid", 2, _I32), ("ipc", 3, _I32)),
    "Namespace": (("options", 2, "NamespaceOption"),),
    "LinuxPodSandboxStatus": (("namespaces", 1, "Namespace"),),
    "PodSandboxStatus": (("id", 1, _S), ("metadata", 2, "PodSandboxMetadata"),
                         ("state", 3, _I32), ("created_at", 4, _I64),
                         ("network", 5, "PodSandboxNetworkStatus"),
                         ("linux", 6, "LinuxPodSandboxStatus"), ("labels", 7, _MAP),
                         ("annotations", 8, _MAP), ("runtime_handler", 9, _S)),
    "PodSandboxStatusRequest": (("pod_sandbox_id", 1, _S), ("verbose", 2, _BOOL)),
    "PodSandboxStatusResponse": (("status", 1, "PodSandboxStatus"), ("info", 2, _MAP)),
    "ImageFilter": (("image", 1, "ImageSpec"),),
    "ListImagesRequest": (("filter", 1, "ImageFilter"),),
    "Image": (("id", 1, _S), ("repo_tags", 2, _S, True), ("repo_digests", 3, _S, True)),
    "ListImagesResponse": (("images", 1, "Image", True),),
}


def _file_proto(package: str) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"falco/{package.replace('.', '/')}/cri_min.proto",
        package=package, syntax="proto3")
    for msg_name, fields in _SCHEMA.items():
        msg = fdp.message_type.add(name=msg_name)
        for name, number, kind, *rest in fields:
            f = msg.field.add(name=name, number=number, label=_F.LABEL_OPTIONAL)
            if kind == _MAP:
                # A proto3 map is a repeated nested KeyValue "<Field>Entry".
                entry = msg.nested_type.add(
                    name="".join(p.title() for p in name.split("_")) + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=_S, label=_F.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=_S, label=_F.LABEL_OPTIONAL)
                f.type, f.label = _F.TYPE_MESSAGE, _F.LABEL_REPEATED
                f.type_name = f".{package}.{msg_name}.{entry.name}"
            elif isinstance(kind, str):
                f.type, f.type_name = _F.TYPE_MESSAGE, f".{package}.{kind}"
            else:
                f.type = kind
            if rest and rest[0]:
                f.label = _F.LABEL_REPEATED
    return fdp


def _message_class(desc: Any) -> Any:
    make = getattr(message_factory, "GetMessageClass", None)   # protobuf >= 4.24
    if make is None:
        return message_factory.MessageFactory(desc.file.pool).GetPrototype(desc)
    return make(desc)


class Api:
    """The message classes (attributes named as the messages) and method
    paths of one CRI package version."""

    def __init__(self, package: str) -> None:
        self.package = package
        pool = descriptor_pool.DescriptorPool()    # private: no clash with others
        pool.Add(_file_proto(package))
        for name in _SCHEMA:
            desc = pool.FindMessageTypeByName(f"{package}.{name}")
            setattr(self, name, _message_class(desc))

    def path(self, service: str, method: str) -> str:
        return f"/{self.package}.{service}/{method}"


@functools.lru_cache(maxsize=None)
def api(package: str = PACKAGES[0]) -> Api:
    return Api(package)


# --- the answer -> the container record ------------------------------------------------


def runtime_type(runtime_name: str) -> str:
    """libsinsp's container type for the runtime a CRI socket names."""
    return runtime_name if runtime_name in ("containerd", "cri-o") else "cri"


def info_json(info: Any) -> dict:
    """The verbose answer's `info` entry, parsed ({} when absent or bad)."""
    try:
        doc = json.loads(info.get("info", ""))
    except (TypeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _walk(doc: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def _labels(labels: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items() if len(v) <= LABEL_MAX_LEN}


def image_fields(status: Any, root: dict) -> dict[str, str]:
    """image, repository, tag and digest as libsinsp's parse_cri_image sets
    them.  `image_ref` is `host/repo@sha256:<d>` (the name comes from it,
    the tag from the image spec) or `sha256:<d>` (the spec's name is kept)."""
    ref = status.image_ref
    name = status.image.image
    tag_from_spec = False
    at = ref.find("sha256:")
    have_digest = at == 0 or (at > 0 and ref[at - 1] == "@")
    if at > 0 and have_digest:
        name = ref[:at - 1]
        tag_from_spec = True
    if not name or name.startswith("sha256"):
        # Started by image id: the runtimes keep the name in annotations.
        ann = _walk(root, "runtimeSpec", "annotations") or {}
        for key in ("io.kubernetes.cri.image-name", "io.kubernetes.cri-o.Image",
                    "io.kubernetes.cri-o.ImageName"):
            if isinstance(ann.get(key), str):
                name, tag_from_spec = ann[key], False
                break
    repo, tag, digest = split_image(name)
    if tag_from_spec:
        tag = split_image(status.image.image)[1]
        if tag:
            name = f"{name}:{tag}"
    if have_digest:
        digest = ref[at:]
    return {"image": name, "imagerepo": repo, "imagetag": tag, "imagedigest": digest}


def _mounts(status: Any) -> list[dict]:
    return [{"Source": m.host_path, "Destination": m.container_path, "Mode": "",
             "RW": not m.readonly, "Propagation": PROPAGATION.get(m.propagation, "unknown")}
            for m in status.mounts]


def _privileged(root: dict) -> bool:
    """libsinsp reads the flag only when the runtime spec has a linux
    section; the key moved between runtimes and versions."""
    if not isinstance(_walk(root, "runtimeSpec", "linux"), dict):
        return False
    for keys in (("runtimeSpec", "linux", "security_context", "privileged"),
                 ("config", "linux", "security_context", "privileged"),   # containerd
                 ("privileged",)):                                        # CRI-O
        v = _walk(root, *keys)
        if isinstance(v, bool):
            return v
    return False


def _base(kind: str, full_id: str, name: str, created_ns: int) -> dict:
    return {"id": full_id[:12], "full_id": full_id, "type": TYPE_NUMS[kind],
            "name": name, "image": "", "imageid": "", "imagerepo": "",
            "imagetag": "", "imagedigest": "", "privileged": False, "Mounts": [],
            "labels": {}, "ip": "0.0.0.0", "cni_json": "", "host_pid": False,
            "host_network": False, "host_ipc": False, "is_pod_sandbox": False,
            "pod_sandbox_id": "", "pod_sandbox_labels": {},
            "created_time": created_ns // 1_000_000_000, "User": ""}


def info_from_container_status(resp: Any, kind: str = "cri") -> dict:
    """The container record of a ContainerStatusResponse (verbose)."""
    status = resp.status
    root = info_json(resp.info)
    info = _base(kind, status.id, status.metadata.name, status.created_at)
    info["labels"] = _labels(status.labels)
    info.update(image_fields(status, root))
    info["Mounts"] = _mounts(status)
    sandbox = root.get("sandboxID")
    if isinstance(sandbox, str):
        info["pod_sandbox_id"] = sandbox
        info["labels"]["io.kubernetes.sandbox.id"] = sandbox   # as libsinsp, for k8s.pod.sandbox_id
    image = _walk(root, "config", "image", "image")
    if isinstance(image, str):
        info["imageid"] = image.split(":", 1)[1] if ":" in image else image
    uid = _walk(root, "runtimeSpec", "process", "user", "uid")
    if isinstance(uid, int) and not isinstance(uid, bool):
        info["User"] = str(uid)
    info["privileged"] = _privileged(root)
    return info


def _cni_result(root: dict) -> str:
    ifaces = _walk(root, "cniResult", "Interfaces")
    if isinstance(ifaces, dict):
        # Only what incident response needs: no loopback, host-side veths, MACs.
        kept = {k: {a: b for a, b in v.items() if a not in ("Mac", "Sandbox")}
                if isinstance(v, dict) else v
                for k, v in ifaces.items() if k != "lo" and not k.startswith("veth")}
        out = json.dumps(kept, separators=(",", ":"), sort_keys=True)
    else:
        v = _walk(root, "runtimeSpec", "annotations", "io.kubernetes.cri-o.CNIResult")
        out = v.rstrip("\n") if isinstance(v, str) else ""
    return out[:MAX_CNIRESULT]


def add_pod_sandbox(info: dict, resp: Any) -> dict:
    """Pod ip, CNI result and pod labels from a PodSandboxStatusResponse."""
    status = resp.status
    ip = status.network.ip
    if status.linux.namespaces.options.network == NAMESPACE_NODE:
        ip = ""                                    # host network: no pod ip
    try:
        ip = str(ipaddress.IPv4Address(ip)) if ip else "0.0.0.0"
    except ValueError:
        ip = "0.0.0.0"                             # libsinsp keeps IPv4 only
    info["ip"] = ip
    info["cni_json"] = _cni_result(info_json(resp.info))
    info["pod_sandbox_labels"] = _labels(status.labels)
    return info


def info_from_pod_sandbox(resp: Any, kind: str = "cri") -> dict:
    """The record of a pod sandbox (pause) container: named as its pod."""
    status = resp.status
    info = _base(kind, status.id, status.metadata.name, status.created_at)
    info["is_pod_sandbox"] = True
    info["pod_sandbox_id"] = status.id
    labels = _labels(status.labels)
    labels.update({"io.kubernetes.sandbox.id": status.id,
                   "io.kubernetes.pod.uid": status.metadata.uid,
                   "io.kubernetes.pod.name": status.metadata.name,
                   "io.kubernetes.pod.namespace": status.metadata.namespace})
    info["labels"] = labels
    return add_pod_sandbox(info, resp)


# --- the client ----------------------------------------------------------------------


class CriError(Exception):
    """A CRI call failed; `code` is the gRPC status name (or a local reason)."""

    def __init__(self, path: str, code: str, detail: str = "") -> None:
        super().__init__(f"{path}: {code}" + (f": {detail}" if detail else ""))
        self.code = code


def _rpc_error(path: str, exc: grpc.RpcError) -> CriError:
    code = exc.code() if hasattr(exc, "code") else None
    detail = exc.details() if hasattr(exc, "details") else str(exc)
    return CriError(path, code.name if code is not None else "UNKNOWN", detail or "")


class CriSocket:
    """One CRI endpoint.  The first use opens the channel and asks Version,
    which tells the API package it speaks and the runtime's name; a socket
    that does not answer is left alone for `retry_after` seconds."""

    def __init__(self, path: str, timeout: float = CRI_TIMEOUT,
                 retry_after: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.retry_after = retry_after
        self.api: Api | None = None
        self.runtime_name = ""
        self.runtime_version = ""
        self._channel: grpc.Channel | None = None
        self._calls: dict[str, Any] = {}
        self._down_until = 0.0

    @property
    def kind(self) -> str:
        return runtime_type(self.runtime_name)

    def _call(self, a: Api, service: str, method: str, req: Any, resp_cls: Any) -> Any:
        key = a.path(service, method)
        fn = self._calls.get(key)
        if fn is None:
            fn = self._channel.unary_unary(key, request_serializer=type(req).SerializeToString,
                                           response_deserializer=resp_cls.FromString)
            self._calls[key] = fn
        try:
            return fn(req, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _rpc_error(self.path, exc) from None

    def connect(self) -> Api:
        """The API this socket speaks (asks Version once); CriError if none."""
        if self.api is not None:
            return self.api
        if time.monotonic() < self._down_until:
            raise CriError(self.path, "DOWN", "not answering; retried later")
        if not os.path.exists(self.path):
            raise CriError(self.path, "NO_SOCKET")
        if self._channel is None:
            self._channel = grpc.insecure_channel(f"unix://{os.path.abspath(self.path)}")
        err: CriError | None = None
        for package in PACKAGES:
            a = api(package)
            req = a.VersionRequest(version=package.rsplit(".", 1)[1])   # "v1"
            try:
                v = self._call(a, "RuntimeService", "Version", req, a.VersionResponse)
            except CriError as exc:
                err = exc
                if exc.code == "UNIMPLEMENTED":
                    continue                       # older API: try the next package
                break
            self.api, self.runtime_name, self.runtime_version = (
                a, v.runtime_name, v.runtime_version)
            return a
        self.close()
        self._down_until = time.monotonic() + self.retry_after
        raise err if err is not None else CriError(self.path, "UNIMPLEMENTED")

    def version(self) -> tuple[str, str]:
        """(runtime name, runtime version)."""
        self.connect()
        return self.runtime_name, self.runtime_version

    def container_status(self, cid: str) -> Any:
        a = self.connect()
        return self._call(a, "RuntimeService", "ContainerStatus",
                          a.ContainerStatusRequest(container_id=cid, verbose=True),
                          a.ContainerStatusResponse)

    def pod_sandbox_status(self, sid: str) -> Any:
        a = self.connect()
        return self._call(a, "RuntimeService", "PodSandboxStatus",
                          a.PodSandboxStatusRequest(pod_sandbox_id=sid, verbose=True),
                          a.PodSandboxStatusResponse)

    def image_id(self, image_ref: str) -> str:
        """The id of the one image `image_ref` names ("" unless exactly one)."""
        a = self.connect()
        req = a.ListImagesRequest()
        req.filter.image.image = image_ref
        resp = self._call(a, "ImageService", "ListImages", req, a.ListImagesResponse)
        return resp.images[0].id if len(resp.images) == 1 else ""

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._calls.clear()
        self.api = None


#: Codes after which asking the same socket again would only wait again.
_UNREACHABLE = ("DEADLINE_EXCEEDED", "UNAVAILABLE", "DOWN", "NO_SOCKET")


class CriResolver:
    """Looks container ids up on the CRI sockets that exist, first answer
    wins.  `extra_queries` (Falco's default) adds the image id from
    ListImages when the info has none, and the pod sandbox's ip and labels."""

    def __init__(self, paths: Iterable[str], timeout: float = CRI_TIMEOUT,
                 extra_queries: bool = True) -> None:
        self.sockets = [CriSocket(p, timeout) for p in paths]
        self.extra_queries = extra_queries
        self.last_error: str | None = None

    def lookup(self, cid: str) -> dict | None:
        for sock in self.sockets:
            try:
                return self._lookup_on(sock, cid)
            except CriError as exc:
                if exc.code != "NO_SOCKET":
                    self.last_error = str(exc)
        return None

    def _lookup_on(self, sock: CriSocket, cid: str) -> dict:
        try:
            resp = sock.container_status(cid)
        except CriError as exc:
            if exc.code in _UNREACHABLE:
                raise
            # Not a container: the id may be a pod sandbox's (pause process).
            try:
                return info_from_pod_sandbox(sock.pod_sandbox_status(cid), sock.kind)
            except CriError:
                raise exc from None
        if not resp.HasField("status"):
            raise CriError(sock.path, "NO_STATUS", cid)
        info = info_from_container_status(resp, sock.kind)
        if self.extra_queries:
            self._extra(sock, resp, info)
        return info

    @staticmethod
    def _extra(sock: CriSocket, resp: Any, info: dict) -> None:
        # Failures here keep what ContainerStatus gave (as libsinsp).
        if not info["imageid"] and resp.status.image_ref:
            try:
                info["imageid"] = sock.image_id(resp.status.image_ref)
            except CriError:
                pass
        if info["pod_sandbox_id"]:
            try:
                add_pod_sandbox(info, sock.pod_sandbox_status(info["pod_sandbox_id"]))
            except CriError:
                pass

    def close(self) -> None:
        for s in self.sockets:
            s.close()
