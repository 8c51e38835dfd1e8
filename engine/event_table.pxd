# Declarations of the generated event table (driver/falco_events.h).
# The header is generated from driver/event_table.yaml; the drivers include
# the same file, so the decoder and the producers share one table.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int16_t

cdef extern from "falco_events.h" nogil:
    int FE_EVENT_MAX
    int FE_MAX_EVENT_PARAMS
    int FE_SYSCALL_MAX
    int FE_X86_64_SYSCALL_MAX
    int FE_FLAG_SET_MAX
    int FE_DYN_SET_MAX

    enum ppm_event_category:
        EC_INTERNAL

    enum ppm_event_flags:
        EF_UNUSED

    enum ppm_param_type:
        PT_NONE, PT_INT8, PT_INT16, PT_INT32, PT_INT64, PT_UINT8, PT_UINT16,
        PT_UINT32, PT_UINT64, PT_CHARBUF, PT_BYTEBUF, PT_ERRNO, PT_SOCKADDR,
        PT_SOCKTUPLE, PT_FD, PT_PID, PT_FDLIST, PT_FSPATH, PT_SYSCALLID,
        PT_SIGTYPE, PT_RELTIME, PT_ABSTIME, PT_PORT, PT_L4PROTO,
        PT_SOCKFAMILY, PT_BOOL, PT_IPV4ADDR, PT_DYN, PT_FLAGS8, PT_FLAGS16,
        PT_FLAGS32, PT_UID, PT_GID, PT_DOUBLE, PT_SIGSET, PT_CHARBUFARRAY,
        PT_CHARBUF_PAIR_ARRAY, PT_IPV4NET, PT_IPV6ADDR, PT_IPV6NET, PT_IPADDR,
        PT_IPNET, PT_MODE, PT_FSRELPATH, PT_ENUMFLAGS8, PT_ENUMFLAGS16,
        PT_ENUMFLAGS32

    enum ppm_print_format:
        PF_NA, PF_DEC, PF_HEX, PF_10_PADDED_DEC, PF_ID, PF_DIR, PF_OCT

    cdef struct fe_flag_name:
        const char *name
        uint32_t value

    cdef struct fe_flag_set:
        const char *name
        uint16_t count
        const fe_flag_name *names

    cdef struct fe_param_info:
        const char *name
        uint8_t type
        uint8_t fmt
        uint16_t flag_set

    cdef struct fe_event_info:
        const char *name
        uint32_t category
        uint32_t flags
        uint16_t nparams
        const fe_param_info *params

    cdef struct fe_dyn_set:
        uint16_t count
        const fe_param_info *variants

    cdef struct fe_syscall_route:
        int16_t enter_event
        uint16_t ppm_sc

    const fe_flag_set fe_flag_sets[]
    const fe_dyn_set fe_dyn_sets[]
    const fe_event_info fe_event_table[]
    const char *const fe_syscall_names[]
    const fe_syscall_route fe_x86_64_syscalls[]
    const uint8_t fe_param_type_size[]
