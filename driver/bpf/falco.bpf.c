// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * falco CO-RE probe: sys_enter / sys_exit and the sched_process_* trace
 * points write libscap event records (driver/falco_events.h) into BPF ring
 * buffers, one per CPU (or per small group of CPUs).
 *
 * A record is built in a per-CPU scratch buffer (its size is only known at
 * the end), then copied into the ring with one bpf_ringbuf_output() --
 * reserve, fill and submit in one helper, never blocking.  Every failure
 * is counted per CPU: ring full, record too large, unreadable user or
 * kernel memory (the param is then stored empty, the record still goes).
 *
 * Each event has one filler, a global (separately verified) function that
 * reads the syscall's arguments from the scratch buffer and stores the
 * params in the table's order.  A record always carries exactly the
 * table's nparams (from the loader-filled rodata): params a filler did not
 * store are sent empty.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "falco_bpf.h"
#include "falco_events.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Filled by the loader between open and load; read-only afterwards. */
const volatile struct fb_config fb_cfg = {};

/* ---- maps ---------------------------------------------------------- */

/*
 * One ring buffer per CPU (or per group of fb_cfg.cpus_per_ring CPUs):
 * a CPU writes only into its own ring, so producers never contend and
 * the reader merges the rings by timestamp.  The loader creates the
 * rings (all of fb_ring_tmpl's size, which it sets) and fills the slots.
 */
struct fb_ring_tmpl {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);	/* loader sets the size */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);			/* loader sets: rings */
	__type(key, __u32);
	__array(values, struct fb_ring_tmpl);
} fb_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fb_counters);
} fb_counters SEC(".maps");

/* Native syscall number -> 1 when someone wants it (set at run time). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FB_SYSCALL_NR_MAX);
	__type(key, __u32);
	__type(value, __u8);
} fb_interest SEC(".maps");

struct fb_scratch {
	__u8 data[FB_SCRATCH_SIZE];	/* the record being built */
	__u8 tmp[512];			/* sockaddr / misc staging */
	__u64 names[FB_MAX_PATH_DEPTH];	/* path components, leaf first */
	__u64 args[6];			/* syscall arguments */
	__s64 ret;			/* syscall return value (exit) */
	__u32 pos;			/* next free payload byte */
	__u32 nlen;			/* params stored so far */
	__u32 nparams;			/* params the record carries */
	__u32 nr;			/* native syscall number */
	__u16 type;			/* event being built */
};

/* One scratch buffer per CPU; max_entries set to the CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fb_scratch);
} fb_scratch SEC(".maps");

/* ---- kernel constants (uapi values, not in vmlinux.h) ---------------- */

#define FB_O_ACCMODE	00000003
#define FB_O_WRONLY	00000001
#define FB_O_RDWR	00000002
#define FB_O_CREAT	00000100
#define FB_O_EXCL	00000200
#define FB_O_TRUNC	00001000
#define FB_O_APPEND	00002000
#define FB_O_NONBLOCK	00004000
#define FB_O_DSYNC	00010000
#define FB_O_DIRECT	00040000
#define FB_O_LARGEFILE	00100000
#define FB_O_DIRECTORY	00200000
#define FB_O_NOFOLLOW	00400000
#define FB_O_NOATIME	01000000
#define FB_O_CLOEXEC	02000000
#define FB___O_SYNC	04000000
#define FB_O_PATH	010000000
#define FB___O_TMPFILE	020000000

#define FB_FMODE_CREATED	0x100000
#define FB_AT_REMOVEDIR		0x200
#define FB_AF_UNIX	1
#define FB_AF_INET	2
#define FB_AF_INET6	10
#define FB_EINPROGRESS	115
#define FB_TS_COMPAT	0x0002
#define FB_RLIMIT_NOFILE	7
#define FB_PAGE_SHIFT	12

#define FB_CLONE_VM		0x00000100
#define FB_CLONE_FS		0x00000200
#define FB_CLONE_FILES		0x00000400
#define FB_CLONE_SIGHAND	0x00000800
#define FB_CLONE_PIDFD		0x00001000
#define FB_CLONE_PTRACE		0x00002000
#define FB_CLONE_VFORK		0x00004000
#define FB_CLONE_PARENT		0x00008000
#define FB_CLONE_THREAD		0x00010000
#define FB_CLONE_NEWNS		0x00020000
#define FB_CLONE_SYSVSEM	0x00040000
#define FB_CLONE_SETTLS		0x00080000
#define FB_CLONE_PARENT_SETTID	0x00100000
#define FB_CLONE_CHILD_CLEARTID	0x00200000
#define FB_CLONE_UNTRACED	0x00800000
#define FB_CLONE_CHILD_SETTID	0x01000000
#define FB_CLONE_NEWCGROUP	0x02000000
#define FB_CLONE_NEWUTS		0x04000000
#define FB_CLONE_NEWIPC		0x08000000
#define FB_CLONE_NEWUSER	0x10000000
#define FB_CLONE_NEWPID		0x20000000
#define FB_CLONE_NEWNET		0x40000000
#define FB_CLONE_IO		0x80000000
#define FB_SIGCHLD		17
#define FB_AT_SYMLINK_NOFOLLOW	0x100
#define FB_AT_SYMLINK_FOLLOW	0x400
#define FB_AT_EMPTY_PATH	0x1000
#define FB_RESOLVE_NO_XDEV	0x01
#define FB_RESOLVE_NO_MAGICLINKS 0x02
#define FB_RESOLVE_NO_SYMLINKS	0x04
#define FB_RESOLVE_BENEATH	0x08
#define FB_RESOLVE_IN_ROOT	0x10
#define FB_RESOLVE_CACHED	0x20
#define FB_S_IWUSR		0200
#define FB_S_IWGRP		0020
#define FB_S_IWOTH		0002
#define FB_MAX_CGROUP_SUBSYS	16
#define FB_MS_MGC_VAL		0xC0ED0000ULL
#define FB_MS_MGC_MSK		0xffff0000ULL
#define FB_PR_SET_NAME		15
#define FB_PR_GET_NAME		16
#define FB_PR_GET_CHILD_SUBREAPER	37
#define FB_TASK_COMM_LEN	16
#define FB_IORING_SETUP_IOPOLL	(1U << 0)
#define FB_IORING_SETUP_SQPOLL	(1U << 1)
#define FB_IORING_FEAT_MASK	0x7ff

/* overlayfs keeps its inode inside struct ovl_inode, the upper-layer
 * dentry right after it (NULL while the file exists only in a lower
 * layer).  Built-in overlayfs has it in vmlinux BTF; else the check is
 * compiled out at load (bpf_core_type_exists). */
struct ovl_inode___fb {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
} __attribute__((preserve_access_index));

#define FB_OVERLAYFS_SUPER_MAGIC	0x794c7630

/* Which overlayfs layer an inode's file is in: the upper one once it has
 * an upper dentry (written, or copied up, after the image was built), else
 * a lower one (the image's); 0 off overlayfs. */
static __always_inline __u32 overlay_layer(struct inode *ino)
{
	struct ovl_inode___fb *oi;

	if (!ino || !bpf_core_type_exists(struct ovl_inode___fb) ||
	    BPF_CORE_READ(ino, i_sb, s_magic) != FB_OVERLAYFS_SUPER_MAGIC)
		return 0;
	oi = (void *)ino - bpf_core_field_offset(struct ovl_inode___fb, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) ? PPM_FD_UPPER_LAYER :
						  PPM_FD_LOWER_LAYER;
}

/* Before 6.15 the kernfs parent link was called `parent`. */
struct kernfs_node___old {
	struct kernfs_node___old *parent;
} __attribute__((preserve_access_index));

/* ---- small helpers ------------------------------------------------- */

static __always_inline struct fb_scratch *scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&fb_scratch, &cpu);
}

static __always_inline struct fb_counters *counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fb_counters, &zero);
}

static __always_inline void count_fault(void)
{
	struct fb_counters *c = counters_get();

	if (c)
		c->n_faults++;
}

#define POS(s) ((s)->pos & FB_HALF_MASK)

static __always_inline void ev_begin(struct fb_scratch *s, __u16 type)
{
	__u32 n = fb_cfg.nparams[type & (FB_EVENT_MAX - 1)];

	if (n > FB_MAX_PARAMS)
		n = FB_MAX_PARAMS;
	*(__u64 *)&s->data[0] = fb_cfg.boot_time_ns + bpf_ktime_get_boot_ns();
	*(__u64 *)&s->data[8] = (__u32)bpf_get_current_pid_tgid();
	*(__u16 *)&s->data[20] = type;
	*(__u32 *)&s->data[22] = n;
	s->type = type;
	s->nparams = n;
	s->nlen = 0;
	s->pos = FB_HDR_LEN + 2 * n;
}

static __always_inline bool slot(struct fb_scratch *s)
{
	return s->nlen < s->nparams;
}

static __always_inline void put_len(struct fb_scratch *s, __u32 len)
{
	__u32 i = s->nlen;

	if (i >= FB_MAX_PARAMS)
		return;
	*(__u16 *)&s->data[FB_HDR_LEN + 2 * i] = len;
	s->nlen = i + 1;
}

static __always_inline void put_empty(struct fb_scratch *s)
{
	if (slot(s))
		put_len(s, 0);
}

#define DEFINE_PUT(name, type)						\
static __always_inline void put_##name(struct fb_scratch *s, type v)	\
{									\
	if (!slot(s))							\
		return;							\
	*(type *)&s->data[POS(s)] = v;					\
	s->pos += sizeof(type);						\
	put_len(s, sizeof(type));					\
}
DEFINE_PUT(u8, __u8)
DEFINE_PUT(u16, __u16)
DEFINE_PUT(u32, __u32)
DEFINE_PUT(u64, __u64)
DEFINE_PUT(s64, __s64)

/* Raw bytes appended to the current param (no length stored). */
static __always_inline void raw_u8(struct fb_scratch *s, __u8 v)
{
	*(__u8 *)&s->data[POS(s)] = v;
	s->pos += 1;
}

static __always_inline void raw_u16(struct fb_scratch *s, __u16 v)
{
	*(__u16 *)&s->data[POS(s)] = v;
	s->pos += 2;
}

static __always_inline void raw_u32(struct fb_scratch *s, __u32 v)
{
	*(__u32 *)&s->data[POS(s)] = v;
	s->pos += 4;
}

static __always_inline void raw_u64(struct fb_scratch *s, __u64 v)
{
	*(__u64 *)&s->data[POS(s)] = v;
	s->pos += 8;
}

/*
 * A NUL-terminated string of at most `max` bytes with the NUL (longer
 * ones are cut, as bpf_probe_read_*_str do); a fault -- an unmapped
 * pointer, or no NUL before an unmapped page -- stores an empty param.
 */
