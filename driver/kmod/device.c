// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/falco<CPU>: one character device per possible CPU, so that a CPU
 * that comes online later already has its device; a ring is allocated
 * when its device is opened and freed when it is released.
 *
 * Lifetime: the device holds a module reference while open (fops.owner),
 * and a mapping holds the file, so the module cannot be removed and the
 * ring cannot be freed while a consumer has it open or mapped.  Release
 * (also when the consumer is killed) unpublishes the ring, waits for the
 * probes (RCU) and only then frees it.
 */
#include <linux/cpumask.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/version.h>

#include "fk.h"

struct fk_dev *fk_devs;
static dev_t fk_devt;
static struct class *fk_class;

static void fk_default_interest(struct fk_ring *ring)
{
	u32 nr;

	for (nr = 0; nr < FK_SYSCALL_NR_MAX; nr++)
		if (fk_syscall_route(nr, NULL, NULL))
			set_bit(nr, ring->interest);
}

static int fk_open(struct inode *inode, struct file *filp)
{
	struct fk_dev *d = container_of(inode->i_cdev, struct fk_dev, cdev);
	struct fk_ring *ring;
	int ret;

	/* one consumer per ring */
	if (atomic_cmpxchg(&d->opened, 0, 1))
		return -EBUSY;
	ring = fk_ring_alloc(d->cpu, fk_ring_bytes);
	if (!ring) {
		ret = -ENOMEM;
		goto out_release;
	}
	ring->owner_tgid = current->tgid;
	ring->snaplen = FK_DEFAULT_SNAPLEN;
	fk_default_interest(ring);
	ret = fk_probes_get();
	if (ret)
		goto out_free_ring;

	mutex_lock(&d->lock);
	d->ring = ring;
	rcu_assign_pointer(d->live, ring);
	mutex_unlock(&d->lock);
	filp->private_data = d;
	return 0;

out_free_ring:
	fk_ring_free(ring);
out_release:
	atomic_set(&d->opened, 0);
	return ret;
}

static int fk_release(struct inode *inode, struct file *filp)
{
	struct fk_dev *d = filp->private_data;
	struct fk_ring *ring;

	mutex_lock(&d->lock);
	ring = d->ring;
	WRITE_ONCE(ring->capturing, false);
	RCU_INIT_POINTER(d->live, NULL);
	d->ring = NULL;
	mutex_unlock(&d->lock);

	/* probes run with preemption disabled: an RCU reader each */
	synchronize_rcu();
	fk_probes_put();
	fk_ring_free(ring);
	atomic_set(&d->opened, 0);
	return 0;
}

static void fk_vma_set_flags(struct vm_area_struct *vma, unsigned long set,
			     unsigned long clear)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/*
 * offset 0: the control page, shared read-write;
 * offset FK_MMAP_DATA_OFFSET: the data pages twice, read-only.
 */
static int fk_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct fk_dev *d = filp->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	struct fk_ring *ring;
	int ret = -EINVAL;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	mutex_lock(&d->lock);
	ring = d->ring;
	if (vma->vm_pgoff == FK_MMAP_CTRL_OFFSET >> PAGE_SHIFT) {
		if (len != PAGE_SIZE)
			goto out_unlock;
		fk_vma_set_flags(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
		ret = vm_map_pages_zero(vma, &ring->ctrl_page, 1);
	} else if (vma->vm_pgoff == FK_MMAP_DATA_OFFSET >> PAGE_SHIFT) {
		if (len != 2 * ring->size)
			goto out_unlock;
		if (vma->vm_flags & VM_WRITE) {
			ret = -EPERM;
			goto out_unlock;
		}
		fk_vma_set_flags(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYWRITE);
		ret = vm_map_pages_zero(vma, ring->pages, 2 * ring->npages);
	}
out_unlock:
	mutex_unlock(&d->lock);
	return ret;
}

static const struct file_operations fk_fops = {
	.owner = THIS_MODULE,
	.open = fk_open,
	.release = fk_release,
	.mmap = fk_mmap,
	.unlocked_ioctl = fk_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static char *fk_devnode(const struct device *dev, umode_t *mode)
#else
static char *fk_devnode(struct device *dev, umode_t *mode)
#endif
{
	if (mode)
		*mode = 0600;
	return NULL;
}

static void fk_device_remove(struct fk_dev *d)
{
	if (!d->device)
		return;
	device_destroy(fk_class, d->cdev.dev);
	cdev_del(&d->cdev);
	d->device = NULL;
}

int fk_devices_create(void)
{
	unsigned int cpu;
	int ret;

	fk_devs = kcalloc(nr_cpu_ids, sizeof(*fk_devs), GFP_KERNEL);
	if (!fk_devs)
		return -ENOMEM;
	ret = alloc_chrdev_region(&fk_devt, 0, nr_cpu_ids, FK_DEVICE_NAME);
	if (ret)
		goto out_free_devs;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	fk_class = class_create(FK_DEVICE_NAME);
#else
	fk_class = class_create(THIS_MODULE, FK_DEVICE_NAME);
#endif
	if (IS_ERR(fk_class)) {
		ret = PTR_ERR(fk_class);
		goto out_unregister;
	}
	fk_class->devnode = fk_devnode;

	for_each_possible_cpu(cpu) {
		struct fk_dev *d = &fk_devs[cpu];
		struct device *dev;

		d->cpu = cpu;
		mutex_init(&d->lock);
		atomic_set(&d->opened, 0);
		cdev_init(&d->cdev, &fk_fops);
		d->cdev.owner = THIS_MODULE;
		ret = cdev_add(&d->cdev, MKDEV(MAJOR(fk_devt), cpu), 1);
		if (ret)
			goto out_remove;
		dev = device_create(fk_class, NULL, d->cdev.dev, d,
				    FK_DEVICE_NAME "%u", cpu);
		if (IS_ERR(dev)) {
			ret = PTR_ERR(dev);
			cdev_del(&d->cdev);
			goto out_remove;
		}
		d->device = dev;
	}
	return 0;

out_remove:
	for_each_possible_cpu(cpu)
		fk_device_remove(&fk_devs[cpu]);
	class_destroy(fk_class);
out_unregister:
	unregister_chrdev_region(fk_devt, nr_cpu_ids);
out_free_devs:
	kfree(fk_devs);
	fk_devs = NULL;
	return ret;
}

/* Module exit: no device can be open (each holds a module reference). */
void fk_devices_destroy(void)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		fk_device_remove(&fk_devs[cpu]);
	class_destroy(fk_class);
	unregister_chrdev_region(fk_devt, nr_cpu_ids);
	kfree(fk_devs);
	fk_devs = NULL;
}
