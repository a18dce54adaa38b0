/* SPDX-License-Identifier: MIT */
#include "handle_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAPACITY 64u
/*
 * Every id below 2^31 has a slot of its own at this size, and ids at most
 * half fill it, so the table never needs more.
 */
#define MAX_CAPACITY (1u << 31)

int handle_table_init(struct handle_table *t, uint32_t limit, void (*acquire)(void *object))
{
	memset(t, 0, sizeof(*t));
	t->limit = limit;
	t->acquire = acquire;
	t->cursor = 1;
	return -pthread_mutex_init(&t->lock, NULL);
}

void handle_table_fini(struct handle_table *t)
{
	pthread_mutex_destroy(&t->lock);
	free(t->slots);
	t->slots = NULL;
}

static uint32_t next_id(uint32_t id)
{
	return id >= RDQ_HANDLE_MAX ? 1 : id + 1;
}

/*
 * Doubles the slots and re-places every object at id % (new capacity). Two
 * objects cannot meet in the new slots: ids that differ modulo the old
 * capacity differ modulo twice it. One pass over the old slots, only on
 * growth, so inserts stay amortised O(1).
 */
static int grow(struct handle_table *t)
{
	uint32_t new_capacity;
	struct handle_slot *slots;

	if (t->capacity >= MAX_CAPACITY)
		return -ENOSPC;
	new_capacity = t->capacity ? t->capacity * 2 : INITIAL_CAPACITY;
	slots = calloc(new_capacity, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->capacity; i++)
		if (t->slots[i].object)
			slots[t->slots[i].id & (new_capacity - 1)] = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->capacity = new_capacity;
	return 0;
}

int handle_table_insert(struct handle_table *t, void *object, unsigned kind, rdq_handle_t *out)
{
	struct handle_slot *slot;
	uint32_t id;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->used >= t->limit) {
		ret = -ENOSPC;
		goto out;
	}
	/*
	 * At most half full, so the scan below soon meets a free slot. In one
	 * pass of the cursor around the slots, each slot it skips holds an
	 * object that was there when the pass began (newer ones sit behind the
	 * cursor): at most half the slots are skipped and the rest are taken,
	 * so an insert looks at two slots on average.
	 */
	if ((uint64_t)(t->used + 1) * 2 > t->capacity) {
		ret = grow(t);
		if (ret < 0)
			goto out;
	}
	/*
	 * An id whose slot is taken (by an older object with the same id modulo
	 * the capacity) is skipped, not kept for later: ids only move forward.
	 */
	for (id = t->cursor; t->slots[id & (t->capacity - 1)].object; id = next_id(id))
		;
	slot = &t->slots[id & (t->capacity - 1)];
	slot->object = object;
	slot->id = id;
	slot->kind = kind;
	t->cursor = next_id(id);
	t->used++;
	*out = id;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* Returns the slot h names if h is current, else NULL. Called under lock. */
static struct handle_slot *slot_of(struct handle_table *t, rdq_handle_t h)
{
	struct handle_slot *slot;

	if (h == RDQ_HANDLE_NONE || h > RDQ_HANDLE_MAX || !t->capacity)
		return NULL;
	slot = &t->slots[h & (t->capacity - 1)];
	/* The slot may hold another id now: only the full id tells a stale handle apart. */
	if (!slot->object || slot->id != h)
		return NULL;
	return slot;
}

void *handle_table_lookup(struct handle_table *t, rdq_handle_t h, unsigned kind)
{
	struct handle_slot *slot;
	void *object = NULL;

	pthread_mutex_lock(&t->lock);
	slot = slot_of(t, h);
	if (slot && (kind == 0 || slot->kind == kind)) {
		object = slot->object;
		if (t->acquire)
			t->acquire(object);
	}
	pthread_mutex_unlock(&t->lock);
	return object;
}

void *handle_table_remove(struct handle_table *t, rdq_handle_t h)
{
	struct handle_slot *slot;
	void *object = NULL;

	pthread_mutex_lock(&t->lock);
	slot = slot_of(t, h);
	if (slot) {
		object = slot->object;
		slot->object = NULL;
		t->used--;
	}
	pthread_mutex_unlock(&t->lock);
	return object;
}

uint32_t handle_table_count(struct handle_table *t)
{
	uint32_t used;

	pthread_mutex_lock(&t->lock);
	used = t->used;
	pthread_mutex_unlock(&t->lock);
	return used;
}

void handle_table_foreach(struct handle_table *t, unsigned kind,
			  bool (*fn)(void *object, rdq_handle_t h, void *arg), void *arg)
{
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < t->capacity; i++) {
		struct handle_slot *slot = &t->slots[i];

		if (!slot->object || (kind && slot->kind != kind))
			continue;
		if (!fn(slot->object, slot->id, arg))
			break;
	}
	pthread_mutex_unlock(&t->lock);
}

static int by_id(const void *a, const void *b)
{
	rdq_handle_t x = *(const rdq_handle_t *)a, y = *(const rdq_handle_t *)b;

	return (x > y) - (x < y);
}

int handle_table_collect(struct handle_table *t, unsigned kind,
			 bool (*keep)(void *object, void *arg), void *arg, rdq_handle_t **out,
			 unsigned *count)
{
	rdq_handle_t *handles = NULL;
	unsigned n = 0;

	*out = NULL;
	*count = 0;
	pthread_mutex_lock(&t->lock);
	if (t->used) {
		handles = malloc(t->used * sizeof(*handles));
		if (!handles) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; handles && i < t->capacity; i++) {
		struct handle_slot *slot = &t->slots[i];

		if (!slot->object || (kind && slot->kind != kind))
			continue;
		if (!keep || keep(slot->object, arg))
			handles[n++] = slot->id;
	}
	pthread_mutex_unlock(&t->lock);
	if (n == 0) {
		free(handles);
		return 0;
	}
	/* Slots are in id order only modulo the capacity; callers page by handle. */
	qsort(handles, n, sizeof(*handles), by_id);
	*out = handles;
	*count = n;
	return 0;
}

void handle_table_seek(struct handle_table *t, rdq_handle_t id)
{
	pthread_mutex_lock(&t->lock);
	t->cursor = id >= 1 && id <= RDQ_HANDLE_MAX ? (uint32_t)id : 1;
	pthread_mutex_unlock(&t->lock);
}
