// SPDX-License-Identifier: GPL-2.0-only
/*
 * One filler per event: store the params in the event table's order
 * (driver/event_table.yaml), with the encodings and PPM flag conversions
 * of the eBPF probe (driver/bpf/falco.bpf.c) -- the same bytes for the
 * same syscall.  A record always carries the table's nparams; params a
 * filler does not store go out empty (fk_evt_submit()).
 *
 * Runs in the tracepoint, preemption disabled: user memory is read with
 * the *_nofault helpers, kernel objects under RCU, nothing sleeps.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/audit.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/kdev_t.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/pid_namespace.h>
#include <linux/prctl.h>
#include <linux/ptrace.h>
#include <linux/tty.h>
#include <linux/version.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/af_unix.h>
#include <uapi/linux/fcntl.h>
#include <uapi/linux/openat2.h>
#include <uapi/linux/memfd.h>
#include <uapi/linux/magic.h>

#include "record.h"
#include "falco_events.h"
#include "falco_bpf.h"

#define FK_CLONE_PIDFD		0x00001000
#define FK_MAX_CGROUP_SUBSYS	16
#define FK_CGROUPS_MAX		8192

/* ---- flag conversions (kernel -> PPM, values from the event table) -- */

static u32 open_flags_to_ppm(u32 flags)
{
	u32 res = 0;

	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		res |= PPM_O_RDONLY;
		break;
	case O_WRONLY:
		res |= PPM_O_WRONLY;
		break;
	case O_RDWR:
		res |= PPM_O_RDWR;
		break;
	}
	if (flags & O_CREAT)
		res |= PPM_O_CREAT;
	if (flags & O_APPEND)
		res |= PPM_O_APPEND;
	if (flags & O_DSYNC)
		res |= PPM_O_DSYNC;
	if (flags & O_EXCL)
		res |= PPM_O_EXCL;
	if (flags & O_NONBLOCK)
		res |= PPM_O_NONBLOCK;
	if (flags & __O_SYNC)
		res |= PPM_O_SYNC;
	if (flags & O_TRUNC)
		res |= PPM_O_TRUNC;
	if (flags & O_DIRECT)
		res |= PPM_O_DIRECT;
	if (flags & O_DIRECTORY)
		res |= PPM_O_DIRECTORY;
	if (flags & O_LARGEFILE)
		res |= PPM_O_LARGEFILE;
	if (flags & O_CLOEXEC)
		res |= PPM_O_CLOEXEC;
	if (flags & __O_TMPFILE)
		res |= PPM_O_TMPFILE;
	return res;
}

/* Mode is meaningful only when a file may be created. */
static u32 open_mode_to_ppm(u32 flags, u32 mode)
{
	if (!(flags & (O_CREAT | __O_TMPFILE)))
		return 0;
	return mode & 07777;
}

static u32 resolve_flags_to_ppm(u64 flags)
{
	u32 res = 0;

	if (flags & RESOLVE_BENEATH)
		res |= PPM_RESOLVE_BENEATH;
	if (flags & RESOLVE_IN_ROOT)
		res |= PPM_RESOLVE_IN_ROOT;
	if (flags & RESOLVE_NO_MAGICLINKS)
		res |= PPM_RESOLVE_NO_MAGICLINKS;
	if (flags & RESOLVE_NO_SYMLINKS)
		res |= PPM_RESOLVE_NO_SYMLINKS;
	if (flags & RESOLVE_NO_XDEV)
		res |= PPM_RESOLVE_NO_XDEV;
	if (flags & RESOLVE_CACHED)
		res |= PPM_RESOLVE_CACHED;
	return res;
}

static u32 execveat_flags_to_ppm(u64 flags)
{
	u32 res = 0;

	if (flags & AT_EMPTY_PATH)
		res |= PPM_EXVAT_AT_EMPTY_PATH;
	if (flags & AT_SYMLINK_NOFOLLOW)
		res |= PPM_EXVAT_AT_SYMLINK_NOFOLLOW;
	return res;
}

/* Kernel PTRACE_* request -> ptrace_requests value of the table. */
static u32 ptrace_req_to_ppm(u64 req)
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

static u32 clone_flags_to_ppm(u64 flags)
{
	static const struct { u64 k; u32 p; } map[] = {
		{ CLONE_FILES, PPM_CL_CLONE_FILES },
		{ CLONE_FS, PPM_CL_CLONE_FS },
		{ CLONE_IO, PPM_CL_CLONE_IO },
		{ CLONE_NEWIPC, PPM_CL_CLONE_NEWIPC },
		{ CLONE_NEWNET, PPM_CL_CLONE_NEWNET },
		{ CLONE_NEWNS, PPM_CL_CLONE_NEWNS },
		{ CLONE_NEWPID, PPM_CL_CLONE_NEWPID },
		{ CLONE_NEWUTS, PPM_CL_CLONE_NEWUTS },
		{ CLONE_PARENT, PPM_CL_CLONE_PARENT },
		{ CLONE_PARENT_SETTID, PPM_CL_CLONE_PARENT_SETTID },
		{ CLONE_PTRACE, PPM_CL_CLONE_PTRACE },
		{ CLONE_SIGHAND, PPM_CL_CLONE_SIGHAND },
		{ CLONE_SYSVSEM, PPM_CL_CLONE_SYSVSEM },
		{ CLONE_THREAD, PPM_CL_CLONE_THREAD },
		{ CLONE_UNTRACED, PPM_CL_CLONE_UNTRACED },
		{ CLONE_VM, PPM_CL_CLONE_VM },
		{ CLONE_NEWUSER, PPM_CL_CLONE_NEWUSER },
		{ CLONE_CHILD_CLEARTID, PPM_CL_CLONE_CHILD_CLEARTID },
		{ CLONE_CHILD_SETTID, PPM_CL_CLONE_CHILD_SETTID },
		{ CLONE_SETTLS, PPM_CL_CLONE_SETTLS },
		{ CLONE_VFORK, PPM_CL_CLONE_VFORK },
		{ CLONE_NEWCGROUP, PPM_CL_CLONE_NEWCGROUP },
	};
	u32 res = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (flags & map[i].k)
			res |= map[i].p;
	return res;
}

/* ---- composite params ---------------------------------------------- */

/* A path (as d_path(): up to the task's root): PT_FSPATH. */
static void put_path(struct fk_evt *e, const struct path *path)
{
	u32 room, n;
	char *p;
	u8 *dst;

	if (!fk_slot(e))
		return;
	room = min_t(u32, FK_MAX_STR, e->limit - e->pos);
	dst = fk_room(e, room);
	if (!dst)
		return;
	p = d_path(path, (char *)dst, room);
	if (IS_ERR(p)) {
		/* too long for what is left of the ring: drop, not cut */
		if (PTR_ERR(p) == -ENAMETOOLONG && room < FK_MAX_STR)
			e->overflow = true;
		else
			fk_put_len(e, 0);
		return;
	}
	n = (char *)dst + room - p;	/* with the NUL */
	memmove(dst, p, n);
	e->pos += n;
	fk_put_len(e, n);
}

/* The current working directory of the current task. */
static void put_cwd(struct fk_evt *e)
{
	struct fs_struct *fs = current->fs;
	struct path pwd;

	if (!fs) {
		fk_put_empty(e);
		return;
	}
	/* no reference taken: dentries and mounts are freed after RCU */
	rcu_read_lock();
	spin_lock(&fs->lock);
	pwd = fs->pwd;
	spin_unlock(&fs->lock);
	put_path(e, &pwd);
	rcu_read_unlock();
}

