# cython: language_level=3
"""Extractors for the evt.* fields: what the event itself says.

Integers come straight from the record; names from the event table;
argument text (evt.arg.*) is rendered as sysdig prints it, through the
state engine's view when one is attached (fd names, user names).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
import errno as _errno
import time as _time

from falco_engine.decoder cimport EventBatch, fe_evt, read_int
from falco_engine.evalctx cimport (
    EventCtx, FieldExtractor, Value, VK_NONE, VK_INT, VK_UINT, VK_BOOL, VK_STR,
    ctx_param,
)
from falco_engine.event_table cimport (
    fe_event_table, fe_syscall_names, FE_EVENT_MAX, FE_SYSCALL_MAX,
    PT_ERRNO, PT_FD, PT_PID, PT_INT8, PT_INT16, PT_INT32, PT_INT64,
    PT_UID, PT_GID,
)
from falco_engine import params as _params, table as _table
from falco_engine.state cimport ThreadInfo

# PPM open flags (driver encoding) used by evt.is_open_*.
DEF PPM_O_RDONLY = 1
DEF PPM_O_WRONLY = 2
DEF PPM_O_CREAT = 4
DEF PPM_O_F_CREATED = 16384

# Bytes of every event name and syscall name, made once.
cdef list _EVENT_NAMES = [e.name.encode() for e in _table.EVENTS]
cdef list _SYSCALL_NAMES = [n.encode() if n else b"" for n in _table.SYSCALL_NAMES]
# Exit events of the open family, as a flag per event type (a C array:
# a Python set probe per event cost an int object and a hash).
cdef uint8_t _IS_OPEN_EXIT[1024]
for _e in _table.EVENTS:
    if _e.name in ("open", "openat", "openat2", "creat", "open_by_handle_at") \
            and _e.id % 2 == 1 and _e.id < 1024:
        _IS_OPEN_EXIT[_e.id] = 1

# Category names as sysdig prints evt.category (low bits of the category).
_CATEGORY_NAMES = {0: "unknown", 1: "other", 2: "file", 3: "net", 4: "IPC",
                   5: "memory", 6: "process", 7: "sleep", 8: "system",
                   9: "signal", 10: "user", 11: "time", 12: "processing",
                   32: "io-read", 33: "io-write", 34: "io-other", 64: "wait",
                   128: "scheduler", 256: "internal"}


cdef inline bytes _type_name(EventCtx ctx):
    cdef uint16_t t = ctx.evt.type
    cdef uint32_t plen
    cdef const uint8_t *p
    cdef uint16_t sc
    if t <= 1:
        p = ctx_param(ctx, 0, &plen)
        if p != NULL and plen >= 2:
            memcpy(&sc, p, 2)
            if sc < FE_SYSCALL_MAX:
                return <bytes>_SYSCALL_NAMES[sc]
    return <bytes>_EVENT_NAMES[t]


# name -> bytes of one signed index per event type (-1: no such
# parameter), built on first use: extractors ask by name per event, and
# walking the Python table's parameter objects each time was the cost.
cdef dict _PARAM_INDEX = {}


cdef bytes _param_index_table(str name):
    cdef bytearray tab = bytearray(b"\xff" * len(_table.EVENTS))
    for e in _table.EVENTS:
        for i, p in enumerate(e.params):
            if p.name == name:
                tab[e.id] = i
                break
    _PARAM_INDEX[name] = bytes(tab)
    return _PARAM_INDEX[name]


# The table of the name asked last: rules ask for the same parameter of
# event after event, and a dict probe with a str key cost more than the
# rest of the lookup.
cdef object _last_index_name = None
cdef bytes _last_index_tab = None


cdef int _param_index(uint16_t etype, str name):
    global _last_index_name, _last_index_tab
    cdef object tab
    if name is not _last_index_name:
        tab = _PARAM_INDEX.get(name)
        if tab is None:
            tab = _param_index_table(name)
        _last_index_tab = <bytes>tab
        _last_index_name = name
    if etype >= PyBytes_GET_SIZE(_last_index_tab):
        return -1
    return <signed char>PyBytes_AS_STRING(_last_index_tab)[etype]


cdef bint res_value(EventCtx ctx, int64_t *out):
    """The return value of an exit event: its first parameter when that is
    a result (res, fd, pid); False for enter events and other layouts."""
    cdef fe_evt *e = ctx.evt
    cdef uint32_t plen
    cdef const uint8_t *p
    cdef int ptype
    if e.type % 2 == 0 or e.nparams == 0 or e.type >= FE_EVENT_MAX:
        return False
    if fe_event_table[e.type].nparams == 0:
        return False
    ptype = fe_event_table[e.type].params[0].type
    if ptype != PT_ERRNO and ptype != PT_FD and ptype != PT_PID:
        return False
    p = ctx_param(ctx, 0, &plen)
    if p == NULL or plen not in (4, 8):
        return False
    out[0] = read_int(p, plen, True)
    return True


cdef class EvtNum(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_UINT
        out.u = ctx.evt.num
        return 0


cdef class EvtRawtime(FieldExtractor):
    cdef int part   # 0 whole, 1 seconds, 2 nanoseconds
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_UINT
        if self.part == 1:
            out.u = ctx.evt.ts // 1000000000
        elif self.part == 2:
            out.u = ctx.evt.ts % 1000000000
        else:
            out.u = ctx.evt.ts
        return 0


cdef class EvtTime(FieldExtractor):
    """evt.time and friends: wall-clock text of the event time."""
    cdef int style
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef uint64_t ts = ctx.evt.ts
        secs, ns = divmod(ts, 1000000000)
        if self.style == 0:       # evt.time
            text = _time.strftime("%H:%M:%S", _time.localtime(secs)) + f".{ns:09d}"
        elif self.style == 1:     # evt.time.s
            text = _time.strftime("%H:%M:%S", _time.localtime(secs))
        elif self.style == 2:     # evt.time.iso8601 (libsinsp: "%FT%T.%09u%z", UTC)
            text = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(secs)) + f".{ns:09d}+0000"
        elif self.style == 3:     # evt.datetime
            text = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(secs)) + f".{ns:09d}"
        else:                     # evt.datetime.s
            text = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(secs))
        ctx.set_str(out, text)
        return 0


cdef class EvtDir(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_STR
        out.s = b">" if ctx.evt.type % 2 == 0 else b"<"
        out.n = 1
        return 0


cdef class EvtType(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef bytes name = _type_name(ctx)
        out.kind = VK_STR
        out.s = name
        out.n = len(name)
        return 0


cdef class EvtTypeIs(FieldExtractor):
    cdef bytes want
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_UINT
        out.u = 1 if _type_name(ctx) == self.want else 0
        return 0


cdef class EvtCpu(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_INT
        out.i = ctx.evt.cpu
        return 0


cdef class EvtCategory(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef uint32_t cat = fe_event_table[ctx.evt.type].category
        # The category proper is one of the low values; EC_SYSCALL etc. are
        # flag bits above them.
        name = _CATEGORY_NAMES.get(cat & 0xFF) or _CATEGORY_NAMES.get(cat & 0x1FF, "unknown")
        ctx.set_str(out, name)
        return 0


# Event flags (ppm_event_flags) read by evt.is_io* / evt.io_dir / evt.is_wait.
DEF EF_READS_FROM_FD = 8
DEF EF_WRITES_TO_FD = 16
DEF EF_WAITS = 128


cdef class EvtFlagIs(FieldExtractor):
    """evt.is_io, evt.is_io_read, evt.is_io_write, evt.is_wait: whether the
    event type's flags (libsinsp's get_info_flags) have any bit of `mask`."""
    cdef uint32_t mask
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_BOOL
        out.u = 1 if fe_event_table[ctx.evt.type].flags & self.mask else 0
        return 0


cdef class EvtIoDir(FieldExtractor):
    """evt.io_dir: "write" / "read" from the event type's flags, else none."""
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef uint32_t ef = fe_event_table[ctx.evt.type].flags
        out.kind = VK_NONE
        if ef & EF_WRITES_TO_FD:
            out.kind = VK_STR
            out.s = b"write"
            out.n = 5
        elif ef & EF_READS_FROM_FD:
            out.kind = VK_STR
            out.s = b"read"
            out.n = 4
        return 0


