// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * kmod_test: the falco module's in-VM test, a static program run by the
 * initramfs /init after insmod.  It opens every /dev/falco<CPU>, maps the
 * rings, makes a child do real syscalls, reads the records back through
 * mmap and checks their types and params against what the child did, then
 * the ioctl and lifetime error paths.
 *
 * Output (serial console), one line each:
 *   KMODTEST ok <name>
 *   KMODTEST FAIL <name>: <why>
 *   KMODTEST-RECORDS <hex>        the workload's records, for the host
 *   KMODTEST-VERDICT {"pass": P, "fail": F}
 *
 * Run as `kmod_test --noop N` it only exits with status N (the exec test).
 * Run as `kmod_test --workload` it only runs the workload (on a host
 * under the eBPF probe, for the parity test) and prints
 *   KMODTEST-PIDS <child> <grandchild>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/memfd.h>
#include <linux/openat2.h>

#include "falco_events.h"
#include "falco_bpf.h"
#include "falco_kmod.h"

#define MAX_CPUS	64
#define HDR_LEN		26
#define TEST_FILE	"/tmp/kmodtest.txt"
#define TEST_DATA	"hello-kmod"
#define CREATED_FILE	"/tmp/kmod_created"
#define WRITE_DATA	"written-by-kmod-test"
#define SNAPLEN		8
#define EXEC_STATUS	3
#define DIR_A		"/tmp/kmod_dir_a"
#define DIR_B		"/tmp/kmod_dir_b"
#define MEMFD_NAME	"kmod_memfd"
#define DIR_C		"/tmp/kmod_dir_c"
#define LISTEN_BACKLOG	4
#define EFD_CLOEXEC_VAL	O_CLOEXEC	/* EFD_CLOEXEC, without sys/eventfd.h */

static int n_pass, n_fail;
static int ncpu;
static const char *self_path = "/kmod_test";

struct ring {
	int fd;
	struct fk_ctrl *ctrl;
	const uint8_t *data;
	uint64_t size;
};

static struct ring rings[MAX_CPUS];

/* ---- reporting ------------------------------------------------------ */

static void ok(const char *name)
{
	printf("KMODTEST ok %s\n", name);
	fflush(stdout);
	n_pass++;
}

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("KMODTEST FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	n_fail++;
}

#define CHECK(name, cond, ...)				\
	do {						\
		if (cond)				\
			ok(name);			\
		else					\
			fail(name, __VA_ARGS__);	\
	} while (0)

/* ioctl / syscall expected to fail with errno `want`. */
static void expect_errno(const char *name, long r, int want)
{
	if (r == -1 && errno == want)
		ok(name);
	else
		fail(name, "got r=%ld errno=%d (%s), want errno %d (%s)", r,
		     r == -1 ? errno : 0, r == -1 ? strerror(errno) : "-",
		     want, strerror(want));
}

/* ---- records -------------------------------------------------------- */

struct rec {
	const uint8_t *p;
	uint64_t ts, tid;
	uint32_t len, nparams;
	uint16_t type;
	int cpu;
};

/* Records collected by drain(), copied out of the rings. */
static uint8_t *store;
static size_t store_len, store_cap;
static struct rec *recs;
static size_t nrecs, recs_cap;

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void reset_records(void)
{
	store_len = 0;
	nrecs = 0;
}

/* Param i of r (NULL if absent); *len its length. */
static const uint8_t *param(const struct rec *r, unsigned int i, uint16_t *len)
{
	const uint8_t *p = r->p + HDR_LEN + 2 * r->nparams;
	unsigned int k;

	if (i >= r->nparams)
		return NULL;
	for (k = 0; k < i; k++)
		p += rd16(r->p + HDR_LEN + 2 * k);
	*len = rd16(r->p + HDR_LEN + 2 * i);
	return p;
}

static int64_t param_s64(const struct rec *r, unsigned int i)
{
	uint16_t len;
	const uint8_t *p = param(r, i, &len);

	if (!p)
		return INT64_MIN;
	switch (len) {
	case 1: return *p;
	case 2: return rd16(p);
	case 4: return rd32(p);
	case 8: return (int64_t)rd64(p);
	}
	return INT64_MIN;
}

static int param_is_str(const struct rec *r, unsigned int i, const char *s)
{
	uint16_t len;
	const uint8_t *p = param(r, i, &len);

	return p && len == strlen(s) + 1 && !memcmp(p, s, len);
}

static int bad_records;

/* Read [tail, head) of every ring into the store; advance tail. */
static void drain(void)
{
	int cpu;

	for (cpu = 0; cpu < ncpu; cpu++) {
		struct ring *rg = &rings[cpu];
		uint64_t head, tail, pos;

		if (!rg->ctrl)
			continue;
		head = __atomic_load_n(&rg->ctrl->head, __ATOMIC_ACQUIRE);
		tail = rg->ctrl->tail;
		if (head - tail > rg->size) {
			bad_records++;
			printf("ring %d: head %llu tail %llu beyond size\n", cpu,
			       (unsigned long long)head,
			       (unsigned long long)tail);
		}
		pos = tail;
		while (pos < head) {
			const uint8_t *p = rg->data + (pos & (rg->size - 1));
			struct rec r;
			uint32_t k, sum = 0;

			r.len = rd32(p + 16);
			r.type = rd16(p + 20);
			r.nparams = rd32(p + 22);
			if (r.len < HDR_LEN || pos + r.len > head ||
			    r.type >= FE_EVENT_MAX ||
			    r.nparams != fe_event_table[r.type].nparams ||
			    HDR_LEN + 2 * r.nparams > r.len) {
				bad_records++;
				printf("ring %d: bad record at %llu: len %u type %u nparams %u\n",
				       cpu, (unsigned long long)pos, r.len,
				       r.type, r.nparams);
				break;
			}
			for (k = 0; k < r.nparams; k++)
				sum += rd16(p + HDR_LEN + 2 * k);
			if (HDR_LEN + 2 * r.nparams + sum != r.len) {
				bad_records++;
				printf("ring %d: record type %u: params %u != len %u\n",
				       cpu, r.type, sum, r.len);
			}
			if (store_len + r.len > store_cap) {
				store_cap = (store_len + r.len) * 2 + 65536;
				store = realloc(store, store_cap);
			}
			memcpy(store + store_len, p, r.len);
			if (nrecs == recs_cap) {
				recs_cap = recs_cap * 2 + 1024;
				recs = realloc(recs, recs_cap * sizeof(*recs));
			}
			/* p is fixed up after the store stops moving */
			r.p = (const uint8_t *)(uintptr_t)store_len;
			r.ts = rd64(p);
			r.tid = rd64(p + 8);
			r.cpu = cpu;
			recs[nrecs++] = r;
			store_len += r.len;
			pos += r.len;
		}
		__atomic_store_n(&rg->ctrl->tail, head, __ATOMIC_RELEASE);
	}
}

static int by_ts(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->p < y->p ? -1 : x->p > y->p;
}