static __always_inline void put_str_max(struct fb_scratch *s, const void *p,
					bool user, __u32 max)
{
	long n;

	if (!slot(s))
		return;
	if (!p) {
		put_len(s, 0);
		return;
	}
	if (max > FB_MAX_PATH)
		max = FB_MAX_PATH;
	if (user)
		n = bpf_probe_read_user_str(&s->data[POS(s)], max, p);
	else
		n = bpf_probe_read_kernel_str(&s->data[POS(s)], max, p);
	if (n <= 0) {
		count_fault();
		put_len(s, 0);
		return;
	}
	s->pos += n;
	put_len(s, n);
}

static __always_inline void put_str(struct fb_scratch *s, const void *p,
				    bool user)
{
	put_str_max(s, p, user, FB_MAX_PATH);
}

/* Up to FB_ARGV_CAP raw user bytes; returns the bytes stored. */
static __always_inline __u32 raw_user_bytes(struct fb_scratch *s,
					    const void *p, __u32 len)
{
	if (len > FB_ARGV_CAP)
		len = FB_ARGV_CAP;
	if (!len || !p)
		return 0;
	if (bpf_probe_read_user(&s->data[POS(s)], len & (2 * FB_ARGV_CAP - 1),
				p)) {
		count_fault();
		return 0;
	}
	s->pos += len;
	return len;
}

static __always_inline void put_user_bytes(struct fb_scratch *s,
					   const void *p, __u32 len)
{
	if (slot(s))
		put_len(s, raw_user_bytes(s, p, len));
}

/* This CPU's ring (NULL only if the loader left its slot empty). */
static __always_inline void *ring_get(void)
{
	__u32 per = fb_cfg.cpus_per_ring;
	__u32 idx = bpf_get_smp_processor_id();

	if (per > 1)
		idx /= per;
	return bpf_map_lookup_elem(&fb_rings, &idx);
}

static __always_inline void ev_submit(struct fb_scratch *s)
{
	struct fb_counters *c = counters_get();
	void *ring;
	__u32 len;
	int i;

	if (!c)
		return;
	/* Params the filler did not store go out empty. */
	for (i = 0; i < FB_MAX_PARAMS; i++) {
		if (!slot(s))
			break;
		put_len(s, 0);
	}
	len = s->pos;
	if (len > FB_MAX_EVENT) {
		c->n_drops_max_size++;
		return;
	}
	*(__u32 *)&s->data[16] = len;
	ring = ring_get();
	if (!ring || bpf_ringbuf_output(ring, s->data, len, BPF_RB_NO_WAKEUP))
		c->n_drops_buffer++;
	else
		c->n_evts++;
}

/* ---- task / file readers ------------------------------------------- */

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

