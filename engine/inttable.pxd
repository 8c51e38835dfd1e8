# A table keyed by a C integer: the state engine's threads (by tid) and each
# process's file descriptors (by fd).
#
# The engine looks a thread and an fd up for most syscall events, adds and
# drops them at every clone, exit, open and close.  A dict keyed by Python
# ints made each of those a PyLong, a hash and a probe; this table is open
# addressing with the key itself as the hash (fds are small and dense, tids
# nearly sequential, so slots rarely collide).
#
# Values are owned references, never None (None marks a deleted slot, so
# probes go on past it).  They must not refer back to the table (FdInfo
# holds bytes and numbers, ThreadInfo bytes, lists of bytes and its fd
# table): the table takes no part in garbage collection.
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint32_t


cdef struct IntSlot:
    int64_t key
    PyObject *value         # owned; NULL: empty; Py_None (not owned): deleted


cdef class IntTable:
    cdef IntSlot *slots     # capacity mask + 1 of them, or NULL when empty
    cdef uint32_t mask
    cdef uint32_t count     # live entries
    cdef uint32_t filled    # live entries and tombstones

    cdef int put(self, int64_t key, object value) except -1
    cdef bint discard(self, int64_t key) noexcept
    cdef bint next_key(self, uint32_t *cursor, int64_t *key) noexcept
    cdef int _resize(self, uint32_t want) except -1
    cdef list sorted_items(self)


cdef inline IntSlot *table_slot(IntTable table, int64_t key) noexcept:
    """The live slot holding `key`, or NULL."""
    cdef uint32_t i
    cdef IntSlot *s
    if <PyObject *>table == <PyObject *>None or table.slots == NULL:
        return NULL
    i = <uint32_t>key & table.mask
    while True:
        s = &table.slots[i]
        if s.value == NULL:
            return NULL
        if s.key == key and s.value != <PyObject *>None:
            return s
        i = (i + 1) & table.mask


cdef inline PyObject *table_find(IntTable table, int64_t key) noexcept:
    """The value under `key`, borrowed, or NULL."""
    cdef IntSlot *s = table_slot(table, key)
    return NULL if s == NULL else s.value
