/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/* Workload: fork + execve("/bin/true") + wait per op. */
#define WL_NAME "forkexec"
#define WL_SYSCALLS "fork+execve(/bin/true)+wait4"
#define WL_BATCH 1
#include "bench_loop.h"
#include <sys/wait.h>

static void wl_setup(void) {}

static void wl_op(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}
