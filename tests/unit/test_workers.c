/* SPDX-License-Identifier: MIT */
/*
 * Work items and workers (daemon/engine/workers.h): the round trip from the loop
 * to a worker and back, the pool (reuse, growth, the cap), its statistics,
 * a thousand items over two workers, and the event queues (work_serial):
 * order, one item out at a time, independence, and the manual workers tests
 * drive step by step.
 *
 * The test thread plays the loop: it runs at DISPATCH level while it uses the
 * loop-only calls, waits for done_fd with poll() as the loop would, and
 * drops to PASSIVE for workers_stop(), which blocks.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine/level.h"
#include "engine/workers.h"

/* Long enough for any loaded machine; a healthy run never waits for it. */
#define DONE_TIMEOUT_MS 20000

/*
 * Waits (poll on done_fd, as the loop does) and drains until count items have
 * come back. Returns how many came back: more than count is a failure too.
 */
static unsigned drain_until(struct workers *w, unsigned count)
{
	unsigned done = 0;

	while (done < count) {
		struct pollfd pfd = {.fd = w->done_fd, .events = POLLIN};
		int ret = poll(&pfd, 1, DONE_TIMEOUT_MS);

		assert_int_equal(ret, 1);
		assert_true(pfd.revents & POLLIN);
		done += workers_drain_done(w);
	}
	return done;
}

/* Starts workers with the test thread as the loop. */
static void start(struct workers *w, unsigned nthreads, unsigned prealloc, unsigned cap)
{
	rdq_level_set(RDQ_LEVEL_DISPATCH);
	assert_int_equal(workers_start(w, nthreads, prealloc, cap, 0), 0);
}

/* Stops them: every item must be back in the pool first, or valgrind sees it leak. */
static void stop(struct workers *w)
{
	assert_int_equal(workers_in_use(w), 0);
	rdq_level_set(RDQ_LEVEL_PASSIVE);
	workers_stop(w);
	rdq_level_set(RDQ_LEVEL_UNSET);
}

static struct workers_stats stats_of(struct workers *w)
{
	struct workers_stats s;

	workers_get_stats(w, &s);
	return s;
}

/* What each callback of one round trip saw. */
struct trip {
	pthread_t passive_thread, dispatch_thread;
	enum rdq_level passive_level, dispatch_level;
	int passive_step, dispatch_step; /* 1-based order of the calls; 0: not called */
	int status_seen_by_dispatch;
	rdq_handle_t handle_seen;
	int arg_seen;
};

static atomic_int step;

static void trip_passive(struct work_item *item)
{
	struct trip *t = item->data;

	t->passive_thread = pthread_self();
	t->passive_level = rdq_level_current();
	t->passive_step = atomic_fetch_add(&step, 1) + 1;
	t->handle_seen = item->handle;
	t->arg_seen = item->arg;
	item->status = -ETIMEDOUT;
}

static void trip_dispatch(struct work_item *item)
{
	struct trip *t = item->data;

	t->dispatch_thread = pthread_self();
	t->dispatch_level = rdq_level_current();
	t->dispatch_step = atomic_fetch_add(&step, 1) + 1;
	t->status_seen_by_dispatch = item->status;
}

/*
 * One item, one worker: passive runs on the worker at PASSIVE level and sees
 * what the loop filled in; done_fd becomes readable; dispatch runs afterwards
 * on the draining thread at DISPATCH level and sees the passive status.
 */