/* sockaddr from user memory: PT_SOCKADDR. */
static void put_sockaddr(struct fk_evt *e, unsigned long uaddr, u32 addrlen)
{
	u8 tmp[128] = {};
	u16 family;
	u32 start, n;

	if (!fk_slot(e))
		return;
	if (!uaddr || addrlen < 2) {
		fk_put_len(e, 0);
		return;
	}
	if (addrlen > sizeof(tmp))
		addrlen = sizeof(tmp);
	if (copy_from_user_nofault(tmp, (const void __user *)uaddr, addrlen)) {
		fk_count_fault(e);
		fk_put_len(e, 0);
		return;
	}
	family = get_unaligned((u16 *)tmp);
	start = e->pos;
	switch (family) {
	case AF_INET:
		fk_raw_u8(e, PPM_AF_INET);
		fk_raw_u32(e, get_unaligned((u32 *)&tmp[4]));
		fk_raw_u16(e, ntohs(get_unaligned((__be16 *)&tmp[2])));
		break;
	case AF_INET6:
		fk_raw_u8(e, PPM_AF_INET6);
		fk_raw(e, &tmp[8], 16);
		fk_raw_u16(e, ntohs(get_unaligned((__be16 *)&tmp[2])));
		break;
	case AF_UNIX: {
		/* abstract addresses start with a NUL: skip it */
		const char *path = (const char *)&tmp[tmp[2] ? 2 : 3];

		fk_raw_u8(e, PPM_AF_UNIX);
		n = strnlen(path, 108);
		fk_raw(e, path, n);
		fk_raw_u8(e, 0);
		break;
	}
	default:
		fk_put_len(e, 0);
		return;
	}
	fk_put_len(e, e->pos - start);
}

static void raw_unix_path(struct fk_evt *e, struct unix_sock *us)
{
	struct unix_address *addr = us ? smp_load_acquire(&us->addr) : NULL;
	const char *path;

	if (!addr || addr->len <= sizeof(short)) {
		fk_raw_u8(e, 0);
		return;
	}
	path = addr->name->sun_path;
	if (!path[0])
		path++;
	fk_raw(e, path, strnlen(path, 107));
	fk_raw_u8(e, 0);
}

/*
 * Socket tuple of an fd: PT_SOCKTUPLE.
 * inbound (accept): source is the peer; outbound (connect): source is us.
 */
static void put_socktuple(struct fk_evt *e, s64 fd, bool inbound)
{
	struct file *f;
	struct socket *sock;
	struct sock *sk;
	u16 lport, rport;
	u32 start;

	if (!fk_slot(e))
		return;
	f = fd >= 0 ? fget_raw(fd) : NULL;
	sock = f ? sock_from_file(f) : NULL;
	sk = sock ? sock->sk : NULL;
	if (!sk) {
		fk_put_len(e, 0);
		goto out;
	}
	lport = ntohs(inet_sk(sk)->inet_sport);
	rport = ntohs(sk->sk_dport);
	start = e->pos;
	switch (sk->sk_family) {
	case AF_INET: {
		u32 laddr = inet_sk(sk)->inet_saddr;
		u32 raddr = sk->sk_daddr;

		/* libscap layout: family, sip, sport, dip, dport */
		fk_raw_u8(e, PPM_AF_INET);
		fk_raw_u32(e, inbound ? raddr : laddr);
		fk_raw_u16(e, inbound ? rport : lport);
		fk_raw_u32(e, inbound ? laddr : raddr);
		fk_raw_u16(e, inbound ? lport : rport);
		break;
	}
#if IS_ENABLED(CONFIG_IPV6)
	case AF_INET6: {
		const struct in6_addr *l6 = &sk->sk_v6_rcv_saddr;
		const struct in6_addr *r6 = &sk->sk_v6_daddr;

		fk_raw_u8(e, PPM_AF_INET6);
		fk_raw(e, inbound ? r6 : l6, 16);
		fk_raw_u16(e, inbound ? rport : lport);
		fk_raw(e, inbound ? l6 : r6, 16);
		fk_raw_u16(e, inbound ? lport : rport);
		break;
	}
#endif
	case AF_UNIX: {
		struct unix_sock *us = unix_sk(sk);
		struct unix_sock *peer = NULL;
		struct sock *psk = READ_ONCE(us->peer);

		if (psk)
			peer = unix_sk(psk);
		fk_raw_u8(e, PPM_AF_UNIX);
		fk_raw_u64(e, inbound ? (u64)us : (u64)peer);
		fk_raw_u64(e, inbound ? (u64)peer : (u64)us);
		raw_unix_path(e, inbound ? us : peer);
		break;
	}
	default:
		fk_put_len(e, 0);
		goto out;
	}
	fk_put_len(e, e->pos - start);
out:
	if (f)
		fput(f);
}

/*
 * cgroups of the current task: "subsys=/path\0" for every controller of
 * its css_set (PT_CHARBUFARRAY, as the eBPF probe).
 */
static void put_cgroups(struct fk_evt *e)
{
	u32 start, room;
	int i, r;
	u8 *p;

	if (!fk_slot(e))
		return;
	start = e->pos;
	rcu_read_lock();
	for (i = 0; i < CGROUP_SUBSYS_COUNT && i < FK_MAX_CGROUP_SUBSYS; i++) {
		struct cgroup_subsys_state *css = task_css(current, i);

		if (!css || !css->ss || !css->cgroup)
			continue;
		fk_raw(e, css->ss->name, strlen(css->ss->name));
		fk_raw_u8(e, '=');
		room = min_t(u32, FK_MAX_STR, e->limit - e->pos);
		p = fk_room(e, room);
		if (!p)
			break;
		r = cgroup_path(css->cgroup, (char *)p, room);
		if (r < 0 || r >= room) {
			e->overflow = true;
			break;
		}
		e->pos += r + 1;
		if (e->pos - start > FK_CGROUPS_MAX)
			break;
	}
	rcu_read_unlock();
	fk_put_len(e, (e->pos - start) & 0xffff);
}

/* ---- process info shared by clone / execve exits ------------------- */

/* exe and args from the mm's argument area (as /proc/PID/cmdline). */
static void put_exe_args(struct fk_evt *e, struct mm_struct *mm)
{
	unsigned long as = mm ? mm->arg_start : 0;
	unsigned long ae = mm ? mm->arg_end : 0;
	u32 n, len = 0;

	/* Parameter: exe (type: PT_CHARBUF) */
	n = fk_put_user_str(e, as);
	/* Parameter: args (type: PT_BYTEBUF) */
	if (ae > as + n)
		len = min_t(unsigned long, ae - as - n, FK_ARGV_MAX);
	fk_put_user_bytes(e, as + n, len);
}

static void put_env(struct fk_evt *e, struct mm_struct *mm)
{
	unsigned long es = mm ? mm->env_start : 0;
	unsigned long ee = mm ? mm->env_end : 0;
	u32 len = 0;

	if (ee > es)
		len = min_t(unsigned long, ee - es, FK_ARGV_MAX);
	fk_put_user_bytes(e, es, len);
}

/*
 * exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size,
 * vm_rss, vm_swap, comm, cgroups: the part clone and execve exits share.
 * cwd is stored only when `with_cwd` (execve); clone sends it empty.
 */
static void put_proc_common(struct fk_evt *e, bool with_cwd)
{
	struct task_struct *t = current;
	struct mm_struct *mm = t->mm;
	u64 total_vm = 0, rss = 0, swap = 0;
	pid_t ptid;

	put_exe_args(e, mm);
	/* Parameter: tid (type: PT_PID) */
	fk_put_s64(e, t->pid);
	/* Parameter: pid (type: PT_PID) */
	fk_put_s64(e, t->tgid);
	/* Parameter: ptid (type: PT_PID) */
	rcu_read_lock();
	ptid = rcu_dereference(t->real_parent)->pid;
	rcu_read_unlock();
	fk_put_s64(e, ptid);
	/* Parameter: cwd (type: PT_CHARBUF) */
	if (with_cwd)
		put_cwd(e);
	else
		fk_put_empty(e);
	/* Parameter: fdlimit (type: PT_UINT64) */
	fk_put_s64(e, task_rlimit(t, RLIMIT_NOFILE));
	/* Parameter: pgft_maj (type: PT_UINT64) */
	fk_put_u64(e, t->maj_flt);
	/* Parameter: pgft_min (type: PT_UINT64) */
	fk_put_u64(e, t->min_flt);
	if (mm) {
		total_vm = mm->total_vm;
		rss = get_mm_counter(mm, MM_FILEPAGES) +
		      get_mm_counter(mm, MM_ANONPAGES) +
		      get_mm_counter(mm, MM_SHMEMPAGES);
		swap = get_mm_counter(mm, MM_SWAPENTS);
	}
	/* Parameter: vm_size (type: PT_UINT32), in KiB */
	fk_put_u32(e, total_vm << (PAGE_SHIFT - 10));
	/* Parameter: vm_rss (type: PT_UINT32) */
	fk_put_u32(e, rss << (PAGE_SHIFT - 10));
	/* Parameter: vm_swap (type: PT_UINT32) */
	fk_put_u32(e, swap << (PAGE_SHIFT - 10));
	/* Parameter: comm (type: PT_CHARBUF) */
	fk_put_kstr(e, t->comm);
	/* Parameter: cgroups (type: PT_CHARBUFARRAY) */
	put_cgroups(e);
}

