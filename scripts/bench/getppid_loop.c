/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/* Workload: one getppid() per op (raw syscall, nothing cached by libc). */
#define WL_NAME "getppid"
#define WL_SYSCALLS "getppid"
#include "bench_loop.h"
#include <sys/syscall.h>

static void wl_setup(void) {}

static void wl_op(void)
{
	syscall(SYS_getppid);
}
