/* SPDX-License-Identifier: MIT */
/*
 * Handles: the only way an object is named across a thread hand-off or on
 * the wire. A handle is (generation << 32 | slot index). Removing an object
 * bumps its slot's generation, so a stale handle never finds the object that
 * reuses the slot. Index 0 is never used: handle 0 means "none".
 *
 * Thread-safe: the table has its own lock. lookup() takes a reference on the
 * object (through the table's acquire callback) while that lock is held, so
 * the object cannot be freed between finding it and using it.
 */
#ifndef RDQ_ENGINE_HANDLE_TABLE_H
#define RDQ_ENGINE_HANDLE_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t rdq_handle_t;
#define RDQ_HANDLE_NONE ((rdq_handle_t)0)

static inline uint32_t rdq_handle_index(rdq_handle_t h)
{
	return (uint32_t)h;
}

static inline uint32_t rdq_handle_generation(rdq_handle_t h)
{
	return (uint32_t)(h >> 32);
}

struct handle_slot {
	void *object; /* NULL when free */
	uint32_t generation;
	uint32_t next_free; /* index of the next free slot, 0 ends the list */
	unsigned kind;
};

struct handle_table {
	pthread_mutex_t lock;
	struct handle_slot *slots; /* guarded by lock; slots[0] unused */
	uint32_t capacity;	   /* guarded by lock */
	uint32_t used;		   /* guarded by lock */
	uint32_t free_head;	   /* guarded by lock */
	uint32_t limit;		   /* most objects at once */
	/* Called under lock on a found object: take a reference. */
	void (*acquire)(void *object);
};

/* Initializes an empty table holding at most limit objects. */
int handle_table_init(struct handle_table *t, uint32_t limit, void (*acquire)(void *object));

/* Frees the slots; the objects are the caller's. Accepts a zeroed table. */
void handle_table_fini(struct handle_table *t);

/*
 * Stores object with kind and returns its new handle in *out. Returns 0,
 * -ENOSPC when limit objects are stored, or -ENOMEM.
 */
int handle_table_insert(struct handle_table *t, void *object, unsigned kind, rdq_handle_t *out);

/*
 * Finds the object for h if it is still stored and of the given kind
 * (kind 0 matches any). Calls acquire on it before returning it. Returns
 * NULL for a stale, unknown or wrong-kind handle.
 */
void *handle_table_lookup(struct handle_table *t, rdq_handle_t h, unsigned kind);

/*
 * Removes h and returns its object (with no reference taken or dropped), or
 * NULL if h was already stale. From now on lookups of h fail.
 */
void *handle_table_remove(struct handle_table *t, rdq_handle_t h);

/* Number of objects stored. */
uint32_t handle_table_count(struct handle_table *t);

/*
 * Calls fn on each stored object of kind (0: all) under the table's lock;
 * fn must not call back into the table. Stops early if fn returns false.
 */
void handle_table_foreach(struct handle_table *t, unsigned kind,
			  bool (*fn)(void *object, rdq_handle_t h, void *arg), void *arg);

/*
 * Returns, in a new array (free() it), the handles of the objects of kind (0:
 * all) for which keep(object, arg) is true (keep NULL: all), and their count
 * in *count. For callers that must act on objects without holding the
 * table's lock. Returns NULL with *count 0 when none matched or out of memory.
 */
rdq_handle_t *handle_table_collect(struct handle_table *t, unsigned kind,
				   bool (*keep)(void *object, void *arg), void *arg,
				   unsigned *count);

#endif