/* Point the records into the store; merge the rings in time order. */
static void fixup_records(void)
{
	size_t i;

	for (i = 0; i < nrecs; i++)
		recs[i].p = store + (uintptr_t)recs[i].p;
	qsort(recs, nrecs, sizeof(*recs), by_ts);
}

/* Next record of type from tid after index *from (-1 to start). */
static const struct rec *find(uint16_t type, int64_t tid, long *from)
{
	long i;

	for (i = from ? *from + 1 : 0; i < (long)nrecs; i++) {
		if (recs[i].type == type &&
		    (tid < 0 || (int64_t)recs[i].tid == tid)) {
			if (from)
				*from = i;
			return &recs[i];
		}
	}
	return NULL;
}

static size_t count_tid(int64_t tid)
{
	size_t i, n = 0;

	for (i = 0; i < nrecs; i++)
		n += (int64_t)recs[i].tid == tid;
	return n;
}

/* ---- rings ---------------------------------------------------------- */

static int ioctl_all(unsigned long cmd, unsigned long arg)
{
	int cpu, r = 0;

	for (cpu = 0; cpu < ncpu; cpu++)
		if (rings[cpu].fd >= 0 && ioctl(rings[cpu].fd, cmd, arg))
			r = -1;
	return r;
}

static int map_ring(int cpu)
{
	struct ring *rg = &rings[cpu];
	void *p;

	p = mmap(NULL, FK_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 rg->fd, FK_MMAP_CTRL_OFFSET);
	if (p == MAP_FAILED)
		return -1;
	rg->ctrl = p;
	rg->size = rg->ctrl->data_size;
	p = mmap(NULL, 2 * rg->size, PROT_READ, MAP_SHARED, rg->fd,
		 rg->ctrl->data_offset);
	if (p == MAP_FAILED)
		return -1;
	rg->data = p;
	return 0;
}

static void unmap_ring(int cpu)
{
	struct ring *rg = &rings[cpu];

	if (rg->data)
		munmap((void *)rg->data, 2 * rg->size);
	if (rg->ctrl)
		munmap(rg->ctrl, FK_CTRL_SIZE);
	rg->data = NULL;
	rg->ctrl = NULL;
}

static int open_rings(void)
{
	char path[64];
	int cpu, r = 0;

	for (cpu = 0; cpu < ncpu; cpu++) {
		snprintf(path, sizeof(path), "/dev/falco%d", cpu);
		rings[cpu].fd = open(path, O_RDWR | O_CLOEXEC);
		if (rings[cpu].fd < 0 || map_ring(cpu)) {
			printf("open/map %s: %s\n", path, strerror(errno));
			r = -1;
		}
	}
	return r;
}

static void close_rings(void)
{
	int cpu;

	for (cpu = 0; cpu < ncpu; cpu++) {
		unmap_ring(cpu);
		if (rings[cpu].fd >= 0)
			close(rings[cpu].fd);
		rings[cpu].fd = -1;
	}
}

static uint64_t total_head(void)
{
	uint64_t h = 0;
	int cpu;

	for (cpu = 0; cpu < ncpu; cpu++)
		if (rings[cpu].ctrl)
			h += __atomic_load_n(&rings[cpu].ctrl->head,
					     __ATOMIC_ACQUIRE);
	return h;
}

static int set_mask_nrs(const int *nrs, int n)
{
	uint64_t bits[FK_SYSCALL_NR_MAX / 64] = { 0 };
	struct fk_mask m = { .nbits = FK_SYSCALL_NR_MAX, .flags = 0,
			     .bitmap = (uintptr_t)bits };
	int i;

	if (n < 0)
		memset(bits, 0xff, sizeof(bits));
	for (i = 0; i < n; i++)
		bits[nrs[i] / 64] |= 1ULL << (nrs[i] % 64);
	return ioctl_all(FK_IOC_SET_MASK, (unsigned long)&m);
}

/* ---- the workload (run in a child: the consumer's syscalls are not
 * reported) ---------------------------------------------------------- */

struct workload_out {
	pid_t child;
	pid_t grandchild;
	uint16_t port;
	ino_t test_ino;
};

static int run_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (!pid)
		_exit(fn(arg));
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int workload(void *arg)
{
	struct workload_out *out = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char buf[100];
	int fd, ls, cs, as, st;
	volatile char touch;
	pid_t pid;

	/* start from the same fd table as a fresh process (the parity test
	 * compares fd numbers with a run on the host) */
	syscall(SYS_close_range, 3, ~0U, 0);
	/*
	 * The enter probe reads user memory without faulting (as the eBPF
	 * probe): touch the paths so that their pages are mapped in this
	 * fresh child, else the enter records carry them empty.
	 */
	touch = *(volatile const char *)TEST_FILE +
		*(volatile const char *)CREATED_FILE;
	(void)touch;
	/* open / read / close */
	fd = open(TEST_FILE, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != strlen(TEST_DATA))
		return 10;
	close(fd);
	/* create / write (more than snaplen) / close */
	fd = openat(AT_FDCWD, CREATED_FILE, O_CREAT | O_WRONLY | O_TRUNC, 0640);
	if (fd < 0 || write(fd, WRITE_DATA, strlen(WRITE_DATA)) < 0)
		return 11;
	close(fd);
	/* a generic syscall */
	syscall(SYS_getppid);
	/* dup2, mkdir, renameat, unlinkat, memfd_create, openat2 */
	fd = open(TEST_FILE, O_RDONLY);
	if (fd < 0 || dup2(fd, 42) != 42)
		return 17;
	close(42);
	close(fd);
	touch = *(volatile const char *)DIR_A + *(volatile const char *)DIR_B +
		*(volatile const char *)MEMFD_NAME;
	if (syscall(SYS_mkdir, DIR_A, 0750) ||
	    syscall(SYS_renameat, AT_FDCWD, DIR_A, AT_FDCWD, DIR_B) ||
	    syscall(SYS_unlinkat, AT_FDCWD, DIR_B, AT_REMOVEDIR))
		return 18;
	fd = syscall(SYS_memfd_create, MEMFD_NAME, MFD_CLOEXEC);
	if (fd < 0)
		return 19;
	close(fd);
	{
		struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
					.resolve = RESOLVE_NO_SYMLINKS };

		fd = syscall(SYS_openat2, AT_FDCWD, TEST_FILE, &how,
			     sizeof(how));
		if (fd >= 0)
			close(fd);
	}
	/* credentials, pipes, fcntl, eventfd, prctl, mkdirat / rmdir,
	 * pidfd: dedicated events in both drivers (no machine-dependent
	 * params outside the parity test's list) */
	{
		int pfd[2], efd, pidfd;

		touch = *(volatile const char *)DIR_C;
		if (syscall(SYS_setresuid, -1, -1, -1) ||
		    syscall(SYS_setresgid, -1, -1, -1) ||
		    syscall(SYS_setuid, 0) || syscall(SYS_setgid, 0))
			return 20;
		if (syscall(SYS_pipe2, pfd, O_CLOEXEC | O_NONBLOCK) ||
		    syscall(SYS_fcntl, pfd[0], F_GETFL) < 0)
			return 21;
		efd = syscall(SYS_eventfd2, 5, EFD_CLOEXEC_VAL);
		if (efd < 0 || syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0) < 0)
			return 22;
		if (syscall(SYS_mkdirat, AT_FDCWD, DIR_C, 0711) ||
		    syscall(SYS_rmdir, DIR_C))
			return 23;
		pidfd = syscall(SYS_pidfd_open, getpid(), 0);
		if (pidfd < 0)
			return 24;
		close(pidfd);
		close(efd);
		close(pfd[0]);
		close(pfd[1]);
		/* a forked child leads no group: setsid makes it a session */
		if (syscall(SYS_setsid) != getpid())
			return 25;
	}
	/* socket / bind / listen / connect / accept over loopback */
	ls = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(ls, LISTEN_BACKLOG) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl))
		return 12;
	cs = socket(AF_INET, SOCK_STREAM, 0);
	if (cs < 0 || connect(cs, (struct sockaddr *)&sa, sizeof(sa)))
		return 13;
	as = accept(ls, NULL, NULL);
	if (as < 0)
		return 14;
	close(as);
	close(cs);
	close(ls);
	/* fork + execve + exit status */
	pid = fork();
	if (pid < 0)
		return 15;
	if (!pid) {
		char *argv[] = { "kmod_test", "--noop", "3", NULL };
		char *envp[] = { "KMODTEST=1", NULL };

		execve(self_path, argv, envp);
		_exit(99);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != EXEC_STATUS)
		return 16;
	/* report what the parent cannot see (written before exit) */
	out->port = ntohs(sa.sin_port);
	out->grandchild = pid;
	return 0;
}

