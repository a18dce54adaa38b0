/* SPDX-License-Identifier: MIT */
#include "workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "level.h"

static struct work_item *pool_alloc_item(struct workers *w)
{
	struct work_item *item = calloc(1, w->item_size);

	if (item)
		w->pool_size++;
	return item;
}

struct work_item *work_item_get(struct workers *w, int *err)
{
	struct work_item *item = NULL;
	int ret = -EBUSY;

	RDQ_DISPATCH_ONLY();
	if (w->pool_cap && w->in_use >= w->pool_cap) {
		w->refused++;
	} else {
		item = work_item_get_uncapped(w);
		ret = -ENOMEM;
	}
	if (!item && err)
		*err = ret;
	return item;
}

struct work_item *work_item_get_uncapped(struct workers *w)
{
	struct work_item *item;

	RDQ_DISPATCH_ONLY();
	item = w->pool;
	if (item) {
		w->pool = item->next;
		w->pool_free--;
	} else {
		/* Allocating does not block the loop; it only costs a miss. */
		w->misses++;
		item = pool_alloc_item(w);
		if (!item)
			return NULL;
	}
	memset(item, 0, w->item_size);
	if (++w->in_use > w->high_water)
		w->high_water = w->in_use;
	return item;
}

static void pool_put(struct workers *w, struct work_item *item)
{
	item->next = w->pool;
	w->pool = item;
	w->pool_free++;
	w->in_use--;
}

void work_item_put(struct workers *w, struct work_item *item)
{
	RDQ_DISPATCH_ONLY();
	pool_put(w, item);
}

/* Appends item to the workers' queue; w->lock held. */
static void push_locked(struct workers *w, struct work_item *item)
{
	item->next = NULL;
	if (w->tail)
		w->tail->next = item;
	else
		w->head = item;
	w->tail = item;
	w->queued++;
}

void work_item_queue(struct workers *w, struct work_item *item)
{
	RDQ_DISPATCH_ONLY();
	pthread_mutex_lock(&w->lock);
	push_locked(w, item);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void work_serial_init(struct work_serial *s, pthread_mutex_t *state_lock)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->state_lock = state_lock;
}