/* Start time of the init of the current pid namespace. */
static u64 pidns_init_start(void)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	struct task_struct *reaper;
	u64 ts = 0;

	rcu_read_lock();	/* task_structs are freed after RCU */
	reaper = ns ? READ_ONCE(ns->child_reaper) : NULL;
	if (reaper)
		ts = reaper->start_time;
	rcu_read_unlock();
	return ts;
}

/*
 * Which overlayfs layer the file of @inode is in: the upper one once it has
 * an upper dentry (written, or copied up, after the image was built), else
 * a lower one; 0 off overlayfs.  overlayfs embeds the inode in its struct
 * ovl_inode with the upper dentry pointer right after it (4.19 to 6.12 at
 * least); the pointer is read only for an inode of an overlayfs sb.
 */
static u32 overlay_layer(const struct inode *inode)
{
	const struct dentry *upper;

	if (!inode || inode->i_sb->s_magic != OVERLAYFS_SUPER_MAGIC)
		return 0;
	upper = READ_ONCE(*(struct dentry *const *)((const char *)inode +
						    sizeof(*inode)));
	return upper ? PPM_FD_UPPER_LAYER : PPM_FD_LOWER_LAYER;
}

static u64 cap_u64(kernel_cap_t c)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return c.val;
#else
	return c.cap[0] | ((u64)c.cap[1] << 32);
#endif
}

static u64 ts_ns(struct timespec64 ts)
{
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static u64 inode_ctime_ns(struct inode *ino)
{
	return ts_ns(inode_get_ctime(ino));
}

static u64 inode_mtime_ns(struct inode *ino)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	return ts_ns(inode_get_mtime(ino));
#else
	return ts_ns(ino->i_mtime);
#endif
}

/* ---- fillers -------------------------------------------------------- */

/* Syscalls without a dedicated event: ID and nativeID. */
static void fill_generic(struct fk_evt *e, u16 type)
{
	u16 ppm_sc = 0;

	fk_syscall_route(e->nr, NULL, &ppm_sc);
	fk_evt_begin(e, type);
	/* Parameter 1: ID (type: PT_SYSCALLID) */
	fk_put_u16(e, ppm_sc);
	/* Parameter 2: nativeID (type: PT_UINT16) */
	fk_put_u16(e, e->nr);
	fk_evt_submit(e);
}

/* open / openat / openat2 / creat, enter and exit. */
static void fill_open(struct fk_evt *e, u16 type)
{
	u16 base = type & ~1U;
	bool exit = type & 1, at = false;
	u32 flags, mode = 0, extra = 0;
	unsigned long path;
	u64 resolve = 0;
	s64 dirfd = 0;
	struct file *f = NULL;
	dev_t dev = 0;
	u64 ino = 0;

	switch (base) {
	case PPME_SYSCALL_OPEN_E:
		path = e->args[0];
		flags = e->args[1];
		mode = e->args[2];
		break;
	case PPME_SYSCALL_CREAT_E:
		path = e->args[0];
		flags = O_CREAT | O_WRONLY | O_TRUNC;
		mode = e->args[1];
		break;
	case PPME_SYSCALL_OPENAT_2_E:
		at = true;
		dirfd = (int)e->args[0];
		path = e->args[1];
		flags = e->args[2];
		mode = e->args[3];
		break;
	default: {	/* openat2: struct open_how { u64 flags, mode, resolve } */
		struct open_how how = {};

		at = true;
		dirfd = (int)e->args[0];
		path = e->args[1];
		if (copy_from_user_nofault(&how, (const void __user *)e->args[2],
					   sizeof(how)))
			fk_count_fault(e);
		flags = how.flags;
		mode = how.mode;
		resolve = how.resolve;
		break;
	}
	}
	if (exit && e->ret >= 0) {
		f = fget_raw(e->ret);
		if (f) {
			if (f->f_mode & FMODE_CREATED)
				extra = PPM_O_F_CREATED;
			extra |= overlay_layer(f->f_inode);
			dev = f->f_inode->i_sb->s_dev;
			ino = f->f_inode->i_ino;
			fput(f);
		}
	}
	fk_evt_begin(e, type);
	if (exit)
		/* Parameter: fd (type: PT_FD) */
		fk_put_s64(e, e->ret);
	if (at)
		/* Parameter: dirfd (type: PT_FD) */
		fk_put_s64(e, dirfd);
	/* Parameter: name (type: PT_FSPATH / PT_FSRELPATH) */
	fk_put_user_str(e, path);
	if (base != PPME_SYSCALL_CREAT_E)
		/* Parameter: flags (type: PT_FLAGS32) */
		fk_put_u32(e, open_flags_to_ppm(flags) | extra);
	/* Parameter: mode (type: PT_UINT32) */
	fk_put_u32(e, base == PPME_SYSCALL_CREAT_E ? mode & 07777 :
		   open_mode_to_ppm(flags, mode));
	if (base == PPME_SYSCALL_OPENAT2_E)
		/* Parameter: resolve (type: PT_FLAGS32) */
		fk_put_u32(e, resolve_flags_to_ppm(resolve));
	if (exit) {
		/* Parameter: dev (type: PT_UINT32) */
		fk_put_u32(e, new_encode_dev(dev));
		/* Parameter: ino (type: PT_UINT64) */
		fk_put_u64(e, ino);
	}
	fk_evt_submit(e);
}

static void fill_fd_enter(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: fd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[0]);
	fk_evt_submit(e);
}

/* close / listen / set*id exits: res */
static void fill_res(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	fk_evt_submit(e);
}

/* read / write: enter fd, size; exit res, data (snaplen bytes). */
static void fill_rw(struct fk_evt *e, u16 type)
{
	u32 len;

	fk_evt_begin(e, type);
	if (!(type & 1)) {
		/* Parameter 1: fd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 2: size (type: PT_UINT32) */
		fk_put_u32(e, e->args[2]);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		fk_put_s64(e, e->ret);
		/* Parameter 2: data (type: PT_BYTEBUF) */
		len = e->ret > 0 ? e->ret : 0;
		len = min_t(u32, len, READ_ONCE(e->ring->snaplen));
		fk_put_user_bytes(e, e->args[1], len);
	}
	fk_evt_submit(e);
}

static void fill_socket(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (!(type & 1)) {
		/* Parameter 1: domain (type: PT_ENUMFLAGS32) */
		fk_put_u32(e, e->args[0]);
		/* Parameter 2: type (type: PT_UINT32) */
		fk_put_u32(e, e->args[1]);
		/* Parameter 3: proto (type: PT_UINT32) */
		fk_put_u32(e, e->args[2]);
	} else {
		/* Parameter 1: fd (type: PT_FD) */
		fk_put_s64(e, e->ret);
	}
	fk_evt_submit(e);
}

static void fill_bind_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: addr (type: PT_SOCKADDR) */
	put_sockaddr(e, e->args[1], e->args[2]);
	fk_evt_submit(e);
}