cdef class EvtSource(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_STR
        out.s = b"syscall"
        out.n = 7
        return 0


cdef class EvtCount(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_UINT
        out.u = 1
        return 0


cdef class EvtRawres(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef int64_t res
        if res_value(ctx, &res):
            out.kind = VK_INT
            out.i = res
        return 0


cdef class EvtRes(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef int64_t res
        if res_value(ctx, &res):
            if res >= 0:
                ctx.set_str(out, b"SUCCESS")
            else:
                ctx.set_str(out, _res_name(res))
        return 0


# evt.res of failed calls by code: naming one took a module attribute, a
# Python call and a str (and its encoding) per evaluation.
cdef dict _RES_NAMES = {}


cdef bytes _res_name(int64_t res):
    cdef object known = _RES_NAMES.get(res)
    if known is None:
        if len(_RES_NAMES) >= 4096:
            _RES_NAMES.clear()
        known = (_params.errno_name(-res) or str(res)).encode()
        _RES_NAMES[res] = known
    return <bytes>known


cdef class EvtFailed(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef int64_t res
        if res_value(ctx, &res):
            out.kind = VK_BOOL
            out.u = 1 if res < 0 else 0
        return 0


cdef class EvtIsOpen(FieldExtractor):
    """evt.is_open_read / write / exec / create on open-family exits."""
    cdef int which   # 0 read, 1 write, 2 exec, 3 create
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef uint16_t t = ctx.evt.type
        cdef int fi, mi
        cdef uint32_t plen
        cdef const uint8_t *p
        cdef uint64_t flags, mode = 0
        if t >= 1024 or not _IS_OPEN_EXIT[t]:
            return 0
        fi = _param_index(t, "flags")
        if fi < 0:
            return 0
        p = ctx_param(ctx, fi, &plen)
        if p == NULL:
            return 0
        flags = <uint64_t>read_int(p, plen, False)
        out.kind = VK_BOOL
        if self.which == 0:
            out.u = 1 if flags & PPM_O_RDONLY else 0
        elif self.which == 1:
            out.u = 1 if flags & PPM_O_WRONLY else 0
        elif self.which == 3:
            out.u = 1 if flags & PPM_O_F_CREATED else 0
        else:
            mi = _param_index(t, "mode")
            if mi >= 0:
                p = ctx_param(ctx, mi, &plen)
                if p != NULL:
                    mode = <uint64_t>read_int(p, plen, False)
            # a file created with any execute bit set
            out.u = 1 if (flags & PPM_O_CREAT) and (mode & 0o111) else 0
        return 0


cdef const uint8_t *enter_param(EventCtx ctx, str name, uint32_t *plen,
                                int *idx_out, uint16_t *type_out):
    """A parameter the exit event lacks, from this call's enter event (the
    state engine keeps the record while the exit is judged).  Modern Falco
    judges exits only, and its exit events carry these parameters."""
    cdef ThreadInfo t
    cdef const uint8_t *rec
    cdef Py_ssize_t reclen, pos
    cdef uint32_t k, n
    cdef int idx
    if not ctx.exit_args_from_enter or not isinstance(ctx.thread, ThreadInfo) \
            or ctx.evt.type % 2 == 0:
        return NULL
    t = <ThreadInfo>ctx.thread
    if t.enter_len == 0 or t.enter_type + 1 != ctx.evt.type:
        return NULL
    idx = _param_index(t.enter_type, name)
    if idx < 0 or <uint32_t>idx >= t.enter_nparams:
        return NULL
    rec = t.enter_buf
    reclen = t.enter_len
    pos = t.enter_hdr + <Py_ssize_t>t.enter_nparams * t.enter_lsz
    for k in range(<uint32_t>idx + 1):
        if t.enter_hdr + (k + 1) * t.enter_lsz > reclen:
            return NULL
        n = read_int(rec + t.enter_hdr + t.enter_lsz * k, t.enter_lsz, False)
        if k == <uint32_t>idx:
            if pos + n > reclen:
                return NULL
            plen[0] = n
            idx_out[0] = idx
            type_out[0] = t.enter_type
            return rec + pos
        pos += n
    return NULL


# The state's rendering view (fd names, process names), looked up once per
# state object: getattr() on a state without one raises and swallows an
# AttributeError, which cost more than the rendering.
cdef object _view_of = None
cdef object _view_value = None


cdef object _state_view(object state):
    global _view_of, _view_value
    if state is None:
        return None
    if state is not _view_of:
        _view_value = getattr(state, "view", None)
        _view_of = state
    return _view_value


# Parameter types whose text depends on their bytes alone and costs a
# flag-name lookup to make (EvtArg keeps the last one).
_FLAG_OR_ENUM = _params.FLAG_TYPES | _params.ENUM_TYPES


cdef class EvtArg(FieldExtractor):
    """evt.arg.NAME / evt.arg[N] (rendered text) and evt.rawarg.NAME (value)."""
    cdef str pname        # by name, or
    cdef int pindex       # by position (-1: by name)
    cdef bint raw
    # The last text rendered from parameter bytes alone (flags, enums,
    # numbers: not fds, pids or ids, whose text names state): the same
    # parameter of the same event type with the same bytes renders the same,
    # and a rule such as `evt.arg.domain contains AF_PACKET` sees the same
    # few values over and over.
    cdef bytes memo_raw
    cdef bytes memo_text
    cdef int memo_etype
    cdef int memo_idx

    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef fe_evt *e = ctx.evt
        cdef int idx = self.pindex
        cdef uint32_t plen
        cdef const uint8_t *p
        cdef object pinfo = None
        cdef int eidx = -1
        cdef uint16_t etype = 0
        infos = _table.EVENTS[e.type].params
        if idx < 0:
            idx = _param_index(e.type, self.pname)
            if idx < 0:
                p = enter_param(ctx, self.pname, &plen, &eidx, &etype)
                if p == NULL:
                    return 0
                pinfo = _table.EVENTS[etype].params[eidx]
        if pinfo is None:
            if idx >= e.nparams or idx >= len(infos):
                return 0
            p = ctx_param(ctx, idx, &plen)
            if p == NULL:
                return 0
            etype = e.type
            eidx = idx
            pinfo = infos[idx]
        if not self.raw and self.memo_raw is not None and \
                self.memo_etype == etype and self.memo_idx == eidx and \
                PyBytes_GET_SIZE(self.memo_raw) == plen and \
                memcmp(PyBytes_AS_STRING(self.memo_raw), p, plen) == 0:
            ctx.set_str(out, self.memo_text)
            return 0
        raw = p[:plen]
        if not self.raw and pinfo.type in _FLAG_OR_ENUM:
            text = _params.render(pinfo, raw, <int64_t>e.tid, None)
            self.memo_raw = raw
            self.memo_etype = etype
            self.memo_idx = eidx
            self.memo_text = (<str>text).encode("utf-8", "surrogateescape")
            ctx.set_str(out, self.memo_text)
            return 0
        if self.raw:
            value = _params.decode_value(pinfo.type, raw)
            if isinstance(value, int) and not isinstance(value, bool):
                if pinfo.type in _params.SIGNED:
                    out.kind = VK_INT
                    out.i = value
                else:
                    out.kind = VK_UINT
                    out.u = value & 0xFFFFFFFFFFFFFFFF
                return 0
            if isinstance(value, (str, bytes)):
                ctx.set_str(out, value)
                return 0
            ctx.set_str(out, _params.render(pinfo, raw, e.tid, None))
            return 0
        ctx.set_str(out, _params.render(pinfo, raw, <int64_t>e.tid, _state_view(ctx.state)))
        return 0


cdef class EvtArgs(FieldExtractor):
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef fe_evt *e = ctx.evt
        if e.type <= 1:
            ctx.set_str(out, b"")
            return 0
        view = _state_view(ctx.state)
        ev = ctx.batch.event(ctx.idx)
        infos = _table.EVENTS[e.type].params
        parts = []
        for i, pinfo in enumerate(infos[:e.nparams]):
            parts.append(f"{pinfo.name}={_params.render(pinfo, ev.param(i), <int64_t>e.tid, view)}")
        ctx.set_str(out, " ".join(parts))
        return 0


cdef class EvtBuffer(FieldExtractor):
    """evt.buffer / evt.buflen: the data parameter of I/O events."""
    cdef bint length
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        cdef int idx = _param_index(ctx.evt.type, "data")
        cdef uint32_t plen
        cdef const uint8_t *p
        if idx < 0:
            return 0
        p = ctx_param(ctx, idx, &plen)
        if p == NULL:
            return 0
        if self.length:
            out.kind = VK_UINT
            out.u = plen
        else:
            out.kind = VK_STR
            out.s = <const char *>p
            out.n = plen
        return 0


cdef class EvtHostname(FieldExtractor):
    cdef bytes host
    cdef int extract(self, EventCtx ctx, Value *out) except -1:
        out.kind = VK_STR
        out.s = self.host
        out.n = len(self.host)
        return 0


def _new(cls, str field, str ftype):
    ex = cls.__new__(cls)
    FieldExtractor.__init__(ex, field, ftype)
    return ex


def make(str name, object arg, str ftype, str field):
    """An extractor for an evt.* field, or None when this module has none."""
    cdef EvtRawtime rt
    cdef EvtTime tm
    cdef EvtIsOpen io
    cdef EvtArg ea
    cdef EvtBuffer eb
    cdef EvtTypeIs ti
    cdef EvtHostname eh
    cdef EvtFlagIs fi
    simple = {
        "evt.num": EvtNum, "evt.dir": EvtDir, "evt.type": EvtType,
        "evt.cpu": EvtCpu, "evt.category": EvtCategory, "evt.source": EvtSource,
        "evt.count": EvtCount, "evt.rawres": EvtRawres, "evt.res": EvtRes,
        "evt.failed": EvtFailed, "evt.args": EvtArgs, "evt.info": EvtArgs,
    }
    if name in simple:
        return _new(simple[name], field, ftype)
    if name in ("evt.rawtime", "evt.rawtime.s", "evt.rawtime.ns"):
        rt = _new(EvtRawtime, field, ftype)
        rt.part = {"evt.rawtime": 0, "evt.rawtime.s": 1, "evt.rawtime.ns": 2}[name]
        return rt
    if name in ("evt.time", "evt.time.s", "evt.time.iso8601", "evt.datetime",
                "evt.datetime.s", "evt.outputtime"):
        tm = _new(EvtTime, field, ftype)
        tm.style = {"evt.time": 0, "evt.outputtime": 0, "evt.time.s": 1,
                    "evt.time.iso8601": 2, "evt.datetime": 3, "evt.datetime.s": 4}[name]
        return tm
    if name in ("evt.is_open_read", "evt.is_open_write", "evt.is_open_exec",
                "evt.is_open_create"):
        io = _new(EvtIsOpen, field, ftype)
        io.which = ("evt.is_open_read", "evt.is_open_write", "evt.is_open_exec",
                    "evt.is_open_create").index(name)
        return io
    if name in ("evt.arg", "evt.rawarg"):
        if arg is None:
            return None
        ea = _new(EvtArg, field, ftype)
        ea.raw = name == "evt.rawarg"
        if str(arg).isdigit():
            ea.pindex = int(arg)
            ea.pname = ""
        else:
            ea.pindex = -1
            ea.pname = str(arg)
        return ea
    if name in ("evt.buffer", "evt.buflen"):
        eb = _new(EvtBuffer, field, ftype)
        eb.length = name == "evt.buflen"
        return eb
    if name == "evt.type.is" and arg is not None:
        ti = _new(EvtTypeIs, field, ftype)
        ti.want = str(arg).encode()
        return ti
    if name in ("evt.is_io", "evt.is_io_read", "evt.is_io_write", "evt.is_wait"):
        fi = _new(EvtFlagIs, field, ftype)
        fi.mask = {"evt.is_io": EF_READS_FROM_FD | EF_WRITES_TO_FD,
                   "evt.is_io_read": EF_READS_FROM_FD,
                   "evt.is_io_write": EF_WRITES_TO_FD,
                   "evt.is_wait": EF_WAITS}[name]
        return fi
    if name == "evt.io_dir":
        return _new(EvtIoDir, field, ftype)
    if name == "evt.hostname":
        import socket
        eh = _new(EvtHostname, field, ftype)
        eh.host = socket.gethostname().encode()
        return eh
    return None
