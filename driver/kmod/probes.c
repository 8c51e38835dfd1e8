// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tracepoints: sys_enter, sys_exit, sched_process_{fork,exec,exit}, found
 * by name with for_each_kernel_tracepoint() at load, attached while at
 * least one ring is open (no cost to the system when nobody listens).
 *
 * A probe writes only into the ring of the CPU it runs on, with
 * preemption disabled: one producer per ring.  The ring pointer is RCU
 * (sched) protected: release() unpublishes it and waits before freeing.
 */
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/compat.h>
#include <linux/tracepoint.h>
#include <asm/syscall.h>

#include "fk.h"

static void fk_sys_enter(void *data, struct pt_regs *regs, long id);
static void fk_sys_exit(void *data, struct pt_regs *regs, long ret);
static void fk_proc_fork(void *data, struct task_struct *parent,
			 struct task_struct *child);
static void fk_proc_exec(void *data, struct task_struct *p, pid_t old_pid,
			 struct linux_binprm *bprm);
static void fk_proc_exit(void *data, struct task_struct *p);

struct fk_tp {
	const char *name;
	void *probe;
	struct tracepoint *tp;
};

static struct fk_tp fk_tps[] = {
	{ "sys_enter", fk_sys_enter },
	{ "sys_exit", fk_sys_exit },
	{ "sched_process_fork", fk_proc_fork },
	{ "sched_process_exec", fk_proc_exec },
	{ "sched_process_exit", fk_proc_exit },
};

static DEFINE_MUTEX(fk_probes_lock);
static unsigned int fk_probes_users;

/* The ring of this CPU, if a consumer has it open; preemption disabled. */
static struct fk_ring *fk_this_ring(void)
{
	return rcu_dereference_sched(fk_devs[smp_processor_id()].live);
}

/* Enter the ring's producer; false when already inside (re-entered). */
static bool fk_ring_enter(struct fk_ring *ring)
{
	if (atomic_inc_return(&ring->in_use) != 1) {
		atomic_dec(&ring->in_use);
		ring->cnt.n_preemptions++;
		return false;
	}
	return true;
}

static void fk_ring_leave(struct fk_ring *ring)
{
	atomic_dec(&ring->in_use);
}

static void fk_on_syscall(struct pt_regs *regs, long id, long ret, bool exit)
{
	struct fk_ring *ring;
	struct fk_evt e;
	u16 enter;

	preempt_disable_notrace();
	ring = fk_this_ring();
	if (!ring || !READ_ONCE(ring->capturing))
		goto out;
	if (id < 0 || id >= FK_SYSCALL_NR_MAX || !test_bit(id, ring->interest)) {
		ring->cnt.n_filtered++;
		goto out;
	}
	/* the consumer's own syscalls; 32-bit syscalls (other numbering) */
	if (current->tgid == ring->owner_tgid || in_compat_syscall())
		goto out;
	if (!fk_syscall_route(id, &enter, NULL))
		goto out;
	if (!fk_ring_enter(ring))
		goto out;
	e.ring = ring;
	e.nr = id;
	e.ret = ret;
	syscall_get_arguments(current, regs, e.args);
	fk_fill(&e, enter + (exit ? 1 : 0));
	fk_ring_leave(ring);
out:
	preempt_enable_notrace();
}

static void fk_sys_enter(void *data, struct pt_regs *regs, long id)
{
	fk_on_syscall(regs, id, 0, false);
}

static void fk_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	fk_on_syscall(regs, syscall_get_nr(current, regs), ret, true);
}

static void fk_proc_exit(void *data, struct task_struct *p)
{
	struct fk_ring *ring;
	struct fk_evt e;

	preempt_disable_notrace();
	ring = fk_this_ring();
	if (!ring || !READ_ONCE(ring->capturing) ||
	    current->tgid == ring->owner_tgid)
		goto out;
	if (!fk_ring_enter(ring))
		goto out;
	e.ring = ring;
	e.nr = 0;
	e.ret = 0;
	fk_fill_procexit(&e, p);
	fk_ring_leave(ring);
out:
	preempt_enable_notrace();
}

/*
 * fork / exec are seen at sys_exit on x86_64 (as the eBPF probe); kept
 * attached so that the state engine's needs can grow here.
 */
static void fk_proc_fork(void *data, struct task_struct *parent,
			 struct task_struct *child)
{
}

static void fk_proc_exec(void *data, struct task_struct *p, pid_t old_pid,
			 struct linux_binprm *bprm)
{
}

static void fk_tp_lookup(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(fk_tps); i++)
		if (!strcmp(tp->name, fk_tps[i].name))
			fk_tps[i].tp = tp;
}

/* At load: every tracepoint must exist. */
int fk_probes_init(void)
{
	int i;

	for_each_kernel_tracepoint(fk_tp_lookup, NULL);
	for (i = 0; i < ARRAY_SIZE(fk_tps); i++) {
		if (!fk_tps[i].tp) {
			pr_err("tracepoint %s not found\n", fk_tps[i].name);
			return -ENOENT;
		}
	}
	return 0;
}

static void fk_probes_detach(int n)
{
	while (n--)
		tracepoint_probe_unregister(fk_tps[n].tp, fk_tps[n].probe, NULL);
	/* no probe is running any more once this returns */
	tracepoint_synchronize_unregister();
}

/* A ring was opened: attach on the first one. */
int fk_probes_get(void)
{
	int i, ret = 0;

	mutex_lock(&fk_probes_lock);
	if (fk_probes_users++)
		goto out_unlock;
	for (i = 0; i < ARRAY_SIZE(fk_tps); i++) {
		ret = tracepoint_probe_register(fk_tps[i].tp, fk_tps[i].probe,
						NULL);
		if (ret) {
			pr_err("cannot attach to %s: %d\n", fk_tps[i].name,
			       ret);
			fk_probes_detach(i);
			fk_probes_users--;
			break;
		}
	}
out_unlock:
	mutex_unlock(&fk_probes_lock);
	return ret;
}

/* A ring was released: detach after the last one. */
void fk_probes_put(void)
{
	mutex_lock(&fk_probes_lock);
	if (!WARN_ON(!fk_probes_users) && !--fk_probes_users)
		fk_probes_detach(ARRAY_SIZE(fk_tps));
	mutex_unlock(&fk_probes_lock);
}