static void fill_connect(struct fk_evt *e, u16 type)
{
	s64 fd = (int)e->args[0];

	fk_evt_begin(e, type);
	if (!(type & 1)) {
		/* Parameter 1: fd (type: PT_FD) */
		fk_put_s64(e, fd);
		/* Parameter 2: addr (type: PT_SOCKADDR) */
		put_sockaddr(e, e->args[1], e->args[2]);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		fk_put_s64(e, e->ret);
		/* Parameter 2: tuple (type: PT_SOCKTUPLE) */
		if (e->ret == 0 || e->ret == -EINPROGRESS)
			put_socktuple(e, fd, false);
		else
			fk_put_empty(e);
		/* Parameter 3: fd (type: PT_FD) */
		fk_put_s64(e, fd);
	}
	fk_evt_submit(e);
}

static void fill_accept(struct fk_evt *e, u16 type)
{
	u32 qlen = 0, qmax = 0;
	struct socket *ls;
	struct file *lf;

	fk_evt_begin(e, type);
	if (!(type & 1)) {
		if (type == PPME_SOCKET_ACCEPT4_6_E)
			/* Parameter 1: flags (type: PT_INT32) */
			fk_put_u32(e, e->args[3]);
		fk_evt_submit(e);
		return;
	}
	/* Parameter 1: fd (type: PT_FD) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: tuple (type: PT_SOCKTUPLE) */
	if (e->ret >= 0)
		put_socktuple(e, e->ret, true);
	else
		fk_put_empty(e);
	lf = fget_raw((int)e->args[0]);
	if (lf) {
		ls = sock_from_file(lf);
		if (ls && ls->sk) {
			qlen = READ_ONCE(ls->sk->sk_ack_backlog);
			qmax = READ_ONCE(ls->sk->sk_max_ack_backlog);
		}
		fput(lf);
	}
	/* Parameter 3: queuepct (type: PT_UINT8) */
	fk_put_u8(e, qmax ? qlen * 100 / qmax : 0);
	/* Parameter 4: queuelen (type: PT_UINT32) */
	fk_put_u32(e, qlen);
	/* Parameter 5: queuemax (type: PT_UINT32) */
	fk_put_u32(e, qmax);
	fk_evt_submit(e);
}

/* dup / dup2 / dup3 exit: res, oldfd[, newfd[, flags]] */
static void fill_dup_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_FD) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: oldfd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[0]);
	if (type != PPME_SYSCALL_DUP_1_X)
		/* Parameter 3: newfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[1]);
	if (type == PPME_SYSCALL_DUP3_X)
		/* Parameter 4: flags (type: PT_FLAGS32) */
		fk_put_u32(e, (e->args[2] & O_CLOEXEC) ? PPM_O_CLOEXEC : 0);
	fk_evt_submit(e);
}

/* Events whose record carries no params the probe fills. */
static void fill_empty(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	fk_evt_submit(e);
}

static void fill_unlinkat_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: dirfd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[0]);
	/* Parameter 3: name (type: PT_FSRELPATH) */
	fk_put_user_str(e, e->args[1]);
	/* Parameter 4: flags (type: PT_FLAGS32) */
	fk_put_u32(e, (e->args[2] & AT_REMOVEDIR) ? PPM_AT_REMOVEDIR : 0);
	fk_evt_submit(e);
}

static void fill_renameat_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: olddirfd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[0]);
	/* Parameter 3: oldpath (type: PT_FSRELPATH) */
	fk_put_user_str(e, e->args[1]);
	/* Parameter 4: newdirfd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[2]);
	/* Parameter 5: newpath (type: PT_FSRELPATH) */
	fk_put_user_str(e, e->args[3]);
	fk_evt_submit(e);
}

static void fill_mkdir(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (!(type & 1)) {
		/* Parameter 1: mode (type: PT_UINT32) */
		fk_put_u32(e, e->args[1] & 07777);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		fk_put_s64(e, e->ret);
		/* Parameter 2: path (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[0]);
	}
	fk_evt_submit(e);
}

static void fill_memfd_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: fd (type: PT_FD) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: name (type: PT_CHARBUF) */
	fk_put_user_str(e, e->args[0]);
	/* Parameter 3: flags (type: PT_FLAGS32): MFD_* == PPM_MFD_* */
	fk_put_u32(e, e->args[1] & PPM_MFD_MASK);
	fk_evt_submit(e);
}

static void fill_ptrace(struct fk_evt *e, u16 type)
{
	u32 req = ptrace_req_to_ppm(e->args[0]);
	u64 v = e->args[3];

	fk_evt_begin(e, type);
	if (!(type & 1)) {
		/* Parameter 1: request (type: PT_FLAGS16) */
		fk_put_u16(e, req);
		/* Parameter 2: pid (type: PT_PID) */
		fk_put_s64(e, (int)e->args[1]);
		fk_evt_submit(e);
		return;
	}
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: addr (type: PT_DYN): index, then u64 */
	if (fk_slot(e)) {
		fk_raw_u8(e, PPM_PTRACE_IDX_UINT64);
		fk_raw_u64(e, e->ret < 0 ? 0 : e->args[2]);
		fk_put_len(e, 9);
	}
	/* Parameter 3: data (type: PT_DYN) */
	if (fk_slot(e)) {
		if (e->ret < 0) {
			v = 0;
		} else if (req == PPM_PTRACE_PEEKTEXT ||
			   req == PPM_PTRACE_PEEKDATA ||
			   req == PPM_PTRACE_PEEKUSR) {
			if (copy_from_user_nofault(&v,
					(const void __user *)e->args[3],
					sizeof(v)))
				v = 0;
		} else if (req == PPM_PTRACE_CONT ||
			   req == PPM_PTRACE_SINGLESTEP ||
			   req == PPM_PTRACE_DETACH ||
			   req == PPM_PTRACE_SYSCALL) {
			fk_raw_u8(e, PPM_PTRACE_IDX_SIGTYPE);
			fk_raw_u8(e, v);
			fk_put_len(e, 2);
			goto out;
		}
		fk_raw_u8(e, PPM_PTRACE_IDX_UINT64);
		fk_raw_u64(e, v);
		fk_put_len(e, 9);
	}
out:
	fk_evt_submit(e);
}

/* clone / clone3 / fork / vfork exit, in parent and child. */
static void fill_clone_x(struct fk_evt *e, u16 type)
{
	const struct cred *cred = current_cred();
	u64 cflags;

	switch (type) {
	case PPME_SYSCALL_FORK_20_X:
		cflags = SIGCHLD;
		break;
	case PPME_SYSCALL_VFORK_20_X:
		cflags = CLONE_VM | CLONE_VFORK | SIGCHLD;
		break;
	case PPME_SYSCALL_CLONE3_X:
		/* struct clone_args starts with its u64 flags */
		if (copy_from_user_nofault(&cflags,
					   (const void __user *)e->args[0],
					   sizeof(cflags))) {
			fk_count_fault(e);
			cflags = 0;
		}
		break;
	default:
		cflags = e->args[0];
		break;
	}
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_PID) */
	fk_put_s64(e, e->ret);
	/* Parameters 2-15: exe .. cgroups */
	put_proc_common(e, false);
	/* Parameter 16: flags (type: PT_FLAGS32) */
	fk_put_u32(e, clone_flags_to_ppm(cflags));
	/* Parameter 17: uid (type: PT_UINT32) */
	fk_put_u32(e, __kuid_val(cred->euid));
	/* Parameter 18: gid (type: PT_UINT32) */
	fk_put_u32(e, __kgid_val(cred->egid));
	/* Parameter 19: vtid (type: PT_PID) */
	fk_put_s64(e, task_pid_vnr(current));
	/* Parameter 20: vpid (type: PT_PID) */
	fk_put_s64(e, task_tgid_vnr(current));
	/* Parameter 21: pidns_init_start_ts (type: PT_UINT64) */
	fk_put_u64(e, pidns_init_start());
	fk_evt_submit(e);
}

