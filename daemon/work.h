/* SPDX-License-Identifier: MIT */
/*
 * rdqd's work item: the engine's, plus what the daemon's steps carry. The
 * engine allocates items of this size (workers_start's item_size) and hands
 * back struct work_item pointers; work_of() gets the rest.
 */
#ifndef RDQD_WORK_H
#define RDQD_WORK_H

#include "engine/workers.h"

struct rdqd;
struct request;

struct rdqd_work {
	struct work_item item; /* first: the engine's part */
	/*
	 * The request the step completes, owned while the item is out (state
	 * IN_FLIGHT: nobody else touches it until the item is back), or NULL.
	 */
	struct request *request;
	rdq_handle_t qp; /* a second object the step needs (the endpoint's QP), or 0 */
};

static inline struct rdqd_work *work_of(struct work_item *item)
{
	return (struct rdqd_work *)item;
}

/*
 * The loop takes back the work items the workers finished: each one's
 * dispatch half runs, and the item goes back to the pool. During shutdown
 * the last one may be what rdqd waited for. Returns how many came back.
 */
unsigned rdqd_work_returned(struct rdqd *d);

#endif
