// SPDX-License-Identifier: GPL-2.0-only
/*
 * One ring per CPU: a control page and a power-of-two data area whose
 * pages are mapped twice back to back (in the kernel with vmap, in the
 * consumer with two runs of the same pages), so a record written at any
 * offset is contiguous and never wraps.
 *
 * Single producer (the probes on this ring's CPU, preemption disabled),
 * single consumer (the process that opened the device).  The kernel keeps
 * its own head and counters and only publishes copies: nothing the
 * consumer writes in the shared page is trusted, the tail it stores is
 * bounds-checked before use.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/topology.h>

#include "fk.h"

struct fk_ring *fk_ring_alloc(int cpu, u64 size)
{
	unsigned int i, n = size >> PAGE_SHIFT;
	struct fk_ring *ring;
	int node = cpu_to_node(cpu);

	ring = kzalloc(sizeof(*ring), GFP_KERNEL);
	if (!ring)
		return NULL;
	ring->ctrl_page = alloc_pages_node(node, GFP_KERNEL | __GFP_ZERO, 0);
	if (!ring->ctrl_page)
		goto out_free_ring;
	ring->pages = kvcalloc(2 * n, sizeof(*ring->pages), GFP_KERNEL);
	if (!ring->pages)
		goto out_free_ctrl;
	for (i = 0; i < n; i++) {
		ring->pages[i] = alloc_pages_node(node, GFP_KERNEL | __GFP_ZERO,
						  0);
		if (!ring->pages[i])
			goto out_free_pages;
		ring->pages[n + i] = ring->pages[i];
	}
	ring->data = vmap(ring->pages, 2 * n, VM_MAP, PAGE_KERNEL);
	if (!ring->data)
		goto out_free_pages;

	ring->npages = n;
	ring->size = size;
	ring->ctrl = page_address(ring->ctrl_page);
	ring->ctrl->api_version = FK_API_VERSION;
	ring->ctrl->cpu = cpu;
	ring->ctrl->data_size = size;
	ring->ctrl->data_offset = FK_MMAP_DATA_OFFSET;
	atomic_set(&ring->in_use, 0);
	return ring;

out_free_pages:
	while (i--)
		__free_page(ring->pages[i]);
	kvfree(ring->pages);
out_free_ctrl:
	__free_page(ring->ctrl_page);
out_free_ring:
	kfree(ring);
	return NULL;
}

/* Only once no probe can see the ring (after synchronize_rcu()). */
void fk_ring_free(struct fk_ring *ring)
{
	unsigned int i;

	if (!ring)
		return;
	vunmap(ring->data);
	for (i = 0; i < ring->npages; i++)
		__free_page(ring->pages[i]);
	kvfree(ring->pages);
	__free_page(ring->ctrl_page);
	kfree(ring);
}

/* Publish the counters in the control page. */
void fk_ring_sync_ctrl(struct fk_ring *ring)
{
	struct fk_counters *dst = &ring->ctrl->counters;

	WRITE_ONCE(dst->n_evts, ring->cnt.n_evts);
	WRITE_ONCE(dst->n_drops_buffer, ring->cnt.n_drops_buffer);
	WRITE_ONCE(dst->n_drops_max_size, ring->cnt.n_drops_max_size);
	WRITE_ONCE(dst->n_faults, ring->cnt.n_faults);
	WRITE_ONCE(dst->n_preemptions, ring->cnt.n_preemptions);
	WRITE_ONCE(dst->n_filtered, ring->cnt.n_filtered);
}

/*
 * Where the next record goes and how many bytes may be written there:
 * the free space, capped at FK_MAX_EVENT.  *ring_limited tells whether the
 * cap came from the free space (a record that does not fit is then a
 * buffer drop, not an oversized one).  Never blocks.
 */
u8 *fk_ring_reserve(struct fk_ring *ring, u32 *limit, bool *ring_limited)
{
	u64 tail = smp_load_acquire(&ring->ctrl->tail);
	u64 used = ring->head - tail;
	u64 avail;

	/* A tail ahead of head or more than a ring behind is bogus: full. */
	avail = used > ring->size ? 0 : ring->size - used;
	*ring_limited = avail < FK_MAX_EVENT;
	*limit = min_t(u64, avail, FK_MAX_EVENT);
	return ring->data + (ring->head & (ring->size - 1));
}

/* The record of len bytes at head is complete: publish it. */
void fk_ring_commit(struct fk_ring *ring, u32 len)
{
	ring->head += len;
	ring->cnt.n_evts++;
	fk_ring_sync_ctrl(ring);
	/* the record's bytes before the new head */
	smp_store_release(&ring->ctrl->head, ring->head);
}