static __always_inline struct file *fd_file(struct task_struct *t, __s64 fd)
{
	struct file **fds;
	struct file *f = NULL;
	unsigned int max;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(t, files, fdt, max_fds);
	if (fd >= max)
		return NULL;
	fds = BPF_CORE_READ(t, files, fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* vnr of a struct pid: the number in its own (deepest) namespace. */
static __always_inline __s64 pid_vnr(struct pid *pid)
{
	unsigned int level = BPF_CORE_READ(pid, level);
	int nr = 0;

	bpf_probe_read_kernel(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

static __always_inline __u32 sock_family(struct file *f)
{
	struct socket *sock = BPF_CORE_READ(f, private_data);

	return BPF_CORE_READ(sock, sk, __sk_common.skc_family);
}

/* ---- flag conversions (kernel -> PPM, values from the event table) -- */

static __always_inline __u32 open_flags_to_ppm(__u32 flags)
{
	__u32 res = 0;

	switch (flags & FB_O_ACCMODE) {
	case 0:
		res |= PPM_O_RDONLY;
		break;
	case FB_O_WRONLY:
		res |= PPM_O_WRONLY;
		break;
	case FB_O_RDWR:
		res |= PPM_O_RDWR;
		break;
	}
	if (flags & FB_O_CREAT)
		res |= PPM_O_CREAT;
	if (flags & FB_O_APPEND)
		res |= PPM_O_APPEND;
	if (flags & FB_O_DSYNC)
		res |= PPM_O_DSYNC;
	if (flags & FB_O_EXCL)
		res |= PPM_O_EXCL;
	if (flags & FB_O_NONBLOCK)
		res |= PPM_O_NONBLOCK;
	if (flags & FB___O_SYNC)
		res |= PPM_O_SYNC;
	if (flags & FB_O_TRUNC)
		res |= PPM_O_TRUNC;
	if (flags & FB_O_DIRECT)
		res |= PPM_O_DIRECT;
	if (flags & FB_O_DIRECTORY)
		res |= PPM_O_DIRECTORY;
	if (flags & FB_O_LARGEFILE)
		res |= PPM_O_LARGEFILE;
	if (flags & FB_O_CLOEXEC)
		res |= PPM_O_CLOEXEC;
	if (flags & FB___O_TMPFILE)
		res |= PPM_O_TMPFILE;
	return res;
}

static __always_inline __u32 resolve_flags_to_ppm(__u64 flags)
{
	__u32 res = 0;

	if (flags & FB_RESOLVE_BENEATH)
		res |= PPM_RESOLVE_BENEATH;
	if (flags & FB_RESOLVE_IN_ROOT)
		res |= PPM_RESOLVE_IN_ROOT;
	if (flags & FB_RESOLVE_NO_MAGICLINKS)
		res |= PPM_RESOLVE_NO_MAGICLINKS;
	if (flags & FB_RESOLVE_NO_SYMLINKS)
		res |= PPM_RESOLVE_NO_SYMLINKS;
	if (flags & FB_RESOLVE_NO_XDEV)
		res |= PPM_RESOLVE_NO_XDEV;
	if (flags & FB_RESOLVE_CACHED)
		res |= PPM_RESOLVE_CACHED;
	return res;
}

static __always_inline __u32 execveat_flags_to_ppm(__u64 flags)
{
	__u32 res = 0;

	if (flags & FB_AT_EMPTY_PATH)
		res |= PPM_EXVAT_AT_EMPTY_PATH;
	if (flags & FB_AT_SYMLINK_NOFOLLOW)
		res |= PPM_EXVAT_AT_SYMLINK_NOFOLLOW;
	return res;
}

/* Kernel PTRACE_* request -> ptrace_requests value of the table. */
static __always_inline __u32 ptrace_req_to_ppm(__u64 req)
{
	if (req <= 9)			/* TRACEME .. SINGLESTEP */
		return req + 1;
	switch (req) {
	case 12: return 26;		/* GETREGS */
	case 13: return 27;		/* SETREGS */
	case 14: return 28;		/* GETFPREGS */
	case 15: return 29;		/* SETFPREGS */
	case 16: return PPM_PTRACE_ATTACH;
	case 17: return PPM_PTRACE_DETACH;
	case 18: return 30;		/* GETFPXREGS */
	case 19: return 31;		/* SETFPXREGS */
	case 21: return 32;		/* OLDSETOPTIONS */
	case 24: return PPM_PTRACE_SYSCALL;
	case 25: return 33;		/* GET_THREAD_AREA */
	case 26: return 34;		/* SET_THREAD_AREA */
	case 30: return 35;		/* ARCH_PRCTL */
	case 31: return 36;		/* SYSEMU */
	case 32: return 37;		/* SYSEMU_SINGLESTEP */
	case 33: return 38;		/* SINGLEBLOCK */
	}
	if (req >= 0x4200 && req <= 0x420b)	/* SETOPTIONS .. SETSIGMASK */
		return req - 0x4200 + 14;
	return PPM_PTRACE_UNKNOWN;
}

/* dev_t (MAJOR << 20 | MINOR) in the userspace encoding (new_encode_dev). */
static __always_inline __u32 encode_dev(__u32 dev)
{
	__u32 major = dev >> 20, minor = dev & 0xfffff;

	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* Mode is meaningful only when a file may be created. */
static __always_inline __u32 open_mode_to_ppm(__u32 flags, __u32 mode)
{
	if (!(flags & (FB_O_CREAT | FB___O_TMPFILE)))
		return 0;
	return mode & 07777;
}

static __always_inline __u32 clone_flags_to_ppm(__u64 flags)
{
	__u32 res = 0;

	if (flags & FB_CLONE_FILES)
		res |= PPM_CL_CLONE_FILES;
	if (flags & FB_CLONE_FS)
		res |= PPM_CL_CLONE_FS;
	if (flags & FB_CLONE_IO)
		res |= PPM_CL_CLONE_IO;
	if (flags & FB_CLONE_NEWIPC)
		res |= PPM_CL_CLONE_NEWIPC;
	if (flags & FB_CLONE_NEWNET)
		res |= PPM_CL_CLONE_NEWNET;
	if (flags & FB_CLONE_NEWNS)
		res |= PPM_CL_CLONE_NEWNS;
	if (flags & FB_CLONE_NEWPID)
		res |= PPM_CL_CLONE_NEWPID;
	if (flags & FB_CLONE_NEWUTS)
		res |= PPM_CL_CLONE_NEWUTS;
	if (flags & FB_CLONE_PARENT)
		res |= PPM_CL_CLONE_PARENT;
	if (flags & FB_CLONE_PARENT_SETTID)
		res |= PPM_CL_CLONE_PARENT_SETTID;
	if (flags & FB_CLONE_PTRACE)
		res |= PPM_CL_CLONE_PTRACE;
	if (flags & FB_CLONE_SIGHAND)
		res |= PPM_CL_CLONE_SIGHAND;
	if (flags & FB_CLONE_SYSVSEM)
		res |= PPM_CL_CLONE_SYSVSEM;
	if (flags & FB_CLONE_THREAD)
		res |= PPM_CL_CLONE_THREAD;
	if (flags & FB_CLONE_UNTRACED)
		res |= PPM_CL_CLONE_UNTRACED;
	if (flags & FB_CLONE_VM)
		res |= PPM_CL_CLONE_VM;
	if (flags & FB_CLONE_NEWUSER)
		res |= PPM_CL_CLONE_NEWUSER;
	if (flags & FB_CLONE_CHILD_CLEARTID)
		res |= PPM_CL_CLONE_CHILD_CLEARTID;
	if (flags & FB_CLONE_CHILD_SETTID)
		res |= PPM_CL_CLONE_CHILD_SETTID;
	if (flags & FB_CLONE_SETTLS)
		res |= PPM_CL_CLONE_SETTLS;
	if (flags & FB_CLONE_VFORK)
		res |= PPM_CL_CLONE_VFORK;
	if (flags & FB_CLONE_NEWCGROUP)
		res |= PPM_CL_CLONE_NEWCGROUP;
	return res;
}

/* ---- composite params ---------------------------------------------- */

/*
 * Paths are rebuilt from at most FB_MAX_PATH_DEPTH components: a walk
 * (bpf_loop, so the verifier sees one iteration) collects the name
 * pointers leaf first into the scratch buffer, then they are written root
 * first as "/a/b/c".
 */
struct path_walk {
	struct dentry *d;
	struct dentry *root;
	struct dentry *mnt_root;
	struct mount *mnt;
	struct kernfs_node *kn;
	__u32 n;
	__u32 detached;	/* ends at a pseudo/disconnected dentry */
};

static long walk_dentry_cb(__u64 i, void *ctx)
{
	struct path_walk *w = ctx;
	struct fb_scratch *s = scratch_get();
	struct dentry *d = w->d, *parent;
	struct mount *mnt = w->mnt, *pmnt;

	if (!s || d == w->root)
		return 1;
	if (d == w->mnt_root) {
		pmnt = BPF_CORE_READ(mnt, mnt_parent);
		if (pmnt == mnt)
			return 1;
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = pmnt;
		w->mnt_root = BPF_CORE_READ(pmnt, mnt.mnt_root);
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (w->n >= FB_MAX_PATH_DEPTH)
		return 1;
	s->names[w->n & (FB_MAX_PATH_DEPTH - 1)] =
		(__u64)BPF_CORE_READ(d, d_name.name);
	if (parent == d) {
		/* a root that is no mount's root: a pseudo file (memfd,
		 * anon inode) or a disconnected dentry.  Its own name is
		 * the path, relative as libs' BPF drivers give it
		 * ("memfd:NAME"). */
		w->n++;
		w->detached = 1;
		return 1;
	}
	w->n++;
	w->d = parent;
	return 0;
}

static long walk_kernfs_cb(__u64 i, void *ctx)
{
	struct path_walk *w = ctx;
	struct fb_scratch *s = scratch_get();
	struct kernfs_node *kn = w->kn, *parent;

	if (!s || w->n >= FB_MAX_PATH_DEPTH)
		return 1;
	if (bpf_core_field_exists(kn->__parent))
		parent = BPF_CORE_READ(kn, __parent);
	else
		parent = (struct kernfs_node *)BPF_CORE_READ(
			(struct kernfs_node___old *)kn, parent);
	if (!parent)
		return 1;	/* the root itself has no name in the path */
	s->names[w->n & (FB_MAX_PATH_DEPTH - 1)] =
		(__u64)BPF_CORE_READ(kn, name);
	w->n++;
	w->kn = parent;
	return 0;
}

static long emit_component_cb(__u64 i, void *ctx)
{
	struct path_walk *w = ctx;
	struct fb_scratch *s = scratch_get();
	__u32 k = w->n - 1 - i;
	long r;

	if (!s)
		return 1;
	if (i || !w->detached)
		raw_u8(s, '/');
	r = bpf_probe_read_kernel_str(&s->data[POS(s)], 256,
		(void *)s->names[k & (FB_MAX_PATH_DEPTH - 1)]);
	if (r > 0)
		s->pos += r - 1;	/* drop the NUL */
	return 0;
}

/* Write the collected components ("/" when none), NUL-terminated. */
static __always_inline void emit_components(struct fb_scratch *s,
					    struct path_walk *w)
{
	if (!w->n)
		raw_u8(s, '/');
	else
		bpf_loop(w->n, emit_component_cb, w, 0);
	raw_u8(s, 0);
}

/* Path of a dentry/mount pair up to the task's root: PT_FSPATH. */
__noinline int fb_put_path(__u64 dentry_p, __u64 vfsmnt_p)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	struct vfsmount *vm = (struct vfsmount *)vfsmnt_p;
	struct path_walk w = {};
	__u32 start;

	if (!s || !slot(s))
		return 0;
	if (!dentry_p) {
		put_len(s, 0);
		return 0;
	}
	w.d = (struct dentry *)dentry_p;
	w.mnt = container_of(vm, struct mount, mnt);
	w.root = BPF_CORE_READ(t, fs, root.dentry);
	w.mnt_root = BPF_CORE_READ(vm, mnt_root);
	bpf_loop(FB_MAX_PATH_DEPTH + 8, walk_dentry_cb, &w, 0);
	start = s->pos;
	emit_components(s, &w);
	put_len(s, (s->pos - start) & 0xffff);
	return 0;
}

static __always_inline void put_path(struct fb_scratch *s,
				     struct dentry *d, struct vfsmount *m)
{
	fb_put_path((__u64)d, (__u64)m);
}

/* sockaddr from user memory: PT_SOCKADDR. */
__noinline int fb_put_sockaddr(__u64 uaddr, __u32 addrlen)
{
	struct fb_scratch *s = scratch_get();
	__u16 family;
	__u32 start;
	long r;

	if (!s || !slot(s))
		return 0;
	if (!uaddr || addrlen < 2) {
		put_len(s, 0);
		return 0;
	}
	if (addrlen > 128)
		addrlen = 128;
	if (bpf_probe_read_user(s->tmp, addrlen & 255, (void *)uaddr)) {
		count_fault();
		put_len(s, 0);
		return 0;
	}
	family = *(__u16 *)&s->tmp[0];
	start = s->pos;
	switch (family) {
	case FB_AF_INET:
		raw_u8(s, PPM_AF_INET);
		raw_u32(s, *(__u32 *)&s->tmp[4]);
		raw_u16(s, bpf_ntohs(*(__u16 *)&s->tmp[2]));
		break;
	case FB_AF_INET6:
		raw_u8(s, PPM_AF_INET6);
		raw_u64(s, *(__u64 *)&s->tmp[8]);
		raw_u64(s, *(__u64 *)&s->tmp[16]);
		raw_u16(s, bpf_ntohs(*(__u16 *)&s->tmp[2]));
		break;
	case FB_AF_UNIX:
		raw_u8(s, PPM_AF_UNIX);
		/* abstract addresses start with a NUL: skip it */
		r = bpf_probe_read_kernel_str(&s->data[POS(s)], 109,
					      &s->tmp[s->tmp[2] ? 2 : 3]);
		if (r > 0)
			s->pos += r;
		else
			raw_u8(s, 0);
		break;
	default:
		put_len(s, 0);
		return 0;
	}
	put_len(s, s->pos - start);
	return 0;
}

/*
 * Socket tuple of an fd from the kernel socket: PT_SOCKTUPLE.
 * inbound (accept): source is the peer; outbound (connect): source is us.
 */
__noinline int fb_put_socktuple(__s64 fd, __u32 inbound)
{
	struct fb_scratch *s = scratch_get();
	struct file *f;
	struct socket *sock;
	struct sock *sk;
	__u16 family, lport, rport;
	__u32 start;

	if (!s || !slot(s))
		return 0;
	f = fd_file(current_task(), fd);
	if (!f) {
		put_len(s, 0);
		return 0;
	}
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	lport = BPF_CORE_READ((struct inet_sock *)sk, inet_sport);
	rport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	start = s->pos;
	switch (family) {
	case FB_AF_INET: {
		__u32 laddr = BPF_CORE_READ((struct inet_sock *)sk, inet_saddr);
		__u32 raddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		/* libscap layout: family, sip, sport, dip, dport */
		raw_u8(s, PPM_AF_INET);
		raw_u32(s, inbound ? raddr : laddr);
		raw_u16(s, bpf_ntohs(inbound ? rport : lport));
		raw_u32(s, inbound ? laddr : raddr);
		raw_u16(s, bpf_ntohs(inbound ? lport : rport));
		break;
	}
	case FB_AF_INET6: {
		struct in6_addr l6 = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr r6 = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		struct in6_addr *a = inbound ? &r6 : &l6;
		struct in6_addr *b = inbound ? &l6 : &r6;

		/* libscap layout: family, sip, sport, dip, dport */
		raw_u8(s, PPM_AF_INET6);
		raw_u64(s, *(__u64 *)&a->in6_u.u6_addr8[0]);
		raw_u64(s, *(__u64 *)&a->in6_u.u6_addr8[8]);
		raw_u16(s, bpf_ntohs(inbound ? rport : lport));
		raw_u64(s, *(__u64 *)&b->in6_u.u6_addr8[0]);
		raw_u64(s, *(__u64 *)&b->in6_u.u6_addr8[8]);
		raw_u16(s, bpf_ntohs(inbound ? lport : rport));
		break;
	}
	case FB_AF_UNIX: {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ(us, peer);
		struct unix_address *addr;
		long r;

		raw_u8(s, PPM_AF_UNIX);
		raw_u64(s, inbound ? (__u64)us : (__u64)peer);
		raw_u64(s, inbound ? (__u64)peer : (__u64)us);
		addr = inbound ? BPF_CORE_READ(us, addr) : BPF_CORE_READ(peer, addr);
		r = 0;
		if (addr) {
			char first = 0;
			char *path = (char *)addr->name[0].sun_path;

			bpf_probe_read_kernel(&first, 1, path);
			r = bpf_probe_read_kernel_str(&s->data[POS(s)], 109,
						      first ? path : path + 1);
		}
		if (r > 0)
			s->pos += r;
		else
			raw_u8(s, 0);
		break;
	}
	default:
		put_len(s, 0);
		return 0;
	}
	put_len(s, s->pos - start);
	return 0;
}

/*
 * cgroups of the current task: "subsys=/path\0" for every controller the
 * css_set has (PT_BYTEBUF of NUL-terminated strings, as libscap).
 */
__noinline int fb_put_cgroups(void)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	struct css_set *cs = BPF_CORE_READ(t, cgroups);
	__u32 start;
	int i;

	if (!s || !slot(s))
		return 0;
	start = s->pos;
	for (i = 0; i < FB_MAX_CGROUP_SUBSYS; i++) {
		struct cgroup_subsys_state *css = NULL;
		struct path_walk w = {};
		long r;

		if (!bpf_core_enum_value_exists(enum cgroup_subsys_id,
						CGROUP_SUBSYS_COUNT) ||
		    i >= bpf_core_enum_value(enum cgroup_subsys_id,
					     CGROUP_SUBSYS_COUNT))
			break;
		bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[i]);
		if (!css)
			continue;
		r = bpf_probe_read_kernel_str(&s->data[POS(s)], 32,
					      BPF_CORE_READ(css, ss, name));
		if (r <= 0)
			continue;
		s->pos += r - 1;
		raw_u8(s, '=');
		w.kn = BPF_CORE_READ(css, cgroup, kn);
		bpf_loop(FB_MAX_PATH_DEPTH, walk_kernfs_cb, &w, 0);
		emit_components(s, &w);
		if (s->pos - start > 8192)
			break;
	}
	put_len(s, (s->pos - start) & 0xffff);
	return 0;
}

/* ---- process info shared by clone / execve exits ------------------- */

static __always_inline __u64 mm_counter(struct mm_struct *mm, int member)
{
	__s64 v = BPF_CORE_READ(mm, rss_stat[member].count);

	return v < 0 ? 0 : v;
}

/* exe and args from the mm's argument area (as /proc/PID/cmdline). */
__noinline int fb_put_exe_args(void)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	unsigned long as, ae;
	__u32 len, n;
	long r;

	if (!s || !slot(s))
		return 0;
	as = BPF_CORE_READ(t, mm, arg_start);
	ae = BPF_CORE_READ(t, mm, arg_end);
	/* Parameter: exe (type: PT_CHARBUF) */
	put_str(s, (void *)as, true);
	n = *(__u16 *)&s->data[FB_HDR_LEN + 2 * ((s->nlen - 1) & (FB_MAX_PARAMS - 1))];
	/* Parameter: args (type: PT_BYTEBUF) */
	if (!slot(s))
		return 0;
	len = 0;
	if (ae > as + n) {
		len = ae - as - n;
		if (len > fb_cfg.argv_max)
			len = fb_cfg.argv_max;
	}
	r = raw_user_bytes(s, (void *)(as + n), len);
	put_len(s, r);
	return 0;
}

__noinline int fb_put_env(void)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	unsigned long es, ee;
	__u32 len = 0;

	if (!s || !slot(s))
		return 0;
	es = BPF_CORE_READ(t, mm, env_start);
	ee = BPF_CORE_READ(t, mm, env_end);
	if (ee > es) {
		len = ee - es;
		if (len > fb_cfg.argv_max)
			len = fb_cfg.argv_max;
	}
	put_len(s, raw_user_bytes(s, (void *)es, len));
	return 0;
}

/*
 * exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size,
 * vm_rss, vm_swap, comm, cgroups: the part clone and execve exits share.
 * cwd is stored only when `with_cwd` (execve); clone sends it empty.
 */
__noinline int fb_put_proc_common(__u32 with_cwd)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	__u64 total_vm = 0, rss = 0, swap = 0;
	char comm[16];

	if (!s)
		return 0;
	fb_put_exe_args();
	/* Parameter: tid (type: PT_PID) */
	put_s64(s, BPF_CORE_READ(t, pid));
	/* Parameter: pid (type: PT_PID) */
	put_s64(s, BPF_CORE_READ(t, tgid));
	/* Parameter: ptid (type: PT_PID) */
	put_s64(s, BPF_CORE_READ(t, real_parent, pid));
	/* Parameter: cwd (type: PT_CHARBUF) */
	if (with_cwd)
		put_path(s, BPF_CORE_READ(t, fs, pwd.dentry),
			 BPF_CORE_READ(t, fs, pwd.mnt));
	else
		put_empty(s);
	/* Parameter: fdlimit (type: PT_UINT64) */
	put_s64(s, BPF_CORE_READ(t, signal, rlim[FB_RLIMIT_NOFILE].rlim_cur));
	/* Parameter: pgft_maj (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, maj_flt));
	/* Parameter: pgft_min (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, min_flt));
	if (mm) {
		total_vm = BPF_CORE_READ(mm, total_vm);
		rss = mm_counter(mm, MM_FILEPAGES) +
		      mm_counter(mm, MM_ANONPAGES) +
		      mm_counter(mm, MM_SHMEMPAGES);
		swap = mm_counter(mm, MM_SWAPENTS);
	}
	/* Parameter: vm_size (type: PT_UINT32), in KiB */
	put_u32(s, total_vm << (FB_PAGE_SHIFT - 10));
	/* Parameter: vm_rss (type: PT_UINT32) */
	put_u32(s, rss << (FB_PAGE_SHIFT - 10));
	/* Parameter: vm_swap (type: PT_UINT32) */
	put_u32(s, swap << (FB_PAGE_SHIFT - 10));
	/* Parameter: comm (type: PT_CHARBUF) */
	BPF_CORE_READ_STR_INTO(&comm, t, comm);
	comm[15] = 0;
	put_str(s, comm, false);
	/* Parameter: cgroups (type: PT_CHARBUFARRAY) */
	fb_put_cgroups();
	return 0;
}

