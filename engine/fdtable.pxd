# A process's file descriptor table: fd number -> descriptor object.
#
# The state engine looks an fd up for most syscall events, adds one per
# open/socket/accept and drops one per close.  A dict keyed by Python ints
# made each of those a PyLong, a hash and a probe; this table is keyed by
# the C integer, in open addressing with the fd itself as the hash (fds are
# small and dense, so slots rarely collide).
#
# Values are owned references, never None (None marks a deleted slot,
# so probes go on past it).  They must not refer back to the table
# (FdInfo holds only bytes and numbers): the table takes no part in
# garbage collection.
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint32_t


cdef struct FdSlot:
    int64_t fd
    PyObject *value         # owned; NULL: empty; Py_None (not owned): deleted


cdef class FdTable:
    cdef FdSlot *slots      # capacity mask + 1 of them, or NULL when empty
    cdef uint32_t mask
    cdef uint32_t count     # live entries
    cdef uint32_t filled    # live entries and tombstones

    cdef int put(self, int64_t fd, object value) except -1
    cdef bint discard(self, int64_t fd) noexcept
    cdef int _resize(self, uint32_t want) except -1
    cdef list sorted_items(self)


cdef inline PyObject *fd_find(FdTable table, int64_t fd) noexcept:
    """The value under `fd`, borrowed, or NULL."""
    cdef uint32_t i
    cdef FdSlot *s
    if <PyObject *>table == <PyObject *>None or table.slots == NULL:
        return NULL
    i = <uint32_t>fd & table.mask
    while True:
        s = &table.slots[i]
        if s.value == NULL:
            return NULL
        if s.fd == fd and s.value != <PyObject *>None:
            return s.value
        i = (i + 1) & table.mask
