// SPDX-License-Identifier: GPL-2.0-only
/*
 * A record is built in place in the ring, after head: header, then the
 * table's nparams u16 lengths, then the params.  It becomes visible only
 * when fk_evt_submit() moves head past it.
 */
#include <linux/sched.h>
#include <linux/timekeeping.h>

#include "record.h"

void fk_evt_begin(struct fk_evt *e, u16 type)
{
	e->buf = fk_ring_reserve(e->ring, &e->limit, &e->ring_limited);
	e->type = type;
	e->nparams = fk_event_nparams(type);
	e->nlen = 0;
	e->overflow = false;
	e->pos = FK_HDR_LEN + 2 * e->nparams;
	if (e->pos > e->limit) {
		e->overflow = true;
		return;
	}
	/* timestamp taken when the event starts, as the eBPF probe */
	put_unaligned((u64)ktime_get_real_ns(), (u64 *)e->buf);
}

void fk_evt_submit(struct fk_evt *e)
{
	struct fk_ring *ring = e->ring;

	/* Params the filler did not store go out empty. */
	while (fk_slot(e))
		fk_put_len(e, 0);
	if (e->overflow) {
		if (e->ring_limited)
			ring->cnt.n_drops_buffer++;
		else
			ring->cnt.n_drops_max_size++;
		fk_ring_sync_ctrl(ring);
		return;
	}
	put_unaligned((u64)current->pid, (u64 *)(e->buf + 8));
	put_unaligned((u32)e->pos, (u32 *)(e->buf + 16));
	put_unaligned((u16)e->type, (u16 *)(e->buf + 20));
	put_unaligned((u32)e->nparams, (u32 *)(e->buf + 22));
	fk_ring_commit(ring, e->pos);
}
