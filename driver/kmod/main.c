// SPDX-License-Identifier: GPL-2.0-only
/*
 * falco kernel module: syscall and process events written as libscap
 * records (driver/falco_events.h) into one mmap-able ring per CPU.
 */
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "fk.h"

#define FK_DEFAULT_RING_BYTES	(8 * 1024 * 1024)
#define FK_MIN_RING_BYTES	(2 * FK_MAX_EVENT)
#define FK_MAX_RING_BYTES	(256 * 1024 * 1024)

unsigned int fk_ring_bytes = FK_DEFAULT_RING_BYTES;
module_param_named(ring_bytes, fk_ring_bytes, uint, 0444);
MODULE_PARM_DESC(ring_bytes,
		 "Data bytes per CPU ring: a power of two, 128 KiB .. 256 MiB (default 8 MiB)");

static int __init fk_init(void)
{
	int ret;

	if (!is_power_of_2(fk_ring_bytes) ||
	    fk_ring_bytes < FK_MIN_RING_BYTES ||
	    fk_ring_bytes > FK_MAX_RING_BYTES) {
		pr_err("ring_bytes=%u: must be a power of two in [%u, %u]\n",
		       fk_ring_bytes, FK_MIN_RING_BYTES, FK_MAX_RING_BYTES);
		return -EINVAL;
	}
	ret = fk_probes_init();
	if (ret)
		return ret;
	ret = fk_devices_create();
	if (ret)
		return ret;
	pr_info("loaded: api %d, %u devices, %u-byte rings\n", FK_API_VERSION,
		num_possible_cpus(), fk_ring_bytes);
	return 0;
}

static void __exit fk_exit(void)
{
	fk_devices_destroy();
	pr_info("unloaded\n");
}

module_init(fk_init);
module_exit(fk_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The falco (Python) authors");
MODULE_DESCRIPTION("falco syscall capture: libscap records in per-CPU mmap rings");
MODULE_VERSION("0.1.0");
/* Stamps the loader compares with what it expects (falco_kmod.h). */
MODULE_INFO(api_version, __stringify(FK_API_VERSION));
