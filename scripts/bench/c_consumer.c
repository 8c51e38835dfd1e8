/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Minimal libbpf consumer of the falco probe: the baseline of
 * `falco bench live`.  It loads the SAME object (falco/data/falco.bpf.o),
 * fills its .rodata config exactly as falco/live/bpf_source.py does
 * (BpfSource._config / _load: boot time, own tgid, argv_max, snaplen, the
 * x86_64 syscall routes and per-event param counts from the generated
 * event table), sizes fb_scratch, creates one ring per CPU into fb_rings
 * (as BpfSource does), sets fb_interest, attaches and drains the rings with
 * ring_buffer__consume(), counting records.  Nothing is
 * decoded beyond the header (tid, type).
 *
 * Build: gcc -O2 -I driver -I driver/bpf c_consumer.c -lbpf -o c_consumer
 *
 *   c_consumer OBJ [-r RING_BYTES] [-a auto|btf|raw] [-i SC,SC,...|all]
 *              [-p PID] [-t TYPE,TYPE,...] [-P POLL_US] [-d CONFIG_OUT]
 *              [-g CPUS_PER_RING]
 *
 * -i: PPM_SC codes of interest (BpfSource.open's `interest`; "all" = None).
 * -p / -t: also count records of this tid / of these event types.
 * -d: write the config blob and exit without loading (the test compares it
 *     with BpfSource._config).
 * -g: CPUs sharing one ring (BpfSource's cpus_per_ring; default 1).
 * Prints "ready <btf|raw>" once attached; on SIGINT/SIGTERM detaches,
 * drains what is left and prints one JSON line (records, counters, CPU).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/types.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "falco_bpf.h"
#include "falco_events.h"

#define FB_DEFAULT_SNAPLEN	80	/* bpf_source.DEFAULT_SNAPLEN */
#define NPROGS			5
#define FB_MAX_RINGS		1024

static const char *progs_btf[NPROGS] = {
	"fb_sys_enter_btf", "fb_sys_exit_btf", "fb_proc_exit_btf",
	"fb_proc_fork_btf", "fb_proc_exec_btf",
};
static const char *progs_raw[NPROGS] = {
	"fb_sys_enter_raw", "fb_sys_exit_raw", "fb_proc_exit_raw",
	"fb_proc_fork_raw", "fb_proc_exec_raw",
};

static volatile sig_atomic_t stop;
static uint64_t n_records, n_bytes, n_pid, n_types;
static uint64_t count_tid;
static uint8_t want_type[FB_EVENT_MAX];
static uint8_t interest_sc[FE_SYSCALL_MAX + 1];
static int interest_all = 1;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const uint8_t *r = data;
	uint64_t tid;
	uint16_t type;

	(void)ctx;
	n_records++;
	n_bytes += size;
	if (size >= FB_HDR_LEN) {
		memcpy(&tid, r + 8, sizeof(tid));
		memcpy(&type, r + 20, sizeof(type));
		if (tid == count_tid)
			n_pid++;
		if (type < FB_EVENT_MAX && want_type[type])
			n_types++;
	}
	return 0;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The same bytes as BpfSource._config(). */
static uint32_t cpus_per_ring = 1;

static void fill_config(struct fb_config *cfg, uint32_t argv_max,
			uint32_t snaplen)
{
	int nr, t;

	memset(cfg, 0, sizeof(*cfg));
	cfg->boot_time_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
	cfg->falco_tgid = getpid();
	cfg->argv_max = argv_max;
	cfg->snaplen = snaplen;
	cfg->cpus_per_ring = cpus_per_ring;
	for (nr = 0; nr < FB_SYSCALL_NR_MAX; nr++) {
		int16_t enter = -1;
		uint16_t sc = 0;

		if (nr < FE_X86_64_SYSCALL_MAX) {
			enter = fe_x86_64_syscalls[nr].enter_event;
			sc = fe_x86_64_syscalls[nr].ppm_sc;
		}
		cfg->routes[nr].enter_event = enter > 0 ? enter : 0;
		cfg->routes[nr].ppm_sc = sc;
	}
	for (t = 0; t < FE_EVENT_MAX && t < FB_EVENT_MAX; t++)
		cfg->nparams[t] = fe_event_table[t].nparams;
}

static int parse_list(const char *s, uint8_t *set, int max)
{
	char *copy = strdup(s), *tok, *save = NULL;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long v = strtol(tok, NULL, 10);

		if (v < 0 || v >= max) {
			fprintf(stderr, "c_consumer: %ld out of range\n", v);
			free(copy);
			return -1;
		}
		set[v] = 1;
	}
	free(copy);
	return 0;
}

/* One ring per cpus_per_ring CPUs, created as BpfSource._create_rings. */
static int ring_fds[FB_MAX_RINGS];
static int nrings;

static int load(struct bpf_object **objp, const char *path, const char **progs,
		const char **other, struct fb_config *cfg, int ncpus,
		uint32_t ring_bytes)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_map *rodata, *rings;
	size_t size = 0;
	int i, err;

	err = libbpf_get_error(obj);
	if (err)
		return err;
	for (i = 0; i < NPROGS; i++) {
		bpf_program__set_autoload(
			bpf_object__find_program_by_name(obj, progs[i]), true);
		bpf_program__set_autoload(
			bpf_object__find_program_by_name(obj, other[i]), false);
	}
	rodata = bpf_object__find_map_by_name(obj, ".rodata");
	if (!rodata || !bpf_map__initial_value(rodata, &size) ||
	    size != sizeof(*cfg)) {
		fprintf(stderr, "c_consumer: probe config is %zu bytes, expected %zu\n",
			size, sizeof(*cfg));
		bpf_object__close(obj);
		return -EINVAL;
	}
	nrings = (ncpus + cpus_per_ring - 1) / cpus_per_ring;
	for (i = 0; i < nrings; i++) {
		if (ring_fds[i] > 0)
			close(ring_fds[i]);
		ring_fds[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "fb_ring", 0, 0,
					     ring_bytes, NULL);
		if (ring_fds[i] < 0) {
			bpf_object__close(obj);
			return ring_fds[i];
		}
	}
	rings = bpf_object__find_map_by_name(obj, "fb_rings");
	if ((err = bpf_map__set_initial_value(rodata, cfg, sizeof(*cfg))) ||
	    (err = bpf_map__set_max_entries(
		     bpf_object__find_map_by_name(obj, "fb_scratch"), ncpus)) ||
	    (err = bpf_map__set_max_entries(rings, nrings)) ||
	    (err = bpf_map__set_inner_map_fd(rings, ring_fds[0])) ||
	    (err = bpf_object__load(obj))) {
		bpf_object__close(obj);
		return err;
	}
	for (i = 0; i < nrings; i++) {
		uint32_t key = i;

		if ((err = bpf_map_update_elem(bpf_map__fd(rings), &key,
					       &ring_fds[i], 0))) {
			bpf_object__close(obj);
			return err;
		}
	}
	*objp = obj;
	return 0;
}