/* execve enter: filename; execveat enter: dirfd, pathname, flags. */
static void fill_execve_e(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (type == PPME_SYSCALL_EXECVEAT_E) {
		/* Parameter 1: dirfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 2: pathname (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[1]);
		/* Parameter 3: flags (type: PT_FLAGS32) */
		fk_put_u32(e, execveat_flags_to_ppm(e->args[4]));
	} else {
		/* Parameter 1: filename (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[0]);
	}
	fk_evt_submit(e);
}

/* Controlling tty as MAJOR << 20 | MINOR (0: none). */
static u32 tty_of_current(void)
{
	/* a reference, under siglock: the tty may be hung up meanwhile */
	struct tty_struct *tty = get_current_tty();
	u32 dev = 0;

	if (!tty)
		return 0;
	if (tty->driver)
		dev = (tty->driver->major << 20) |
		      (tty->driver->minor_start + tty->index);
	tty_kref_put(tty);
	return dev;
}

/* mm->exe_file with a reference (get_mm_exe_file() is not exported). */
static struct file *exe_file_get(struct mm_struct *mm)
{
	struct file *exe;

	rcu_read_lock();
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	exe = get_file_rcu(&mm->exe_file);
#else
	exe = rcu_dereference(mm->exe_file);
	if (exe && !get_file_rcu(exe))
		exe = NULL;
#endif
	rcu_read_unlock();
	return exe;
}

/* execve / execveat exit. */
static void fill_execve_x(struct fk_evt *e, u16 type)
{
	const struct cred *cred = current_cred();
	struct mm_struct *mm = current->mm;
	struct file *exe = mm ? exe_file_get(mm) : NULL;
	struct inode *ino = exe ? file_inode(exe) : NULL;
	u32 flags = 0;

	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameters 2-15: exe .. cgroups (after a failed exec the old
	 * image's: the caller's process is unchanged) */
	put_proc_common(e, true);
	/* Parameter 16: env (type: PT_BYTEBUF) */
	put_env(e, mm);
	/* Parameter 17: tty (type: PT_UINT32) */
	fk_put_u32(e, tty_of_current());
	/* Parameter 18: vpgid (type: PT_PID) */
	fk_put_s64(e, task_pgrp_vnr(current));
	/* Parameter 19: loginuid (type: PT_UID) */
	fk_put_u32(e, __kuid_val(audit_get_loginuid(current)));
	if (ino) {
		uid_t euid = __kuid_val(cred->euid);
		gid_t egid = __kgid_val(cred->egid);
		umode_t mode = ino->i_mode;

		/* an unlinked executable: memfd or deleted file */
		if (ino->i_nlink == 0)
			flags |= PPM_EXE_FROM_MEMFD;
		/* on overlayfs: written after the image (container) was
		 * built, or still the image's own */
		flags |= PPM_EXE_LAYER(overlay_layer(ino));
		if (euid == 0 || (mode & S_IWOTH) ||
		    ((mode & S_IWUSR) && __kuid_val(ino->i_uid) == euid) ||
		    ((mode & S_IWGRP) && __kgid_val(ino->i_gid) == egid))
			flags |= PPM_EXE_WRITABLE;
	}
	/* Parameter 20: flags (type: PT_FLAGS32) */
	fk_put_u32(e, flags);
	/* Parameter 21: cap_inheritable (type: PT_UINT64) */
	fk_put_u64(e, cap_u64(cred->cap_inheritable));
	/* Parameter 22: cap_permitted (type: PT_UINT64) */
	fk_put_u64(e, cap_u64(cred->cap_permitted));
	/* Parameter 23: cap_effective (type: PT_UINT64) */
	fk_put_u64(e, cap_u64(cred->cap_effective));
	/* Parameter 24: exe_ino (type: PT_UINT64) */
	fk_put_u64(e, ino ? ino->i_ino : 0);
	/* Parameter 25: exe_ino_ctime (type: PT_ABSTIME) */
	fk_put_u64(e, ino ? inode_ctime_ns(ino) : 0);
	/* Parameter 26: exe_ino_mtime (type: PT_ABSTIME) */
	fk_put_u64(e, ino ? inode_mtime_ns(ino) : 0);
	/* Parameter 27: uid (type: PT_UID) */
	fk_put_u32(e, __kuid_val(cred->euid));
	/* Parameter 28: trusted_exepath (type: PT_FSPATH) */
	if (exe)
		put_path(e, &exe->f_path);
	else
		fk_put_empty(e);
	fk_evt_submit(e);
	if (exe)
		fput(exe);
}

/* setuid / setgid / setresuid / setresgid enter: the ids asked for. */
static void fill_setid_e(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: uid / gid / ruid / rgid (type: PT_UID / PT_GID) */
	fk_put_u32(e, e->args[0]);
	if (type == PPME_SYSCALL_SETRESUID_E ||
	    type == PPME_SYSCALL_SETRESGID_E) {
		/* Parameter 2: euid / egid (type: PT_UID / PT_GID) */
		fk_put_u32(e, e->args[1]);
		/* Parameter 3: suid / sgid (type: PT_UID / PT_GID) */
		fk_put_u32(e, e->args[2]);
	}
	fk_evt_submit(e);
}

/* listen enter: fd, backlog. */
static void fill_listen_e(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: fd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[0]);
	/* Parameter 2: backlog (type: PT_INT32) */
	fk_put_u32(e, e->args[1]);
	fk_evt_submit(e);
}

/* capset exit: res and the task's capability sets after the call. */
static void fill_capset_x(struct fk_evt *e, u16 type)
{
	const struct cred *cred = current_cred();

	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: cap_inheritable (type: PT_UINT64) */
	fk_put_u64(e, cap_u64(cred->cap_inheritable));
	/* Parameter 3: cap_permitted (type: PT_UINT64) */
	fk_put_u64(e, cap_u64(cred->cap_permitted));
	/* Parameter 4: cap_effective (type: PT_UINT64) */
	fk_put_u64(e, cap_u64(cred->cap_effective));
	fk_evt_submit(e);
}

/* prctl exit: res, option (PR_* == PPM_PR_*), arg2 as string or int. */
static void fill_prctl_x(struct fk_evt *e, u16 type)
{
	u32 option = e->args[0];
	s32 reaper = 0;

	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: option (type: PT_ENUMFLAGS32) */
	fk_put_u32(e, option);
	switch (option) {
	case PR_SET_NAME:
	case PR_GET_NAME:
		/* Parameter 3: arg2_str (type: PT_CHARBUF), a comm */
		fk_put_user_str_n(e, e->args[1], TASK_COMM_LEN);
		/* Parameter 4: arg2_int (type: PT_INT64) */
		fk_put_s64(e, 0);
		break;
	case PR_GET_CHILD_SUBREAPER:
		/* Parameter 3: arg2_str (type: PT_CHARBUF) */
		fk_put_empty(e);
		if (e->ret == 0 &&
		    copy_from_user_nofault(&reaper,
					   (const void __user *)e->args[1],
					   sizeof(reaper))) {
			fk_count_fault(e);
			reaper = 0;
		}
		/* Parameter 4: arg2_int (type: PT_INT64), the int read back */
		fk_put_s64(e, reaper);
		break;
	default:
		/* Parameter 3: arg2_str (type: PT_CHARBUF) */
		fk_put_empty(e);
		/* Parameter 4: arg2_int (type: PT_INT64) */
		fk_put_s64(e, e->args[1]);
		break;
	}
	fk_evt_submit(e);
}

/* O_CLOEXEC / O_NONBLOCK / O_DIRECT (pipe2, eventfd2) -> PPM_O_*. */
static u32 fd_flags_to_ppm(u64 flags)
{
	u32 res = 0;

	if (flags & O_CLOEXEC)
		res |= PPM_O_CLOEXEC;
	if (flags & O_NONBLOCK)
		res |= PPM_O_NONBLOCK;
	if (flags & O_DIRECT)
		res |= PPM_O_DIRECT;
	return res;
}

/* The int[2] a pipe / socketpair wrote back ({-1, -1} on failure). */
static void read_fd_pair(struct fk_evt *e, unsigned long uptr, s32 fds[2])
{
	fds[0] = -1;
	fds[1] = -1;
	if (e->ret != 0)
		return;
	if (copy_from_user_nofault(fds, (const void __user *)uptr,
				   2 * sizeof(s32))) {
		fk_count_fault(e);
		fds[0] = -1;
		fds[1] = -1;
	}
}

/* pipe / pipe2 exit: res, fd1, fd2, ino[, flags]. */
static void fill_pipe_x(struct fk_evt *e, u16 type)
{
	struct file *f;
	s32 fds[2];
	u64 ino = 0;

	read_fd_pair(e, e->args[0], fds);
	if (fds[0] >= 0) {
		f = fget_raw(fds[0]);
		if (f) {
			ino = file_inode(f)->i_ino;
			fput(f);
		}
	}
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: fd1 (type: PT_FD) */
	fk_put_s64(e, fds[0]);
	/* Parameter 3: fd2 (type: PT_FD) */
	fk_put_s64(e, fds[1]);
	/* Parameter 4: ino (type: PT_UINT64) */
	fk_put_u64(e, ino);
	if (type == PPME_SYSCALL_PIPE2_X)
		/* Parameter 5: flags (type: PT_FLAGS32) */
		fk_put_u32(e, fd_flags_to_ppm(e->args[1]));
	fk_evt_submit(e);
}

/* socketpair exit: res, fd1, fd2, source and peer (kernel socket ids). */
static void fill_socketpair_x(struct fk_evt *e, u16 type)
{
	u64 source = 0, peer = 0;
	struct socket *sock;
	struct file *f;
	s32 fds[2];

	read_fd_pair(e, e->args[3], fds);
	if (fds[0] >= 0) {
		f = fget_raw(fds[0]);
		if (f) {
			sock = sock_from_file(f);
			if (sock && sock->sk) {
				source = (u64)(unsigned long)sock->sk;
				if (sock->sk->sk_family == AF_UNIX)
					peer = (u64)(unsigned long)
						unix_sk(sock->sk)->peer;
			}
			fput(f);
		}
	}
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: fd1 (type: PT_FD) */
	fk_put_s64(e, fds[0]);
	/* Parameter 3: fd2 (type: PT_FD) */
	fk_put_s64(e, fds[1]);
	/* Parameter 4: source (type: PT_UINT64) */
	fk_put_u64(e, source);
	/* Parameter 5: peer (type: PT_UINT64) */
	fk_put_u64(e, peer);
	fk_evt_submit(e);
}

/* eventfd enter: initval, flags (none: 0); eventfd2 enter: initval;
 * exits: res[, flags]. */
static void fill_eventfd(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	switch (type) {
	case PPME_SYSCALL_EVENTFD_E:
	case PPME_SYSCALL_EVENTFD2_E:
		/* Parameter 1: initval (type: PT_UINT64) */
		fk_put_u64(e, (u32)e->args[0]);
		if (type == PPME_SYSCALL_EVENTFD_E)
			/* Parameter 2: flags (type: PT_UINT32): eventfd has none */
			fk_put_u32(e, 0);
		break;
	default:
		/* Parameter 1: res (type: PT_FD) */
		fk_put_s64(e, e->ret);
		if (type == PPME_SYSCALL_EVENTFD2_X)
			/* Parameter 2: flags (type: PT_FLAGS16) */
			fk_put_u16(e, fd_flags_to_ppm(e->args[1] & ~O_DIRECT));
		break;
	}
	fk_evt_submit(e);
}

/* Kernel F_* -> fcntl_commands value of the table. */
static u8 fcntl_cmd_to_ppm(u32 cmd)
{
	switch (cmd) {
	case F_DUPFD: return 1;
	case F_GETFD: return 2;
	case F_SETFD: return 3;
	case F_GETFL: return 4;
	case F_SETFL: return 5;
	case F_GETLK: return 6;		/* == F_GETLK64 on x86_64 */
	case F_SETLK: return 8;
	case F_SETLKW: return 9;
	case F_SETOWN: return 10;
	case F_GETOWN: return 12;
	case F_SETSIG: return 13;
	case F_GETSIG: return 15;
	case F_SETOWN_EX: return 21;
	case F_GETOWN_EX: return 22;
	case F_OFD_GETLK: return 30;
	case F_OFD_SETLK: return 31;
	case F_OFD_SETLKW: return 32;
	case F_SETLEASE: return 23;
	case F_GETLEASE: return 24;
	case F_NOTIFY: return 27;
	case F_CANCELLK: return 25;
	case F_DUPFD_CLOEXEC: return 26;
	case F_SETPIPE_SZ: return 28;
	case F_GETPIPE_SZ: return 29;
	}
	return 0;			/* UNKNOWN */
}

/* fcntl enter: fd, cmd; exit: res, fd, cmd. */
static void fill_fcntl(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (type & 1)
		/* Parameter 1: res (type: PT_FD) */
		fk_put_s64(e, e->ret);
	/* Parameter: fd (type: PT_FD) */
	fk_put_s64(e, (int)e->args[0]);
	/* Parameter: cmd (type: PT_ENUMFLAGS8) */
	fk_put_u8(e, fcntl_cmd_to_ppm(e->args[1]));
	fk_evt_submit(e);
}

/* mkdirat / mknod / mknodat exit. */
static void fill_mknod_x(struct fk_evt *e, u16 type)
{
	bool at = type != PPME_SYSCALL_MKNOD_X;
	int a = at ? 1 : 0;

	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	if (at)
		/* Parameter 2: dirfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
	/* Parameter: path (type: PT_FSPATH / PT_FSRELPATH) */
	fk_put_user_str(e, e->args[a]);
	if (type == PPME_SYSCALL_MKDIRAT_X) {
		/* Parameter 4: mode (type: PT_UINT32) */
		fk_put_u32(e, e->args[2]);
	} else {
		/* Parameter: mode (type: PT_MODE): S_IF* and permission bits
		 * are the table's */
		fk_put_u32(e, e->args[a + 1] & 0177777);
		/* Parameter: dev (type: PT_UINT32), as the caller encoded it */
		fk_put_u32(e, e->args[a + 2]);
	}
	fk_evt_submit(e);
}

/* pidfd_open / pidfd_getfd exit. */
static void fill_pidfd_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: fd (type: PT_FD) */
	fk_put_s64(e, e->ret);
	if (type == PPME_SYSCALL_PIDFD_OPEN_X) {
		/* Parameter 2: pid (type: PT_PID) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 3: flags (type: PT_FLAGS32): PIDFD_NONBLOCK */
		fk_put_u32(e, (e->args[1] & O_NONBLOCK) ? 1 : 0);
	} else {
		/* Parameter 2: pid_fd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 3: target_fd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[1]);
		/* Parameter 4: flags (type: PT_UINT32) */
		fk_put_u32(e, e->args[2]);
	}
	fk_evt_submit(e);
}