void work_serial_destroy(struct work_serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

void work_item_post(struct workers *w, struct work_serial *s, struct work_item *item)
{
	unsigned waiting;

	RDQ_DISPATCH_ONLY();
	if (!s) {
		work_item_queue(w, item);
		return;
	}
	item->serial = s;
	item->serial_last = false;
	item->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (!s->out) {
		/* Nothing of this object is out: this item goes to the workers now. */
		s->out = true;
		pthread_mutex_unlock(&s->lock);
		work_item_queue(w, item);
		return;
	}
	/* The worker that runs the item out will run this one after it. */
	if (s->tail)
		s->tail->next = item;
	else
		s->head = item;
	s->tail = item;
	waiting = ++s->waiting;
	pthread_mutex_unlock(&s->lock);
	w->deferred++;
	if (waiting > w->serial_max)
		w->serial_max = waiting;
}

/* Takes the item posted behind the one that ran, or NULL; with idle, marks the queue idle then. */
static struct work_item *serial_next(struct work_serial *s, bool idle)
{
	struct work_item *next;

	pthread_mutex_lock(&s->lock);
	next = s->head;
	if (next) {
		s->head = next->next;
		if (!s->head)
			s->tail = NULL;
		s->waiting--;
		next->next = NULL;
	} else if (idle) {
		s->out = false;
	}
	pthread_mutex_unlock(&s->lock);
	return next;
}

/* Sends an item back to the loop; the first item on an empty list wakes it. */
static void send_back(struct workers *w, struct work_item *item)
{
	bool was_empty;
	uint64_t one = 1;

	item->next = NULL;
	pthread_mutex_lock(&w->done_lock);
	w->run++;
	was_empty = !w->done_head;
	if (w->done_tail)
		w->done_tail->next = item;
	else
		w->done_head = item;
	w->done_tail = item;
	pthread_mutex_unlock(&w->done_lock);
	if (was_empty && write(w->done_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write only fails at a counter overflow: the loop is already woken. */
	}
}

/*
 * Runs item and, if it came from an event queue, the items posted behind it
 * (budget in all), holding the queue's state lock. Each item goes back to
 * the loop once run. Returns the queue's next item when the budget ran out
 * first (it is still the queue's one item out), else NULL.
 */
static struct work_item *run_items(struct workers *w, struct work_item *item, unsigned budget)
{
	struct work_serial *s = item->serial;
	struct work_item *next;

	/* A passive callback may block: it runs on a worker, or a test's stand-in for one. */
	RDQ_PASSIVE_ONLY();
	if (!s) {
		if (item->passive)
			item->passive(item);
		send_back(w, item);
		return NULL;
	}
	if (s->state_lock)
		pthread_mutex_lock(s->state_lock);
	for (;;) {
		if (item->passive)
			item->passive(item);
		/*
		 * The queue stays out while this item travels back: the loop marks it
		 * idle when the item arrives (workers_drain_done), so an item posted
		 * meanwhile cannot overtake it.
		 */
		next = serial_next(s, false);
		item->serial_last = !next;
		if (!next || --budget == 0) {
			/*
			 * Unlock before the last item goes back: once the loop has it, the
			 * object (and s with it) may be freed.
			 */
			if (s->state_lock)
				pthread_mutex_unlock(s->state_lock);
			send_back(w, item);
			return next;
		}
		send_back(w, item);
		item = next;
	}
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;

	rdq_level_set(RDQ_LEVEL_PASSIVE);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct work_item *item, *requeue;

		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->wake, &w->lock);
		item = w->head;
		if (!item)
			break; /* stopping, and the queue is empty */
		w->head = item->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		pthread_mutex_unlock(&w->lock);

		/* A worker drains the object's whole event queue. */
		requeue = run_items(w, item, UINT32_MAX);

		pthread_mutex_lock(&w->lock);
		if (requeue)
			push_locked(w, requeue);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Runs the first queued item that match (any if NULL) names, or else the nth queued one. */
static bool run_queued(struct workers *w, work_fn match, uint64_t nth)
{
	struct work_item *item, *prev = NULL, *requeue;
	enum rdq_level level = rdq_level_current();
	uint64_t i = 0;

	pthread_mutex_lock(&w->lock);
	for (item = w->head; item; prev = item, item = item->next, i++)
		if (match ? item->passive == match : i == nth)
			break;
	if (item) {
		if (prev)
			prev->next = item->next;
		else
			w->head = item->next;
		if (w->tail == item)
			w->tail = prev;
		w->queued--;
	}
	pthread_mutex_unlock(&w->lock);
	if (!item)
		return false;

	rdq_level_set(RDQ_LEVEL_PASSIVE);
	requeue = run_items(w, item, 1);
	rdq_level_set(level);

	pthread_mutex_lock(&w->lock);
	if (requeue)
		push_locked(w, requeue);
	pthread_mutex_unlock(&w->lock);
	return true;
}

bool workers_run_queued(struct workers *w, work_fn match)
{
	return run_queued(w, match, 0);
}

bool workers_run_nth(struct workers *w, uint64_t n)
{
	return run_queued(w, NULL, n);
}

uint64_t workers_queued(struct workers *w)
{
	uint64_t n;

	pthread_mutex_lock(&w->lock);
	n = w->queued;
	pthread_mutex_unlock(&w->lock);
	return n;
}

unsigned workers_drain_done(struct workers *w)
{
	struct work_item *list, *item;
	uint64_t count;
	unsigned n = 0;

	RDQ_DISPATCH_ONLY();
	/* Non-blocking eventfd: an empty read just means nothing was signalled. */
	if (read(w->done_fd, &count, sizeof(count)) < 0) {
		/* EAGAIN: another drain already took the items. */
	}
	pthread_mutex_lock(&w->done_lock);
	list = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->done_lock);

	while ((item = list)) {
		list = item->next;
		/*
		 * The last item its queue ran: start the one posted behind it, or mark
		 * the queue idle. Before the dispatch half, which may free the object
		 * the queue is part of.
		 */
		if (item->serial && item->serial_last) {
			struct work_item *next = serial_next(item->serial, true);

			if (next)
				work_item_queue(w, next);
		}
		if (item->dispatch)
			item->dispatch(item);
		pool_put(w, item);
		n++;
	}
	return n;
}

uint64_t workers_in_use(const struct workers *w)
{
	return w->in_use;
}

int workers_start(struct workers *w, unsigned nthreads, unsigned prealloc, unsigned cap,
		  size_t item_size)
{
	long cpus;
	int ret;

	memset(w, 0, sizeof(*w));
	w->done_fd = -1;
	w->item_size = item_size > sizeof(struct work_item) ? item_size : sizeof(struct work_item);
	if (nthreads == WORKERS_MANUAL) {
		w->manual = true;
		nthreads = 0;
	} else if (nthreads == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = cpus > 0 ? (unsigned)cpus : 1;
	}
	w->pool_cap = cap;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->done_lock, NULL);
	pthread_cond_init(&w->wake, NULL);

	w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->done_fd < 0)
		return -errno;
	for (unsigned i = 0; i < prealloc; i++) {
		struct work_item *item = pool_alloc_item(w);

		if (!item)
			return -ENOMEM;
		item->next = w->pool;
		w->pool = item;
		w->pool_free++;
	}
	w->threads = calloc(nthreads ? nthreads : 1, sizeof(*w->threads));
	if (!w->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < nthreads; i++) {
		ret = pthread_create(&w->threads[i], NULL, worker_main, w);
		if (ret)
			return -ret;
		w->nthreads++;
	}
	return 0;
}

void workers_stop(struct workers *w)
{
	struct work_item *item;

	RDQ_PASSIVE_ONLY();
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	w->threads = NULL;
	w->nthreads = 0;

	while ((item = w->pool)) {
		w->pool = item->next;
		free(item);
	}
	if (w->done_fd >= 0)
		close(w->done_fd);
	w->done_fd = -1;
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->done_lock);
	pthread_mutex_destroy(&w->lock);
}

void workers_get_stats(struct workers *w, struct workers_stats *out)
{
	out->pool_size = w->pool_size;
	out->pool_free = w->pool_free;
	out->in_use = w->in_use;
	out->high_water = w->high_water;
	out->misses = w->misses;
	out->refused = w->refused;
	out->deferred = w->deferred;
	out->serial_max = w->serial_max;
	pthread_mutex_lock(&w->lock);
	out->queued = w->queued;
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_lock(&w->done_lock);
	out->run = w->run;
	pthread_mutex_unlock(&w->done_lock);
	out->threads = w->nthreads;
}
