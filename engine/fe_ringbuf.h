/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Draining the eBPF probe's BPF ring buffers (one per CPU or CPU group)
 * into one buffer of bare records in timestamp order, in one call and one
 * copy: no Python object per record or per ring.
 *
 * A BPF ring buffer (kernel/bpf/ringbuf.c) as mapped by userspace: a
 * consumer page (read-write, consumer position at offset 0), then a
 * producer page (producer position at offset 0) followed by the data pages
 * mapped twice in a row, so a record never wraps.  Each record: a u32
 * length word whose top bits say busy (being written) / discarded, a u32
 * page offset, the data, padding to 8 bytes.
 *
 * A drain is two passes over each ring:
 *   1. fe_ring_scan: up to the producer position (acquire), stop at the
 *      first busy record or once the byte budget is spent; note the end.
 *   2. fe_ring_copy / fe_rings_merge: copy the records up to that end into
 *      the output (framing removed, discarded records skipped), then
 *      fe_ring_release publishes the end as the consumer position
 *      (release): the kernel may reuse the space only after the copy.
 * Pass 2 only reads what pass 1 saw committed, so it needs no atomics, and
 * the first pass sizes the output exactly.
 *
 * Each ring's records are in time order (a ring is written by its CPUs
 * with migration disabled); the merge is a k-way merge on the header's
 * timestamp, ties going to the lower ring, as libscap interleaves its
 * per-CPU buffers.  With one ring holding records it is a plain copy.
 */
#ifndef FE_RINGBUF_H
#define FE_RINGBUF_H

#include <stdint.h>
#include <string.h>

#define FE_RB_BUSY	0x80000000u
#define FE_RB_DISCARD	0x40000000u
#define FE_RB_HDR	8

struct fe_ring {
	const uint8_t *data;		/* first data page (mapped twice) */
	const uint64_t *producer_pos;	/* written by the kernel */
	uint64_t *consumer_pos;		/* written by us */
	uint64_t mask;			/* data size - 1 (a power of two) */
	/* set by fe_ring_scan for one drain */
	uint64_t start;			/* consumer position at the scan */
	uint64_t end;			/* records in [start, end) are ready */
	uint64_t bytes;			/* their payload, framing excluded */
	uint64_t count;			/* records to deliver (not discarded) */
};

static inline uint64_t fe_rb_step(uint32_t len)
{
	return ((uint64_t)len + FE_RB_HDR + 7) & ~(uint64_t)7;
}

static inline uint64_t fe_ring_pending(const struct fe_ring *r)
{
	return __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
}

/*
 * Pass 1: find the ready records, at most `budget` payload bytes (but at
 * least one record, however long).  Returns the payload bytes.
 */
static inline uint64_t fe_ring_scan(struct fe_ring *r, uint64_t budget)
{
	uint64_t prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	uint64_t pos = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);

	r->start = pos;
	r->bytes = 0;
	r->count = 0;
	while (pos < prod) {
		const uint32_t *hp = (const uint32_t *)(r->data + (pos & r->mask));
		uint32_t hdr = __atomic_load_n(hp, __ATOMIC_ACQUIRE);
		uint32_t len;

		if (hdr & FE_RB_BUSY)
			break;
		len = hdr & ~(FE_RB_BUSY | FE_RB_DISCARD);
		/* a length the ring cannot hold: not a record, stop here */
		if ((uint64_t)len + FE_RB_HDR > r->mask + 1)
			break;
		if (!(hdr & FE_RB_DISCARD)) {
			if (r->count && r->bytes + len > budget)
				break;
			r->bytes += len;
			r->count++;
		}
		pos += fe_rb_step(len);
	}
	r->end = pos;
	return r->bytes;
}

/* The record at ring position pos: its length word and its payload. */
static inline uint32_t fe_ring_hdr(const struct fe_ring *r, uint64_t pos)
{
	uint32_t hdr;

	memcpy(&hdr, r->data + (pos & r->mask), sizeof(hdr));
	return hdr;
}

