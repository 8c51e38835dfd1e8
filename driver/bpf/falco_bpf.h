/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Shared between the CO-RE probe (falco.bpf.c) and its userspace loader
 * (falco/live/bpf_source.py, which mirrors these layouts with struct
 * formats -- keep the two in step; the loader checks sizes against BTF).
 *
 * Record format written to the ring (the libscap event format):
 *   struct fb_evt_hdr, then nparams __u16 lengths, then the params.
 */
#ifndef __FALCO_BPF_H
#define __FALCO_BPF_H

/* Size of the packed record header. */
#define FB_HDR_LEN		26
/* Largest record the probe emits; bigger ones are dropped and counted. */
#define FB_MAX_EVENT		(64 * 1024)
/* Scratch per CPU: twice the largest record so that any write at an
 * offset masked with FB_HALF_MASK stays in bounds for the verifier. */
#define FB_SCRATCH_SIZE		(2 * FB_MAX_EVENT)
#define FB_HALF_MASK		(FB_MAX_EVENT - 1)
/* Upper bounds of the tables the loader fills from the event table. */
#define FB_SYSCALL_NR_MAX	512
#define FB_EVENT_MAX		512
#define FB_MAX_PARAMS		32
/* Longest single string param (paths, comm, ...). */
#define FB_MAX_PATH		4096
/* Default bytes of execve argv / env captured (loader may lower it). */
#define FB_DEFAULT_ARGV_MAX	4096
/* Largest argv / env byte area ever captured. */
#define FB_ARGV_CAP		16384
/* How many argv pointers are followed when argv is read from user memory. */
#define FB_MAX_ARGV_PTRS	32
/* Components walked when a path is rebuilt from dentries. */
#define FB_MAX_PATH_DEPTH	32

/* Per-CPU counters, one entry of a BPF_MAP_TYPE_PERCPU_ARRAY. */
struct fb_counters {
	__u64 n_evts;		/* records written to the ring */
	__u64 n_drops_buffer;	/* ring full: record lost */
	__u64 n_drops_max_size;	/* record larger than FB_MAX_EVENT */
	__u64 n_faults;		/* user/kernel read failed: param left empty */
	__u64 n_drops_scratch;	/* no scratch buffer for this CPU */
	__u64 n_filtered;	/* syscalls seen but not of interest */
};

/* Native syscall number -> events, from fe_x86_64_syscalls[]. */
struct fb_route {
	__u16 enter_event;	/* ppm_event_type of the enter record */
	__u16 ppm_sc;		/* PPM_SC code (GENERIC's ID param) */
};

/*
 * Set-once configuration: the only variable in .rodata, filled by the
 * loader between open and load from the event table and the host.
 */
struct fb_config {
	__u64 boot_time_ns;	/* CLOCK_REALTIME - CLOCK_BOOTTIME at load */
	__u32 falco_tgid;	/* our own process: never reported */
	__u32 argv_max;		/* bytes of argv / env captured (<= FB_ARGV_CAP) */
	__u32 snaplen;		/* bytes of read/write data captured */
	__u32 cpus_per_ring;	/* CPU c writes to ring c / cpus_per_ring (0: 1) */
	struct fb_route routes[FB_SYSCALL_NR_MAX];
	__u8 nparams[FB_EVENT_MAX];	/* fe_event_table[t].nparams */
};

/*
 * PPM encodings the probe emits, as listed in driver/event_table.yaml's
 * flag_sets (the generated header carries them only as name tables);
 * tests/test_bpf_live.py checks every value here against the table.
 */