/* Kernel IORING_SETUP_* -> io_uring_setup_flags of the table (which
 * has IORING_SQ_NEED_WAKEUP at bit 2: the later kernel bits shift). */
static u32 io_uring_flags_to_ppm(u32 flags)
{
	return (flags & 0x3) | ((flags & 0x7c) << 1);
}

/* io_uring_setup exit: res, entries and the params the kernel wrote. */
static void fill_io_uring_setup_x(struct fk_evt *e, u16 type)
{
	/* struct io_uring_params: sq_entries, cq_entries, flags,
	 * sq_thread_cpu, sq_thread_idle, features (u32 each) */
	u32 p[6] = {};

	if (copy_from_user_nofault(p, (const void __user *)e->args[1],
				   sizeof(p))) {
		fk_count_fault(e);
		memset(p, 0, sizeof(p));
	}
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: entries (type: PT_UINT32) */
	fk_put_u32(e, e->args[0]);
	/* Parameter 3: sq_entries (type: PT_UINT32) */
	fk_put_u32(e, p[0]);
	/* Parameter 4: cq_entries (type: PT_UINT32) */
	fk_put_u32(e, p[1]);
	/* Parameter 5: flags (type: PT_FLAGS32) */
	fk_put_u32(e, io_uring_flags_to_ppm(p[2]));
	/* Parameter 6: sq_thread_cpu (type: PT_UINT32) */
	fk_put_u32(e, p[3]);
	/* Parameter 7: sq_thread_idle (type: PT_UINT32) */
	fk_put_u32(e, p[4]);
	/* Parameter 8: features (type: PT_FLAGS32): IORING_FEAT_* == PPM */
	fk_put_u32(e, p[5] & 0x7ff);
	fk_evt_submit(e);
}