/* ---- checks --------------------------------------------------------- */

static void hexdump_records(pid_t a, pid_t b)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, k;

	printf("KMODTEST-RECORDS ");
	for (i = 0; i < nrecs; i++) {
		const struct rec *r = &recs[i];

		if ((pid_t)r->tid != a && (pid_t)r->tid != b)
			continue;
		for (k = 0; k < r->len; k++)
			putchar(hex[r->p[k] >> 4]), putchar(hex[r->p[k] & 15]);
	}
	printf("\n");
	fflush(stdout);
}

static void check_workload(struct workload_out *w, pid_t self)
{
	const struct rec *r, *e;
	long at = -1;
	pid_t c = w->child, g = w->grandchild;
	uint16_t len;
	const uint8_t *p;
	struct stat st;

	CHECK("records well formed", bad_records == 0, "%d bad", bad_records);
	CHECK("consumer's own syscalls are not reported",
	      count_tid(self) == 0, "%zu records", count_tid(self));

	/* openat of TEST_FILE (glibc open() is openat) */
	stat(TEST_FILE, &st);
	at = -1;
	while ((r = find(PPME_SYSCALL_OPENAT_2_X, c, &at)) &&
	       !param_is_str(r, 2, TEST_FILE))
		;
	CHECK("openat exit: name", r != NULL, "no openat exit for %s", TEST_FILE);
	if (r) {
		CHECK("openat exit: fd", param_s64(r, 0) >= 3, "fd %lld",
		      (long long)param_s64(r, 0));
		CHECK("openat exit: dirfd AT_FDCWD", param_s64(r, 1) == AT_FDCWD,
		      "dirfd %lld", (long long)param_s64(r, 1));
		CHECK("openat exit: flags O_RDONLY",
		      (uint32_t)param_s64(r, 3) == PPM_O_RDONLY, "flags %#llx",
		      (long long)param_s64(r, 3));
		CHECK("openat exit: ino", (uint64_t)param_s64(r, 6) == st.st_ino,
		      "ino %llu != %llu", (unsigned long long)param_s64(r, 6),
		      (unsigned long long)st.st_ino);
		CHECK("openat exit: dev", (uint32_t)param_s64(r, 5) == st.st_dev,
		      "dev %#llx != %#llx", (long long)param_s64(r, 5),
		      (long long)st.st_dev);
	}
	at = -1;
	while ((e = find(PPME_SYSCALL_OPENAT_2_E, c, &at)) &&
	       !param_is_str(e, 1, TEST_FILE))
		;
	CHECK("openat enter: dirfd, name", e && param_s64(e, 0) == AT_FDCWD,
	      "no openat enter");

	/* read exit: data */
	r = find(PPME_SYSCALL_READ_X, c, NULL);
	p = r ? param(r, 1, &len) : NULL;
	CHECK("read exit: res and data cut at snaplen",
	      r && param_s64(r, 0) == strlen(TEST_DATA) && p &&
	      len == SNAPLEN && !memcmp(p, TEST_DATA, len),
	      "read exit missing or wrong");
	r = find(PPME_SYSCALL_READ_E, c, NULL);
	CHECK("read enter: fd, size", r && param_s64(r, 0) >= 3 &&
	      param_s64(r, 1) == 100, "read enter missing or wrong");

	/* creating openat */
	at = -1;
	while ((r = find(PPME_SYSCALL_OPENAT_2_X, c, &at)) &&
	       !param_is_str(r, 2, CREATED_FILE))
		;
	CHECK("openat O_CREAT: flags, mode, F_CREATED",
	      r && (uint32_t)param_s64(r, 3) ==
	      (PPM_O_WRONLY | PPM_O_CREAT | PPM_O_TRUNC | PPM_O_F_CREATED) &&
	      param_s64(r, 4) == 0640, "flags %#llx mode %llo",
	      r ? (long long)param_s64(r, 3) : -1LL,
	      r ? (long long)param_s64(r, 4) : -1LL);

	/* write: snaplen */
	r = find(PPME_SYSCALL_WRITE_X, c, NULL);
	p = r ? param(r, 1, &len) : NULL;
	CHECK("write exit: data cut at snaplen",
	      r && param_s64(r, 0) == strlen(WRITE_DATA) && p &&
	      len == SNAPLEN && !memcmp(p, WRITE_DATA, SNAPLEN),
	      "write exit missing or wrong (len %u)", p ? len : 0);
	r = find(PPME_SYSCALL_WRITE_E, c, NULL);
	CHECK("write enter: size", r && param_s64(r, 1) == strlen(WRITE_DATA),
	      "write enter missing or wrong");

	/* close */
	r = find(PPME_SYSCALL_CLOSE_E, c, NULL);
	e = find(PPME_SYSCALL_CLOSE_X, c, NULL);
	CHECK("close enter/exit", r && param_s64(r, 0) >= 3 && e &&
	      param_s64(e, 0) == 0, "close missing or wrong");

	/* generic */
	at = -1;
	while ((r = find(PPME_GENERIC_E, c, &at)) && param_s64(r, 1) != SYS_getppid)
		;
	CHECK("getppid: generic enter with ID and nativeID",
	      r && param_s64(r, 0) == fe_x86_64_syscalls[SYS_getppid].ppm_sc,
	      "no generic getppid");
	CHECK("generic exit", find(PPME_GENERIC_X, c, NULL) != NULL,
	      "no generic exit");

	/* socket / bind / connect / accept */
	r = find(PPME_SOCKET_SOCKET_E, c, NULL);
	CHECK("socket enter: domain, type", r && param_s64(r, 0) == AF_INET &&
	      param_s64(r, 1) == SOCK_STREAM, "socket enter missing");
	r = find(PPME_SOCKET_BIND_X, c, NULL);
	p = r ? param(r, 1, &len) : NULL;
	CHECK("bind exit: sockaddr 127.0.0.1",
	      r && param_s64(r, 0) == 0 && p && len == 7 && p[0] == PPM_AF_INET &&
	      rd32(p + 1) == htonl(INADDR_LOOPBACK), "bind exit missing or wrong");
	r = find(PPME_SOCKET_CONNECT_E, c, NULL);
	p = r ? param(r, 1, &len) : NULL;
	CHECK("connect enter: sockaddr with port",
	      p && len == 7 && p[0] == PPM_AF_INET && rd16(p + 5) == w->port,
	      "connect enter missing or wrong");
	r = find(PPME_SOCKET_CONNECT_X, c, NULL);
	p = r ? param(r, 1, &len) : NULL;
	CHECK("connect exit: res 0, tuple to the listener",
	      r && param_s64(r, 0) == 0 && p && len == 13 &&
	      p[0] == PPM_AF_INET && rd32(p + 1) == htonl(INADDR_LOOPBACK) &&
	      rd32(p + 7) == htonl(INADDR_LOOPBACK) && rd16(p + 11) == w->port &&
	      rd16(p + 5) != 0, "connect exit missing or wrong");
	r = find(PPME_SOCKET_ACCEPT_5_X, c, NULL);
	if (!r)
		r = find(PPME_SOCKET_ACCEPT4_6_X, c, NULL);
	p = r ? param(r, 1, &len) : NULL;
	CHECK("accept exit: fd, tuple from the client",
	      r && param_s64(r, 0) >= 3 && p && len == 13 &&
	      p[0] == PPM_AF_INET && rd16(p + 11) == w->port,
	      "accept exit missing or wrong");

	/* listen, credentials, setsid, pipe2, fcntl, eventfd2, prctl,
	 * mkdirat, rmdir, pidfd_open: their own events, not generic ones */
	r = find(PPME_SOCKET_LISTEN_E, c, NULL);
	e = find(PPME_SOCKET_LISTEN_X, c, NULL);
	CHECK("listen: fd, backlog, res",
	      r && param_s64(r, 0) >= 3 && param_s64(r, 1) == LISTEN_BACKLOG &&
	      e && param_s64(e, 0) == 0, "listen missing or wrong");
	r = find(PPME_SYSCALL_SETRESUID_E, c, NULL);
	e = find(PPME_SYSCALL_SETRESUID_X, c, NULL);
	CHECK("setresuid: ruid, euid, suid, res",
	      r && (uint32_t)param_s64(r, 0) == 0xffffffffu &&
	      (uint32_t)param_s64(r, 2) == 0xffffffffu && e &&
	      param_s64(e, 0) == 0, "setresuid missing or wrong");
	r = find(PPME_SYSCALL_SETUID_E, c, NULL);
	e = find(PPME_SYSCALL_SETUID_X, c, NULL);
	CHECK("setuid: uid, res", r && param_s64(r, 0) == 0 && e &&
	      param_s64(e, 0) == 0, "setuid missing or wrong");
	r = find(PPME_SYSCALL_SETSID_E, c, NULL);
	e = find(PPME_SYSCALL_SETSID_X, c, NULL);
	CHECK("setsid: res is the new session (the caller's pid)",
	      r && e && param_s64(e, 0) == c, "setsid missing or wrong");
	r = find(PPME_SYSCALL_PIPE2_X, c, NULL);
	CHECK("pipe2 exit: res, fds, ino, flags",
	      r && param_s64(r, 0) == 0 && param_s64(r, 1) >= 3 &&
	      param_s64(r, 2) == param_s64(r, 1) + 1 && param_s64(r, 3) > 0 &&
	      (uint32_t)param_s64(r, 4) == (PPM_O_CLOEXEC | PPM_O_NONBLOCK),
	      "pipe2 exit missing or wrong");
	r = find(PPME_SYSCALL_FCNTL_X, c, NULL);
	CHECK("fcntl exit: res, fd, cmd F_GETFL",
	      r && param_s64(r, 0) >= 0 && param_s64(r, 1) >= 3 &&
	      param_s64(r, 2) == 4, "fcntl exit missing or wrong");
	r = find(PPME_SYSCALL_EVENTFD2_E, c, NULL);
	e = find(PPME_SYSCALL_EVENTFD2_X, c, NULL);
	CHECK("eventfd2: initval, res, flags",
	      r && param_s64(r, 0) == 5 && e && param_s64(e, 0) >= 3 &&
	      param_s64(e, 1) == PPM_O_CLOEXEC, "eventfd2 missing or wrong");
	r = find(PPME_SYSCALL_PRCTL_X, c, NULL);
	CHECK("prctl exit: res, option", r && param_s64(r, 0) >= 0 &&
	      param_s64(r, 1) == PR_GET_DUMPABLE, "prctl exit missing or wrong");
	r = find(PPME_SYSCALL_MKDIRAT_X, c, NULL);
	CHECK("mkdirat exit: res, dirfd, path, mode",
	      r && param_s64(r, 0) == 0 && param_s64(r, 1) == AT_FDCWD &&
	      param_is_str(r, 2, DIR_C) && param_s64(r, 3) == 0711,
	      "mkdirat exit missing or wrong");
	r = find(PPME_SYSCALL_RMDIR_2_X, c, NULL);
	CHECK("rmdir exit: res, path", r && param_s64(r, 0) == 0 &&
	      param_is_str(r, 1, DIR_C), "rmdir exit missing or wrong");
	r = find(PPME_SYSCALL_PIDFD_OPEN_X, c, NULL);
	CHECK("pidfd_open exit: fd, pid, flags",
	      r && param_s64(r, 0) >= 3 && param_s64(r, 1) == c &&
	      param_s64(r, 2) == 0, "pidfd_open exit missing or wrong");

	/* dup2 */
	at = -1;
	while ((r = find(PPME_SYSCALL_DUP2_X, c, &at)) && param_s64(r, 0) != 42)
		;
	CHECK("dup2 exit: res, oldfd, newfd",
	      r && param_s64(r, 1) >= 3 && param_s64(r, 2) == 42,
	      "dup2 exit missing or wrong");
	/* mkdir / renameat / unlinkat */
	r = find(PPME_SYSCALL_MKDIR_2_E, c, NULL);
	e = find(PPME_SYSCALL_MKDIR_2_X, c, NULL);
	CHECK("mkdir: mode, res, path",
	      r && param_s64(r, 0) == 0750 && e && param_s64(e, 0) == 0 &&
	      param_is_str(e, 1, DIR_A), "mkdir missing or wrong");
	r = find(PPME_SYSCALL_RENAMEAT_X, c, NULL);
	CHECK("renameat exit: res, dirfds, paths",
	      r && param_s64(r, 0) == 0 && param_s64(r, 1) == AT_FDCWD &&
	      param_is_str(r, 2, DIR_A) && param_s64(r, 3) == AT_FDCWD &&
	      param_is_str(r, 4, DIR_B), "renameat exit missing or wrong");
	r = find(PPME_SYSCALL_UNLINKAT_2_X, c, NULL);
	CHECK("unlinkat exit: res, name, AT_REMOVEDIR",
	      r && param_s64(r, 0) == 0 && param_is_str(r, 2, DIR_B) &&
	      param_s64(r, 3) == PPM_AT_REMOVEDIR,
	      "unlinkat exit missing or wrong");
	r = find(PPME_SYSCALL_MEMFD_CREATE_X, c, NULL);
	CHECK("memfd_create exit: fd, name, flags",
	      r && param_s64(r, 0) >= 3 && param_is_str(r, 1, MEMFD_NAME) &&
	      param_s64(r, 2) == MFD_CLOEXEC, "memfd_create exit missing or wrong");
	r = find(PPME_SYSCALL_OPENAT2_X, c, NULL);
	CHECK("openat2 exit: name, flags, resolve",
	      r && param_s64(r, 0) >= 3 && param_is_str(r, 2, TEST_FILE) &&
	      (uint32_t)param_s64(r, 3) == (PPM_O_RDONLY | PPM_O_CLOEXEC) &&
	      (uint32_t)param_s64(r, 5) == PPM_RESOLVE_NO_SYMLINKS,
	      "openat2 exit missing or wrong");

	/* clone in parent and child */
	at = -1;
	while ((r = find(PPME_SYSCALL_CLONE_20_X, c, &at)) &&
	       param_s64(r, 0) != g)
		;
	CHECK("clone exit in parent: res = child tid, pid, comm",
	      r && param_s64(r, 3) == c && param_s64(r, 4) == c &&
	      param_is_str(r, 13, "kmod_test"),
	      "clone exit (parent) missing or wrong");
	r = find(PPME_SYSCALL_CLONE_20_X, g, NULL);
	CHECK("clone exit in child: res 0, tid, pid, ptid",
	      r && param_s64(r, 0) == 0 && param_s64(r, 3) == g &&
	      param_s64(r, 4) == g && param_s64(r, 5) == c,
	      "clone exit (child) missing or wrong");

	/* execve */
	r = find(PPME_SYSCALL_EXECVE_19_E, g, NULL);
	CHECK("execve enter: filename", r && param_is_str(r, 0, self_path),
	      "execve enter missing or wrong");
	r = find(PPME_SYSCALL_EXECVE_19_X, g, NULL);
	if (r) {
		p = param(r, 2, &len);
		CHECK("execve exit: res 0, exe, args",
		      param_s64(r, 0) == 0 && param_is_str(r, 1, "kmod_test") &&
		      p && len == 9 && !memcmp(p, "--noop\0003", 9),
		      "res %lld", (long long)param_s64(r, 0));
		CHECK("execve exit: comm, cwd", param_is_str(r, 13, "kmod_test") &&
		      param_is_str(r, 6, "/"), "comm/cwd wrong");
		p = param(r, 15, &len);
		CHECK("execve exit: env", p && len == 11 &&
		      !memcmp(p, "KMODTEST=1", 11), "env wrong (len %u)", len);
		CHECK("execve exit: trusted_exepath",
		      param_is_str(r, 27, self_path), "trusted_exepath wrong");
		p = param(r, 14, &len);
		CHECK("execve exit: cgroups present", p && len > 0,
		      "no cgroups");
	} else {
		fail("execve exit", "missing");
	}

	/* procexit */
	r = find(PPME_PROCEXIT_1_E, g, NULL);
	CHECK("procexit: status and ret",
	      r && param_s64(r, 0) == EXEC_STATUS << 8 &&
	      param_s64(r, 1) == EXEC_STATUS && param_s64(r, 2) == 0,
	      "procexit missing or wrong");
}

