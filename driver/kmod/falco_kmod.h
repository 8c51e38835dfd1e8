/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * falco kernel module: the userspace API (one header for the module, the
 * VM test program and the capture reader).
 *
 * One ring per CPU, device /dev/falco<CPU>.  A consumer opens the device
 * (once: a second open is -EBUSY), maps
 *
 *   offset 0                     the control page (struct fk_ctrl), RW;
 *   offset FK_MMAP_DATA_OFFSET   the data area, read-only, 2 * data_size
 *                                bytes: the same pages mapped twice back
 *                                to back, so [tail, head) is always one
 *                                contiguous span and a record never wraps.
 *
 * Records are the libscap event records of driver/falco_events.h laid end
 * to end without padding (the same bytes the eBPF probe writes).
 * head and tail are byte counters that only grow; a position in the data
 * area is counter % data_size.  The kernel publishes head with release
 * semantics after a record is complete; the consumer reads head with
 * acquire, parses [tail, head), then stores the new tail with release.
 *
 * ioctls use one magic, fixed-width arguments, pointers as __u64.
 */
#ifndef FALCO_KMOD_H
#define FALCO_KMOD_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped when anything in this file changes incompatibly. */
#define FK_API_VERSION		1
/* Device name prefix: /dev/falco0, /dev/falco1, ... */
#define FK_DEVICE_NAME		"falco"
#define FK_MODULE_NAME		"falco"

/* Native syscall numbers covered by the interest bitmap. */
#define FK_SYSCALL_NR_MAX	512
/* Largest record written; bigger ones are dropped and counted. */
#define FK_MAX_EVENT		(64 * 1024)
/* Bytes of read/write data captured by default, and the ceiling. */
#define FK_DEFAULT_SNAPLEN	80
#define FK_MAX_SNAPLEN		16384
/* Bytes of execve argv / env captured. */
#define FK_ARGV_MAX		4096

/* mmap layout */
#define FK_CTRL_SIZE		4096
#define FK_MMAP_CTRL_OFFSET	0
#define FK_MMAP_DATA_OFFSET	FK_CTRL_SIZE

struct fk_counters {
	__u64 n_evts;		/* records written to the ring */
	__u64 n_drops_buffer;	/* ring full: record lost */
	__u64 n_drops_max_size;	/* record larger than FK_MAX_EVENT */
	__u64 n_faults;		/* user memory unreadable: param left empty */
	__u64 n_preemptions;	/* probe re-entered on this CPU: skipped */
	__u64 n_filtered;	/* syscalls seen but not in the interest mask */
};

/* The control page.  Offsets are part of the ABI. */
struct fk_ctrl {
	/* written by the kernel */
	__u64 head;			/*   0: bytes produced */
	__u32 api_version;		/*   8: FK_API_VERSION */
	__u32 cpu;			/*  12: CPU of this ring */
	__u64 data_size;		/*  16: bytes, a power of two */
	__u64 data_offset;		/*  24: mmap offset of the data area */
	struct fk_counters counters;	/*  32: mirror of FK_IOC_GET_COUNTERS */
	__u64 reserved0[6];		/*  80 */
	/* written by the consumer */
	__u64 tail;			/* 128: bytes consumed */
	__u64 reserved1[7];		/* 136 */
};

/* FK_IOC_SET_MASK argument: a bitmap of native syscall numbers. */
struct fk_mask {
	__u32 nbits;	/* bits in the bitmap: 64..FK_SYSCALL_NR_MAX, x64 */
	__u32 flags;	/* must be 0 */
	__u64 bitmap;	/* user pointer to nbits / 8 bytes */
};

#define FK_IOC_MAGIC		0xfa
#define FK_IOC_GET_API_VERSION	_IOR(FK_IOC_MAGIC, 0x01, __u32)
#define FK_IOC_ENABLE		_IO(FK_IOC_MAGIC, 0x02)
#define FK_IOC_DISABLE		_IO(FK_IOC_MAGIC, 0x03)
#define FK_IOC_SET_MASK		_IOW(FK_IOC_MAGIC, 0x04, struct fk_mask)
#define FK_IOC_SET_SNAPLEN	_IOW(FK_IOC_MAGIC, 0x05, __u32)
#define FK_IOC_GET_COUNTERS	_IOR(FK_IOC_MAGIC, 0x06, struct fk_counters)

#endif /* FALCO_KMOD_H */
