# cython: language_level=3
"""The event table, seen from Python.

The table itself is C (driver/falco_events.h, generated from
driver/event_table.yaml); this module copies it once into Python tuples
for the code that needs names and types: printing, the writer, the rule
compiler's event-type index.
"""
from falco_engine.event_table cimport (
    fe_event_table, fe_flag_sets, fe_dyn_sets, fe_syscall_names,
    fe_x86_64_syscalls, fe_param_type_size, FE_EVENT_MAX, FE_SYSCALL_MAX,
    FE_X86_64_SYSCALL_MAX, FE_FLAG_SET_MAX, FE_DYN_SET_MAX, PT_ENUMFLAGS32,
    EC_INTERNAL as _EC_INTERNAL, EF_UNUSED as _EF_UNUSED,
)
from collections import namedtuple

ParamInfo = namedtuple("ParamInfo", "name type fmt flag_set")
EventInfo = namedtuple("EventInfo", "id name category flags params unused")

EVENT_MAX = FE_EVENT_MAX
EC_INTERNAL = _EC_INTERNAL
EF_UNUSED = _EF_UNUSED

# ppm_param_type names, by number (libscap numbering).
PARAM_TYPE_NAMES = (
    "NONE", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
    "UINT64", "CHARBUF", "BYTEBUF", "ERRNO", "SOCKADDR", "SOCKTUPLE", "FD",
    "PID", "FDLIST", "FSPATH", "SYSCALLID", "SIGTYPE", "RELTIME", "ABSTIME",
    "PORT", "L4PROTO", "SOCKFAMILY", "BOOL", "IPV4ADDR", "DYN", "FLAGS8",
    "FLAGS16", "FLAGS32", "UID", "GID", "DOUBLE", "SIGSET", "CHARBUFARRAY",
    "CHARBUF_PAIR_ARRAY", "IPV4NET", "IPV6ADDR", "IPV6NET", "IPADDR", "IPNET",
    "MODE", "FSRELPATH", "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32",
)
SYSCALL_MAX = FE_SYSCALL_MAX


cdef str _s(const char *p):
    return "" if p == NULL else p.decode("utf-8", "replace")


def _load_flag_sets():
    """Index -> ((name, value), ...); index 0 is the "no flags" slot."""
    cdef int i, k
    sets = []
    for i in range(FE_FLAG_SET_MAX):
        sets.append(tuple((_s(fe_flag_sets[i].names[k].name),
                           fe_flag_sets[i].names[k].value)
                          for k in range(fe_flag_sets[i].count)))
    return tuple(sets)


def _load_dyn_sets():
    """Index -> (ParamInfo, ...): the variants a PT_DYN parameter can take."""
    cdef int i, k
    out = []
    for i in range(FE_DYN_SET_MAX):
        out.append(tuple(ParamInfo(_s(fe_dyn_sets[i].variants[k].name),
                                   fe_dyn_sets[i].variants[k].type,
                                   fe_dyn_sets[i].variants[k].fmt,
                                   fe_dyn_sets[i].variants[k].flag_set)
                         for k in range(fe_dyn_sets[i].count)))
    return tuple(out)


def _load_events():
    out = []
    cdef int t, p
    for t in range(FE_EVENT_MAX):
        info = &fe_event_table[t]
        params = tuple(ParamInfo(_s(info.params[p].name), info.params[p].type,
                                 info.params[p].fmt, info.params[p].flag_set)
                       for p in range(info.nparams))
        out.append(EventInfo(t, _s(info.name), info.category, info.flags, params,
                             bool(info.flags & _EF_UNUSED)))
    return tuple(out)


FLAG_SETS = _load_flag_sets()
DYN_SETS = _load_dyn_sets()
EVENTS = _load_events()
SYSCALL_NAMES = tuple(_s(fe_syscall_names[i]) for i in range(FE_SYSCALL_MAX))
PARAM_TYPE_SIZE = tuple(fe_param_type_size[i] for i in range(PT_ENUMFLAGS32 + 1))
X86_64_SYSCALLS = tuple((fe_x86_64_syscalls[i].enter_event, fe_x86_64_syscalls[i].ppm_sc)
                        for i in range(FE_X86_64_SYSCALL_MAX))


def event_types_named(str name):
    """Every event type whose evt.type is `name` (enter and exit, all versions)."""
    return [e.id for e in EVENTS if e.name == name]
