// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * kbench: overhead of a kernel driver on a syscall loop, run inside the VM
 * by scripts/kmod_vm_test.sh (static, no libc beyond glibc's static one).
 *
 *   kbench run none|falco|scap SECONDS ROUND
 *	A getppid() loop pinned to CPU 0 for SECONDS.  With falco or scap a
 *	child first opens every ring of that module (/dev/falco<N> or
 *	/dev/scap<N>), maps it, enables capture and drains it the way
 *	libscap's kmod engine does, until the loop is over; then the last
 *	records are drained and the module's counters read.  One line:
 *	  KBENCH {"round": R, "mode": M, "ns_per_op": ..., "ops": ...,
 *	          "records": ..., "loop_records": ..., "evts": ...,
 *	          "drops": ..., "rings": ...}
 *	records: records read from the rings; loop_records: those of the
 *	loop's thread (2 per getppid when nothing is lost); evts / drops:
 *	the module's own counters, summed over the rings.
 *
 *   kbench actions
 *	Real actions for the alert check (falco run in the VM): reads
 *	/etc/shadow, runs "sh -c true" (its parent is kbench, not a shell),
 *	connects to 127.0.0.1:KB_PORT.  Prints "KBENCH-ACTIONS done <pid>".
 *
 * The drain policy is libscap's (2022, userspace/libscap/scap.c,
 * refill_read_buffers): when every ring holds less than 128 KiB, sleep
 * (500 us, doubling up to 30 ms while they stay that empty), then consume
 * whatever every ring holds.  The same consumer code drains both modules,
 * so the difference between the two rows is the kernel side.
 *
 * Built with -I driver/kmod (falco_kmod.h) and -I the extracted
 * falcosecurity-scap-dkms source (ppm_events_public.h, ppm_ringbuffer.h);
 * without -DKB_SCAP the scap mode is left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "falco_kmod.h"
#ifdef KB_SCAP
#include "ppm_events_public.h"
#include "ppm_ringbuffer.h"
#endif

#define MAX_CPUS	64
#define HDR_LEN		26	/* ts u64, tid u64, len u32, type u16, nparams u32 */
#define MIN_READ	(128 * 1024)
#define WAIT_US_START	500
#define WAIT_US_MAX	30000
#define BATCH		64
#define KB_PORT		47123

enum mode { M_NONE, M_FALCO, M_SCAP };

struct ring {
	int fd;
	void *ctrl;		/* struct fk_ctrl or struct ppm_ring_buffer_info */
	const uint8_t *data;	/* mapped twice back to back */
	uint64_t size;
};

struct result {
	uint64_t records, loop_records, bytes, evts, drops, bad;
	int rings;
	int err;		/* errno of the first failure, 0 if none */
	char what[64];
};

static struct ring rings[MAX_CPUS];
static int nrings;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int fail(struct result *res, const char *what)
{
	res->err = errno ? errno : EIO;
	snprintf(res->what, sizeof(res->what), "%s", what);
	return -1;
}

/* ---- open / map ------------------------------------------------------ */

static int open_falco(struct result *res)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char path[32];
	int cpu;

	for (cpu = 0; cpu < ncpu && cpu < MAX_CPUS; cpu++) {
		struct ring *r = &rings[nrings];
		struct fk_ctrl *c;
		void *d;

		snprintf(path, sizeof(path), "/dev/falco%d", cpu);
		r->fd = open(path, O_RDWR | O_CLOEXEC);
		if (r->fd < 0) {
			if (errno == ENODEV || errno == ENOENT)
				continue;	/* CPU offline */
			return fail(res, "open /dev/falco");
		}
		c = mmap(NULL, FK_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 r->fd, FK_MMAP_CTRL_OFFSET);
		if (c == MAP_FAILED)
			return fail(res, "mmap falco ctrl");
		d = mmap(NULL, 2 * c->data_size, PROT_READ, MAP_SHARED, r->fd,
			 c->data_offset);
		if (d == MAP_FAILED)
			return fail(res, "mmap falco data");
		r->ctrl = c;
		r->data = d;
		r->size = c->data_size;
		nrings++;
	}
	for (cpu = 0; cpu < nrings; cpu++)
		if (ioctl(rings[cpu].fd, FK_IOC_ENABLE, 0) < 0)
			return fail(res, "FK_IOC_ENABLE");
	return nrings ? 0 : fail(res, "no /dev/falco*");
}