static void test_round_trip(void **state)
{
	struct workers w;
	struct work_item *item;
	struct trip trip = {0};
	struct workers_stats s;

	atomic_store(&step, 0);
	start(&w, 1, 1, 0);
	item = work_item_get(&w, NULL);
	assert_non_null(item);
	item->passive = trip_passive;
	item->dispatch = trip_dispatch;
	item->data = &trip;
	item->handle = (rdq_handle_t)17;
	item->arg = 42;
	work_item_queue(&w, item);

	assert_int_equal(drain_until(&w, 1), 1);

	assert_int_equal(trip.passive_step, 1);
	assert_int_equal(trip.dispatch_step, 2);
	assert_false(pthread_equal(trip.passive_thread, pthread_self()));
	assert_int_equal(trip.passive_level, RDQ_LEVEL_PASSIVE);
	assert_true(pthread_equal(trip.dispatch_thread, pthread_self()));
	assert_int_equal(trip.dispatch_level, RDQ_LEVEL_DISPATCH);
	assert_int_equal(trip.handle_seen, (rdq_handle_t)17);
	assert_int_equal(trip.arg_seen, 42);
	assert_int_equal(trip.status_seen_by_dispatch, -ETIMEDOUT);

	s = stats_of(&w);
	assert_int_equal(s.run, 1);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.in_use, 0);
	assert_int_equal(s.threads, 1);

	/* Everything was drained: another drain finds nothing and runs nothing. */
	assert_int_equal(workers_drain_done(&w), 0);
	assert_int_equal(atomic_load(&step), 2);
	stop(&w);
}

/* An item with neither callback (a pure wake-up) still makes the trip and returns to the pool. */
static void test_no_callbacks(void **state)
{
	struct workers w;
	struct work_item *item;

	start(&w, 1, 0, 0);
	item = work_item_get(&w, NULL);
	assert_non_null(item);
	work_item_queue(&w, item);
	assert_int_equal(drain_until(&w, 1), 1);
	assert_int_equal(stats_of(&w).run, 1);
	assert_int_equal(workers_in_use(&w), 0);
	assert_int_equal(stats_of(&w).pool_free, 1);
	stop(&w);
}

/* A hundred trips, one at a time, through a pool of two preallocated items: never a miss. */
static void test_prealloc_reused(void **state)
{
	struct workers w;
	struct workers_stats s;

	start(&w, 2, 2, 0);
	s = stats_of(&w);
	assert_int_equal(s.pool_size, 2);
	assert_int_equal(s.pool_free, 2);
	assert_int_equal(s.in_use, 0);

	for (int i = 0; i < 100; i++) {
		struct work_item *a = work_item_get(&w, NULL), *b = work_item_get(&w, NULL);

		assert_non_null(a);
		assert_non_null(b);
		work_item_queue(&w, a);
		work_item_queue(&w, b);
		assert_int_equal(drain_until(&w, 2), 2);
	}
	s = stats_of(&w);
	assert_int_equal(s.misses, 0);
	assert_int_equal(s.pool_size, 2);
	assert_int_equal(s.pool_free, 2);
	assert_int_equal(s.high_water, 2);
	assert_int_equal(s.run, 200);
	stop(&w);
}

/* An empty pool grows by one item per get, each counted as a miss; returned items are reused. */
static void test_empty_pool_grows(void **state)
{
	struct workers w;
	struct work_item *items[3], *extra;
	struct workers_stats s;

	start(&w, 1, 0, 0);
	assert_int_equal(stats_of(&w).pool_size, 0);
	for (int i = 0; i < 3; i++) {
		items[i] = work_item_get(&w, NULL);
		assert_non_null(items[i]);
		s = stats_of(&w);
		assert_int_equal(s.misses, i + 1);
		assert_int_equal(s.pool_size, i + 1);
		assert_int_equal(s.pool_free, 0);
		assert_int_equal(s.in_use, i + 1);
	}
	for (int i = 0; i < 3; i++)
		work_item_queue(&w, items[i]);
	assert_int_equal(drain_until(&w, 3), 3);

	for (int i = 0; i < 3; i++)
		items[i] = work_item_get(&w, NULL);
	s = stats_of(&w);
	assert_int_equal(s.misses, 3);
	assert_int_equal(s.pool_size, 3);
	assert_int_equal(s.pool_free, 0);
	/* The pool had exactly these three: a fourth get must allocate again. */
	extra = work_item_get(&w, NULL);
	assert_non_null(extra);
	s = stats_of(&w);
	assert_int_equal(s.misses, 4);
	assert_int_equal(s.pool_size, 4);
	work_item_put(&w, extra);
	for (int i = 0; i < 3; i++)
		work_item_put(&w, items[i]);
	assert_int_equal(stats_of(&w).pool_free, 4);
	stop(&w);
}