/* vtid, vpid, pidns_init_start_ts and uid/gid for the clone exits. */
static __always_inline __u64 pidns_init_start(struct task_struct *t)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct pid_namespace *ns = NULL;

	bpf_probe_read_kernel(&ns, sizeof(ns), &pid->numbers[level & 31].ns);
	return BPF_CORE_READ(ns, child_reaper, start_time);
}

/* ---- fillers -------------------------------------------------------- */

/* Syscalls without a dedicated event: ID and nativeID. */
__noinline int fb_fill_generic(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u32 nr;

	if (!s)
		return 0;
	nr = s->nr & (FB_SYSCALL_NR_MAX - 1);
	ev_begin(s, type);
	/* Parameter 1: ID (type: PT_SYSCALLID) */
	put_u16(s, fb_cfg.routes[nr].ppm_sc);
	/* Parameter 2: nativeID (type: PT_UINT16) */
	put_u16(s, s->nr);
	ev_submit(s);
	return 0;
}

/* open / openat / openat2 / creat, enter and exit. */
__noinline int fb_fill_open(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	struct file *f = NULL;
	__u32 flags, mode = 0, extra = 0;
	__u64 resolve = 0;
	__s64 dirfd = 0;
	void *path;
	bool at = false, exit = type & 1;

	if (!s)
		return 0;
	switch (type & ~1U) {
	case PPME_SYSCALL_OPEN_E:
		path = (void *)s->args[0];
		flags = s->args[1];
		mode = s->args[2];
		break;
	case PPME_SYSCALL_CREAT_E:
		path = (void *)s->args[0];
		flags = FB_O_CREAT | FB_O_WRONLY | FB_O_TRUNC;
		mode = s->args[1];
		break;
	case PPME_SYSCALL_OPENAT_2_E:
		at = true;
		dirfd = (int)s->args[0];
		path = (void *)s->args[1];
		flags = s->args[2];
		mode = s->args[3];
		break;
	default: {	/* openat2: struct open_how { u64 flags, mode, resolve } */
		__u64 how[3] = {};

		at = true;
		dirfd = (int)s->args[0];
		path = (void *)s->args[1];
		if (bpf_probe_read_user(how, sizeof(how), (void *)s->args[2]))
			count_fault();
		flags = how[0];
		mode = how[1];
		resolve = how[2];
		break;
	}
	}
	if (exit && s->ret >= 0) {
		f = fd_file(current_task(), s->ret);
		if (f && (BPF_CORE_READ(f, f_mode) & FB_FMODE_CREATED))
			extra = PPM_O_F_CREATED;
		if (f)
			extra |= overlay_layer(BPF_CORE_READ(f, f_inode));
	}
	ev_begin(s, type);
	if (exit)
		/* Parameter: fd (type: PT_FD) */
		put_s64(s, s->ret);
	if (at)
		/* Parameter: dirfd (type: PT_FD) */
		put_s64(s, dirfd);
	/* Parameter: name (type: PT_FSPATH / PT_FSRELPATH) */
	put_str(s, path, true);
	if ((type & ~1U) != PPME_SYSCALL_CREAT_E)
		/* Parameter: flags (type: PT_FLAGS32) */
		put_u32(s, open_flags_to_ppm(flags) | extra);
	/* Parameter: mode (type: PT_UINT32) */
	put_u32(s, (type & ~1U) == PPME_SYSCALL_CREAT_E ? mode & 07777 :
		   open_mode_to_ppm(flags, mode));
	if ((type & ~1U) == PPME_SYSCALL_OPENAT2_E)
		/* Parameter: resolve (type: PT_FLAGS32) */
		put_u32(s, resolve_flags_to_ppm(resolve));
	if (exit) {
		dev_t dev = 0;
		__u64 ino = 0;

		if (f) {
			dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
			ino = BPF_CORE_READ(f, f_inode, i_ino);
		}
		/* Parameter: dev (type: PT_UINT32) */
		put_u32(s, encode_dev(dev));
		/* Parameter: ino (type: PT_UINT64) */
		put_u64(s, ino);
	}
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_fd_enter(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: fd (type: PT_FD) */
	put_s64(s, (int)s->args[0]);
	ev_submit(s);
	return 0;
}

/* close / listen / set*id exits: res */
__noinline int fb_fill_res(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	ev_submit(s);
	return 0;
}

/* read / write: enter fd, size; exit res, data (snaplen bytes). */
__noinline int fb_fill_rw(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u32 len;

	if (!s)
		return 0;
	ev_begin(s, type);
	if (!(type & 1)) {
		/* Parameter 1: fd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 2: size (type: PT_UINT32) */
		put_u32(s, s->args[2]);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		put_s64(s, s->ret);
		/* Parameter 2: data (type: PT_BYTEBUF) */
		len = s->ret > 0 ? s->ret : 0;
		if (len > fb_cfg.snaplen)
			len = fb_cfg.snaplen;
		put_user_bytes(s, (void *)s->args[1], len);
	}
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_socket(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (!(type & 1)) {
		/* Parameter 1: domain (type: PT_ENUMFLAGS32) */
		put_u32(s, s->args[0]);
		/* Parameter 2: type (type: PT_UINT32) */
		put_u32(s, s->args[1]);
		/* Parameter 3: proto (type: PT_UINT32) */
		put_u32(s, s->args[2]);
	} else {
		/* Parameter 1: fd (type: PT_FD) */
		put_s64(s, s->ret);
	}
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_bind_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: addr (type: PT_SOCKADDR) */
	fb_put_sockaddr(s->args[1], s->args[2]);
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_connect(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__s64 fd;

	if (!s)
		return 0;
	fd = (int)s->args[0];
	ev_begin(s, type);
	if (!(type & 1)) {
		/* Parameter 1: fd (type: PT_FD) */
		put_s64(s, fd);
		/* Parameter 2: addr (type: PT_SOCKADDR) */
		fb_put_sockaddr(s->args[1], s->args[2]);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		put_s64(s, s->ret);
		/* Parameter 2: tuple (type: PT_SOCKTUPLE) */
		if (s->ret == 0 || s->ret == -FB_EINPROGRESS)
			fb_put_socktuple(fd, 0);
		else
			put_empty(s);
		/* Parameter 3: fd (type: PT_FD) */
		put_s64(s, fd);
	}
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_accept(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	struct file *lf;
	struct sock *sk;
	__u32 qlen = 0, qmax = 0;

	if (!s)
		return 0;
	ev_begin(s, type);
	if (!(type & 1)) {
		if (type == PPME_SOCKET_ACCEPT4_6_E)
			/* Parameter 1: flags (type: PT_INT32) */
			put_u32(s, s->args[3]);
		ev_submit(s);
		return 0;
	}
	/* Parameter 1: fd (type: PT_FD) */
	put_s64(s, s->ret);
	/* Parameter 2: tuple (type: PT_SOCKTUPLE) */
	if (s->ret >= 0)
		fb_put_socktuple(s->ret, 1);
	else
		put_empty(s);
	lf = fd_file(current_task(), (int)s->args[0]);
	if (lf) {
		struct socket *ls = BPF_CORE_READ(lf, private_data);

		sk = BPF_CORE_READ(ls, sk);
		qlen = BPF_CORE_READ(sk, sk_ack_backlog);
		qmax = BPF_CORE_READ(sk, sk_max_ack_backlog);
	}
	/* Parameter 3: queuepct (type: PT_UINT8) */
	put_u8(s, qmax ? qlen * 100 / qmax : 0);
	/* Parameter 4: queuelen (type: PT_UINT32) */
	put_u32(s, qlen);
	/* Parameter 5: queuemax (type: PT_UINT32) */
	put_u32(s, qmax);
	ev_submit(s);
	return 0;
}

/* dup / dup2 / dup3 exit: res, oldfd[, newfd[, flags]] */
__noinline int fb_fill_dup_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_FD) */
	put_s64(s, s->ret);
	/* Parameter 2: oldfd (type: PT_FD) */
	put_s64(s, (int)s->args[0]);
	if (type != PPME_SYSCALL_DUP_1_X)
		/* Parameter 3: newfd (type: PT_FD) */
		put_s64(s, (int)s->args[1]);
	if (type == PPME_SYSCALL_DUP3_X)
		/* Parameter 4: flags (type: PT_FLAGS32) */
		put_u32(s, (s->args[2] & FB_O_CLOEXEC) ? PPM_O_CLOEXEC : 0);
	ev_submit(s);
	return 0;
}

/* Events whose enter record carries no params. */
__noinline int fb_fill_empty(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_unlinkat_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: dirfd (type: PT_FD) */
	put_s64(s, (int)s->args[0]);
	/* Parameter 3: name (type: PT_FSRELPATH) */
	put_str(s, (void *)s->args[1], true);
	/* Parameter 4: flags (type: PT_FLAGS32) */
	put_u32(s, (s->args[2] & FB_AT_REMOVEDIR) ? PPM_AT_REMOVEDIR : 0);
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_renameat_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: olddirfd (type: PT_FD) */
	put_s64(s, (int)s->args[0]);
	/* Parameter 3: oldpath (type: PT_FSRELPATH) */
	put_str(s, (void *)s->args[1], true);
	/* Parameter 4: newdirfd (type: PT_FD) */
	put_s64(s, (int)s->args[2]);
	/* Parameter 5: newpath (type: PT_FSRELPATH) */
	put_str(s, (void *)s->args[3], true);
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_mkdir(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (!(type & 1)) {
		/* Parameter 1: mode (type: PT_UINT32) */
		put_u32(s, s->args[1] & 07777);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		put_s64(s, s->ret);
		/* Parameter 2: path (type: PT_FSPATH) */
		put_str(s, (void *)s->args[0], true);
	}
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_memfd_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: fd (type: PT_FD) */
	put_s64(s, s->ret);
	/* Parameter 2: name (type: PT_CHARBUF) */
	put_str(s, (void *)s->args[0], true);
	/* Parameter 3: flags (type: PT_FLAGS32): MFD_* == PPM_MFD_* */
	put_u32(s, s->args[1] & PPM_MFD_MASK);
	ev_submit(s);
	return 0;
}

/* chdir / chroot exit: res, path; fchdir: fd (enter), res (exit). */
__noinline int fb_fill_chdir(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (type == PPME_SYSCALL_FCHDIR_E) {
		/* Parameter 1: fd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		put_s64(s, s->ret);
		if (type != PPME_SYSCALL_FCHDIR_X)
			/* Parameter 2: path (type: PT_CHARBUF; chroot: PT_FSPATH) */
			put_str(s, (void *)s->args[0], true);
	}
	ev_submit(s);
	return 0;
}

/* symlink / symlinkat / link / linkat exit. */
__noinline int fb_fill_link_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	switch (type) {
	case PPME_SYSCALL_SYMLINK_X:
		/* Parameter 2: target (type: PT_CHARBUF) */
		put_str(s, (void *)s->args[0], true);
		/* Parameter 3: linkpath (type: PT_FSPATH) */
		put_str(s, (void *)s->args[1], true);
		break;
	case PPME_SYSCALL_SYMLINKAT_X:
		/* Parameter 2: target (type: PT_CHARBUF) */
		put_str(s, (void *)s->args[0], true);
		/* Parameter 3: linkdirfd (type: PT_FD) */
		put_s64(s, (int)s->args[1]);
		/* Parameter 4: linkpath (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[2], true);
		break;
	case PPME_SYSCALL_LINK_2_X:
		/* Parameter 2: oldpath (type: PT_FSPATH) */
		put_str(s, (void *)s->args[0], true);
		/* Parameter 3: newpath (type: PT_FSPATH) */
		put_str(s, (void *)s->args[1], true);
		break;
	default:	/* linkat */
		/* Parameter 2: olddir (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 3: oldpath (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[1], true);
		/* Parameter 4: newdir (type: PT_FD) */
		put_s64(s, (int)s->args[2]);
		/* Parameter 5: newpath (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[3], true);
		/* Parameter 6: flags (type: PT_FLAGS32): AT_* == PPM_* */
		put_u32(s, s->args[4] & (FB_AT_SYMLINK_FOLLOW | FB_AT_EMPTY_PATH));
		break;
	}
	ev_submit(s);
	return 0;
}

/* unlink / rmdir / rename / renameat2 exit (unlinkat, renameat have theirs). */
__noinline int fb_fill_path_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	switch (type) {
	case PPME_SYSCALL_UNLINK_2_X:
	case PPME_SYSCALL_RMDIR_2_X:
		/* Parameter 2: path (type: PT_FSPATH) */
		put_str(s, (void *)s->args[0], true);
		break;
	case PPME_SYSCALL_RENAME_X:
		/* Parameter 2: oldpath (type: PT_FSPATH) */
		put_str(s, (void *)s->args[0], true);
		/* Parameter 3: newpath (type: PT_FSPATH) */
		put_str(s, (void *)s->args[1], true);
		break;
	default:	/* renameat2 */
		/* Parameter 2: olddirfd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 3: oldpath (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[1], true);
		/* Parameter 4: newdirfd (type: PT_FD) */
		put_s64(s, (int)s->args[2]);
		/* Parameter 5: newpath (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[3], true);
		/* Parameter 6: flags (type: PT_FLAGS32): RENAME_* == PPM_* */
		put_u32(s, s->args[4] & 0x7);
		break;
	}
	ev_submit(s);
	return 0;
}

/* chmod / fchmod / fchmodat exit; the mode bits are the table's. */
__noinline int fb_fill_chmod_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u32 mode;

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	if (type == PPME_SYSCALL_FCHMODAT_X) {
		/* Parameter 2: dirfd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 3: filename (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[1], true);
		mode = s->args[2];
	} else {
		if (type == PPME_SYSCALL_FCHMOD_X)
			/* Parameter 2: fd (type: PT_FD) */
			put_s64(s, (int)s->args[0]);
		else
			/* Parameter 2: filename (type: PT_FSPATH) */
			put_str(s, (void *)s->args[0], true);
		mode = s->args[1];
	}
	/* Parameter 3/4: mode (type: PT_MODE) */
	put_u32(s, mode & 07777);
	ev_submit(s);
	return 0;
}

