/* SPDX-License-Identifier: MIT */
/*
 * Work items and the workers that run them: the hand-off between the loop
 * (DISPATCH level) and the worker threads (PASSIVE level).
 *
 * A work item makes one round trip. The loop takes it from the pool (never
 * blocking: the pool grows when empty, up to an optional cap), fills it and
 * queues it; a worker runs item->passive, then sends the item back; the loop
 * runs item->dispatch and returns the item to the pool. So the pool and the
 * dispatch callbacks belong to the loop thread alone, and workers only ever
 * touch the two queues, each under its own lock.
 *
 * An item names objects by handle only. The passive callback looks them up
 * again: between queueing and running, either may have been destroyed.
 *
 * The engine knows nothing of what the work is: a user that needs more per
 * item than handle, data and arg makes its items larger (workers_start's
 * item_size) and puts struct work_item first in its own.
 *
 * An object's items go through its event queue (struct work_serial), after
 * KMDF's FxEventQueue: the loop only posts; at most one item of the object
 * is on the workers' queue or running at a time; the worker that runs it
 * goes on with the items posted behind it, in order, holding the object's
 * state-machine lock. The queue goes idle only on the loop, when the last
 * item it ran comes back, so the dispatch halves run in post order too.
 * Which objects share one event queue is the synchronization scope (the
 * daemon's choice: per endpoint, per device, none).
 */
#ifndef RDQ_ENGINE_WORKERS_H
#define RDQ_ENGINE_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handle_table.h"

struct work_item;
struct work_serial;

typedef void (*work_fn)(struct work_item *item);

struct work_item {
	struct work_item *next;	    /* link in whichever queue holds the item */
	work_fn passive;	    /* runs on a worker; may block */
	work_fn dispatch;	    /* then runs on the loop; may be NULL */
	void *ctx;		    /* the engine's user (the daemon), the same for every item */
	rdq_handle_t handle;	    /* the object the work is for */
	struct work_serial *serial; /* the event queue it was posted to, or NULL */
	bool serial_last;	    /* it came back with nothing behind it on serial */
	void *data;		    /* op-specific, freed by the dispatch callback */
	int arg;		    /* op-specific input (an rdma_cm event status, say) */
	int status;		    /* 0 or a negative errno, set by the passive callback */
};

struct workers_stats {
	uint64_t pool_size;  /* items allocated */
	uint64_t pool_free;  /* items in the pool */
	uint64_t in_use;     /* items out of the pool: queued, running or returning */
	uint64_t high_water; /* most items in use at once */
	uint64_t misses;     /* times the pool was empty and an item was allocated */
	uint64_t refused;    /* times the cap was reached (EBUSY) */
	uint64_t queued;     /* items waiting for a worker now */
	uint64_t run;	     /* passive callbacks run */
	uint64_t deferred;   /* items posted behind another item of the same object */
	uint64_t serial_max; /* most items waiting on one object's event queue */
	unsigned threads;
};

/*
 * An object's event queue. The loop posts; a worker drains. Its memory must
 * outlive every item posted to it: the daemon's rule is that an object's
 * teardown is the last item posted to its queue, and the object is freed
 * only when that item is back on the loop.
 */
struct work_serial {
	pthread_mutex_t lock;	/* guards the three fields below; held briefly */
	struct work_item *head; /* items waiting behind the one that is out */
	struct work_item *tail;
	bool out;		     /* an item is queued, running, or on its way back */
	pthread_mutex_t *state_lock; /* held while a worker runs the items, or NULL */
	unsigned waiting;	     /* guarded by lock: items on head..tail */
};

/* Makes an empty event queue whose items run under state_lock (may be NULL). */
void work_serial_init(struct work_serial *s, pthread_mutex_t *state_lock);
void work_serial_destroy(struct work_serial *s);

