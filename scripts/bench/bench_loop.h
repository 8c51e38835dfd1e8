/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Shared driver of the `falco bench live` workloads (scripts/bench/NAME_loop.c).
 *
 * A workload file defines WL_NAME, WL_SYSCALLS ("what one op is"),
 * wl_setup() and wl_op(), then includes this header.
 *
 *   prog SECONDS [OPS_PER_SECOND]
 *
 * prints "pid <pid>" and waits for one line on stdin (the harness says "go"
 * once the consumer under test is ready), then runs wl_op() in a loop for
 * SECONDS (at most OPS_PER_SECOND ops/s when given: paced by busy-waiting on
 * the vDSO clock, so the pacing itself makes no syscalls) and prints one
 * JSON line: ops, seconds, ns per op.  Only the loop is timed.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WL_BATCH
#define WL_BATCH 64		/* ops between two clock reads */
#endif

static void wl_setup(void);
static void wl_op(void);

static inline uint64_t wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	double seconds, rate = 0;
	uint64_t t0, t1, end, ops = 0;
	char line[64];
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SECONDS [OPS_PER_SECOND]\n", argv[0]);
		return 2;
	}
	seconds = atof(argv[1]);
	if (argc > 2)
		rate = atof(argv[2]);
	wl_setup();
	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 3;
	t0 = wl_now();
	end = t0 + (uint64_t)(seconds * 1e9);
	if (rate > 0) {
		double gap = 1e9 / rate;

		for (;;) {
			uint64_t now = wl_now();

			if (now >= end)
				break;
			/* catch up to the schedule, never ahead of it */
			while (ops < (uint64_t)((now - t0) / gap) + 1) {
				wl_op();
				ops++;
			}
		}
	} else {
		do {
			for (i = 0; i < WL_BATCH; i++)
				wl_op();
			ops += WL_BATCH;
		} while (wl_now() < end);
	}
	t1 = wl_now();
	printf("{\"workload\": \"%s\", \"op\": \"%s\", \"ops\": %llu, "
	       "\"seconds\": %.6f, \"ns_per_op\": %.2f, \"rate\": %.0f}\n",
	       WL_NAME, WL_SYSCALLS, (unsigned long long)ops, (t1 - t0) / 1e9,
	       ops ? (double)(t1 - t0) / ops : 0.0, rate);
	return 0;
}