/* unshare / setns, enter and exit. */
__noinline int fb_fill_ns(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (type & 1) {
		/* Parameter 1: res (type: PT_ERRNO) */
		put_s64(s, s->ret);
	} else if (type == PPME_SYSCALL_SETNS_E) {
		/* Parameter 1: fd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 2: nstype (type: PT_FLAGS32) */
		put_u32(s, clone_flags_to_ppm(s->args[1]));
	} else {
		/* Parameter 1: flags (type: PT_FLAGS32) */
		put_u32(s, clone_flags_to_ppm(s->args[0]));
	}
	ev_submit(s);
	return 0;
}

/* init_module / finit_module exit. */
__noinline int fb_fill_module_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u32 len;

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	if (type == PPME_SYSCALL_INIT_MODULE_X) {
		len = s->args[1] < fb_cfg.snaplen ? s->args[1] : fb_cfg.snaplen;
		/* Parameter 2: img (type: PT_BYTEBUF), up to snaplen bytes */
		put_user_bytes(s, (void *)s->args[0], len);
		/* Parameter 3: length (type: PT_UINT64) */
		put_u64(s, s->args[1]);
		/* Parameter 4: uargs (type: PT_CHARBUF) */
		put_str(s, (void *)s->args[2], true);
	} else {
		/* Parameter 2: fd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 3: uargs (type: PT_CHARBUF) */
		put_str(s, (void *)s->args[1], true);
		/* Parameter 4: flags (type: PT_FLAGS32): MODULE_INIT_* == PPM_* */
		put_u32(s, s->args[2] & 0x7);
	}
	ev_submit(s);
	return 0;
}

/* bpf enter: cmd; exit: fd, cmd. */
__noinline int fb_fill_bpf(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (type & 1) {
		/* Parameter 1: fd (type: PT_FD) */
		put_s64(s, s->ret);
		/* Parameter 2: cmd (type: PT_ENUMFLAGS32) */
		put_u32(s, s->args[0]);
	} else {
		/* Parameter 1: cmd (type: PT_INT64) */
		put_s64(s, (int)s->args[0]);
	}
	ev_submit(s);
	return 0;
}

/* mount enter: flags; exit: res, dev, dir, type. */
__noinline int fb_fill_mount(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u64 flags;

	if (!s)
		return 0;
	ev_begin(s, type);
	if (!(type & 1)) {
		flags = s->args[3];
		/* the old MS_MGC_VAL magic in the upper half is no flag */
		if ((flags & FB_MS_MGC_MSK) == FB_MS_MGC_VAL)
			flags &= ~FB_MS_MGC_MSK;
		/* Parameter 1: flags (type: PT_FLAGS32): MS_* == PPM_MS_* */
		put_u32(s, flags);
		ev_submit(s);
		return 0;
	}
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: dev (type: PT_CHARBUF) */
	put_str(s, (void *)s->args[0], true);
	/* Parameter 3: dir (type: PT_FSPATH) */
	put_str(s, (void *)s->args[1], true);
	/* Parameter 4: type (type: PT_CHARBUF) */
	put_str(s, (void *)s->args[2], true);
	ev_submit(s);
	return 0;
}

__noinline int fb_fill_ptrace(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u32 req;

	if (!s)
		return 0;
	req = ptrace_req_to_ppm(s->args[0]);
	ev_begin(s, type);
	if (!(type & 1)) {
		/* Parameter 1: request (type: PT_FLAGS16) */
		put_u16(s, req);
		/* Parameter 2: pid (type: PT_PID) */
		put_s64(s, (int)s->args[1]);
		ev_submit(s);
		return 0;
	}
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: addr (type: PT_DYN): index, then u64 */
	if (slot(s)) {
		raw_u8(s, PPM_PTRACE_IDX_UINT64);
		raw_u64(s, s->ret < 0 ? 0 : s->args[2]);
		put_len(s, 9);
	}
	/* Parameter 3: data (type: PT_DYN) */
	if (slot(s)) {
		__u64 v = s->args[3];

		if (s->ret < 0) {
			v = 0;
		} else if (req == PPM_PTRACE_PEEKTEXT ||
			   req == PPM_PTRACE_PEEKDATA ||
			   req == PPM_PTRACE_PEEKUSR) {
			if (bpf_probe_read_user(&v, sizeof(v), (void *)s->args[3]))
				v = 0;
		} else if (req == PPM_PTRACE_CONT ||
			   req == PPM_PTRACE_SINGLESTEP ||
			   req == PPM_PTRACE_DETACH ||
			   req == PPM_PTRACE_SYSCALL) {
			raw_u8(s, PPM_PTRACE_IDX_SIGTYPE);
			raw_u8(s, v);
			put_len(s, 2);
			goto out;
		}
		raw_u8(s, PPM_PTRACE_IDX_UINT64);
		raw_u64(s, v);
		put_len(s, 9);
	}
out:
	ev_submit(s);
	return 0;
}