/*
 * With a cap of two, the third get is refused (NULL: the caller answers
 * EBUSY) without allocating, and keeps being refused until an item comes
 * back through a drain or a put.
 */
static void test_cap_refuses(void **state)
{
	struct workers w;
	struct work_item *a, *b;
	struct workers_stats s;
	int err = 0;

	start(&w, 1, 0, 2);
	a = work_item_get(&w, NULL);
	b = work_item_get(&w, NULL);
	assert_non_null(a);
	assert_non_null(b);
	/* Refused for the cap, and said so: EBUSY (try again), not ENOMEM. */
	assert_null(work_item_get(&w, &err));
	assert_int_equal(err, -EBUSY);
	assert_null(work_item_get(&w, NULL));
	s = stats_of(&w);
	assert_int_equal(s.refused, 2);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.pool_size, 2);
	assert_int_equal(s.in_use, 2);

	print_message("freed by a drain\n");
	work_item_queue(&w, a);
	assert_int_equal(drain_until(&w, 1), 1);
	a = work_item_get(&w, NULL);
	assert_non_null(a);
	assert_null(work_item_get(&w, NULL));
	s = stats_of(&w);
	assert_int_equal(s.refused, 3);
	assert_int_equal(s.misses, 2); /* the item came from the pool */

	print_message("freed by a put\n");
	work_item_put(&w, b);
	b = work_item_get(&w, NULL);
	assert_non_null(b);
	assert_int_equal(stats_of(&w).refused, 3);

	work_item_put(&w, a);
	work_item_put(&w, b);
	s = stats_of(&w);
	assert_int_equal(s.high_water, 2);
	assert_int_equal(s.pool_size, 2);
	stop(&w);
}

/* high_water keeps the most items out at once; in_use follows every get, put and drain. */
static void test_high_water_and_in_use(void **state)
{
	struct workers w;
	struct work_item *items[5];
	struct workers_stats s;

	start(&w, 2, 2, 0);
	for (int i = 0; i < 5; i++)
		items[i] = work_item_get(&w, NULL);
	assert_int_equal(workers_in_use(&w), 5);
	for (int i = 0; i < 4; i++)
		work_item_queue(&w, items[i]);
	work_item_put(&w, items[4]);
	assert_int_equal(workers_in_use(&w), 4);
	assert_int_equal(drain_until(&w, 4), 4);
	assert_int_equal(workers_in_use(&w), 0);

	items[0] = work_item_get(&w, NULL);
	items[1] = work_item_get(&w, NULL);
	s = stats_of(&w);
	assert_int_equal(s.in_use, 2);
	assert_int_equal(s.high_water, 5);
	assert_int_equal(s.pool_size, 5);
	assert_int_equal(s.pool_free, 3);
	assert_int_equal(s.misses, 3);
	work_item_put(&w, items[0]);
	work_item_put(&w, items[1]);
	assert_int_equal(workers_in_use(&w), 0);
	stop(&w);
}

/*
 * An item taken but not queued (the request failed before it reached a
 * worker) goes back with work_item_put: no callback runs, nothing reaches
 * done_fd, and the next get hands out a zeroed item, not the old contents:
 * all of it, the user's part of a larger item too.
 */
struct user_item {
	struct work_item item;
	uint64_t extra[3];
};

