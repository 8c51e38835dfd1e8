/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/* Workload: socket(AF_INET, SOCK_DGRAM) + connect(127.0.0.1:9) + close
 * per op (UDP: connect succeeds without a peer, no backlog to fill). */
#define WL_NAME "connect"
#define WL_SYSCALLS "socket+connect+close"
#include "bench_loop.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct sockaddr_in wl_addr;

static void wl_setup(void)
{
	wl_addr.sin_family = AF_INET;
	wl_addr.sin_port = htons(9);
	wl_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void wl_op(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd >= 0) {
		connect(fd, (struct sockaddr *)&wl_addr, sizeof(wl_addr));
		close(fd);
	}
}