/* clone / clone3 / fork / vfork exit, in parent and child. */
__noinline int fb_fill_clone_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	__u64 cflags;
	__u32 flags;

	if (!s)
		return 0;
	switch (type) {
	case PPME_SYSCALL_FORK_20_X:
		cflags = FB_SIGCHLD;
		break;
	case PPME_SYSCALL_VFORK_20_X:
		cflags = FB_CLONE_VM | FB_CLONE_VFORK | FB_SIGCHLD;
		break;
	case PPME_SYSCALL_CLONE3_X: {
		__u64 f = 0;

		/* struct clone_args starts with its u64 flags */
		if (bpf_probe_read_user(&f, sizeof(f), (void *)s->args[0]))
			count_fault();
		cflags = f;
		break;
	}
	default:
		cflags = s->args[0];
		break;
	}
	flags = clone_flags_to_ppm(cflags);
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_PID) */
	put_s64(s, s->ret);
	/* Parameters 2-15: exe .. cgroups */
	fb_put_proc_common(0);
	/* Parameter 16: flags (type: PT_FLAGS32) */
	put_u32(s, flags);
	/* Parameter 17: uid (type: PT_UINT32) */
	put_u32(s, BPF_CORE_READ(t, cred, euid.val));
	/* Parameter 18: gid (type: PT_UINT32) */
	put_u32(s, BPF_CORE_READ(t, cred, egid.val));
	/* Parameter 19: vtid (type: PT_PID) */
	put_s64(s, pid_vnr(BPF_CORE_READ(t, thread_pid)));
	/* Parameter 20: vpid (type: PT_PID) */
	put_s64(s, pid_vnr(BPF_CORE_READ(t, group_leader, thread_pid)));
	/* Parameter 21: pidns_init_start_ts (type: PT_UINT64) */
	put_u64(s, pidns_init_start(t));
	ev_submit(s);
	return 0;
}

/* execve enter: filename; execveat enter: dirfd, pathname, flags. */
__noinline int fb_fill_execve_e(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (type == PPME_SYSCALL_EXECVEAT_E) {
		/* Parameter 1: dirfd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 2: pathname (type: PT_FSRELPATH) */
		put_str(s, (void *)s->args[1], true);
		/* Parameter 3: flags (type: PT_FLAGS32) */
		put_u32(s, execveat_flags_to_ppm(s->args[4]));
	} else {
		/* Parameter 1: filename (type: PT_FSPATH) */
		put_str(s, (void *)s->args[0], true);
	}
	ev_submit(s);
	return 0;
}

/* execve / execveat exit. */
__noinline int fb_fill_execve_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();
	struct file *exe;
	struct inode *ino;
	__u32 flags = 0;
	__u64 ctime, mtime;

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameters 2-15: exe .. cgroups (after a failed exec the old
	 * image's: the caller's process is unchanged) */
	fb_put_proc_common(1);
	/* Parameter 16: env (type: PT_BYTEBUF) */
	fb_put_env();
	/* Parameter 17: tty (type: PT_UINT32) */
	{
		struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
		__u32 dev = 0;

		if (tty) {
			__u32 major = BPF_CORE_READ(tty, driver, major);
			__u32 minor = BPF_CORE_READ(tty, driver, minor_start) +
				      BPF_CORE_READ(tty, index);
			dev = (major << 20) | minor;
		}
		put_u32(s, dev);
	}
	/* Parameter 18: vpgid (type: PT_PID) */
	put_s64(s, pid_vnr(BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID])));
	/* Parameter 19: loginuid (type: PT_UID) */
	put_u32(s, BPF_CORE_READ(t, loginuid.val));
	exe = BPF_CORE_READ(t, mm, exe_file);
	ino = exe ? BPF_CORE_READ(exe, f_inode) : NULL;
	if (ino) {
		__u32 mode = BPF_CORE_READ(ino, i_mode);
		__u32 euid = BPF_CORE_READ(t, cred, euid.val);
		__u32 egid = BPF_CORE_READ(t, cred, egid.val);

		/* an unlinked executable: memfd or deleted file */
		if (BPF_CORE_READ(ino, __i_nlink) == 0)
			flags |= PPM_EXE_FROM_MEMFD;
		/* on overlayfs: written after the image (container) was
		 * built, or still the image's own */
		flags |= PPM_EXE_LAYER(overlay_layer(ino));
		if (euid == 0 || (mode & FB_S_IWOTH) ||
		    ((mode & FB_S_IWUSR) && BPF_CORE_READ(ino, i_uid.val) == euid) ||
		    ((mode & FB_S_IWGRP) && BPF_CORE_READ(ino, i_gid.val) == egid))
			flags |= PPM_EXE_WRITABLE;
	}
	/* Parameter 20: flags (type: PT_FLAGS32) */
	put_u32(s, flags);
	/* Parameter 21: cap_inheritable (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, cred, cap_inheritable.val));
	/* Parameter 22: cap_permitted (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, cred, cap_permitted.val));
	/* Parameter 23: cap_effective (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, cred, cap_effective.val));
	/* Parameter 24: exe_ino (type: PT_UINT64) */
	put_u64(s, ino ? BPF_CORE_READ(ino, i_ino) : 0);
	ctime = 0;
	mtime = 0;
	if (ino) {
		/* nsec < 2^30: higher bits are flags (I_CTIME_QUERIED) */
		ctime = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ULL +
			(BPF_CORE_READ(ino, i_ctime_nsec) & 0x3fffffff);
		mtime = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ULL +
			(BPF_CORE_READ(ino, i_mtime_nsec) & 0x3fffffff);
	}
	/* Parameter 25: exe_ino_ctime (type: PT_ABSTIME) */
	put_u64(s, ctime);
	/* Parameter 26: exe_ino_mtime (type: PT_ABSTIME) */
	put_u64(s, mtime);
	/* Parameter 27: uid (type: PT_UID) */
	put_u32(s, BPF_CORE_READ(t, cred, euid.val));
	/* Parameter 28: trusted_exepath (type: PT_FSPATH) */
	if (exe)
		put_path(s, BPF_CORE_READ(exe, f_path.dentry),
			 BPF_CORE_READ(exe, f_path.mnt));
	else
		put_empty(s);
	ev_submit(s);
	return 0;
}

/* setuid / setgid / setresuid / setresgid enter: the ids asked for. */
__noinline int fb_fill_setid_e(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: uid / gid / ruid / rgid (type: PT_UID / PT_GID) */
	put_u32(s, s->args[0]);
	if (type == PPME_SYSCALL_SETRESUID_E ||
	    type == PPME_SYSCALL_SETRESGID_E) {
		/* Parameter 2: euid / egid (type: PT_UID / PT_GID) */
		put_u32(s, s->args[1]);
		/* Parameter 3: suid / sgid (type: PT_UID / PT_GID) */
		put_u32(s, s->args[2]);
	}
	ev_submit(s);
	return 0;
}

/* listen enter: fd, backlog. */
__noinline int fb_fill_listen_e(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: fd (type: PT_FD) */
	put_s64(s, (int)s->args[0]);
	/* Parameter 2: backlog (type: PT_INT32) */
	put_u32(s, s->args[1]);
	ev_submit(s);
	return 0;
}

/* capset exit: res and the task's capability sets after the call. */
__noinline int fb_fill_capset_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	struct task_struct *t = current_task();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: cap_inheritable (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, cred, cap_inheritable.val));
	/* Parameter 3: cap_permitted (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, cred, cap_permitted.val));
	/* Parameter 4: cap_effective (type: PT_UINT64) */
	put_u64(s, BPF_CORE_READ(t, cred, cap_effective.val));
	ev_submit(s);
	return 0;
}

/* prctl exit: res, option (PR_* == PPM_PR_*), arg2 as string or int. */
__noinline int fb_fill_prctl_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__u32 option;
	__s32 reaper = 0;

	if (!s)
		return 0;
	option = s->args[0];
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: option (type: PT_ENUMFLAGS32) */
	put_u32(s, option);
	switch (option) {
	case FB_PR_SET_NAME:
	case FB_PR_GET_NAME:
		/* Parameter 3: arg2_str (type: PT_CHARBUF), a comm */
		put_str_max(s, (void *)s->args[1], true, FB_TASK_COMM_LEN);
		/* Parameter 4: arg2_int (type: PT_INT64) */
		put_s64(s, 0);
		break;
	case FB_PR_GET_CHILD_SUBREAPER:
		/* Parameter 3: arg2_str (type: PT_CHARBUF) */
		put_empty(s);
		if (s->ret == 0 &&
		    bpf_probe_read_user(&reaper, sizeof(reaper),
					(void *)s->args[1]))
			count_fault();
		/* Parameter 4: arg2_int (type: PT_INT64), the int read back */
		put_s64(s, reaper);
		break;
	default:
		/* Parameter 3: arg2_str (type: PT_CHARBUF) */
		put_empty(s);
		/* Parameter 4: arg2_int (type: PT_INT64) */
		put_s64(s, s->args[1]);
		break;
	}
	ev_submit(s);
	return 0;
}

/* O_CLOEXEC / O_NONBLOCK / O_DIRECT (pipe2, eventfd2) -> PPM_O_*. */
static __always_inline __u32 fd_flags_to_ppm(__u64 flags)
{
	__u32 res = 0;

	if (flags & FB_O_CLOEXEC)
		res |= PPM_O_CLOEXEC;
	if (flags & FB_O_NONBLOCK)
		res |= PPM_O_NONBLOCK;
	if (flags & FB_O_DIRECT)
		res |= PPM_O_DIRECT;
	return res;
}

/* Inode number of an fd's file (0: none). */
static __always_inline __u64 fd_ino(__s64 fd)
{
	struct file *f = fd_file(current_task(), fd);

	return f ? BPF_CORE_READ(f, f_inode, i_ino) : 0;
}

/* The int[2] a pipe / socketpair wrote back ({-1, -1} on failure). */
static __always_inline void read_fd_pair(struct fb_scratch *s, __u64 uptr,
					 __s32 fds[2])
{
	fds[0] = -1;
	fds[1] = -1;
	if (s->ret != 0)
		return;
	if (bpf_probe_read_user(fds, 2 * sizeof(__s32), (void *)uptr)) {
		count_fault();
		fds[0] = -1;
		fds[1] = -1;
	}
}

/* pipe / pipe2 exit: res, fd1, fd2, ino[, flags]. */
__noinline int fb_fill_pipe_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__s32 fds[2];
	__u64 ino;

	if (!s)
		return 0;
	read_fd_pair(s, s->args[0], fds);
	ino = fds[0] >= 0 ? fd_ino(fds[0]) : 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: fd1 (type: PT_FD) */
	put_s64(s, fds[0]);
	/* Parameter 3: fd2 (type: PT_FD) */
	put_s64(s, fds[1]);
	/* Parameter 4: ino (type: PT_UINT64) */
	put_u64(s, ino);
	if (type == PPME_SYSCALL_PIPE2_X)
		/* Parameter 5: flags (type: PT_FLAGS32) */
		put_u32(s, fd_flags_to_ppm(s->args[1]));
	ev_submit(s);
	return 0;
}