struct workers {
	/* The way to the workers. */
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* signalled after an item is queued */
	struct work_item *head; /* guarded by lock */
	struct work_item *tail; /* guarded by lock */
	uint64_t queued;	/* guarded by lock */
	bool stopping;		/* guarded by lock */

	/* The way back to the loop. */
	pthread_mutex_t done_lock;
	struct work_item *done_head; /* guarded by done_lock */
	struct work_item *done_tail; /* guarded by done_lock */
	int done_fd;		     /* eventfd: readable when done_head is set */
	uint64_t run;		     /* guarded by done_lock: items run and sent back */

	/* The pool: loop thread only. */
	struct work_item *pool;
	uint64_t pool_size, pool_free, in_use, high_water, misses, refused;
	uint64_t pool_cap; /* 0: no cap */
	size_t item_size;  /* bytes per item: the user's item, struct work_item first */

	uint64_t deferred, serial_max; /* loop only */

	pthread_t *threads;
	unsigned nthreads;
	bool manual; /* no threads: a test runs the items (workers_run_queued) */
};

/* workers_start's nthreads for a test that runs each item itself. */
#define WORKERS_MANUAL UINT32_MAX

/*
 * Starts nthreads workers (0: one per CPU) and preallocates prealloc items
 * of item_size bytes (at least struct work_item's; each is zeroed when taken);
 * the pool never holds more than cap items in use (0: no cap). Returns 0 or
 * -errno. Call from the loop thread.
 */
int workers_start(struct workers *w, unsigned nthreads, unsigned prealloc, unsigned cap,
		  size_t item_size);

/*
 * Stops the workers after they finish the queue, joins them, and frees the
 * pool. Items still out of the pool are the caller's problem: drain them
 * first (workers_in_use() == 0). Blocks: call only at exit.
 */
void workers_stop(struct workers *w);

/*
 * Takes a zeroed item from the pool. NULL at the cap (*err -EBUSY: back-pressure,
 * try again) or out of memory (*err -ENOMEM); err may be NULL. Loop only.
 */
struct work_item *work_item_get(struct workers *w, int *err);

/*
 * The same, ignoring the cap: for work that frees resources or follows an
 * rdma_cm event (a teardown, a disconnect's QP move), which back-pressure
 * must not refuse. NULL only when out of memory. Loop only.
 */
struct work_item *work_item_get_uncapped(struct workers *w);

/* Returns an item that was taken but not queued. Loop only. */
void work_item_put(struct workers *w, struct work_item *item);

/* Queues item for a worker and wakes one. Loop only. */
void work_item_queue(struct workers *w, struct work_item *item);

/*
 * Posts item to an object's event queue s: it goes to the workers at once
 * if none of s's items is out, else it waits its turn. s NULL: the same as
 * work_item_queue (no ordering with the object's other items). Loop only.
 */
void work_item_post(struct workers *w, struct work_serial *s, struct work_item *item);

/*
 * For deterministic tests (workers started with WORKERS_MANUAL): runs the
 * first queued item whose passive callback is match (any item if NULL) on
 * the calling thread, at PASSIVE level, and sends it back; an item of an
 * event queue runs alone, and the next item of that queue goes to the tail
 * of the workers' queue. Returns false if no queued item matched.
 */
bool workers_run_queued(struct workers *w, work_fn match);

/* The same for the nth queued item (from 0), whatever it is: a simulator's choice. */
bool workers_run_nth(struct workers *w, uint64_t n);

/* Items waiting for a worker now. */
uint64_t workers_queued(struct workers *w);

/*
 * Runs the dispatch callbacks of the items the workers sent back, and
 * returns the items to the pool. The loop calls it when done_fd is readable.
 * Returns how many items it completed.
 */
unsigned workers_drain_done(struct workers *w);

/* Items out of the pool right now (queued, running, or on the way back). */
uint64_t workers_in_use(const struct workers *w);

void workers_get_stats(struct workers *w, struct workers_stats *out);

#endif
