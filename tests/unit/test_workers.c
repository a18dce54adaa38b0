/* SPDX-License-Identifier: MIT */
/*
 * Work items and workers (lib/engine/workers.h): the round trip from the loop
 * to a worker and back, the pool (reuse, growth, the cap), its statistics,
 * and a thousand items over two workers.
 *
 * The test thread plays the loop: it runs at DISPATCH level while it uses the
 * loop-only calls, waits for done_fd with poll() as the loop would, and
 * drops to PASSIVE for workers_stop(), which blocks.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
	assert_int_equal(workers_start(w, nthreads, prealloc, cap), 0);
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
	item = work_item_get(&w);
	assert_non_null(item);
	item->passive = trip_passive;
	item->dispatch = trip_dispatch;
	item->data = &trip;
	item->handle = (rdq_handle_t)3 << 32 | 17;
	item->arg = 42;
	work_item_queue(&w, item);

	assert_int_equal(drain_until(&w, 1), 1);

	assert_int_equal(trip.passive_step, 1);
	assert_int_equal(trip.dispatch_step, 2);
	assert_false(pthread_equal(trip.passive_thread, pthread_self()));
	assert_int_equal(trip.passive_level, RDQ_LEVEL_PASSIVE);
	assert_true(pthread_equal(trip.dispatch_thread, pthread_self()));
	assert_int_equal(trip.dispatch_level, RDQ_LEVEL_DISPATCH);
	assert_int_equal(trip.handle_seen, (rdq_handle_t)3 << 32 | 17);
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
	item = work_item_get(&w);
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
		struct work_item *a = work_item_get(&w), *b = work_item_get(&w);

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
		items[i] = work_item_get(&w);
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
		items[i] = work_item_get(&w);
	s = stats_of(&w);
	assert_int_equal(s.misses, 3);
	assert_int_equal(s.pool_size, 3);
	assert_int_equal(s.pool_free, 0);
	/* The pool had exactly these three: a fourth get must allocate again. */
	extra = work_item_get(&w);
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

	start(&w, 1, 0, 2);
	a = work_item_get(&w);
	b = work_item_get(&w);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(work_item_get(&w));
	assert_null(work_item_get(&w));
	s = stats_of(&w);
	assert_int_equal(s.refused, 2);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.pool_size, 2);
	assert_int_equal(s.in_use, 2);

	print_message("freed by a drain\n");
	work_item_queue(&w, a);
	assert_int_equal(drain_until(&w, 1), 1);
	a = work_item_get(&w);
	assert_non_null(a);
	assert_null(work_item_get(&w));
	s = stats_of(&w);
	assert_int_equal(s.refused, 3);
	assert_int_equal(s.misses, 2); /* the item came from the pool */

	print_message("freed by a put\n");
	work_item_put(&w, b);
	b = work_item_get(&w);
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
		items[i] = work_item_get(&w);
	assert_int_equal(workers_in_use(&w), 5);
	for (int i = 0; i < 4; i++)
		work_item_queue(&w, items[i]);
	work_item_put(&w, items[4]);
	assert_int_equal(workers_in_use(&w), 4);
	assert_int_equal(drain_until(&w, 4), 4);
	assert_int_equal(workers_in_use(&w), 0);

	items[0] = work_item_get(&w);
	items[1] = work_item_get(&w);
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
 * done_fd, and the next get hands out a zeroed item, not the old contents.
 */
static void test_put_unqueued(void **state)
{
	struct workers w;
	struct work_item *item, *again;
	struct trip trip = {0};
	struct pollfd pfd;

	atomic_store(&step, 0);
	start(&w, 1, 1, 0);
	item = work_item_get(&w);
	item->passive = trip_passive;
	item->dispatch = trip_dispatch;
	item->data = &trip;
	item->handle = 9;
	item->handle2 = 10;
	item->arg = 11;
	item->status = -EIO;
	work_item_put(&w, item);
	assert_int_equal(workers_in_use(&w), 0);
	assert_int_equal(stats_of(&w).pool_free, 1);

	pfd = (struct pollfd){.fd = w.done_fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(workers_drain_done(&w), 0);
	assert_int_equal(atomic_load(&step), 0);

	again = work_item_get(&w);
	assert_ptr_equal(again, item); /* the pool's only item */
	assert_null(again->passive);
	assert_null(again->dispatch);
	assert_null(again->data);
	assert_null(again->request);
	assert_null(again->ctx);
	assert_int_equal(again->handle, 0);
	assert_int_equal(again->handle2, 0);
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
		struct work_item *item = work_item_get(&w);

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
	};

	return cmocka_run_group_tests_name("workers", tests, NULL, NULL);
}