/* chdir / chroot exit: res, path; fchdir: fd (enter), res (exit). */
static void fill_chdir(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (type == PPME_SYSCALL_FCHDIR_E) {
		/* Parameter 1: fd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
	} else {
		/* Parameter 1: res (type: PT_ERRNO) */
		fk_put_s64(e, e->ret);
		if (type != PPME_SYSCALL_FCHDIR_X)
			/* Parameter 2: path (type: PT_CHARBUF; chroot: PT_FSPATH) */
			fk_put_user_str(e, e->args[0]);
	}
	fk_evt_submit(e);
}

/* symlink / symlinkat / link / linkat exit. */
static void fill_link_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	switch (type) {
	case PPME_SYSCALL_SYMLINK_X:
		/* Parameter 2: target (type: PT_CHARBUF) */
		fk_put_user_str(e, e->args[0]);
		/* Parameter 3: linkpath (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[1]);
		break;
	case PPME_SYSCALL_SYMLINKAT_X:
		/* Parameter 2: target (type: PT_CHARBUF) */
		fk_put_user_str(e, e->args[0]);
		/* Parameter 3: linkdirfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[1]);
		/* Parameter 4: linkpath (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[2]);
		break;
	case PPME_SYSCALL_LINK_2_X:
		/* Parameter 2: oldpath (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[0]);
		/* Parameter 3: newpath (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[1]);
		break;
	default:	/* linkat */
		/* Parameter 2: olddir (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 3: oldpath (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[1]);
		/* Parameter 4: newdir (type: PT_FD) */
		fk_put_s64(e, (int)e->args[2]);
		/* Parameter 5: newpath (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[3]);
		/* Parameter 6: flags (type: PT_FLAGS32): AT_* == PPM_* */
		fk_put_u32(e, e->args[4] & (AT_SYMLINK_FOLLOW | AT_EMPTY_PATH));
		break;
	}
	fk_evt_submit(e);
}

/* unlink / rmdir / rename / renameat2 exit. */
static void fill_path_x(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	switch (type) {
	case PPME_SYSCALL_UNLINK_2_X:
	case PPME_SYSCALL_RMDIR_2_X:
		/* Parameter 2: path (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[0]);
		break;
	case PPME_SYSCALL_RENAME_X:
		/* Parameter 2: oldpath (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[0]);
		/* Parameter 3: newpath (type: PT_FSPATH) */
		fk_put_user_str(e, e->args[1]);
		break;
	default:	/* renameat2 */
		/* Parameter 2: olddirfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 3: oldpath (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[1]);
		/* Parameter 4: newdirfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[2]);
		/* Parameter 5: newpath (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[3]);
		/* Parameter 6: flags (type: PT_FLAGS32): RENAME_* == PPM_* */
		fk_put_u32(e, e->args[4] & 0x7);
		break;
	}
	fk_evt_submit(e);
}

/* chmod / fchmod / fchmodat exit; the mode bits are the table's. */
static void fill_chmod_x(struct fk_evt *e, u16 type)
{
	u32 mode;

	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	if (type == PPME_SYSCALL_FCHMODAT_X) {
		/* Parameter 2: dirfd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 3: filename (type: PT_FSRELPATH) */
		fk_put_user_str(e, e->args[1]);
		mode = e->args[2];
	} else {
		if (type == PPME_SYSCALL_FCHMOD_X)
			/* Parameter 2: fd (type: PT_FD) */
			fk_put_s64(e, (int)e->args[0]);
		else
			/* Parameter 2: filename (type: PT_FSPATH) */
			fk_put_user_str(e, e->args[0]);
		mode = e->args[1];
	}
	/* Parameter 3/4: mode (type: PT_MODE) */
	fk_put_u32(e, mode & 07777);
	fk_evt_submit(e);
}

/* unshare / setns, enter and exit. */
static void fill_ns(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (type & 1) {
		/* Parameter 1: res (type: PT_ERRNO) */
		fk_put_s64(e, e->ret);
	} else if (type == PPME_SYSCALL_SETNS_E) {
		/* Parameter 1: fd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 2: nstype (type: PT_FLAGS32) */
		fk_put_u32(e, clone_flags_to_ppm(e->args[1]));
	} else {
		/* Parameter 1: flags (type: PT_FLAGS32) */
		fk_put_u32(e, clone_flags_to_ppm(e->args[0]));
	}
	fk_evt_submit(e);
}

/* init_module / finit_module exit. */
static void fill_module_x(struct fk_evt *e, u16 type)
{
	u32 len;

	fk_evt_begin(e, type);
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	if (type == PPME_SYSCALL_INIT_MODULE_X) {
		len = min_t(u64, e->args[1], READ_ONCE(e->ring->snaplen));
		/* Parameter 2: img (type: PT_BYTEBUF), up to snaplen bytes */
		fk_put_user_bytes(e, e->args[0], len);
		/* Parameter 3: length (type: PT_UINT64) */
		fk_put_u64(e, e->args[1]);
		/* Parameter 4: uargs (type: PT_CHARBUF) */
		fk_put_user_str(e, e->args[2]);
	} else {
		/* Parameter 2: fd (type: PT_FD) */
		fk_put_s64(e, (int)e->args[0]);
		/* Parameter 3: uargs (type: PT_CHARBUF) */
		fk_put_user_str(e, e->args[1]);
		/* Parameter 4: flags (type: PT_FLAGS32): MODULE_INIT_* == PPM_* */
		fk_put_u32(e, e->args[2] & 0x7);
	}
	fk_evt_submit(e);
}

/* bpf enter: cmd; exit: fd, cmd. */
static void fill_bpf(struct fk_evt *e, u16 type)
{
	fk_evt_begin(e, type);
	if (type & 1) {
		/* Parameter 1: fd (type: PT_FD) */
		fk_put_s64(e, e->ret);
		/* Parameter 2: cmd (type: PT_ENUMFLAGS32) */
		fk_put_u32(e, e->args[0]);
	} else {
		/* Parameter 1: cmd (type: PT_INT64) */
		fk_put_s64(e, (int)e->args[0]);
	}
	fk_evt_submit(e);
}

/* mount enter: flags; exit: res, dev, dir, type. */
static void fill_mount(struct fk_evt *e, u16 type)
{
	u64 flags;

	fk_evt_begin(e, type);
	if (!(type & 1)) {
		flags = e->args[3];
		/* the old MS_MGC_VAL magic in the upper half is no flag */
		if ((flags & 0xffff0000ULL) == 0xC0ED0000ULL)
			flags &= ~0xffff0000ULL;
		/* Parameter 1: flags (type: PT_FLAGS32): MS_* == PPM_MS_* */
		fk_put_u32(e, flags);
		fk_evt_submit(e);
		return;
	}
	/* Parameter 1: res (type: PT_ERRNO) */
	fk_put_s64(e, e->ret);
	/* Parameter 2: dev (type: PT_CHARBUF) */
	fk_put_user_str(e, e->args[0]);
	/* Parameter 3: dir (type: PT_FSPATH) */
	fk_put_user_str(e, e->args[1]);
	/* Parameter 4: type (type: PT_CHARBUF) */
	fk_put_user_str(e, e->args[2]);
	fk_evt_submit(e);
}