static void test_put_unqueued(void **state)
{
	struct workers w;
	struct work_item *item, *again;
	struct trip trip = {0};
	struct pollfd pfd;

	atomic_store(&step, 0);
	assert_int_equal(workers_start(&w, 1, 1, 0, sizeof(struct user_item)), 0);
	item = work_item_get(&w, NULL);
	item->passive = trip_passive;
	item->dispatch = trip_dispatch;
	item->data = &trip;
	item->handle = 9;
	((struct user_item *)item)->extra[2] = 10;
	item->arg = 11;
	item->status = -EIO;
	work_item_put(&w, item);
	assert_int_equal(workers_in_use(&w), 0);
	assert_int_equal(stats_of(&w).pool_free, 1);

	pfd = (struct pollfd){.fd = w.done_fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(workers_drain_done(&w), 0);
	assert_int_equal(atomic_load(&step), 0);

	again = work_item_get(&w, NULL);
	assert_ptr_equal(again, item); /* the pool's only item */
	assert_null(again->passive);
	assert_null(again->dispatch);
	assert_null(again->data);
	assert_null(again->ctx);
	assert_int_equal(again->handle, 0);
	assert_int_equal(((struct user_item *)again)->extra[2], 0);
	assert_int_equal(again->arg, 0);
	assert_int_equal(again->status, 0);
	work_item_put(&w, again);
	assert_int_equal(stats_of(&w).misses, 0);
	stop(&w);
}

/*
 * A thousand items queued at once to two workers: each passive callback runs
 * exactly once (on a worker), each dispatch exactly once (here), and every
 * item is back in the pool at the end.
 */
#define MANY 1000

static atomic_int passive_runs[MANY];
static int dispatch_runs[MANY];
static atomic_int off_level;

static void many_passive(struct work_item *item)
{
	if (rdq_level_current() != RDQ_LEVEL_PASSIVE)
		atomic_fetch_add(&off_level, 1);
	atomic_fetch_add(&passive_runs[item->arg], 1);
}

static void many_dispatch(struct work_item *item)
{
	if (rdq_level_current() != RDQ_LEVEL_DISPATCH)
		atomic_fetch_add(&off_level, 1);
	dispatch_runs[item->arg]++;
}

static void test_many_items(void **state)
{
	struct workers w;
	struct workers_stats s;

	atomic_store(&off_level, 0);
	for (int i = 0; i < MANY; i++) {
		atomic_store(&passive_runs[i], 0);
		dispatch_runs[i] = 0;
	}
	start(&w, 2, 64, 0);
	for (int i = 0; i < MANY; i++) {
		struct work_item *item = work_item_get(&w, NULL);

		assert_non_null(item);
		item->passive = many_passive;
		item->dispatch = many_dispatch;
		item->arg = i;
		work_item_queue(&w, item);
	}
	assert_int_equal(drain_until(&w, MANY), MANY);

	for (int i = 0; i < MANY; i++) {
		assert_int_equal(atomic_load(&passive_runs[i]), 1);
		assert_int_equal(dispatch_runs[i], 1);
	}
	assert_int_equal(atomic_load(&off_level), 0);
	s = stats_of(&w);
	assert_int_equal(s.run, MANY);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.in_use, 0);
	assert_int_equal(s.high_water, MANY);
	assert_int_equal(s.pool_size, MANY);
	assert_int_equal(s.pool_free, MANY);
	assert_int_equal(s.misses, MANY - 64);
	assert_int_equal(s.refused, 0);
	assert_int_equal(s.threads, 2);
	stop(&w);
}

/* nthreads 0 means one worker per online CPU. */
static void test_one_thread_per_cpu(void **state)
{
	struct workers w;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	start(&w, 0, 0, 0);
	assert_int_equal(stats_of(&w).threads, cpus > 0 ? (unsigned)cpus : 1u);
	stop(&w);
}

/* --- event queues (work_serial): an object's items, one at a time, in order --- */

/* What the items of the event-queue tests saw. */
#define SERIAL_ITEMS 200

static struct serial_log {
	atomic_int next;		/* the next free slot of order */
	int order[2 * SERIAL_ITEMS];	/* args, in the order the passive callbacks ran */
	atomic_int inside[2];		/* callbacks of each serial running right now */
	atomic_int overlaps;		/* times a callback found another of its serial running */
	atomic_int unlocked;		/* times a callback ran without its state lock held */
	pthread_mutex_t *state_lock[2]; /* each serial's state lock */
} slog;