/* socketpair exit: res, fd1, fd2, source and peer (kernel socket ids). */
__noinline int fb_fill_socketpair_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	__s32 fds[2];
	__u64 source = 0, peer = 0;

	if (!s)
		return 0;
	read_fd_pair(s, s->args[3], fds);
	if (fds[0] >= 0) {
		struct file *f = fd_file(current_task(), fds[0]);

		if (f) {
			struct socket *sock = BPF_CORE_READ(f, private_data);
			struct sock *sk = BPF_CORE_READ(sock, sk);

			source = (__u64)sk;
			peer = (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer);
		}
	}
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: fd1 (type: PT_FD) */
	put_s64(s, fds[0]);
	/* Parameter 3: fd2 (type: PT_FD) */
	put_s64(s, fds[1]);
	/* Parameter 4: source (type: PT_UINT64) */
	put_u64(s, source);
	/* Parameter 5: peer (type: PT_UINT64) */
	put_u64(s, peer);
	ev_submit(s);
	return 0;
}

/* eventfd enter: initval, flags (none: 0); eventfd2 enter: initval;
 * exits: res[, flags]. */
__noinline int fb_fill_eventfd(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	switch (type) {
	case PPME_SYSCALL_EVENTFD_E:
	case PPME_SYSCALL_EVENTFD2_E:
		/* Parameter 1: initval (type: PT_UINT64) */
		put_u64(s, (__u32)s->args[0]);
		if (type == PPME_SYSCALL_EVENTFD_E)
			/* Parameter 2: flags (type: PT_UINT32): eventfd has none */
			put_u32(s, 0);
		break;
	default:
		/* Parameter 1: res (type: PT_FD) */
		put_s64(s, s->ret);
		if (type == PPME_SYSCALL_EVENTFD2_X)
			/* Parameter 2: flags (type: PT_FLAGS16) */
			put_u16(s, fd_flags_to_ppm(s->args[1] & ~FB_O_DIRECT));
		break;
	}
	ev_submit(s);
	return 0;
}

/* Kernel F_* -> fcntl_commands value of the table. */
static __always_inline __u8 fcntl_cmd_to_ppm(__u32 cmd)
{
	switch (cmd) {
	case 0: return 1;	/* F_DUPFD */
	case 1: return 2;	/* F_GETFD */
	case 2: return 3;	/* F_SETFD */
	case 3: return 4;	/* F_GETFL */
	case 4: return 5;	/* F_SETFL */
	case 5: return 6;	/* F_GETLK (== F_GETLK64 on x86_64) */
	case 6: return 8;	/* F_SETLK */
	case 7: return 9;	/* F_SETLKW */
	case 8: return 10;	/* F_SETOWN */
	case 9: return 12;	/* F_GETOWN */
	case 10: return 13;	/* F_SETSIG */
	case 11: return 15;	/* F_GETSIG */
	case 15: return 21;	/* F_SETOWN_EX */
	case 16: return 22;	/* F_GETOWN_EX */
	case 36: return 30;	/* F_OFD_GETLK */
	case 37: return 31;	/* F_OFD_SETLK */
	case 38: return 32;	/* F_OFD_SETLKW */
	case 1024: return 23;	/* F_SETLEASE */
	case 1025: return 24;	/* F_GETLEASE */
	case 1026: return 27;	/* F_NOTIFY */
	case 1029: return 25;	/* F_CANCELLK */
	case 1030: return 26;	/* F_DUPFD_CLOEXEC */
	case 1031: return 28;	/* F_SETPIPE_SZ */
	case 1032: return 29;	/* F_GETPIPE_SZ */
	}
	return 0;		/* UNKNOWN */
}

/* fcntl enter: fd, cmd; exit: res, fd, cmd. */
__noinline int fb_fill_fcntl(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	if (type & 1)
		/* Parameter 1: res (type: PT_FD) */
		put_s64(s, s->ret);
	/* Parameter: fd (type: PT_FD) */
	put_s64(s, (int)s->args[0]);
	/* Parameter: cmd (type: PT_ENUMFLAGS8) */
	put_u8(s, fcntl_cmd_to_ppm(s->args[1]));
	ev_submit(s);
	return 0;
}

/* mkdirat / mknod / mknodat exit. */
__noinline int fb_fill_mknod_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	bool at = type != PPME_SYSCALL_MKNOD_X;
	__u32 a = at ? 1 : 0;

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	if (at)
		/* Parameter 2: dirfd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
	/* Parameter: path (type: PT_FSPATH / PT_FSRELPATH) */
	put_str(s, (void *)s->args[a], true);
	if (type == PPME_SYSCALL_MKDIRAT_X) {
		/* Parameter 4: mode (type: PT_UINT32) */
		put_u32(s, s->args[2]);
	} else {
		/* Parameter: mode (type: PT_MODE): S_IF* and permission bits
		 * are the table's */
		put_u32(s, s->args[a + 1] & 0177777);
		/* Parameter: dev (type: PT_UINT32), as the caller encoded it */
		put_u32(s, s->args[a + 2]);
	}
	ev_submit(s);
	return 0;
}

/* pidfd_open / pidfd_getfd exit. */
__noinline int fb_fill_pidfd_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();

	if (!s)
		return 0;
	ev_begin(s, type);
	/* Parameter 1: fd (type: PT_FD) */
	put_s64(s, s->ret);
	if (type == PPME_SYSCALL_PIDFD_OPEN_X) {
		/* Parameter 2: pid (type: PT_PID) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 3: flags (type: PT_FLAGS32): PIDFD_NONBLOCK */
		put_u32(s, (s->args[1] & FB_O_NONBLOCK) ? 1 : 0);
	} else {
		/* Parameter 2: pid_fd (type: PT_FD) */
		put_s64(s, (int)s->args[0]);
		/* Parameter 3: target_fd (type: PT_FD) */
		put_s64(s, (int)s->args[1]);
		/* Parameter 4: flags (type: PT_UINT32) */
		put_u32(s, s->args[2]);
	}
	ev_submit(s);
	return 0;
}

/* Kernel IORING_SETUP_* -> io_uring_setup_flags of the table (which
 * has IORING_SQ_NEED_WAKEUP at bit 2: the later kernel bits shift). */
static __always_inline __u32 io_uring_flags_to_ppm(__u32 flags)
{
	return (flags & (FB_IORING_SETUP_IOPOLL | FB_IORING_SETUP_SQPOLL)) |
	       ((flags & 0x7c) << 1);
}