#ifdef KB_SCAP
/* As libscap's scap_open_live_int: every CPU's device, from one thread
 * (scap.ko keys its consumer on the opening task); info page then data. */
static int open_scap(struct result *res)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char path[32];
	int cpu;

	for (cpu = 0; cpu < ncpu && cpu < MAX_CPUS; cpu++) {
		struct ring *r = &rings[nrings];
		void *c, *d;

		snprintf(path, sizeof(path), "/dev/scap%d", cpu);
		r->fd = open(path, O_RDWR | O_CLOEXEC);
		if (r->fd < 0) {
			if (errno == ENODEV || errno == ENOENT)
				continue;
			return fail(res, "open /dev/scap");
		}
		c = mmap(NULL, sizeof(struct ppm_ring_buffer_info),
			 PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		if (c == MAP_FAILED)
			return fail(res, "mmap scap info");
		d = mmap(NULL, 2 * (size_t)RING_BUF_SIZE, PROT_READ, MAP_SHARED,
			 r->fd, 0);
		if (d == MAP_FAILED)
			return fail(res, "mmap scap data");
		r->ctrl = c;
		r->data = d;
		r->size = RING_BUF_SIZE;
		nrings++;
	}
	for (cpu = 0; cpu < nrings; cpu++)
		if (ioctl(rings[cpu].fd, PPM_IOCTL_ENABLE_CAPTURE, 0) < 0)
			return fail(res, "PPM_IOCTL_ENABLE_CAPTURE");
	return nrings ? 0 : fail(res, "no /dev/scap*");
}
#endif

/* ---- drain ----------------------------------------------------------- */

/* Bytes ready in r and where they start. */
static uint64_t pending(enum mode m, struct ring *r, uint64_t *start)
{
	if (m == M_FALCO) {
		struct fk_ctrl *c = r->ctrl;
		uint64_t head = __atomic_load_n(&c->head, __ATOMIC_ACQUIRE);
		uint64_t tail = c->tail;

		*start = tail % r->size;
		return head - tail;
	}
#ifdef KB_SCAP
	{
		struct ppm_ring_buffer_info *i = r->ctrl;
		uint32_t head = i->head, tail = i->tail;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		*start = tail;
		return tail <= head ? head - tail : r->size - tail + head;
	}
#endif
	return 0;
}

static void release(enum mode m, struct ring *r, uint64_t n)
{
	if (m == M_FALCO) {
		struct fk_ctrl *c = r->ctrl;

		__atomic_store_n(&c->tail, c->tail + n, __ATOMIC_RELEASE);
		return;
	}
#ifdef KB_SCAP
	{
		struct ppm_ring_buffer_info *i = r->ctrl;
		uint64_t t = i->tail + n;

		__atomic_thread_fence(__ATOMIC_RELEASE);
		i->tail = (uint32_t)(t >= r->size ? t - r->size : t);
	}
#endif
}

/* Walk the records of one ring's ready span; hand the span back. */
static void consume(enum mode m, struct ring *r, uint64_t tid,
		    struct result *res)
{
	uint64_t start, n = pending(m, r, &start), off = 0;
	const uint8_t *p = r->data + start;

	while (off + HDR_LEN <= n) {
		uint64_t etid;
		uint32_t len;

		memcpy(&etid, p + off + 8, 8);
		memcpy(&len, p + off + 16, 4);
		if (len < HDR_LEN || off + len > n) {
			res->bad++;
			break;
		}
		res->records++;
		if (etid == tid)
			res->loop_records++;
		off += len;
	}
	res->bytes += n;
	if (n)
		release(m, r, n);
}

static void counters(enum mode m, struct result *res)
{
	int i;

	for (i = 0; i < nrings; i++) {
		if (m == M_FALCO) {
			struct fk_counters c;

			if (ioctl(rings[i].fd, FK_IOC_GET_COUNTERS, &c) == 0) {
				res->evts += c.n_evts;
				res->drops += c.n_drops_buffer + c.n_drops_max_size;
			}
		}
#ifdef KB_SCAP
		else {
			struct ppm_ring_buffer_info *s = rings[i].ctrl;

			res->evts += s->n_evts;
			res->drops += s->n_drops_buffer + s->n_drops_pf;
		}
#endif
	}
}

static void consumer(enum mode m, uint64_t tid, int ready_fd, int stop_fd,
		     int res_fd)
{
	struct result res = { 0 };
	struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };
	unsigned int wait_us = WAIT_US_START;
	int rc, i;

	pin(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0);
	rc = m == M_FALCO ? open_falco(&res) :
