"""Field catalog of the ``syscall`` event source.

One entry per field a condition or an output may name: its Falco type, what
it means (in this project's words), what argument it takes and a few flags.
The names and types follow the Falco/libsinsp field list (``falco --list``)
so rule files written for Falco validate the same way here.

Public API: `lookup`, `resolve`, `suggest`, `all_fields`, `FieldInfo`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

__all__ = ["Arg", "FieldInfo", "NUMERIC_TYPES", "STRING_TYPES", "all_fields",
           "lookup", "resolve", "suggest"]


class Arg(Enum):
    """What may follow a field name in ``[...]`` (or ``.name`` for evt.arg)."""
    NONE = "none"                  # no argument allowed
    INDEX = "index"                # optional numeric index: proc.aname[2]
    INDEX_REQUIRED = "index!"      # required numeric index: evt.around[1000]
    KEY = "key"                    # optional string key: proc.env[HOME]
    KEY_REQUIRED = "key!"          # required string key: container.label[x]
    NAME_OR_INDEX = "name|index!"  # required, name or index: evt.arg[0]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    type: str
    description: str
    arg: Arg = Arg.NONE
    filter_only: bool = False    # usable in conditions, not in outputs
    list_valued: bool = False    # yields several values (use in/intersects)
    dotted_arg: bool = False     # argument may also be written evt.arg.NAME
    no_rhs: bool = False         # cannot take part in val() comparisons
    deprecated: bool = False
    dynamic_type: bool = False   # type depends on the event (evt.rawarg)

    @property
    def arg_required(self) -> bool:
        return self.arg in (Arg.INDEX_REQUIRED, Arg.KEY_REQUIRED, Arg.NAME_OR_INDEX)


NUMERIC_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
                           "UINT32", "UINT64", "RELTIME", "ABSTIME", "PORT",
                           "DOUBLE", "SYSCALLID", "ERRNO", "FD", "PID"})
STRING_TYPES = frozenset({"CHARBUF", "FSPATH", "FSRELPATH"})

# name, type, flags, description.  Flags: i=index, I=index required,
# k=key, K=key required, a=name-or-index required, d=dotted arg form,
# f=filter only, l=list valued, r=no val() use, x=deprecated, y=dynamic type.
_TABLE = r"""
evt.num|UINT64||sequence number of the event
evt.time|CHARBUF||event time as a wall-clock string with nanoseconds
evt.time.s|CHARBUF||event time as a wall-clock string, seconds only
evt.time.iso8601|CHARBUF||event time in ISO 8601 form
evt.datetime|CHARBUF||event date and time with nanoseconds
evt.datetime.s|CHARBUF||event date and time, seconds only
evt.rawtime|ABSTIME||event time as nanoseconds since the epoch
evt.rawtime.s|ABSTIME||seconds part of the event time
evt.rawtime.ns|ABSTIME||nanoseconds part of the event time
evt.reltime|RELTIME||time since the capture started
evt.reltime.s|RELTIME||seconds part of the time since the capture started
evt.reltime.ns|RELTIME||nanoseconds part of the time since the capture started
evt.pluginname|CHARBUF||name of the plugin that produced the event
evt.plugininfo|CHARBUF||summary of a plugin event
evt.source|CHARBUF||name of the event source (syscall for kernel events)
evt.is_async|BOOL||true for events produced asynchronously by userspace
evt.asynctype|CHARBUF||name of an asynchronous event
evt.hostname|CHARBUF||host name the event was captured on
evt.latency|RELTIME||time between a syscall's enter and exit events
evt.latency.s|RELTIME||seconds part of evt.latency
evt.latency.ns|RELTIME||nanoseconds part of evt.latency
evt.latency.quantized|INT64||log-scaled evt.latency, for histograms
evt.latency.human|CHARBUF||evt.latency written for people
evt.deltatime|RELTIME||time since the previous event
evt.deltatime.s|RELTIME||seconds part of evt.deltatime
evt.deltatime.ns|RELTIME||nanoseconds part of evt.deltatime
evt.outputtime|CHARBUF||event time formatted as configured for outputs
evt.dir|CHARBUF|x|direction of the event: > for enter, < for exit
evt.type|CHARBUF||event name, for syscalls the syscall name (open, execve)
evt.type.is|UINT32|K|1 when the event name equals the argument
syscall.type|CHARBUF||syscall name for syscall events, empty otherwise
evt.category|CHARBUF||event category (file, net, process, ...)
evt.cpu|INT16||CPU the event was captured on
evt.args|CHARBUF||all event arguments as one string
evt.arg|CHARBUF|ad|one event argument, by name (evt.arg.fd) or position
evt.rawarg|CHARBUF|ady|one event argument as its raw value, typed as the argument
evt.info|CHARBUF||event arguments, or a description for special events
evt.buffer|BYTEBUF||binary payload of a read or write
evt.buflen|UINT64||length of the payload of a read or write
evt.res|CHARBUF||return value as a string: SUCCESS or an errno name
evt.rawres|INT64||return value as a number
evt.failed|BOOL||true when the call returned an error
evt.is_io|BOOL||true for events that read or write data
evt.is_io_read|BOOL||true for events that read data
evt.is_io_write|BOOL||true for events that write data
evt.io_dir|CHARBUF||r for reads, w for writes
evt.is_wait|BOOL||true for calls that make the thread wait
evt.wait_latency|RELTIME||time a waiting call spent waiting
evt.is_syslog|BOOL||true for writes to /dev/log
evt.count|UINT32||1 for every event, for counting
evt.count.error|UINT32||1 for events that failed
evt.count.error.file|UINT32||1 for failed file events
evt.count.error.net|UINT32||1 for failed network events
evt.count.error.memory|UINT32||1 for failed memory events
evt.count.error.other|UINT32||1 for failed events of other kinds
evt.count.exit|UINT32||1 for exit events
evt.count.procinfo|UINT32||1 for process-info events
evt.count.threadinfo|UINT32||1 for thread-info events
evt.around|UINT64|Ifr|matches events within the given milliseconds of a match
evt.abspath|CHARBUF|k|absolute path computed from a dirfd and a path argument
evt.abspath.src|CHARBUF||absolute source path of a rename or link
evt.abspath.dst|CHARBUF||absolute destination path of a rename or link
evt.is_open_read|BOOL||true for open calls that ask for read access
evt.is_open_write|BOOL||true for open calls that ask for write access
evt.is_open_exec|BOOL||true for open calls that create an executable file
evt.is_open_create|BOOL||true for open calls that create the file
evt.buflen.in|UINT64||bytes read
evt.buflen.out|UINT64||bytes written
evt.buflen.file|UINT64||bytes read or written on files
evt.buflen.file.in|UINT64||bytes read from files
evt.buflen.file.out|UINT64||bytes written to files
evt.buflen.net|UINT64||bytes read or written on sockets
evt.buflen.net.in|UINT64||bytes read from sockets
evt.buflen.net.out|UINT64||bytes written to sockets
proc.exe|CHARBUF||first command-line argument (argv[0]) of the process
proc.pexe|CHARBUF||argv[0] of the parent process
proc.aexe|CHARBUF|i|argv[0] of an ancestor (index 1 = parent)
proc.exepath|CHARBUF||full path of the executable of the process
proc.pexepath|CHARBUF||full path of the parent's executable
proc.aexepath|CHARBUF|i|full path of an ancestor's executable
proc.name|CHARBUF||name of the executable (no path)
proc.pname|CHARBUF||name of the parent's executable
proc.aname|CHARBUF|i|name of an ancestor's executable (index 1 = parent)
proc.args|CHARBUF||command-line arguments after argv[0]
proc.cmdline|CHARBUF||name and arguments of the process
proc.pcmdline|CHARBUF||name and arguments of the parent
proc.acmdline|CHARBUF|i|name and arguments of an ancestor
proc.cmdnargs|UINT64||number of command-line arguments
proc.cmdlenargs|UINT64||total length of the command-line arguments
proc.exeline|CHARBUF||argv[0] followed by the arguments
proc.env|CHARBUF|k|environment of the process, or one variable of it
proc.aenv|CHARBUF|k|environment variable looked up in the ancestors too
proc.cwd|CHARBUF||current working directory of the process
proc.loginshellid|INT64||pid of the oldest shell ancestor
proc.tty|UINT32||controlling terminal of the process, 0 if none
proc.pid|INT64||id of the process
proc.ppid|INT64||id of the parent process
proc.apid|INT64|i|id of an ancestor process
proc.vpid|INT64||id of the process in its pid namespace
proc.pvpid|INT64||id of the parent in its pid namespace
proc.sid|INT64||session id of the process
proc.sname|CHARBUF||name of the session leader
proc.sid.exe|CHARBUF||argv[0] of the session leader
proc.sid.exepath|CHARBUF||executable path of the session leader
proc.vpgid|INT64||process group id in the pid namespace
proc.vpgid.name|CHARBUF||name of the process group leader
proc.vpgid.exe|CHARBUF||argv[0] of the process group leader
proc.vpgid.exepath|CHARBUF||executable path of the process group leader
proc.pgid|INT64||process group id
proc.pgid.name|CHARBUF||name of the process group leader
proc.pgid.exe|CHARBUF||argv[0] of the process group leader
proc.pgid.exepath|CHARBUF||executable path of the process group leader
proc.duration|RELTIME||time the process has been running
proc.ppid.duration|RELTIME||time the parent has been running
proc.pid.ts|RELTIME||start time of the process
proc.ppid.ts|RELTIME||start time of the parent process
proc.is_exe_writable|BOOL||true when the executable is writable by the process user
proc.is_exe_upper_layer|BOOL||true when the executable lives in an overlayfs upper layer
proc.is_exe_lower_layer|BOOL||true when the executable lives in an overlayfs lower layer
proc.is_exe_from_memfd|BOOL||true when the executable is a memfd file
proc.is_sid_leader|BOOL||true for the session leader
proc.is_vpgid_leader|BOOL||true for the process group leader (namespace view)
proc.is_pgid_leader|BOOL||true for the process group leader
proc.exe_ino|INT64||inode of the executable
proc.exe_ino.ctime|ABSTIME||last status change of the executable
proc.exe_ino.mtime|ABSTIME||last modification of the executable
proc.exe_ino.ctime_duration_proc_start|ABSTIME||time between executable ctime and process start
proc.exe_ino.ctime_duration_pidns_start|ABSTIME||time between pid namespace start and executable ctime
proc.pidns_init_start_ts|UINT64||start time of the pid namespace's init
proc.fdopencount|UINT64||number of open file descriptors
proc.fdlimit|INT64||limit on open file descriptors
proc.fdusage|DOUBLE||open descriptors as a share of the limit
proc.vmsize|UINT64||virtual memory size of the process
proc.vmrss|UINT64||resident memory of the process
proc.vmswap|UINT64||swapped memory of the process
proc.pfmajor|UINT64||major page faults of the process
proc.pfminor|UINT64||minor page faults of the process
proc.stdin.type|CHARBUF||descriptor type of stdin
proc.stdout.type|CHARBUF||descriptor type of stdout
proc.stderr.type|CHARBUF||descriptor type of stderr
proc.stdin.name|CHARBUF||name of the stdin descriptor
proc.stdout.name|CHARBUF||name of the stdout descriptor
proc.stderr.name|CHARBUF||name of the stderr descriptor
proc.nthreads|UINT64||number of threads of the process
proc.nchilds|UINT64||number of child threads
proc.is_container_healthcheck|BOOL||true for a container health check process
proc.is_container_liveness_probe|BOOL||true for a Kubernetes liveness probe process
proc.is_container_readiness_probe|BOOL||true for a Kubernetes readiness probe process
thread.tid|INT64||id of the thread
thread.ismain|BOOL||true for the main thread of a process
thread.vtid|INT64||id of the thread in its pid namespace
thread.exectime|RELTIME||CPU time of the last scheduled slice
thread.totexectime|RELTIME||total CPU time of the thread
thread.cgroups|CHARBUF||all cgroups of the thread
thread.cgroup|CHARBUF|Kd|cgroup of the thread for one subsystem (thread.cgroup.cpu)
thread.nametid|CHARBUF||process name and thread id
thread.cpu|UINT64||CPU ticks the thread used since its previous procinfo event (at most 100)
thread.cpu.user|UINT64||user-mode CPU ticks the thread used since its previous procinfo event
thread.cpu.system|UINT64||kernel-mode CPU ticks the thread used since its previous procinfo event
thread.vmsize|UINT64||virtual memory of the thread's process
thread.vmrss|UINT64||resident memory of the thread's process
thread.vmsize.b|UINT64||virtual memory in bytes
thread.vmrss.b|UINT64||resident memory in bytes
thread.pfmajor|UINT64||major page faults of the thread
thread.pfminor|UINT64||minor page faults of the thread
thread.cap_permitted|CHARBUF||permitted capabilities of the thread
thread.cap_inheritable|CHARBUF||inheritable capabilities of the thread
thread.cap_effective|CHARBUF||effective capabilities of the thread
user.uid|UINT32||user id
user.name|CHARBUF||user name
user.homedir|CHARBUF||home directory of the user
user.shell|CHARBUF||login shell of the user
user.loginuid|INT64||audit login user id (-1 if unset)
user.loginname|CHARBUF||name of the audit login user
group.gid|UINT32||group id
group.name|CHARBUF||group name
fd.num|INT64||number of the file descriptor
fd.type|CHARBUF||kind of descriptor: file, directory, ipv4, ipv6, unix, pipe, ...
fd.typechar|CHARBUF||kind of descriptor as one letter
fd.name|CHARBUF||path of a file, or connection tuple of a socket
fd.directory|CHARBUF||directory of a file descriptor
fd.filename|CHARBUF||file name without the directory
fd.ip|IPADDR|f|client or server address of a socket
fd.cip|IPADDR||client address
fd.sip|IPADDR||server address
fd.lip|IPADDR||local address
fd.rip|IPADDR||remote address
fd.port|PORT|f|client or server port of a socket
fd.cport|PORT||client port
fd.sport|PORT||server port
fd.lport|PORT||local port
fd.rport|PORT||remote port
fd.l4proto|CHARBUF||transport protocol: tcp, udp, icmp, raw
fd.sockfamily|CHARBUF||socket family: ip or unix
fd.is_server|BOOL||true when the process is the server end
fd.uid|CHARBUF||thread id and descriptor number, unique per descriptor
fd.containername|CHARBUF||container id and descriptor name
fd.containerdirectory|CHARBUF||container id and directory
fd.proto|PORT|f|client or server port of a socket, by number or service name
fd.cproto|CHARBUF||client protocol name
fd.sproto|CHARBUF||server protocol name
fd.lproto|CHARBUF||local protocol name
fd.rproto|CHARBUF||remote protocol name
fd.net|IPNET|f|client or server network (CIDR) of a socket
fd.cnet|IPNET|f|client network
fd.snet|IPNET|f|server network
fd.lnet|IPNET|f|local network
fd.rnet|IPNET|f|remote network
fd.connected|BOOL||true when the socket is connected
fd.name_changed|BOOL||true when the event changed the descriptor name
fd.cip.name|CHARBUF||domain name of the client address
fd.sip.name|CHARBUF||domain name of the server address
fd.lip.name|CHARBUF||domain name of the local address
fd.rip.name|CHARBUF||domain name of the remote address
fd.dev|INT32||device number of the file
fd.dev.major|INT32||major device number
fd.dev.minor|INT32||minor device number
fd.ino|INT64||inode of the file
fd.nameraw|CHARBUF||descriptor name exactly as the syscall gave it
fd.types|CHARBUF|il|kinds of descriptors the event uses
fd.is_upper_layer|BOOL||true for files in an overlayfs upper layer
fd.is_lower_layer|BOOL||true for files in an overlayfs lower layer
fdlist.nums|CHARBUF||descriptor numbers of a poll-like event
fdlist.names|CHARBUF||descriptor names of a poll-like event
fdlist.cips|CHARBUF||client addresses of a poll-like event
fdlist.sips|CHARBUF||server addresses of a poll-like event
fdlist.cports|CHARBUF||client ports of a poll-like event
fdlist.sports|CHARBUF||server ports of a poll-like event
fs.path.name|CHARBUF||path a filesystem event acts on
fs.path.nameraw|CHARBUF||path a filesystem event acts on, as given
fs.path.source|CHARBUF||source path of a rename, link or mount
fs.path.sourceraw|CHARBUF||source path, as given
fs.path.target|CHARBUF||target path of a rename, link or mount
fs.path.targetraw|CHARBUF||target path, as given
syslog.facility.str|CHARBUF||syslog facility name
syslog.facility|UINT32||syslog facility number
syslog.severity.str|CHARBUF||syslog severity name
syslog.severity|UINT32||syslog severity number
syslog.message|CHARBUF||syslog message text
container.id|CHARBUF||short container id (host for the host)
container.full_id|CHARBUF||full container id
container.name|CHARBUF||container name
container.image|CHARBUF||container image name
container.image.id|CHARBUF||container image id
container.type|CHARBUF||container runtime: docker, cri-o, containerd, podman, ...
container.privileged|BOOL||true for privileged containers
container.mounts|CHARBUF||all mounts of the container
container.mount|CHARBUF|K|one mount, by index or source path
container.mount.source|CHARBUF|K|mount source, by index or destination path
container.mount.dest|CHARBUF|K|mount destination, by index or source path
container.mount.mode|CHARBUF|K|mount mode, by index or source path
container.mount.rdwr|CHARBUF|K|mount read/write flag, by index or source path
container.mount.propagation|CHARBUF|K|mount propagation, by index or source path
container.image.repository|CHARBUF||repository part of the image name
container.image.tag|CHARBUF||tag part of the image name
container.image.digest|CHARBUF||image digest
container.healthcheck|CHARBUF||container health check command
container.liveness_probe|CHARBUF||Kubernetes liveness probe command
container.readiness_probe|CHARBUF||Kubernetes readiness probe command
container.start_ts|ABSTIME||container start time
container.duration|RELTIME||time since the container started
container.ip|CHARBUF||container IP address
container.cni.json|CHARBUF||CNI result of the container
container.host_pid|BOOL||true when the container shares the host pid namespace
container.host_network|BOOL||true when the container shares the host network
container.host_ipc|BOOL||true when the container shares the host IPC namespace
container.label|CHARBUF|K|one container label
container.labels|CHARBUF||all container labels
container.info|CHARBUF||legacy output shortcut (expands to nothing)
k8s.pod.name|CHARBUF||Kubernetes pod name (from container labels)
k8s.pod.id|CHARBUF||Kubernetes pod UID
k8s.pod.uid|CHARBUF||Kubernetes pod UID
k8s.pod.sandbox_id|CHARBUF||short id of the pod sandbox
k8s.pod.full_sandbox_id|CHARBUF||full id of the pod sandbox
k8s.pod.label|CHARBUF|Kd|one pod label
k8s.pod.labels|CHARBUF||all pod labels
k8s.pod.ip|CHARBUF||pod IP address
k8s.pod.cni.json|CHARBUF||CNI result of the pod
k8s.ns.name|CHARBUF||Kubernetes namespace name
k8s.ns.id|CHARBUF|x|Kubernetes namespace id (legacy)
k8s.ns.label|CHARBUF|Kdx|one namespace label (legacy)
k8s.ns.labels|CHARBUF|x|namespace labels (legacy)
k8s.rc.name|CHARBUF|x|replication controller name (legacy)
k8s.rc.id|CHARBUF|x|replication controller id (legacy)
k8s.rc.label|CHARBUF|Kdx|replication controller label (legacy)
k8s.rc.labels|CHARBUF|x|replication controller labels (legacy)
k8s.svc.name|CHARBUF|x|service name (legacy)
k8s.svc.id|CHARBUF|x|service id (legacy)
k8s.svc.label|CHARBUF|Kdx|service label (legacy)
k8s.svc.labels|CHARBUF|x|service labels (legacy)
k8s.rs.name|CHARBUF|x|replica set name (legacy)
k8s.rs.id|CHARBUF|x|replica set id (legacy)
k8s.rs.label|CHARBUF|Kdx|replica set label (legacy)
k8s.rs.labels|CHARBUF|x|replica set labels (legacy)
k8s.deployment.name|CHARBUF|x|deployment name (legacy)
k8s.deployment.id|CHARBUF|x|deployment id (legacy)
k8s.deployment.label|CHARBUF|Kdx|deployment label (legacy)
k8s.deployment.labels|CHARBUF|x|deployment labels (legacy)
"""


def _build() -> dict[str, FieldInfo]:
    flag_args = {"i": Arg.INDEX, "I": Arg.INDEX_REQUIRED, "k": Arg.KEY,
                 "K": Arg.KEY_REQUIRED, "a": Arg.NAME_OR_INDEX}
    table: dict[str, FieldInfo] = {}
    for line in _TABLE.strip().splitlines():
        name, ftype, flags, desc = line.split("|", 3)
        arg = next((flag_args[f] for f in flags if f in flag_args), Arg.NONE)
        table[name] = FieldInfo(
            name=name, type=ftype, description=desc, arg=arg,
            filter_only="f" in flags, list_valued="l" in flags,
            dotted_arg="d" in flags, no_rhs="r" in flags,
            deprecated="x" in flags, dynamic_type="y" in flags)
    return table


_FIELDS = _build()
# Fields whose argument may be written as a dotted suffix (evt.arg.fd),
# longest first so "k8s.pod.label.app" finds k8s.pod.label.
_DOTTED = sorted((f for f in _FIELDS.values() if f.dotted_arg),
                 key=lambda f: -len(f.name))


def all_fields() -> list[FieldInfo]:
    """Every field of the syscall source, in catalog order."""
    return list(_FIELDS.values())


def resolve(name: str) -> tuple[FieldInfo, str | None] | None:
    """Find the field ``name`` refers to, splitting a dotted argument.

    ``resolve("evt.arg.fd")`` is ``(evt.arg, "fd")``; plain names give
    ``(info, None)``; unknown names give None.
    """
    info = _FIELDS.get(name)
    if info is not None:
        return info, None
    for info in _DOTTED:
        prefix = info.name + "."
        if name.startswith(prefix) and len(name) > len(prefix):
            return info, name[len(prefix):]
    return None


@lru_cache(maxsize=4096)
def lookup(name: str) -> FieldInfo | None:
    """The field named ``name`` (dotted arguments allowed), or None."""
    found = resolve(name)
    return found[0] if found else None


@lru_cache(maxsize=1024)
def suggest(name: str) -> str | None:
    """The closest known field name, for did-you-mean messages."""
    matches = difflib.get_close_matches(name, _FIELDS.keys(), n=1, cutoff=0.75)
    return matches[0] if matches else None


def port_number(text: str) -> int | None:
    """A PORT field's operand as libsinsp reads it: a number, or a service
    name looked up in the services database (/etc/services: "http" is 80);
    None for neither."""
    import socket
    t = text.strip()
    if t[:1].isdigit():
        try:
            return int(t, 0)
        except ValueError:
            return None
    try:
        return socket.getservbyname(t)
    except OSError:
        return None
