// SPDX-License-Identifier: GPL-2.0-only
/*
 * ioctls of /dev/falco<CPU>: a thin switch, one handler per command.
 * Every argument is copied in and checked before any state changes:
 * -EFAULT when it cannot be copied, -EINVAL when out of range, -ENOTTY
 * for a command that is not ours (including a known number with the
 * wrong size or direction).
 */
#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/uaccess.h>

#include "fk.h"

static long fk_ioc_api_version(void __user *uarg)
{
	__u32 v = FK_API_VERSION;

	return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
}

static long fk_ioc_capture(struct fk_ring *ring, unsigned long arg, bool on)
{
	if (arg) {
		pr_err_ratelimited("capture ioctl takes no argument\n");
		return -EINVAL;
	}
	WRITE_ONCE(ring->capturing, on);
	return 0;
}

static long fk_ioc_set_mask(struct fk_ring *ring, void __user *uarg)
{
	u64 words[FK_SYSCALL_NR_MAX / 64] = {};
	DECLARE_BITMAP(mask, FK_SYSCALL_NR_MAX);
	struct fk_mask m;
	u32 nr;

	if (copy_from_user(&m, uarg, sizeof(m)))
		return -EFAULT;
	if (m.flags) {
		pr_err_ratelimited("set_mask: unknown flags %#x\n", m.flags);
		return -EINVAL;
	}
	if (!m.nbits || m.nbits > FK_SYSCALL_NR_MAX || m.nbits % 64) {
		pr_err_ratelimited("set_mask: bad nbits %u\n", m.nbits);
		return -EINVAL;
	}
	if (copy_from_user(words, u64_to_user_ptr(m.bitmap), m.nbits / 8))
		return -EFAULT;
	bitmap_from_arr64(mask, words, FK_SYSCALL_NR_MAX);
	/* syscalls the table does not route are never captured */
	for (nr = 0; nr < FK_SYSCALL_NR_MAX; nr++)
		if (test_bit(nr, mask) && !fk_syscall_route(nr, NULL, NULL))
			clear_bit(nr, mask);
	for (nr = 0; nr < BITS_TO_LONGS(FK_SYSCALL_NR_MAX); nr++)
		WRITE_ONCE(ring->interest[nr], mask[nr]);
	return 0;
}

static long fk_ioc_set_snaplen(struct fk_ring *ring, void __user *uarg)
{
	__u32 v;

	if (copy_from_user(&v, uarg, sizeof(v)))
		return -EFAULT;
	if (v > FK_MAX_SNAPLEN) {
		pr_err_ratelimited("set_snaplen: %u > %u\n", v, FK_MAX_SNAPLEN);
		return -EINVAL;
	}
	WRITE_ONCE(ring->snaplen, v);
	return 0;
}

static long fk_ioc_get_counters(struct fk_ring *ring, void __user *uarg)
{
	struct fk_counters c = {
		.n_evts = READ_ONCE(ring->cnt.n_evts),
		.n_drops_buffer = READ_ONCE(ring->cnt.n_drops_buffer),
		.n_drops_max_size = READ_ONCE(ring->cnt.n_drops_max_size),
		.n_faults = READ_ONCE(ring->cnt.n_faults),
		.n_preemptions = READ_ONCE(ring->cnt.n_preemptions),
		.n_filtered = READ_ONCE(ring->cnt.n_filtered),
	};

	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

long fk_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct fk_dev *d = filp->private_data;
	void __user *uarg = (void __user *)arg;
	struct fk_ring *ring;
	long ret;

	if (_IOC_TYPE(cmd) != FK_IOC_MAGIC)
		return -ENOTTY;
	mutex_lock(&d->lock);
	ring = d->ring;
	switch (cmd) {
	case FK_IOC_GET_API_VERSION:
		ret = fk_ioc_api_version(uarg);
		break;
	case FK_IOC_ENABLE:
		ret = fk_ioc_capture(ring, arg, true);
		break;
	case FK_IOC_DISABLE:
		ret = fk_ioc_capture(ring, arg, false);
		break;
	case FK_IOC_SET_MASK:
		ret = fk_ioc_set_mask(ring, uarg);
		break;
	case FK_IOC_SET_SNAPLEN:
		ret = fk_ioc_set_snaplen(ring, uarg);
		break;
	case FK_IOC_GET_COUNTERS:
		ret = fk_ioc_get_counters(ring, uarg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&d->lock);
	return ret;
}