int main(int argc, char **argv)
{
	const char *attach = "auto", *dump = NULL, *mode = NULL;
	uint32_t ring_bytes = 8u << 20;
	long poll_us = 5000;
	struct bpf_object *obj = NULL;
	struct bpf_link *links[NPROGS] = {0};
	struct ring_buffer *rb;
	struct fb_config cfg;
	struct fb_counters *pc, tot = {0};
	struct rusage ru;
	int opt, ncpus, i, fd, err = -1;

	while ((opt = getopt(argc, argv, "r:a:i:p:t:P:d:g:")) != -1) {
		switch (opt) {
		case 'r': ring_bytes = strtoul(optarg, NULL, 0); break;
		case 'a': attach = optarg; break;
		case 'i':
			interest_all = !strcmp(optarg, "all");
			if (!interest_all && *optarg &&
			    parse_list(optarg, interest_sc, FE_SYSCALL_MAX + 1))
				return 2;
			break;
		case 'p': count_tid = strtoull(optarg, NULL, 10); break;
		case 't':
			if (parse_list(optarg, want_type, FB_EVENT_MAX))
				return 2;
			break;
		case 'P': poll_us = strtol(optarg, NULL, 10); break;
		case 'd': dump = optarg; break;
		case 'g':
			cpus_per_ring = strtoul(optarg, NULL, 10);
			if (!cpus_per_ring)
				return 2;
			break;
		default: return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: %s OBJ [-r RING] [-a auto|btf|raw] "
			"[-i SC,...|all] [-p PID] [-t TYPE,...] [-P POLL_US] "
			"[-d CONFIG_OUT]\n", argv[0]);
		return 2;
	}
	fill_config(&cfg, FB_DEFAULT_ARGV_MAX, FB_DEFAULT_SNAPLEN);
	if (dump) {
		FILE *f = fopen(dump, "wb");

		if (!f || fwrite(&cfg, sizeof(cfg), 1, f) != 1)
			return 1;
		fclose(f);
		return 0;
	}
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0 || ncpus > FB_MAX_RINGS)
		return 1;
	if (strcmp(attach, "raw")) {
		err = load(&obj, argv[optind], progs_btf, progs_raw, &cfg, ncpus,
			   ring_bytes);
		mode = "btf";
	}
	if (err && strcmp(attach, "btf")) {
		err = load(&obj, argv[optind], progs_raw, progs_btf, &cfg, ncpus,
			   ring_bytes);
		mode = "raw";
	}
	if (err) {
		fprintf(stderr, "c_consumer: cannot load %s: %s\n", argv[optind],
			strerror(-err));
		return 1;
	}
	/* fb_interest as BpfSource.set_interest: routed and wanted. */
	fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "fb_interest"));
	for (i = 0; i < FB_SYSCALL_NR_MAX; i++) {
		uint32_t key = i;
		uint8_t on = 0;

		if (i < FE_X86_64_SYSCALL_MAX &&
		    fe_x86_64_syscalls[i].enter_event >= 0)
			on = interest_all ||
			     interest_sc[fe_x86_64_syscalls[i].ppm_sc];
		if (bpf_map_update_elem(fd, &key, &on, 0)) {
			fprintf(stderr, "c_consumer: update fb_interest failed\n");
			return 1;
		}
	}
	rb = ring_buffer__new(ring_fds[0], on_record, NULL, NULL);
	for (i = 1; rb && i < nrings; i++) {
		if (ring_buffer__add(rb, ring_fds[i], on_record, NULL)) {
			ring_buffer__free(rb);
			rb = NULL;
		}
	}
	if (!rb) {
		fprintf(stderr, "c_consumer: ring_buffer__new failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (i = 0; i < NPROGS; i++) {
		const char *name = (!strcmp(mode, "btf") ? progs_btf : progs_raw)[i];

		links[i] = bpf_program__attach(
			bpf_object__find_program_by_name(obj, name));
		if (libbpf_get_error(links[i])) {
			fprintf(stderr, "c_consumer: attach %s failed\n", name);
			return 1;
		}
	}
	printf("ready %s\n", mode);
	fflush(stdout);
	/* The probe writes with BPF_RB_NO_WAKEUP: poll on a timer. */
	while (!stop) {
		if (ring_buffer__consume(rb) <= 0 && !stop)
			usleep(poll_us);
	}
	for (i = 0; i < NPROGS; i++)
		bpf_link__destroy(links[i]);
	while (ring_buffer__consume(rb) > 0)
		;
	/* Per-CPU counters, summed as BpfSource.counters() does. */
	pc = calloc(ncpus, sizeof(*pc));
	{
		uint32_t key = 0;

		fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "fb_counters"));
		if (bpf_map_lookup_elem(fd, &key, pc))
			return 1;
	}
	for (i = 0; i < ncpus; i++) {
		tot.n_evts += pc[i].n_evts;
		tot.n_drops_buffer += pc[i].n_drops_buffer;
		tot.n_drops_max_size += pc[i].n_drops_max_size;
		tot.n_faults += pc[i].n_faults;
		tot.n_drops_scratch += pc[i].n_drops_scratch;
		tot.n_filtered += pc[i].n_filtered;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"mode\": \"%s\", \"records\": %llu, \"bytes\": %llu, "
	       "\"records_pid\": %llu, \"records_types\": %llu, "
	       "\"counters\": {\"events\": %llu, \"drops_buffer\": %llu, "
	       "\"drops_max_size\": %llu, \"faults\": %llu, "
	       "\"drops_scratch\": %llu, \"filtered\": %llu}, "
	       "\"cpu_s\": %.6f, \"maxrss_kb\": %ld}\n",
	       mode, (unsigned long long)n_records, (unsigned long long)n_bytes,
	       (unsigned long long)n_pid, (unsigned long long)n_types,
	       (unsigned long long)tot.n_evts,
	       (unsigned long long)tot.n_drops_buffer,
	       (unsigned long long)tot.n_drops_max_size,
	       (unsigned long long)tot.n_faults,
	       (unsigned long long)tot.n_drops_scratch,
	       (unsigned long long)tot.n_filtered,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	       ru.ru_maxrss);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	free(pc);
	return 0;
}