/* ---- phases --------------------------------------------------------- */

static void check_counters(void)
{
	struct fk_counters c;
	uint64_t seen = 0;
	int cpu, good = 1;
	size_t i;

	for (i = 0; i < nrecs; i++)
		seen++;
	(void)seen;
	for (cpu = 0; cpu < ncpu; cpu++) {
		if (ioctl(rings[cpu].fd, FK_IOC_GET_COUNTERS, &c)) {
			good = 0;
			continue;
		}
		if (c.n_evts != rings[cpu].ctrl->counters.n_evts ||
		    c.n_evts * HDR_LEN > rings[cpu].ctrl->head)
			good = 0;
	}
	CHECK("counters: ioctl matches control page", good, "mismatch");
}

/* n getppid() calls on CPU 0 (one ring fills, deterministically). */
static int generic_burst(void *arg)
{
	long i, n = (long)arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}

static int mask_workload(void *arg)
{
	int fd;

	(void)arg;
	syscall(SYS_getppid);
	fd = open(TEST_FILE, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return 0;
}

static void test_mask_and_disable(void)
{
	int openat_only[] = { SYS_openat };
	struct fk_counters before, after;
	uint64_t h0;
	size_t i;
	int only = 1;

	drain();
	reset_records();
	ioctl(rings[0].fd, FK_IOC_GET_COUNTERS, &before);
	CHECK("set_mask: openat only", set_mask_nrs(openat_only, 1) == 0,
	      "ioctl: %s", strerror(errno));
	run_child(mask_workload, NULL);
	drain();
	fixup_records();
	for (i = 0; i < nrecs; i++)
		if (recs[i].type != PPME_SYSCALL_OPENAT_2_E &&
		    recs[i].type != PPME_SYSCALL_OPENAT_2_X &&
		    recs[i].type != PPME_PROCEXIT_1_E)
			only = 0;
	CHECK("mask: only openat (and procexit) reported",
	      only && find(PPME_SYSCALL_OPENAT_2_X, -1, NULL), "other events or no openat");
	ioctl(rings[0].fd, FK_IOC_GET_COUNTERS, &after);
	{
		uint64_t filt = 0;
		struct fk_counters c;
		int cpu;

		for (cpu = 0; cpu < ncpu; cpu++)
			if (!ioctl(rings[cpu].fd, FK_IOC_GET_COUNTERS, &c))
				filt += c.n_filtered;
		CHECK("counters: n_filtered counts masked syscalls", filt > 0,
		      "n_filtered 0");
	}
	set_mask_nrs(NULL, -1);
	reset_records();

	/* disabled: nothing written */
	ioctl_all(FK_IOC_DISABLE, 0);
	h0 = total_head();
	run_child(mask_workload, NULL);
	CHECK("disable: no records while disabled", total_head() == h0,
	      "head moved by %llu", (unsigned long long)(total_head() - h0));
	ioctl_all(FK_IOC_ENABLE, 0);
	h0 = total_head();
	run_child(mask_workload, NULL);
	CHECK("enable: records again", total_head() > h0, "head did not move");
	drain();
	reset_records();
}

/* ---- overlayfs: the layer of opened files and executables ---------- */

#define OVL_DIR		"/tmp/ovl"
#define OVL_MERGED	OVL_DIR "/merged"

static int write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	int r;

	if (fd < 0)
		return -1;
	r = write(fd, data, strlen(data)) == (ssize_t)strlen(data) ? 0 : -1;
	close(fd);
	return r;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			n = -1;
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

static int overlay_workload(void *arg)
{
	const char *files[] = { OVL_MERGED "/image-file", OVL_MERGED "/new-file",
				OVL_DIR "/lower/image-file" };
	char *argv[] = { "true", NULL };
	size_t i;
	pid_t pid;
	int fd, st;

	(void)arg;
	for (i = 0; i < 3; i++) {
		fd = open(files[i], O_RDONLY);
		if (fd < 0)
			return 10;
		close(fd);
	}
	pid = fork();
	if (!pid) {
		execv(OVL_MERGED "/image-busybox", argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
		return 11;
	return 0;
}

static const struct rec *open_exit_of(const char *path)
{
	const struct rec *r;
	long at = -1;

	while ((r = find(PPME_SYSCALL_OPENAT_2_X, -1, &at)) &&
	       !param_is_str(r, 2, path))
		;
	return r;
}

/*
 * Files and an executable on an overlayfs mount: the open exits' flags and
 * the execve exit's flags name the layer, as the eBPF probe's do.
 */
static void test_overlay(void)
{
	const char *dirs[] = { OVL_DIR, OVL_DIR "/lower", OVL_DIR "/upper",
			       OVL_DIR "/work", OVL_MERGED };
	const struct rec *r;
	size_t i;
	long at = -1;
	uint32_t flags;

	for (i = 0; i < 5; i++)
		mkdir(dirs[i], 0755);
	if (write_file(OVL_DIR "/lower/image-file", "image", 0644) ||
	    write_file(OVL_DIR "/upper/new-file", "later", 0644) ||
	    copy_file("/bin/busybox", OVL_DIR "/lower/image-busybox")) {
		fail("overlay: set up", "%s", strerror(errno));
		return;
	}
	if (mount("overlay", OVL_MERGED, "overlay", 0,
		  "lowerdir=" OVL_DIR "/lower,upperdir=" OVL_DIR "/upper,"
		  "workdir=" OVL_DIR "/work")) {
		fail("overlay: mount", "%s (is overlay.ko loaded?)", strerror(errno));
		return;
	}
	drain();
	reset_records();
	CHECK("overlay: workload ran", run_child(overlay_workload, NULL) == 0,
	      "failed");
	drain();
	fixup_records();
	r = open_exit_of(OVL_MERGED "/image-file");
	flags = r ? (uint32_t)param_s64(r, 3) : 0;
	CHECK("overlay: lower-layer file open: FD_LOWER_LAYER",
	      r && (flags & PPM_FD_LOWER_LAYER) && !(flags & PPM_FD_UPPER_LAYER),
	      "flags %#x", flags);
	r = open_exit_of(OVL_MERGED "/new-file");
	flags = r ? (uint32_t)param_s64(r, 3) : 0;
	CHECK("overlay: upper-layer file open: FD_UPPER_LAYER",
	      r && (flags & PPM_FD_UPPER_LAYER) && !(flags & PPM_FD_LOWER_LAYER),
	      "flags %#x", flags);
	while ((r = find(PPME_SYSCALL_EXECVE_19_X, -1, &at)) &&
	       !param_is_str(r, 27, OVL_MERGED "/image-busybox"))
		;
	flags = r ? (uint32_t)param_s64(r, 19) : 0;
	CHECK("overlay: lower-layer executable: EXE_LOWER_LAYER",
	      r && (flags & PPM_EXE_LOWER_LAYER) && !(flags & PPM_EXE_UPPER_LAYER),
	      "flags %#x", flags);
	r = open_exit_of(OVL_DIR "/lower/image-file");	/* the tmpfs under it */
	flags = r ? (uint32_t)param_s64(r, 3) : 0;
	CHECK("overlay: no layer off overlayfs",
	      r && !(flags & (PPM_FD_UPPER_LAYER | PPM_FD_LOWER_LAYER)),
	      "flags %#x%s", flags, r ? "" : " (no open exit)");
	umount(OVL_MERGED);
	reset_records();
}

static void test_drops(void)
{
	struct fk_counters c;
	uint64_t drops = 0, used_ok = 1;
	int cpu;

	drain();
	reset_records();
	/* more than a ring's worth of records, nobody reading */
	run_child(generic_burst, (void *)(long)(rings[0].size / 20 + 2000));
	for (cpu = 0; cpu < ncpu; cpu++) {
		if (!ioctl(rings[cpu].fd, FK_IOC_GET_COUNTERS, &c))
			drops += c.n_drops_buffer;
		if (rings[cpu].ctrl->head - rings[cpu].ctrl->tail > rings[cpu].size)
			used_ok = 0;
	}
	CHECK("full ring: drops counted, never overwritten", drops > 0 && used_ok,
	      "drops %llu", (unsigned long long)drops);
	drain();
	CHECK("full ring: records still well formed", bad_records == 0,
	      "%d bad", bad_records);
	{
		uint64_t h0 = total_head();

		run_child(mask_workload, NULL);
		CHECK("after drain: records again", total_head() > h0,
		      "head did not move");
	}
	drain();
	reset_records();
}

/* The data area is the same pages twice. */
static void test_double_map(void)
{
	int cpu, same = 1;

	for (cpu = 0; cpu < ncpu; cpu++)
		if (memcmp(rings[cpu].data, rings[cpu].data + rings[cpu].size,
			   rings[cpu].size))
			same = 0;
	CHECK("mmap: data area mapped twice back to back", same, "differs");
}

static void test_ioctl_errors(int fd)
{
	struct fk_mask m = { .nbits = FK_SYSCALL_NR_MAX };
	uint64_t bits[FK_SYSCALL_NR_MAX / 64];
	uint32_t v;

	memset(bits, 0xff, sizeof(bits));
	m.bitmap = (uintptr_t)bits;
	expect_errno("ioctl: unknown command -> ENOTTY",
		     ioctl(fd, _IO(FK_IOC_MAGIC, 0x7f), 0), ENOTTY);
	expect_errno("ioctl: foreign magic -> ENOTTY",
		     ioctl(fd, _IO('x', 0x01), 0), ENOTTY);
	expect_errno("ioctl: known number, wrong size -> ENOTTY",
		     ioctl(fd, _IOW(FK_IOC_MAGIC, 0x05, uint64_t), &bits), ENOTTY);
	expect_errno("ioctl: known number, wrong direction -> ENOTTY",
		     ioctl(fd, _IOR(FK_IOC_MAGIC, 0x05, uint32_t), &v), ENOTTY);
	expect_errno("ioctl: get_counters bad pointer -> EFAULT",
		     ioctl(fd, FK_IOC_GET_COUNTERS, NULL), EFAULT);
	expect_errno("ioctl: api_version bad pointer -> EFAULT",
		     ioctl(fd, FK_IOC_GET_API_VERSION, (void *)8), EFAULT);
	expect_errno("ioctl: set_snaplen bad pointer -> EFAULT",
		     ioctl(fd, FK_IOC_SET_SNAPLEN, NULL), EFAULT);
	v = FK_MAX_SNAPLEN + 1;
	expect_errno("ioctl: set_snaplen too large -> EINVAL",
		     ioctl(fd, FK_IOC_SET_SNAPLEN, &v), EINVAL);
	expect_errno("ioctl: set_mask bad pointer -> EFAULT",
		     ioctl(fd, FK_IOC_SET_MASK, (void *)16), EFAULT);
	m.nbits = 0;
	expect_errno("ioctl: set_mask nbits 0 -> EINVAL",
		     ioctl(fd, FK_IOC_SET_MASK, &m), EINVAL);
	m.nbits = 100;
	expect_errno("ioctl: set_mask nbits not x64 -> EINVAL",
		     ioctl(fd, FK_IOC_SET_MASK, &m), EINVAL);
	m.nbits = 2 * FK_SYSCALL_NR_MAX;
	expect_errno("ioctl: set_mask nbits too large -> EINVAL",
		     ioctl(fd, FK_IOC_SET_MASK, &m), EINVAL);
	m.nbits = FK_SYSCALL_NR_MAX;
	m.flags = 1;
	expect_errno("ioctl: set_mask unknown flags -> EINVAL",
		     ioctl(fd, FK_IOC_SET_MASK, &m), EINVAL);
	m.flags = 0;
	m.bitmap = 24;
	expect_errno("ioctl: set_mask bad bitmap pointer -> EFAULT",
		     ioctl(fd, FK_IOC_SET_MASK, &m), EFAULT);
	expect_errno("ioctl: enable with an argument -> EINVAL",
		     ioctl(fd, FK_IOC_ENABLE, 1), EINVAL);
	v = 0;
	CHECK("ioctl: api version", ioctl(fd, FK_IOC_GET_API_VERSION, &v) == 0 &&
	      v == FK_API_VERSION, "got %u", v);
}

static void test_mmap_errors(int fd, uint64_t size)
{
	void *p;

	p = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 FK_MMAP_DATA_OFFSET);
	CHECK("mmap: data area writable is refused", p == MAP_FAILED,
	      "mapped writable");
	if (p != MAP_FAILED)
		munmap(p, 2 * size);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, FK_MMAP_DATA_OFFSET);
	CHECK("mmap: data area wrong length is refused", p == MAP_FAILED,
	      "mapped");
	if (p != MAP_FAILED)
		munmap(p, size);
	p = mmap(NULL, FK_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK("mmap: private control page is refused", p == MAP_FAILED,
	      "mapped");
	if (p != MAP_FAILED)
		munmap(p, FK_CTRL_SIZE);
	p = mmap(NULL, FK_CTRL_SIZE, PROT_READ, MAP_SHARED, fd, 1 << 20);
	CHECK("mmap: unknown offset is refused", p == MAP_FAILED, "mapped");
	if (p != MAP_FAILED)
		munmap(p, FK_CTRL_SIZE);
}

/* A consumer killed while it reads: the rings are released, reusable. */
static int killed_consumer(void *arg)
{
	volatile uint64_t sink = 0;
	int cpu;

	(void)arg;
	close_rings();
	if (open_rings())
		return 1;
	ioctl_all(FK_IOC_ENABLE, 0);
	for (;;) {
		for (cpu = 0; cpu < ncpu; cpu++) {
			uint64_t h = __atomic_load_n(&rings[cpu].ctrl->head,
						     __ATOMIC_ACQUIRE);
			uint64_t t = rings[cpu].ctrl->tail, i;

			for (i = t; i < h; i += 64)
				sink += rings[cpu].data[i & (rings[cpu].size - 1)];
			__atomic_store_n(&rings[cpu].ctrl->tail, h,
					 __ATOMIC_RELEASE);
		}
		syscall(SYS_getppid);
	}
	return 0;
}

/*
 * Killed at several points: while it opens (the tracepoints attach under
 * the burst's syscalls), right after, and mid-read.
 */
static void test_killed_consumer(void)
{
	static const int delay_ms[] = { 0, 20, 100, 300 };
	const int n = sizeof(delay_ms) / sizeof(delay_ms[0]);
	pid_t pid, busy;
	int i, st, again = 0;

	for (i = 0; i < n && !again; i++) {
		close_rings();
		pid = fork();
		if (!pid)
			_exit(killed_consumer(NULL));
		/* load so that the killed reader is mid-ring */
		busy = fork();
		if (!busy)
			_exit(generic_burst((void *)200000L));
		usleep(delay_ms[i] * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		kill(busy, SIGKILL);
		waitpid(busy, &st, 0);
		again = open_rings();
	}
	CHECK("consumer killed mid-read: rings released and reopen",
	      again == 0, "reopen failed after a kill at %d ms: %s",
	      delay_ms[i - 1], strerror(errno));
}

static int pinned_workload(void *arg)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((long)arg, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 1;
	return mask_workload(NULL);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), r;

	if (fd < 0)
		return -1;
	r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return r;
}

/* A CPU that goes offline and comes back: its ring is usable. */
static void test_hotplug(void)
{
	const char *online = "/sys/devices/system/cpu/cpu1/online";
	uint64_t h0;

	if (ncpu < 2 || access(online, W_OK)) {
		printf("KMODTEST skip hotplug: one CPU or no %s\n", online);
		return;
	}
	close_rings();
	if (write_str(online, "0")) {
		fail("hotplug: offline cpu1", "%s", strerror(errno));
		open_rings();
		return;
	}
	CHECK("hotplug: ring of an offline CPU opens", open_rings() == 0,
	      "%s", strerror(errno));
	ioctl_all(FK_IOC_ENABLE, 0);
	CHECK("hotplug: cpu1 back online", write_str(online, "1") == 0, "%s",
	      strerror(errno));
	h0 = __atomic_load_n(&rings[1].ctrl->head, __ATOMIC_ACQUIRE);
	CHECK("hotplug: task pinned to cpu1 ran",
	      run_child(pinned_workload, (void *)1L) == 0, "affinity failed");
	CHECK("hotplug: ring of the CPU that came online gets records",
	      __atomic_load_n(&rings[1].ctrl->head, __ATOMIC_ACQUIRE) > h0,
	      "no records on cpu1");
	drain();
	reset_records();
}

/*
 * Producers on every CPU while this process drains: every record read is
 * whole, and each getppid() of the producers is either read or counted
 * as a drop.
 */
struct burst {
	long cpu, n;
};

static int pinned_burst(void *arg)
{
	struct burst *b = arg;
	cpu_set_t set;
	long i;

	CPU_ZERO(&set);
	CPU_SET(b->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 1;
	for (i = 0; i < b->n; i++)
		syscall(SYS_getppid);
	return 0;
}

static uint64_t sum_drops(void)
{
	struct fk_counters c;
	uint64_t d = 0;
	int cpu;

	for (cpu = 0; cpu < ncpu; cpu++)
		if (!ioctl(rings[cpu].fd, FK_IOC_GET_COUNTERS, &c))
			d += c.n_drops_buffer + c.n_drops_max_size;
	return d;
}

static void test_concurrent_drain(void)
{
	const long n = 20000;
	pid_t pids[MAX_CPUS];
	struct burst b[MAX_CPUS];
	uint64_t drops0, drops, seen = 0;
	int cpu, st, running, bad0 = bad_records;
	size_t i;

	drain();
	reset_records();
	drops0 = sum_drops();
	for (cpu = 0; cpu < ncpu; cpu++) {
		b[cpu].cpu = cpu;
		b[cpu].n = n;
		pids[cpu] = fork();
		if (!pids[cpu])
			_exit(pinned_burst(&b[cpu]));
	}
	do {
		running = 0;
		for (cpu = 0; cpu < ncpu; cpu++)
			if (pids[cpu] > 0 && waitpid(pids[cpu], &st, WNOHANG) == 0)
				running = 1;
		drain();
	} while (running);
	drain();
	fixup_records();
	drops = sum_drops() - drops0;
	for (i = 0; i < nrecs; i++) {
		const struct rec *r = &recs[i];

		if (r->type != PPME_GENERIC_E || param_s64(r, 1) != SYS_getppid)
			continue;
		for (cpu = 0; cpu < ncpu; cpu++)
			if ((pid_t)r->tid == pids[cpu])
				seen++;
	}
	printf("KMODTEST info: concurrent: %llu getppid enters read, %llu drops\n",
	       (unsigned long long)seen, (unsigned long long)drops);
	CHECK("concurrent drain: records whole", bad_records == bad0,
	      "%d bad", bad_records - bad0);
	CHECK("concurrent drain: every event read or counted as dropped",
	      seen <= (uint64_t)n * ncpu &&
	      seen + drops >= (uint64_t)n * ncpu,
	      "read %llu + dropped %llu < %ld",
	      (unsigned long long)seen, (unsigned long long)drops, n * ncpu);
	reset_records();
}

static void test_rmmod(int expect_busy)
{
	long r = syscall(SYS_delete_module, FK_MODULE_NAME, O_NONBLOCK);

	if (expect_busy) {
		CHECK("rmmod while mapped is refused",
		      r == -1 && (errno == EAGAIN || errno == EBUSY),
		      "r=%ld errno=%d", r, errno);
		CHECK("ring intact after refused rmmod",
		      rings[0].ctrl->api_version == FK_API_VERSION &&
		      ioctl(rings[0].fd, FK_IOC_GET_API_VERSION, &r) == 0,
		      "ring broken");
	} else {
		CHECK("rmmod after close succeeds", r == 0, "errno=%d (%s)",
		      errno, strerror(errno));
		CHECK("devices removed", access("/dev/falco0", F_OK) != 0,
		      "/dev/falco0 still there");
	}
}

static void setup_files(void)
{
	int fd = open(TEST_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, TEST_DATA, strlen(TEST_DATA)) < 0)
		fail("setup", "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The workload alone, for a capture made by someone else. */
static int workload_only(void)
{
	struct workload_out *w;
	pid_t child;
	int status;

	setup_files();
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		return 1;
	child = fork();
	if (!child)
		_exit(workload(w));
	waitpid(child, &status, 0);
	unlink(TEST_FILE);
	unlink(CREATED_FILE);
	printf("KMODTEST-PIDS %d %d\n", child, w->grandchild);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	struct workload_out *w;
	struct stat st;
	char path[64];
	uint32_t snap = SNAPLEN;
	int cpu, fd2, good, status;
	pid_t child;

	if (argc == 3 && !strcmp(argv[1], "--noop"))
		return atoi(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "--workload")) {
		self_path = argv[2];
		return workload_only();
	}
	if (argc > 1)
		self_path = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpu > MAX_CPUS)
		ncpu = MAX_CPUS;
	printf("KMODTEST start: %d CPUs\n", ncpu);

	/* devices */
	good = 1;
	for (cpu = 0; cpu < ncpu; cpu++) {
		snprintf(path, sizeof(path), "/dev/falco%d", cpu);
		if (stat(path, &st) || !S_ISCHR(st.st_mode) ||
		    (st.st_mode & 07777) != 0600 || st.st_uid != 0)
			good = 0;
	}
	CHECK("devices: /dev/falco<cpu>, char, 0600, root", good,
	      "missing or wrong mode");

	if (open_rings()) {
		fail("open and map every ring", "%s", strerror(errno));
		goto out;
	}
	ok("open and map every ring");
	fd2 = open("/dev/falco0", O_RDWR);
	expect_errno("open twice -> EBUSY", fd2, EBUSY);
	if (fd2 >= 0)
		close(fd2);
	CHECK("control page: api version, cpu, size",
	      rings[0].ctrl->api_version == FK_API_VERSION &&
	      rings[0].ctrl->cpu == 0 && rings[0].size >= 2 * FK_MAX_EVENT &&
	      !(rings[0].size & (rings[0].size - 1)) &&
	      rings[0].ctrl->data_offset == FK_MMAP_DATA_OFFSET,
	      "bad control page");
	test_ioctl_errors(rings[0].fd);
	test_mmap_errors(rings[0].fd, rings[0].size);

	/* the workload */
	setup_files();
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK("set_snaplen", ioctl_all(FK_IOC_SET_SNAPLEN,
				       (unsigned long)&snap) == 0,
	      "%s", strerror(errno));
	CHECK("enable capture", ioctl_all(FK_IOC_ENABLE, 0) == 0, "%s",
	      strerror(errno));
	child = fork();
	if (!child)
		_exit(workload(w));
	w->child = child;
	waitpid(child, &status, 0);
	CHECK("workload ran", WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);
	drain();
	fixup_records();
	printf("KMODTEST info: %zu records\n", nrecs);
	check_workload(w, getpid());
	check_counters();
	test_double_map();
	printf("KMODTEST-PIDS %d %d\n", w->child, w->grandchild);
	hexdump_records(w->child, w->grandchild);
	reset_records();

	test_mask_and_disable();
	test_overlay();
	test_concurrent_drain();
	test_drops();
	test_rmmod(1);
	test_killed_consumer();
	test_hotplug();
	close_rings();
	test_rmmod(0);
out:
	printf("KMODTEST-VERDICT {\"pass\": %d, \"fail\": %d}\n", n_pass, n_fail);
	fflush(stdout);
	return n_fail ? 1 : 0;
}
