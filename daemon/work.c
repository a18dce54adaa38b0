/* SPDX-License-Identifier: MIT */
/*
 * The return path of every work item, on the loop: the workers' finished
 * items are drained (workers_drain_done runs each one's dispatch half), and
 * a shutdown that waited for them is told.
 */
#include "work.h"

#include "rdqd.h"
#include "shutdown.h"

unsigned rdqd_work_returned(struct rdqd *d)
{
	unsigned n = workers_drain_done(&d->workers);

	if (d->shutting_down)
		rdqd_check_exit(d);
	return n;
}