/* io_uring_setup exit: res, entries and the params the kernel wrote. */
__noinline int fb_fill_io_uring_setup_x(__u32 type)
{
	struct fb_scratch *s = scratch_get();
	/* struct io_uring_params: sq_entries, cq_entries, flags,
	 * sq_thread_cpu, sq_thread_idle, features (u32 each) */
	__u32 p[6] = {};

	if (!s)
		return 0;
	if (bpf_probe_read_user(p, sizeof(p), (void *)s->args[1])) {
		count_fault();
		__builtin_memset(p, 0, sizeof(p));
	}
	ev_begin(s, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	put_s64(s, s->ret);
	/* Parameter 2: entries (type: PT_UINT32) */
	put_u32(s, s->args[0]);
	/* Parameter 3: sq_entries (type: PT_UINT32) */
	put_u32(s, p[0]);
	/* Parameter 4: cq_entries (type: PT_UINT32) */
	put_u32(s, p[1]);
	/* Parameter 5: flags (type: PT_FLAGS32) */
	put_u32(s, io_uring_flags_to_ppm(p[2]));
	/* Parameter 6: sq_thread_cpu (type: PT_UINT32) */
	put_u32(s, p[3]);
	/* Parameter 7: sq_thread_idle (type: PT_UINT32) */
	put_u32(s, p[4]);
	/* Parameter 8: features (type: PT_FLAGS32): IORING_FEAT_* == PPM */
	put_u32(s, p[5] & FB_IORING_FEAT_MASK);
	ev_submit(s);
	return 0;
}

/* ---- dispatch ------------------------------------------------------- */

/* `btf`: a tp_btf program, which may load from the trusted current task
 * directly instead of through a bpf_probe_read_kernel call. */
static __always_inline bool skip_current(bool btf)
{
	__u32 status;

	if ((bpf_get_current_pid_tgid() >> 32) == fb_cfg.falco_tgid)
		return true;
	if (btf)
		status = bpf_get_current_task_btf()->thread_info.status;
	else
		status = BPF_CORE_READ(current_task(), thread_info.status);
	/* 32-bit syscalls use another numbering: not handled yet */
	return status & FB_TS_COMPAT;
}

static __always_inline int dispatch(__u32 type)
{
	switch (type) {
	case PPME_SYSCALL_OPEN_E:
	case PPME_SYSCALL_OPEN_X:
	case PPME_SYSCALL_OPENAT_2_E:
	case PPME_SYSCALL_OPENAT_2_X:
	case PPME_SYSCALL_OPENAT2_E:
	case PPME_SYSCALL_OPENAT2_X:
	case PPME_SYSCALL_CREAT_E:
	case PPME_SYSCALL_CREAT_X:
		return fb_fill_open(type);
	case PPME_SYSCALL_CLOSE_E:
	case PPME_SOCKET_BIND_E:
	case PPME_SYSCALL_DUP_1_E:
	case PPME_SYSCALL_DUP2_E:
	case PPME_SYSCALL_DUP3_E:
		return fb_fill_fd_enter(type);
	case PPME_SYSCALL_CLOSE_X:
		return fb_fill_res(type);
	case PPME_SYSCALL_READ_E:
	case PPME_SYSCALL_READ_X:
	case PPME_SYSCALL_WRITE_E:
	case PPME_SYSCALL_WRITE_X:
		return fb_fill_rw(type);
	case PPME_SOCKET_SOCKET_E:
	case PPME_SOCKET_SOCKET_X:
		return fb_fill_socket(type);
	case PPME_SOCKET_BIND_X:
		return fb_fill_bind_x(type);
	case PPME_SOCKET_CONNECT_E:
	case PPME_SOCKET_CONNECT_X:
		return fb_fill_connect(type);
	case PPME_SOCKET_ACCEPT_5_E:
	case PPME_SOCKET_ACCEPT_5_X:
	case PPME_SOCKET_ACCEPT4_6_E:
	case PPME_SOCKET_ACCEPT4_6_X:
		return fb_fill_accept(type);
	case PPME_SYSCALL_DUP_1_X:
	case PPME_SYSCALL_DUP2_X:
	case PPME_SYSCALL_DUP3_X:
		return fb_fill_dup_x(type);
	case PPME_SYSCALL_UNLINKAT_2_E:
	case PPME_SYSCALL_RENAMEAT_E:
	case PPME_SYSCALL_MEMFD_CREATE_E:
	case PPME_SYSCALL_CLONE_20_E:
	case PPME_SYSCALL_CLONE3_E:
	case PPME_SYSCALL_FORK_20_E:
	case PPME_SYSCALL_VFORK_20_E:
	case PPME_SYSCALL_CHDIR_E:
	case PPME_SYSCALL_CHROOT_E:
	case PPME_SYSCALL_SYMLINK_E:
	case PPME_SYSCALL_SYMLINKAT_E:
	case PPME_SYSCALL_LINK_2_E:
	case PPME_SYSCALL_LINKAT_2_E:
	case PPME_SYSCALL_UNLINK_2_E:
	case PPME_SYSCALL_RENAME_E:
	case PPME_SYSCALL_RENAMEAT2_E:
	case PPME_SYSCALL_CHMOD_E:
	case PPME_SYSCALL_FCHMOD_E:
	case PPME_SYSCALL_FCHMODAT_E:
	case PPME_SYSCALL_INIT_MODULE_E:
	case PPME_SYSCALL_FINIT_MODULE_E:
	case PPME_SYSCALL_RMDIR_2_E:
	case PPME_SYSCALL_MKDIRAT_E:
	case PPME_SYSCALL_MKNOD_E:
	case PPME_SYSCALL_MKNODAT_E:
	case PPME_SYSCALL_PIPE_E:
	case PPME_SYSCALL_PIPE2_E:
	case PPME_SYSCALL_CAPSET_E:
	case PPME_SYSCALL_PRCTL_E:
	case PPME_SYSCALL_PIDFD_OPEN_E:
	case PPME_SYSCALL_PIDFD_GETFD_E:
	case PPME_SYSCALL_IO_URING_SETUP_E:
	case PPME_SYSCALL_SETSID_E:
		return fb_fill_empty(type);
	case PPME_SYSCALL_SETUID_E:
	case PPME_SYSCALL_SETGID_E:
	case PPME_SYSCALL_SETRESUID_E:
	case PPME_SYSCALL_SETRESGID_E:
		return fb_fill_setid_e(type);
	case PPME_SYSCALL_SETUID_X:
	case PPME_SYSCALL_SETGID_X:
	case PPME_SYSCALL_SETRESUID_X:
	case PPME_SYSCALL_SETRESGID_X:
	case PPME_SOCKET_LISTEN_X:
	case PPME_SYSCALL_SETSID_X:	/* res: the new session id (PT_PID) */
		return fb_fill_res(type);
	case PPME_SOCKET_LISTEN_E:
		return fb_fill_listen_e(type);
	case PPME_SYSCALL_CAPSET_X:
		return fb_fill_capset_x(type);
	case PPME_SYSCALL_PRCTL_X:
		return fb_fill_prctl_x(type);
	case PPME_SYSCALL_PIPE_X:
	case PPME_SYSCALL_PIPE2_X:
		return fb_fill_pipe_x(type);
	case PPME_SOCKET_SOCKETPAIR_E:
		return fb_fill_socket(type);
	case PPME_SOCKET_SOCKETPAIR_X:
		return fb_fill_socketpair_x(type);
	case PPME_SYSCALL_EVENTFD_E:
	case PPME_SYSCALL_EVENTFD_X:
	case PPME_SYSCALL_EVENTFD2_E:
	case PPME_SYSCALL_EVENTFD2_X:
		return fb_fill_eventfd(type);
	case PPME_SYSCALL_FCNTL_E:
	case PPME_SYSCALL_FCNTL_X:
		return fb_fill_fcntl(type);
	case PPME_SYSCALL_MKDIRAT_X:
	case PPME_SYSCALL_MKNOD_X:
	case PPME_SYSCALL_MKNODAT_X:
		return fb_fill_mknod_x(type);
	case PPME_SYSCALL_PIDFD_OPEN_X:
	case PPME_SYSCALL_PIDFD_GETFD_X:
		return fb_fill_pidfd_x(type);
	case PPME_SYSCALL_IO_URING_SETUP_X:
		return fb_fill_io_uring_setup_x(type);
	case PPME_SYSCALL_CHDIR_X:
	case PPME_SYSCALL_CHROOT_X:
	case PPME_SYSCALL_FCHDIR_E:
	case PPME_SYSCALL_FCHDIR_X:
		return fb_fill_chdir(type);
	case PPME_SYSCALL_SYMLINK_X:
	case PPME_SYSCALL_SYMLINKAT_X:
	case PPME_SYSCALL_LINK_2_X:
	case PPME_SYSCALL_LINKAT_2_X:
		return fb_fill_link_x(type);
	case PPME_SYSCALL_UNLINK_2_X:
	case PPME_SYSCALL_RMDIR_2_X:
	case PPME_SYSCALL_RENAME_X:
	case PPME_SYSCALL_RENAMEAT2_X:
		return fb_fill_path_x(type);
	case PPME_SYSCALL_CHMOD_X:
	case PPME_SYSCALL_FCHMOD_X:
	case PPME_SYSCALL_FCHMODAT_X:
		return fb_fill_chmod_x(type);
	case PPME_SYSCALL_UNSHARE_E:
	case PPME_SYSCALL_UNSHARE_X:
	case PPME_SYSCALL_SETNS_E:
	case PPME_SYSCALL_SETNS_X:
		return fb_fill_ns(type);
	case PPME_SYSCALL_INIT_MODULE_X:
	case PPME_SYSCALL_FINIT_MODULE_X:
		return fb_fill_module_x(type);
	case PPME_SYSCALL_BPF_2_E:
	case PPME_SYSCALL_BPF_2_X:
		return fb_fill_bpf(type);
	case PPME_SYSCALL_MOUNT_E:
	case PPME_SYSCALL_MOUNT_X:
		return fb_fill_mount(type);
	case PPME_SYSCALL_UNLINKAT_2_X:
		return fb_fill_unlinkat_x(type);
	case PPME_SYSCALL_RENAMEAT_X:
		return fb_fill_renameat_x(type);
	case PPME_SYSCALL_MKDIR_2_E:
	case PPME_SYSCALL_MKDIR_2_X:
		return fb_fill_mkdir(type);
	case PPME_SYSCALL_MEMFD_CREATE_X:
		return fb_fill_memfd_x(type);
	case PPME_SYSCALL_PTRACE_E:
	case PPME_SYSCALL_PTRACE_X:
		return fb_fill_ptrace(type);
	case PPME_SYSCALL_CLONE_20_X:
	case PPME_SYSCALL_CLONE3_X:
	case PPME_SYSCALL_FORK_20_X:
	case PPME_SYSCALL_VFORK_20_X:
		return fb_fill_clone_x(type);
	case PPME_SYSCALL_EXECVE_19_E:
	case PPME_SYSCALL_EXECVEAT_E:
		return fb_fill_execve_e(type);
	case PPME_SYSCALL_EXECVE_19_X:
	case PPME_SYSCALL_EXECVEAT_X:
		return fb_fill_execve_x(type);
	default:
		/* a dedicated event this probe does not fill yet */
		return fb_fill_generic(PPME_GENERIC_E + (type & 1));
	}
}

/*
 * The syscall's registers.  tp_btf programs get regs as a trusted BTF
 * pointer and load them directly (a plain load, fault-protected by the
 * JIT); raw_tracepoint ones must go through bpf_probe_read_kernel, a helper
 * call per register: ~20 ns each, six per recorded syscall.  `btf` is a
 * constant at each call site, so each program keeps one of the two.
 */
#define FB_REG(regs, r, btf) ((btf) ? (regs)->r : BPF_CORE_READ(regs, r))

static __always_inline int on_sys(struct pt_regs *regs, long id, long ret,
				  bool exit, bool btf)
{
	struct fb_scratch *s;
	struct fb_counters *c;
	__u32 nr = id, type;
	__u8 *on;

	if (id < 0 || id >= FB_SYSCALL_NR_MAX)
		return 0;
	on = bpf_map_lookup_elem(&fb_interest, &nr);
	if (!on || !*on) {
		c = counters_get();
		if (c)
			c->n_filtered++;
		return 0;
	}
	if (skip_current(btf))
		return 0;
	s = scratch_get();
	if (!s) {
		c = counters_get();
		if (c)
			c->n_drops_scratch++;
		return 0;
	}
	s->args[0] = FB_REG(regs, di, btf);
	s->args[1] = FB_REG(regs, si, btf);
	s->args[2] = FB_REG(regs, dx, btf);
	s->args[3] = FB_REG(regs, r10, btf);
	s->args[4] = FB_REG(regs, r8, btf);
	s->args[5] = FB_REG(regs, r9, btf);
	s->ret = ret;
	s->nr = nr;
	type = fb_cfg.routes[nr & (FB_SYSCALL_NR_MAX - 1)].enter_event;
	return dispatch(type + exit);
}

/* ---- sched_process_exit: procexit ----------------------------------- */

static __always_inline int on_exit(struct task_struct *t)
{
	struct fb_scratch *s;
	__s64 code;
	__u32 sig;

	if ((bpf_get_current_pid_tgid() >> 32) == fb_cfg.falco_tgid)
		return 0;
	s = scratch_get();
	if (!s)
		return 0;
	code = BPF_CORE_READ(t, exit_code);
	sig = code & 0x7f;
	ev_begin(s, PPME_PROCEXIT_1_E);
	/* Parameter 1: status (type: PT_ERRNO) */
	put_s64(s, code);
	/* Parameter 2: ret (type: PT_ERRNO): the exit status proper */
	put_s64(s, (code >> 8) & 0xff);
	/* Parameter 3: sig (type: PT_SIGTYPE) */
	put_u8(s, sig);
	/* Parameter 4: core (type: PT_UINT8) */
	put_u8(s, (code & 0x80) ? 1 : 0);
	/* Parameter 5: reaper_tid (type: PT_PID): found by userspace */
	put_s64(s, 0);
	ev_submit(s);
	return 0;
}

/* ---- attach points: tp_btf, with raw_tracepoint twins --------------- */

SEC("tp_btf/sys_enter")
int BPF_PROG(fb_sys_enter_btf, struct pt_regs *regs, long id)
{
	return on_sys(regs, id, 0, false, true);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fb_sys_exit_btf, struct pt_regs *regs, long ret)
{
	return on_sys(regs, regs->orig_ax, ret, true, true);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(fb_proc_exit_btf, struct task_struct *t)
{
	return on_exit(t);
}

/* fork / exec are seen at sys_exit on x86_64; kept attached so that the
 * state engine's needs can grow here without a new attach point. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(fb_proc_fork_btf, struct task_struct *parent,
	     struct task_struct *child)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(fb_proc_exec_btf, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int fb_sys_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_sys((struct pt_regs *)ctx->args[0], ctx->args[1], 0, false,
		      false);
}

SEC("raw_tracepoint/sys_exit")
int fb_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	return on_sys(regs, BPF_CORE_READ(regs, orig_ax), ctx->args[1], true,
		      false);
}

SEC("raw_tracepoint/sched_process_exit")
int fb_proc_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exit((struct task_struct *)ctx->args[0]);
}

SEC("raw_tracepoint/sched_process_fork")
int fb_proc_fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int fb_proc_exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}