static void serial_log_reset(void)
{
	atomic_store(&slog.next, 0);
	atomic_store(&slog.inside[0], 0);
	atomic_store(&slog.inside[1], 0);
	atomic_store(&slog.overlaps, 0);
	atomic_store(&slog.unlocked, 0);
	slog.state_lock[0] = slog.state_lock[1] = NULL;
}

/*
 * An item of serial item->handle (0 or 1) numbered item->arg: logs its turn,
 * and stays inside a while (yielding, never sleeping) so that a second
 * worker, if the queue let one in, would be caught running beside it.
 */
static void serial_passive(struct work_item *item)
{
	unsigned s = (unsigned)item->handle;

	if (atomic_fetch_add(&slog.inside[s], 1) != 0)
		atomic_fetch_add(&slog.overlaps, 1);
	/* The worker holds the queue's state lock: trylock from the same thread fails. */
	if (slog.state_lock[s] && pthread_mutex_trylock(slog.state_lock[s]) == 0) {
		pthread_mutex_unlock(slog.state_lock[s]);
		atomic_fetch_add(&slog.unlocked, 1);
	}
	slog.order[atomic_fetch_add(&slog.next, 1)] = item->arg;
	for (int i = 0; i < 50; i++)
		sched_yield();
	atomic_fetch_sub(&slog.inside[s], 1);
}

static struct work_item *serial_item(struct workers *w, unsigned serial, int arg, work_fn fn)
{
	struct work_item *item = work_item_get(w, NULL);

	assert_non_null(item);
	item->passive = fn;
	item->handle = serial;
	item->arg = arg;
	return item;
}

/*
 * Two hundred items posted to one event queue, four workers: they run in the
 * order posted, never two at once, each under the queue's state lock.
 */
static void test_serial_order_and_exclusion(void **state)
{
	struct workers w;
	struct work_serial s;
	pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

	serial_log_reset();
	slog.state_lock[0] = &state_lock;
	start(&w, 4, 0, 0);
	work_serial_init(&s, &state_lock);
	for (int i = 0; i < SERIAL_ITEMS; i++)
		work_item_post(&w, &s, serial_item(&w, 0, i, serial_passive));
	assert_int_equal(drain_until(&w, SERIAL_ITEMS), SERIAL_ITEMS);

	assert_int_equal(atomic_load(&slog.next), SERIAL_ITEMS);
	for (int i = 0; i < SERIAL_ITEMS; i++)
		assert_int_equal(slog.order[i], i);
	assert_int_equal(atomic_load(&slog.overlaps), 0);
	assert_int_equal(atomic_load(&slog.unlocked), 0);
	assert_int_equal(stats_of(&w).run, SERIAL_ITEMS);
	stop(&w);
	work_serial_destroy(&s);
}

/*
 * At most one item of an event queue is on the workers' queue: the others
 * wait on the event queue itself (deferred), and each run lets exactly the
 * next one through. Manual workers, so the queue can be looked at between
 * steps.
 */
static void test_serial_one_item_out(void **state)
{
	struct workers w;
	struct work_serial s;
	struct workers_stats st;

	serial_log_reset();
	start(&w, WORKERS_MANUAL, 0, 0);
	work_serial_init(&s, NULL);
	for (int i = 0; i < 5; i++)
		work_item_post(&w, &s, serial_item(&w, 0, i, serial_passive));
	st = stats_of(&w);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.deferred, 4);
	assert_int_equal(st.serial_max, 4);
	assert_int_equal(st.in_use, 5);

	for (int i = 0; i < 5; i++) {
		assert_int_equal(w.queued, 1);
		assert_true(workers_run_queued(&w, NULL));
		/* The item that ran is on its way back; the next one took its place. */
		assert_int_equal(w.queued, i < 4 ? 1 : 0);
		assert_int_equal(workers_drain_done(&w), 1);
	}
	assert_false(workers_run_queued(&w, NULL));
	for (int i = 0; i < 5; i++)
		assert_int_equal(slog.order[i], i);
	st = stats_of(&w);
	assert_int_equal(st.deferred, 4);
	assert_int_equal(st.serial_max, 4);
	assert_int_equal(st.in_use, 0);

	/* Idle again: the next item goes straight to the workers, deferred by nothing. */
	work_item_post(&w, &s, serial_item(&w, 0, 5, serial_passive));
	assert_int_equal(stats_of(&w).deferred, 4);
	assert_true(workers_run_queued(&w, NULL));
	assert_int_equal(workers_drain_done(&w), 1);
	stop(&w);
	work_serial_destroy(&s);
}

