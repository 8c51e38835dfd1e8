"""cffi ABI binding to the system libbpf (``libbpf.so.1``).

Only the calls the BPF source uses are declared, so installing the package
needs no libbpf headers: the library is opened at run time.  Every call
that fails raises :class:`BpfError` with libbpf's errno and, for a failed
load, the tail of libbpf's log (the verifier's complaint).
"""
from __future__ import annotations

import collections
import errno as _errno
import os
from typing import Any

from cffi import FFI

_CDEF = """
struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;

enum libbpf_print_level { LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG };
typedef int (*libbpf_print_fn_t)(enum libbpf_print_level level,
                                 const char *fmt, void *ap);
libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn);
int vsnprintf(char *str, size_t size, const char *format, void *ap);

struct bpf_object *bpf_object__open_file(const char *path, const void *opts);
int bpf_object__load(struct bpf_object *obj);
void bpf_object__close(struct bpf_object *obj);
struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj,
                                             const char *name);
struct bpf_program *bpf_object__find_program_by_name(
        const struct bpf_object *obj, const char *name);

int bpf_program__set_autoload(struct bpf_program *prog, _Bool autoload);
struct bpf_link *bpf_program__attach(const struct bpf_program *prog);
int bpf_link__destroy(struct bpf_link *link);

int bpf_map__fd(const struct bpf_map *map);
int bpf_map__set_max_entries(struct bpf_map *map, uint32_t max_entries);
uint32_t bpf_map__max_entries(const struct bpf_map *map);
uint32_t bpf_map__value_size(const struct bpf_map *map);
void *bpf_map__initial_value(struct bpf_map *map, size_t *psize);
int bpf_map__set_initial_value(struct bpf_map *map, const void *data,
                               size_t size);

int bpf_map_create(int map_type, const char *map_name, uint32_t key_size,
                   uint32_t value_size, uint32_t max_entries,
                   const void *opts);
int bpf_map__set_inner_map_fd(struct bpf_map *map, int fd);
int bpf_map_update_elem(int fd, const void *key, const void *value,
                        uint64_t flags);
int bpf_map_lookup_elem(int fd, const void *key, void *value);

int libbpf_num_possible_cpus(void);
"""

ffi = FFI()
ffi.cdef(_CDEF)

# enum bpf_map_type values (uapi/linux/bpf.h) the loader creates maps of.
BPF_MAP_TYPE_RINGBUF = 27

_lib: Any = None
# FALCO_BPF_LOG=FILE appends every libbpf message (the verifier's full log).
_debug_log = os.environ.get("FALCO_BPF_LOG")
_log: collections.deque[str] = collections.deque(maxlen=40)


class BpfError(OSError):
    """A libbpf call failed; the message is one line."""


def lib() -> Any:
    """The opened libbpf, loaded on first use."""
    global _lib
    if _lib is None:
        try:
            _lib = ffi.dlopen("libbpf.so.1")
        except OSError as exc:
            raise BpfError(_errno.ENOENT,
                           "libbpf.so.1 not found (apt-get install libbpf1): "
                           f"{exc}") from None
        _lib.libbpf_set_print(_print_cb)
        _libc_vsnprintf()
    return _lib


_libc: Any = None


def _libc_vsnprintf() -> Any:
    global _libc
    if _libc is None:
        _libc = ffi.dlopen(None)
    return _libc


# va_list is passed as a pointer on x86_64 and arm64.
@ffi.callback("int(enum libbpf_print_level, const char *, void *)")
def _print_cb(level: int, fmt: Any, ap: Any) -> int:
    # Called only while opening / loading / attaching, never per event.
    buf = ffi.new("char[]", 1 << 16)
    _libc.vsnprintf(buf, 1 << 16, fmt, ap)
    line = ffi.string(buf).decode("utf-8", "replace").rstrip()
    if _debug_log:
        with open(_debug_log, "a") as f:
            f.write(line + "\n")
    if line and level <= 1:
        _log.append(line)
    return 0


def log_tail(n: int = 8) -> str:
    """The last libbpf log lines, joined for an error message."""
    lines = list(_log)[-n:]
    return " | ".join(lines)


def clear_log() -> None:
    _log.clear()


def check(rc: int, what: str) -> int:
    """Raise BpfError for a negative libbpf return code."""
    if rc < 0:
        err = -rc
        raise BpfError(err, f"{what}: {os.strerror(err)}")
    return rc


def check_ptr(ptr: Any, what: str) -> Any:
    """Raise BpfError for a NULL pointer (libbpf sets errno)."""
    if ptr == ffi.NULL:
        err = ffi.errno or _errno.EINVAL
        raise BpfError(err, f"{what}: {os.strerror(err)}")
    return ptr