/* file_flags */
#define PPM_O_RDONLY		(1 << 0)
#define PPM_O_WRONLY		(1 << 1)
#define PPM_O_RDWR		(PPM_O_RDONLY | PPM_O_WRONLY)
#define PPM_O_CREAT		(1 << 2)
#define PPM_O_APPEND		(1 << 3)
#define PPM_O_DSYNC		(1 << 4)
#define PPM_O_EXCL		(1 << 5)
#define PPM_O_NONBLOCK		(1 << 6)
#define PPM_O_SYNC		(1 << 7)
#define PPM_O_TRUNC		(1 << 8)
#define PPM_O_DIRECT		(1 << 9)
#define PPM_O_DIRECTORY		(1 << 10)
#define PPM_O_LARGEFILE		(1 << 11)
#define PPM_O_CLOEXEC		(1 << 12)
#define PPM_O_TMPFILE		(1 << 13)
#define PPM_O_F_CREATED		(1 << 14)
#define PPM_FD_UPPER_LAYER	(1 << 15)
#define PPM_FD_LOWER_LAYER	(1 << 16)
/* clone_flags */
#define PPM_CL_CLONE_FILES		(1 << 0)
#define PPM_CL_CLONE_FS			(1 << 1)
#define PPM_CL_CLONE_IO			(1 << 2)
#define PPM_CL_CLONE_NEWIPC		(1 << 3)
#define PPM_CL_CLONE_NEWNET		(1 << 4)
#define PPM_CL_CLONE_NEWNS		(1 << 5)
#define PPM_CL_CLONE_NEWPID		(1 << 6)
#define PPM_CL_CLONE_NEWUTS		(1 << 7)
#define PPM_CL_CLONE_PARENT		(1 << 8)
#define PPM_CL_CLONE_PARENT_SETTID	(1 << 9)
#define PPM_CL_CLONE_PTRACE		(1 << 10)
#define PPM_CL_CLONE_SIGHAND		(1 << 11)
#define PPM_CL_CLONE_SYSVSEM		(1 << 12)
#define PPM_CL_CLONE_THREAD		(1 << 13)
#define PPM_CL_CLONE_UNTRACED		(1 << 14)
#define PPM_CL_CLONE_VM			(1 << 15)
#define PPM_CL_CLONE_NEWUSER		(1 << 20)
#define PPM_CL_CLONE_CHILD_CLEARTID	(1 << 23)
#define PPM_CL_CLONE_CHILD_SETTID	(1 << 24)
#define PPM_CL_CLONE_SETTLS		(1 << 25)
#define PPM_CL_CLONE_VFORK		(1 << 27)
#define PPM_CL_CLONE_NEWCGROUP		(1 << 28)
/* execve_flags */
#define PPM_EXE_WRITABLE	(1 << 0)
#define PPM_EXE_UPPER_LAYER	(1 << 1)
#define PPM_EXE_FROM_MEMFD	(1 << 2)
#define PPM_EXE_LOWER_LAYER	(1 << 3)
/* execve's flag for the overlayfs layer (PPM_FD_*_LAYER) of its file */
#define PPM_EXE_LAYER(layer)						\
	((layer) == PPM_FD_UPPER_LAYER ? PPM_EXE_UPPER_LAYER :		\
	 (layer) == PPM_FD_LOWER_LAYER ? PPM_EXE_LOWER_LAYER : 0)
/* execveat_flags */
#define PPM_EXVAT_AT_EMPTY_PATH		(1 << 0)
#define PPM_EXVAT_AT_SYMLINK_NOFOLLOW	(1 << 1)
/* openat2_flags */
#define PPM_RESOLVE_BENEATH		(1 << 0)
#define PPM_RESOLVE_IN_ROOT		(1 << 1)
#define PPM_RESOLVE_NO_MAGICLINKS	(1 << 2)
#define PPM_RESOLVE_NO_SYMLINKS		(1 << 3)
#define PPM_RESOLVE_NO_XDEV		(1 << 4)
#define PPM_RESOLVE_CACHED		(1 << 5)
/* unlinkat_flags */
#define PPM_AT_REMOVEDIR	0x200
/* memfd_create_flags: same bits as the kernel's MFD_* */
#define PPM_MFD_MASK		0x7
/* socket families (PT_SOCKADDR / PT_SOCKTUPLE first byte) */
#define PPM_AF_UNIX		1
#define PPM_AF_INET		2
#define PPM_AF_INET6		10
/* ptrace_requests */
#define PPM_PTRACE_UNKNOWN	0
#define PPM_PTRACE_TRACEME	1
#define PPM_PTRACE_PEEKTEXT	2
#define PPM_PTRACE_PEEKDATA	3
#define PPM_PTRACE_PEEKUSR	4
#define PPM_PTRACE_POKETEXT	5
#define PPM_PTRACE_POKEDATA	6
#define PPM_PTRACE_POKEUSR	7
#define PPM_PTRACE_CONT		8
#define PPM_PTRACE_KILL		9
#define PPM_PTRACE_SINGLESTEP	10
#define PPM_PTRACE_ATTACH	11
#define PPM_PTRACE_DETACH	12
#define PPM_PTRACE_SYSCALL	13
/* ptrace addr/data PT_DYN variants (their order in the table) */
#define PPM_PTRACE_IDX_UINT64	0
#define PPM_PTRACE_IDX_SIGTYPE	1

#endif /* __FALCO_BPF_H */
