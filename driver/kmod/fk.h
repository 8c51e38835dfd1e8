/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * falco kernel module: what the module's files share.
 *
 *   main.c     module init / exit, parameters, version stamps
 *   device.c   /dev/falco<CPU>: open (once), release, mmap
 *   ioctl.c    one handler per FK_IOC_* command
 *   ring.c     ring allocation (data pages vmapped twice), reserve/commit
 *   record.c   a record: begin, params (record.h), submit
 *   table.c    the event table (driver/falco_events.h) compiled in once
 *   probes.c   tracepoint lookup / attach, syscall dispatch
 *   fillers.c  one filler per event: the record's params in table order
 */
#ifndef FK_H
#define FK_H

#include <linux/types.h>
#include <linux/bitmap.h>
#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/cdev.h>
#include <linux/rcupdate.h>

#include "falco_kmod.h"

/* Size of the packed record header {u64 ts; u64 tid; u32 len; u16 type;
 * u32 nparams}. */
#define FK_HDR_LEN	26

/* One ring: lives from open to release of its device. */
struct fk_ring {
	struct fk_ctrl *ctrl;		/* control page, shared with the user */
	struct page *ctrl_page;
	struct page **pages;		/* 2 * npages: the data pages twice */
	unsigned int npages;		/* data pages */
	u8 *data;			/* kernel vmap of pages[] */
	u64 size;			/* data bytes, a power of two */
	u64 head;			/* bytes produced (the kernel's copy) */
	struct fk_counters cnt;		/* authoritative counters */
	atomic_t in_use;		/* re-entrancy guard of the producer */
	bool capturing;			/* FK_IOC_ENABLE / FK_IOC_DISABLE */
	u32 snaplen;			/* read/write data bytes captured */
	pid_t owner_tgid;		/* the consumer: its syscalls are skipped */
	DECLARE_BITMAP(interest, FK_SYSCALL_NR_MAX);
};

/* One device per possible CPU. */
struct fk_dev {
	struct cdev cdev;
	struct device *device;
	int cpu;
	atomic_t opened;		/* 1 while a consumer holds the device */
	struct mutex lock;		/* serializes ioctl / mmap / release */
	struct fk_ring *ring;		/* owned while opened */
	struct fk_ring __rcu *live;	/* what the probes see */
};

extern struct fk_dev *fk_devs;
extern unsigned int fk_ring_bytes;

/* ring.c */
struct fk_ring *fk_ring_alloc(int cpu, u64 size);
void fk_ring_free(struct fk_ring *ring);
void fk_ring_sync_ctrl(struct fk_ring *ring);
u8 *fk_ring_reserve(struct fk_ring *ring, u32 *limit, bool *ring_limited);
void fk_ring_commit(struct fk_ring *ring, u32 len);

/* A record being built directly in the ring, after head. */
struct fk_evt {
	struct fk_ring *ring;
	u8 *buf;		/* record start (ring data + head % size) */
	u32 limit;		/* bytes writable at buf */
	u32 pos;		/* next free payload byte */
	u16 type;		/* event being built */
	u16 nparams;		/* params the record carries */
	u16 nlen;		/* params stored so far */
	bool overflow;		/* a write did not fit */
	bool ring_limited;	/* limit came from free space, not max size */
	u32 nr;			/* native syscall number */
	long ret;		/* syscall return value (exit) */
	unsigned long args[6];	/* syscall arguments */
};

/* record.c: start / finish a record (the param writers are in record.h) */
void fk_evt_begin(struct fk_evt *e, u16 type);
void fk_evt_submit(struct fk_evt *e);

/* fillers.c */
void fk_fill(struct fk_evt *e, u16 type);
void fk_fill_procexit(struct fk_evt *e, struct task_struct *t);

/* table.c */
u16 fk_event_nparams(u16 type);
bool fk_syscall_route(u32 nr, u16 *enter_event, u16 *ppm_sc);

/* probes.c */
int fk_probes_get(void);
void fk_probes_put(void);
int fk_probes_init(void);

/* device.c */
int fk_devices_create(void);
void fk_devices_destroy(void);

/* ioctl.c */
long fk_ioctl(struct file *filp, unsigned int cmd, unsigned long arg);

#endif /* FK_H */