/* sched_process_exit: procexit */
void fk_fill_procexit(struct fk_evt *e, struct task_struct *t)
{
	s64 code = t->exit_code;

	fk_evt_begin(e, PPME_PROCEXIT_1_E);
	/* Parameter 1: status (type: PT_ERRNO) */
	fk_put_s64(e, code);
	/* Parameter 2: ret (type: PT_ERRNO): the exit status proper */
	fk_put_s64(e, (code >> 8) & 0xff);
	/* Parameter 3: sig (type: PT_SIGTYPE) */
	fk_put_u8(e, code & 0x7f);
	/* Parameter 4: core (type: PT_UINT8) */
	fk_put_u8(e, (code & 0x80) ? 1 : 0);
	/* Parameter 5: reaper_tid (type: PT_PID): found by userspace */
	fk_put_s64(e, 0);
	fk_evt_submit(e);
}

/* ---- dispatch ------------------------------------------------------- */

void fk_fill(struct fk_evt *e, u16 type)
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
		return fill_open(e, type);
	case PPME_SYSCALL_CLOSE_E:
	case PPME_SOCKET_BIND_E:
	case PPME_SYSCALL_DUP_1_E:
	case PPME_SYSCALL_DUP2_E:
	case PPME_SYSCALL_DUP3_E:
		return fill_fd_enter(e, type);
	case PPME_SYSCALL_CLOSE_X:
		return fill_res(e, type);
	case PPME_SYSCALL_READ_E:
	case PPME_SYSCALL_READ_X:
	case PPME_SYSCALL_WRITE_E:
	case PPME_SYSCALL_WRITE_X:
		return fill_rw(e, type);
	case PPME_SOCKET_SOCKET_E:
	case PPME_SOCKET_SOCKET_X:
		return fill_socket(e, type);
	case PPME_SOCKET_BIND_X:
		return fill_bind_x(e, type);
	case PPME_SOCKET_CONNECT_E:
	case PPME_SOCKET_CONNECT_X:
		return fill_connect(e, type);
	case PPME_SOCKET_ACCEPT_5_E:
	case PPME_SOCKET_ACCEPT_5_X:
	case PPME_SOCKET_ACCEPT4_6_E:
	case PPME_SOCKET_ACCEPT4_6_X:
		return fill_accept(e, type);
	case PPME_SYSCALL_DUP_1_X:
	case PPME_SYSCALL_DUP2_X:
	case PPME_SYSCALL_DUP3_X:
		return fill_dup_x(e, type);
	case PPME_SYSCALL_UNLINKAT_2_E:
	case PPME_SYSCALL_RENAMEAT_E:
	case PPME_SYSCALL_MEMFD_CREATE_E:
	case PPME_SYSCALL_CLONE_20_E:
	case PPME_SYSCALL_CLONE3_E:
	case PPME_SYSCALL_FORK_20_E:
	case PPME_SYSCALL_VFORK_20_E:
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
		return fill_empty(e, type);
	case PPME_SYSCALL_SETUID_E:
	case PPME_SYSCALL_SETGID_E:
	case PPME_SYSCALL_SETRESUID_E:
	case PPME_SYSCALL_SETRESGID_E:
		return fill_setid_e(e, type);
	case PPME_SYSCALL_SETUID_X:
	case PPME_SYSCALL_SETGID_X:
	case PPME_SYSCALL_SETRESUID_X:
	case PPME_SYSCALL_SETRESGID_X:
	case PPME_SOCKET_LISTEN_X:
	case PPME_SYSCALL_SETSID_X:	/* res: the new session id (PT_PID) */
		return fill_res(e, type);
	case PPME_SOCKET_LISTEN_E:
		return fill_listen_e(e, type);
	case PPME_SYSCALL_CAPSET_X:
		return fill_capset_x(e, type);
	case PPME_SYSCALL_PRCTL_X:
		return fill_prctl_x(e, type);
	case PPME_SYSCALL_PIPE_X:
	case PPME_SYSCALL_PIPE2_X:
		return fill_pipe_x(e, type);
	case PPME_SOCKET_SOCKETPAIR_E:
		return fill_socket(e, type);
	case PPME_SOCKET_SOCKETPAIR_X:
		return fill_socketpair_x(e, type);
	case PPME_SYSCALL_EVENTFD_E:
	case PPME_SYSCALL_EVENTFD_X:
	case PPME_SYSCALL_EVENTFD2_E:
	case PPME_SYSCALL_EVENTFD2_X:
		return fill_eventfd(e, type);
	case PPME_SYSCALL_FCNTL_E:
	case PPME_SYSCALL_FCNTL_X:
		return fill_fcntl(e, type);
	case PPME_SYSCALL_MKDIRAT_X:
	case PPME_SYSCALL_MKNOD_X:
	case PPME_SYSCALL_MKNODAT_X:
		return fill_mknod_x(e, type);
	case PPME_SYSCALL_PIDFD_OPEN_X:
	case PPME_SYSCALL_PIDFD_GETFD_X:
		return fill_pidfd_x(e, type);
	case PPME_SYSCALL_IO_URING_SETUP_X:
		return fill_io_uring_setup_x(e, type);
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
		return fill_empty(e, type);
	case PPME_SYSCALL_CHDIR_X:
	case PPME_SYSCALL_CHROOT_X:
	case PPME_SYSCALL_FCHDIR_E:
	case PPME_SYSCALL_FCHDIR_X:
		return fill_chdir(e, type);
	case PPME_SYSCALL_SYMLINK_X:
	case PPME_SYSCALL_SYMLINKAT_X:
	case PPME_SYSCALL_LINK_2_X:
	case PPME_SYSCALL_LINKAT_2_X:
		return fill_link_x(e, type);
	case PPME_SYSCALL_UNLINK_2_X:
	case PPME_SYSCALL_RMDIR_2_X:
	case PPME_SYSCALL_RENAME_X:
	case PPME_SYSCALL_RENAMEAT2_X:
		return fill_path_x(e, type);
	case PPME_SYSCALL_CHMOD_X:
	case PPME_SYSCALL_FCHMOD_X:
	case PPME_SYSCALL_FCHMODAT_X:
		return fill_chmod_x(e, type);
	case PPME_SYSCALL_UNSHARE_E:
	case PPME_SYSCALL_UNSHARE_X:
	case PPME_SYSCALL_SETNS_E:
	case PPME_SYSCALL_SETNS_X:
		return fill_ns(e, type);
	case PPME_SYSCALL_INIT_MODULE_X:
	case PPME_SYSCALL_FINIT_MODULE_X:
		return fill_module_x(e, type);
	case PPME_SYSCALL_BPF_2_E:
	case PPME_SYSCALL_BPF_2_X:
		return fill_bpf(e, type);
	case PPME_SYSCALL_MOUNT_E:
	case PPME_SYSCALL_MOUNT_X:
		return fill_mount(e, type);
	case PPME_SYSCALL_UNLINKAT_2_X:
		return fill_unlinkat_x(e, type);
	case PPME_SYSCALL_RENAMEAT_X:
		return fill_renameat_x(e, type);
	case PPME_SYSCALL_MKDIR_2_E:
	case PPME_SYSCALL_MKDIR_2_X:
		return fill_mkdir(e, type);
	case PPME_SYSCALL_MEMFD_CREATE_X:
		return fill_memfd_x(e, type);
	case PPME_SYSCALL_PTRACE_E:
	case PPME_SYSCALL_PTRACE_X:
		return fill_ptrace(e, type);
	case PPME_SYSCALL_CLONE_20_X:
	case PPME_SYSCALL_CLONE3_X:
	case PPME_SYSCALL_FORK_20_X:
	case PPME_SYSCALL_VFORK_20_X:
		return fill_clone_x(e, type);
	case PPME_SYSCALL_EXECVE_19_E:
	case PPME_SYSCALL_EXECVEAT_E:
		return fill_execve_e(e, type);
	case PPME_SYSCALL_EXECVE_19_X:
	case PPME_SYSCALL_EXECVEAT_X:
		return fill_execve_x(e, type);
	default:
		/* a dedicated event this module does not fill yet */
		return fill_generic(e, PPME_GENERIC_E + (type & 1));
	}
}
