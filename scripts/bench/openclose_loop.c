/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/* Workload: openat("/dev/null") + close per op. */
#define WL_NAME "openclose"
#define WL_SYSCALLS "openat+close"
#include "bench_loop.h"
#include <fcntl.h>

static void wl_setup(void) {}

static void wl_op(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0)
		close(fd);
}
