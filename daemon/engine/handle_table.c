/* SPDX-License-Identifier: MIT */
#include "handle_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAPACITY 64u

int handle_table_init(struct handle_table *t, uint32_t limit, void (*acquire)(void *object))
{
	memset(t, 0, sizeof(*t));
	t->limit = limit;
	t->acquire = acquire;
	return -pthread_mutex_init(&t->lock, NULL);
}

void handle_table_fini(struct handle_table *t)
{
	pthread_mutex_destroy(&t->lock);
	free(t->slots);
	t->slots = NULL;
}

/* Doubles the slot array; new slots are chained onto the free list. */
static int grow(struct handle_table *t)
{
	/* 64-bit: limit + 1 (slot 0 is unused) overflows 32 bits at limit UINT32_MAX. */
	uint64_t wanted = t->capacity ? (uint64_t)t->capacity * 2 : INITIAL_CAPACITY;
	uint64_t most = (uint64_t)t->limit + 1u > UINT32_MAX ? UINT32_MAX : (uint64_t)t->limit + 1u;
	uint32_t new_capacity = (uint32_t)(wanted < most ? wanted : most);
	struct handle_slot *slots;

	if (new_capacity <= t->capacity)
		return -ENOSPC;
	slots = realloc(t->slots, new_capacity * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	memset(slots + t->capacity, 0, (new_capacity - t->capacity) * sizeof(*slots));
	/* Slot 0 is never handed out, so that handle 0 can mean "none". */
	for (uint32_t i = new_capacity - 1; i >= (t->capacity ? t->capacity : 1u); i--) {
		slots[i].next_free = t->free_head;
		t->free_head = i;
	}
	t->slots = slots;
	t->capacity = new_capacity;
	return 0;
}

int handle_table_insert(struct handle_table *t, void *object, unsigned kind, rdq_handle_t *out)
{
	struct handle_slot *slot;
	uint32_t index;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->used >= t->limit) {
		ret = -ENOSPC;
		goto out;
	}
	if (!t->free_head) {
		ret = grow(t);
		if (ret < 0)
			goto out;
	}
	index = t->free_head;
	slot = &t->slots[index];
	t->free_head = slot->next_free;
	slot->object = object;
	slot->kind = kind;
	slot->next_free = 0;
	t->used++;
	*out = (rdq_handle_t)slot->generation << 32 | index;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* Returns the slot h names if h is current, else NULL. Called under lock. */
static struct handle_slot *slot_of(struct handle_table *t, rdq_handle_t h)
{
	uint32_t index = rdq_handle_index(h);
	struct handle_slot *slot;

	if (index == 0 || index >= t->capacity)
		return NULL;
	slot = &t->slots[index];
	if (!slot->object || slot->generation != rdq_handle_generation(h))
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
		/* Below 2^31: a handle stays a positive int64 on the wire. */
		slot->generation = (slot->generation + 1) & 0x7fffffffu;
		slot->next_free = t->free_head;
		t->free_head = rdq_handle_index(h);
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
	for (uint32_t i = 1; i < t->capacity; i++) {
		struct handle_slot *slot = &t->slots[i];

		if (!slot->object || (kind && slot->kind != kind))
			continue;
		if (!fn(slot->object, (rdq_handle_t)slot->generation << 32 | i, arg))
			break;
	}
	pthread_mutex_unlock(&t->lock);
}

rdq_handle_t *handle_table_collect(struct handle_table *t, unsigned kind,
				   bool (*keep)(void *object, void *arg), void *arg,
				   unsigned *count)
{
	rdq_handle_t *handles = NULL;
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	if (t->used)
		handles = malloc(t->used * sizeof(*handles));
	for (uint32_t i = 1; handles && i < t->capacity; i++) {
		struct handle_slot *slot = &t->slots[i];

		if (!slot->object || (kind && slot->kind != kind))
			continue;
		if (!keep || keep(slot->object, arg))
			handles[n++] = (rdq_handle_t)slot->generation << 32 | i;
	}
	pthread_mutex_unlock(&t->lock);
	*count = n;
	if (n == 0) {
		free(handles);
		handles = NULL;
	}
	return handles;
}