#ifdef KB_SCAP
		open_scap(&res);
#else
		fail(&res, "built without scap headers");
#endif
	res.rings = nrings;
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	if (rc == 0) {
		for (;;) {
			int stopping = poll(&pfd, 1, 0) > 0, empty = 1;
			uint64_t start;

			for (i = 0; i < nrings; i++)
				if (pending(m, &rings[i], &start) >= MIN_READ)
					empty = 0;
			if (empty && !stopping) {
				usleep(wait_us);
				wait_us = wait_us * 2 > WAIT_US_MAX ?
					  WAIT_US_MAX : wait_us * 2;
			} else {
				wait_us = WAIT_US_START;
			}
			for (i = 0; i < nrings; i++)
				consume(m, &rings[i], tid, &res);
			if (stopping)
				break;
		}
		counters(m, &res);
		for (i = 0; i < nrings; i++)
			ioctl(rings[i].fd, m == M_FALCO ? FK_IOC_DISABLE :
#ifdef KB_SCAP
			      PPM_IOCTL_DISABLE_CAPTURE,
#else
			      0,
#endif
			      0);
	}
	if (write(res_fd, &res, sizeof(res)) != sizeof(res))
		_exit(1);
	_exit(0);
}

/* ---- the loop ---------------------------------------------------------- */

static int run(enum mode m, const char *mname, double seconds, int round)
{
	int ready[2], stop[2], out[2], i;
	struct result res = { 0 };
	uint64_t t0, t1, end, ops = 0;
	pid_t child = -1;
	char c;

	pin(0);
	if (m != M_NONE) {
		if (pipe(ready) || pipe(stop) || pipe(out))
			return 1;
		child = fork();
		if (child == 0) {
			consumer(m, (uint64_t)getppid(), ready[1], stop[0], out[1]);
			_exit(1);
		}
		if (read(ready[0], &c, 1) != 1)
			return 1;
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	do {
		for (i = 0; i < BATCH; i++)
			syscall(SYS_getppid);
		ops += BATCH;
	} while (now_ns() < end);
	t1 = now_ns();
	if (m != M_NONE) {
		if (write(stop[1], "s", 1) != 1 ||
		    read(out[0], &res, sizeof(res)) != sizeof(res))
			res.err = EPIPE;
		waitpid(child, NULL, 0);
	}
	printf("KBENCH {\"round\": %d, \"mode\": \"%s\", \"ns_per_op\": %.2f, "
	       "\"ops\": %llu, \"seconds\": %.3f, \"records\": %llu, "
	       "\"loop_records\": %llu, \"bytes\": %llu, \"evts\": %llu, "
	       "\"drops\": %llu, \"bad\": %llu, \"rings\": %d, \"error\": \"%s%s%s\"}\n",
	       round, mname, (double)(t1 - t0) / ops, (unsigned long long)ops,
	       (t1 - t0) / 1e9, (unsigned long long)res.records,
	       (unsigned long long)res.loop_records,
	       (unsigned long long)res.bytes, (unsigned long long)res.evts,
	       (unsigned long long)res.drops, (unsigned long long)res.bad,
	       res.rings, res.what, res.err ? ": " : "",
	       res.err ? strerror(res.err) : "");
	fflush(stdout);
	return res.err ? 1 : 0;
}

/* ---- actions for the alert check ------------------------------------- */

static int actions(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(KB_PORT) };
	int fd, lfd, one = 1;
	char buf[64];
	pid_t pid;

	fd = open("/etc/shadow", O_RDONLY);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf)) < 0)
			perror("read /etc/shadow");
		close(fd);
	} else {
		perror("open /etc/shadow");
	}

	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1))
		perror("listen");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		perror("connect 127.0.0.1");
	close(fd);
	close(lfd);
	printf("KBENCH-ACTIONS done %d\n", (int)getpid());
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "actions"))
		return actions();
	if (argc >= 5 && !strcmp(argv[1], "run")) {
		enum mode m;

		if (!strcmp(argv[2], "none"))
			m = M_NONE;
		else if (!strcmp(argv[2], "falco"))
			m = M_FALCO;
		else if (!strcmp(argv[2], "scap"))
			m = M_SCAP;
		else
			goto usage;
		return run(m, argv[2], atof(argv[3]), atoi(argv[4]));
	}
usage:
	fprintf(stderr, "usage: %s run none|falco|scap SECONDS ROUND | actions\n",
		argv[0]);
	return 2;
}