static inline const uint8_t *fe_ring_rec(const struct fe_ring *r,
					 uint64_t pos)
{
	return r->data + (pos & r->mask) + FE_RB_HDR;
}

/* Pass 2, one ring: its scanned records end to end.  Returns bytes written. */
static inline uint64_t fe_ring_copy(const struct fe_ring *r, uint8_t *out)
{
	uint64_t pos = r->start, filled = 0;

	while (pos < r->end) {
		uint32_t hdr = fe_ring_hdr(r, pos);
		uint32_t len = hdr & ~(FE_RB_BUSY | FE_RB_DISCARD);

		if (!(hdr & FE_RB_DISCARD)) {
			memcpy(out + filled, fe_ring_rec(r, pos), len);
			filled += len;
		}
		pos += fe_rb_step(len);
	}
	return filled;
}

/* A merge cursor: one ring's next record to deliver and its timestamp. */
struct fe_merge_head {
	uint64_t ts;
	uint64_t pos;
	uint32_t ring;
	uint32_t len;
};

/* Skip discarded records; 0 when the ring's scanned records are done. */
static inline int fe_head_load(const struct fe_ring *r,
			       struct fe_merge_head *h)
{
	while (h->pos < r->end) {
		uint32_t hdr = fe_ring_hdr(r, h->pos);

		h->len = hdr & ~(FE_RB_BUSY | FE_RB_DISCARD);
		if (!(hdr & FE_RB_DISCARD)) {
			h->ts = 0;	/* too short for a header: first, let
					 * the decoder report it */
			if (h->len >= sizeof(h->ts))
				memcpy(&h->ts, fe_ring_rec(r, h->pos),
				       sizeof(h->ts));
			return 1;
		}
		h->pos += fe_rb_step(h->len);
	}
	return 0;
}

static inline int fe_head_before(const struct fe_merge_head *a,
				 const struct fe_merge_head *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->ring < b->ring);
}

static inline void fe_heap_down(struct fe_merge_head *heap, uint32_t n,
				uint32_t i)
{
	struct fe_merge_head tmp;

	for (;;) {
		uint32_t l = 2 * i + 1, best = i;

		if (l < n && fe_head_before(&heap[l], &heap[best]))
			best = l;
		if (l + 1 < n && fe_head_before(&heap[l + 1], &heap[best]))
			best = l + 1;
		if (best == i)
			return;
		tmp = heap[i];
		heap[i] = heap[best];
		heap[best] = tmp;
		i = best;
	}
}

/*
 * Pass 2, several rings: their scanned records merged by timestamp into
 * out (sized for the sum of their bytes).  `heap` has room for n heads;
 * `origin`, when not NULL, gets the ring of each record delivered.
 * Returns the bytes written.
 */
static inline uint64_t fe_rings_merge(const struct fe_ring *rings, uint32_t n,
				      struct fe_merge_head *heap,
				      uint8_t *out, uint8_t *origin)
{
	uint64_t filled = 0, k = 0;
	uint32_t i, live = 0;

	for (i = 0; i < n; i++) {
		heap[live].ring = i;
		heap[live].pos = rings[i].start;
		if (fe_head_load(&rings[i], &heap[live]))
			live++;
	}
	for (i = live / 2; i-- > 0;)
		fe_heap_down(heap, live, i);
	while (live) {
		struct fe_merge_head *h = &heap[0];
		const struct fe_ring *r = &rings[h->ring];

		memcpy(out + filled, fe_ring_rec(r, h->pos), h->len);
		filled += h->len;
		if (origin)
			origin[k++] = (uint8_t)h->ring;
		h->pos += fe_rb_step(h->len);
		if (!fe_head_load(r, h))
			heap[0] = heap[--live];
		fe_heap_down(heap, live, 0);
	}
	return filled;
}

/* Hand the scanned space back to the kernel (after the copy). */
static inline void fe_ring_release(struct fe_ring *r)
{
	__atomic_store_n(r->consumer_pos, r->end, __ATOMIC_RELEASE);
}

#endif /* FE_RINGBUF_H */