/* Serial 0's first item blocks until serial 1's items have all come back to the loop. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool released;
	bool timed_out;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void gated_passive(struct work_item *item)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DONE_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&gate.lock);
	while (!gate.released && !gate.timed_out)
		gate.timed_out = pthread_cond_timedwait(&gate.cond, &gate.lock, &until) != 0;
	pthread_mutex_unlock(&gate.lock);
	serial_passive(item);
}

/*
 * Two event queues progress independently: while serial 0's first item
 * blocks a worker, every item of serial 1 runs, in order, on another worker;
 * then serial 0 goes on, in its own order.
 */
static void test_serials_independent(void **state)
{
	struct workers w;
	struct work_serial s0, s1;

	serial_log_reset();
	gate.released = gate.timed_out = false;
	start(&w, 2, 0, 0);
	work_serial_init(&s0, NULL);
	work_serial_init(&s1, NULL);
	work_item_post(&w, &s0, serial_item(&w, 0, 100, gated_passive));
	for (int i = 1; i < 4; i++)
		work_item_post(&w, &s0, serial_item(&w, 0, 100 + i, serial_passive));
	for (int i = 0; i < 4; i++)
		work_item_post(&w, &s1, serial_item(&w, 1, 200 + i, serial_passive));

	assert_int_equal(drain_until(&w, 4), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(slog.order[i], 200 + i);

	pthread_mutex_lock(&gate.lock);
	gate.released = true;
	pthread_cond_signal(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	assert_int_equal(drain_until(&w, 4), 4);
	assert_false(gate.timed_out);
	for (int i = 0; i < 4; i++)
		assert_int_equal(slog.order[4 + i], 100 + i);
	assert_int_equal(atomic_load(&slog.overlaps), 0);
	stop(&w);
	work_serial_destroy(&s0);
	work_serial_destroy(&s1);
}

/* Callbacks told apart by workers_run_queued's match. */
static void step_a(struct work_item *item)
{
	serial_passive(item);
}

static void step_b(struct work_item *item)
{
	serial_passive(item);
}

static void step_c(struct work_item *item)
{
	serial_passive(item);
}

static enum rdq_level level_seen;

static void step_level(struct work_item *item)
{
	level_seen = rdq_level_current();
}

/*
 * Manual workers: workers_run_queued(match) runs exactly the first queued
 * item whose passive callback is match, at PASSIVE level on the calling
 * thread, and leaves the rest alone; an item waiting behind another of its
 * event queue cannot be matched until that one ran, and then it joins the
 * tail of the workers' queue.
 */
static void test_manual_run_matching(void **state)
{
	struct workers w;
	struct work_serial s;
	struct work_item *item;

	serial_log_reset();
	start(&w, WORKERS_MANUAL, 0, 0);
	assert_int_equal(stats_of(&w).threads, 0);
	work_serial_init(&s, NULL);
	work_item_post(&w, &s, serial_item(&w, 0, 1, step_a));	 /* out: on the workers' queue */
	work_item_post(&w, &s, serial_item(&w, 0, 2, step_b));	 /* waits behind it */
	work_item_queue(&w, serial_item(&w, 1, 3, step_c));	 /* no event queue */
	work_item_post(&w, NULL, serial_item(&w, 1, 4, step_c)); /* no event queue either */
	assert_int_equal(w.queued, 3);

	/* Nothing runs by itself. */
	assert_int_equal(workers_drain_done(&w), 0);
	assert_int_equal(atomic_load(&slog.next), 0);

	assert_false(workers_run_queued(&w, step_b)); /* behind step_a on its event queue */
	assert_true(workers_run_queued(&w, step_c));  /* the first step_c only */
	assert_int_equal(atomic_load(&slog.next), 1);
	assert_int_equal(slog.order[0], 3);
	assert_int_equal(w.queued, 2);

	assert_true(workers_run_queued(&w, step_a)); /* lets step_b through, behind item 4 */
	assert_int_equal(slog.order[1], 1);
	assert_int_equal(w.queued, 2);
	assert_true(workers_run_queued(&w, NULL));
	assert_int_equal(slog.order[2], 4);
	assert_true(workers_run_queued(&w, NULL));
	assert_int_equal(slog.order[3], 2);
	assert_false(workers_run_queued(&w, NULL));
	assert_int_equal(workers_drain_done(&w), 4);

	/* The callback runs at PASSIVE level; the caller gets its own level back. */
	item = work_item_get(&w, NULL);
	item->passive = step_level;
	work_item_queue(&w, item);
	assert_true(workers_run_queued(&w, step_level));
	assert_int_equal(level_seen, RDQ_LEVEL_PASSIVE);
	assert_int_equal(rdq_level_current(), RDQ_LEVEL_DISPATCH);
	assert_int_equal(workers_drain_done(&w), 1);
	stop(&w);
	work_serial_destroy(&s);
}

/* The dispatch halves' order, for the test below. */
static int dispatched[4];
static unsigned ndispatched;

static void record_dispatch(struct work_item *item)
{
	dispatched[ndispatched++] = item->arg;
}

/*
 * An item posted while the last one of its queue is on its way back to the
 * loop waits for it: the queue goes idle only when the loop has the item, so
 * the later item can neither run nor come back first. Once it is back and
 * nothing waits, the queue is idle and the next post goes to the workers.
 */
static void test_serial_idle_only_when_back(void **state)
{
	struct workers w;
	struct work_serial s;
	struct work_item *item;

	serial_log_reset();
	ndispatched = 0;
	start(&w, WORKERS_MANUAL, 0, 0);
	work_serial_init(&s, NULL);
	item = serial_item(&w, 0, 1, step_a);
	item->dispatch = record_dispatch;
	work_item_post(&w, &s, item);
	assert_true(workers_run_queued(&w, step_a)); /* ran; on its way back to the loop */

	item = serial_item(&w, 0, 2, step_b);
	item->dispatch = record_dispatch;
	work_item_post(&w, &s, item);
	assert_int_equal(w.queued, 0); /* waits on the event queue, not on the workers' */
	assert_false(workers_run_queued(&w, NULL));

	assert_int_equal(workers_drain_done(&w), 1); /* item 1 back: item 2 goes out */
	assert_int_equal(w.queued, 1);
	assert_true(workers_run_queued(&w, step_b));
	assert_int_equal(workers_drain_done(&w), 1);
	assert_int_equal(ndispatched, 2);
	assert_int_equal(dispatched[0], 1);
	assert_int_equal(dispatched[1], 2);

	/* Back with nothing behind it: the queue is idle. */
	work_item_post(&w, &s, serial_item(&w, 0, 3, step_a));
	assert_int_equal(w.queued, 1);
	assert_true(workers_run_queued(&w, step_a));
	assert_int_equal(workers_drain_done(&w), 1);
	stop(&w);
	work_serial_destroy(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_no_callbacks),
		cmocka_unit_test(test_prealloc_reused),
		cmocka_unit_test(test_empty_pool_grows),
		cmocka_unit_test(test_cap_refuses),
		cmocka_unit_test(test_high_water_and_in_use),
		cmocka_unit_test(test_put_unqueued),
		cmocka_unit_test(test_many_items),
		cmocka_unit_test(test_one_thread_per_cpu),
		cmocka_unit_test(test_serial_order_and_exclusion),
		cmocka_unit_test(test_serial_one_item_out),
		cmocka_unit_test(test_serials_independent),
		cmocka_unit_test(test_manual_run_matching),
		cmocka_unit_test(test_serial_idle_only_when_back),
	};

	return cmocka_run_group_tests_name("workers", tests, NULL, NULL);
}
