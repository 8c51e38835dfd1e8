/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Param writers: append one param to the record being built (its length
 * goes in the next slot of the length array).  Once a write does not fit,
 * e->overflow is set, nothing more is written and fk_evt_submit() drops
 * the record.  A param that cannot be read (user memory fault) is stored
 * empty and counted, the record still goes.
 */
#ifndef FK_RECORD_H
#define FK_RECORD_H

#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/sched.h>
/* moved to linux/ in 6.12 */
#if __has_include(<linux/unaligned.h>)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#include "fk.h"

/* Longest single string param (paths, comm, ...). */
#define FK_MAX_STR	4096
/* Largest byte-buffer param ever copied from user memory. */
#define FK_MAX_BYTES	16384

static inline bool fk_slot(struct fk_evt *e)
{
	return !e->overflow && e->nlen < e->nparams;
}

/* Room for len more payload bytes, or NULL (and overflow). */
static inline u8 *fk_room(struct fk_evt *e, u32 len)
{
	if (e->overflow || len > e->limit - e->pos) {
		e->overflow = true;
		return NULL;
	}
	return e->buf + e->pos;
}

static inline void fk_put_len(struct fk_evt *e, u32 len)
{
	if (!fk_slot(e))
		return;
	put_unaligned((u16)len, (u16 *)(e->buf + FK_HDR_LEN + 2 * e->nlen));
	e->nlen++;
}

static inline void fk_put_empty(struct fk_evt *e)
{
	fk_put_len(e, 0);
}

static inline void fk_count_fault(struct fk_evt *e)
{
	e->ring->cnt.n_faults++;
}

/* Raw bytes appended to the current param (no length stored). */
static inline void fk_raw(struct fk_evt *e, const void *src, u32 len)
{
	u8 *p = fk_room(e, len);

	if (!p)
		return;
	memcpy(p, src, len);
	e->pos += len;
}

#define FK_DEFINE_RAW(name, type)					\
static inline void fk_raw_##name(struct fk_evt *e, type v)		\
{									\
	u8 *p = fk_room(e, sizeof(type));				\
									\
	if (!p)								\
		return;							\
	put_unaligned(v, (type *)p);					\
	e->pos += sizeof(type);						\
}									\
static inline void fk_put_##name(struct fk_evt *e, type v)		\
{									\
	if (!fk_slot(e))						\
		return;							\
	fk_raw_##name(e, v);						\
	fk_put_len(e, sizeof(type));					\
}
FK_DEFINE_RAW(u8, u8)
FK_DEFINE_RAW(u16, u16)
FK_DEFINE_RAW(u32, u32)
FK_DEFINE_RAW(u64, u64)
FK_DEFINE_RAW(s64, s64)

/* A kernel NUL-terminated string (at most FK_MAX_STR bytes with the NUL). */
static inline void fk_put_kstr(struct fk_evt *e, const char *s)
{
	u32 n;
	u8 *p;

	if (!fk_slot(e))
		return;
	if (!s) {
		fk_put_len(e, 0);
		return;
	}
	n = strnlen(s, FK_MAX_STR - 1);
	p = fk_room(e, n + 1);
	if (!p)
		return;
	memcpy(p, s, n);
	p[n] = 0;
	e->pos += n + 1;
	fk_put_len(e, n + 1);
}

/*
 * A user NUL-terminated string, truncated to `cap` (<= FK_MAX_STR) bytes
 * with the NUL (as bpf_probe_read_user_str).  A fault -- an unmapped
 * pointer, or no NUL before an unmapped page -- stores an empty param.
 * Returns the length stored.
 */
static inline u32 fk_put_user_str_n(struct fk_evt *e, unsigned long uaddr,
				    u32 cap)
{
	u32 max;
	long r;
	u8 *p;

	if (!fk_slot(e))
		return 0;
	if (!uaddr) {
		fk_put_len(e, 0);
		return 0;
	}
	cap = min_t(u32, cap, FK_MAX_STR);
	max = min_t(u32, cap, e->limit - e->pos);
	p = fk_room(e, 1);
	if (!p)
		return 0;
	/* strncpy_from_user_nofault() is not exported: same thing by hand */
	pagefault_disable();
	r = strncpy_from_user((char *)p, (const char __user *)uaddr, max);
	pagefault_enable();
	if (r < 0) {
		fk_count_fault(e);
		fk_put_len(e, 0);
		return 0;
	}
	if (r >= max) {
		/* not NUL-terminated within max bytes */
		if (max < cap) {
			e->overflow = true;
			return 0;
		}
		p[max - 1] = 0;
		r = max - 1;
	}
	e->pos += r + 1;
	fk_put_len(e, r + 1);
	return r + 1;
}

static inline u32 fk_put_user_str(struct fk_evt *e, unsigned long uaddr)
{
	return fk_put_user_str_n(e, uaddr, FK_MAX_STR);
}

/* len raw user bytes appended to the current param; returns bytes stored. */
static inline u32 fk_raw_user_bytes(struct fk_evt *e, unsigned long uaddr,
				    u32 len)
{
	u8 *p;

	if (len > FK_MAX_BYTES)
		len = FK_MAX_BYTES;
	if (!len || !uaddr)
		return 0;
	p = fk_room(e, len);
	if (!p)
		return 0;
	if (copy_from_user_nofault(p, (const void __user *)uaddr, len)) {
		fk_count_fault(e);
		return 0;
	}
	e->pos += len;
	return len;
}

static inline void fk_put_user_bytes(struct fk_evt *e, unsigned long uaddr,
				     u32 len)
{
	if (fk_slot(e))
		fk_put_len(e, fk_raw_user_bytes(e, uaddr, len));
}

#endif /* FK_RECORD_H */
