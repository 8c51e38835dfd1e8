// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event table seen from the module: the only file that references
 * fe_event_table[] and fe_x86_64_syscalls[] (driver/falco_events.h), so
 * the tables are compiled in once.
 */
#include <linux/kernel.h>
#include <linux/module.h>

#include "fk.h"
#include "falco_events.h"

/* The event table this module was built with (the loader checks it). */
MODULE_INFO(event_max, __stringify(FE_EVENT_MAX));

/* Params every record of this event carries (the table's nparams). */
u16 fk_event_nparams(u16 type)
{
	if (type >= FE_EVENT_MAX)
		return 0;
	return fe_event_table[type].nparams;
}

/*
 * Native x86_64 syscall nr -> its enter event and PPM_SC code.
 * Returns false for numbers the table does not route.
 */
bool fk_syscall_route(u32 nr, u16 *enter_event, u16 *ppm_sc)
{
	const struct fe_syscall_route *r;

	if (nr >= FE_X86_64_SYSCALL_MAX || nr >= FK_SYSCALL_NR_MAX)
		return false;
	r = &fe_x86_64_syscalls[nr];
	if (r->enter_event < 0)
		return false;
	if (enter_event)
		*enter_event = r->enter_event;
	if (ppm_sc)
		*ppm_sc = r->ppm_sc;
	return true;
}
