/* SPDX-License-Identifier: MIT */
/*
 * Handles: the only way an object is named across a thread hand-off or on
 * the wire. A handle is a small positive id, given out cyclically, as PIDs
 * are: a cursor moves forward through 1 .. RDQ_HANDLE_MAX, then wraps to 1,
 * so an id is not given again until the whole id space has gone by. A stale
 * handle therefore finds nothing for as long as a person or a client could
 * plausibly hold on to one. Handle 0 means "none".
 *
 * The slot of id x is x modulo the table's capacity (a power of two), and the
 * slot keeps the full id: a stale id whose slot now holds another object
 * still finds nothing.
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

/* 64 bits on the wire and in the API; the ids given out stay within 1 .. RDQ_HANDLE_MAX. */
typedef uint64_t rdq_handle_t;
#define RDQ_HANDLE_NONE ((rdq_handle_t)0)
/* Below 2^31: a handle stays a small positive integer in any client's int or int64. */
#define RDQ_HANDLE_MAX ((rdq_handle_t)INT32_MAX)

struct handle_slot {
	void *object; /* NULL when free */
	uint32_t id;  /* the object's handle, when object is set */
	unsigned kind;
};

struct handle_table {
	pthread_mutex_t lock;
	struct handle_slot *slots; /* guarded by lock; object with id x at slots[x % capacity] */
	uint32_t capacity;	   /* guarded by lock; 0 (no slots yet) or a power of two */
	uint32_t used;		   /* guarded by lock */
	uint32_t cursor;	   /* guarded by lock; the id the next insert looks at first */
	uint32_t limit;		   /* most objects at once */
	/* Called under lock on a found object: take a reference. */
	void (*acquire)(void *object);
};

/* Initializes an empty table holding at most limit objects. */
int handle_table_init(struct handle_table *t, uint32_t limit, void (*acquire)(void *object));

/* Frees the slots; the objects are the caller's. Accepts a zeroed table. */
void handle_table_fini(struct handle_table *t);

/*
 * Stores object with kind and returns its new handle in *out: the first id at
 * or after the cursor whose slot is free (after RDQ_HANDLE_MAX comes 1); the
 * cursor then moves past it. Returns 0, -ENOSPC when limit objects are stored
 * (or 2^30, whatever the limit), or -ENOMEM. Amortised O(1).
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
 * Calls fn on each stored object of kind (0: all) under the table's lock, in
 * no particular order; fn must not call back into the table. Stops early if
 * fn returns false.
 */
void handle_table_foreach(struct handle_table *t, unsigned kind,
			  bool (*fn)(void *object, rdq_handle_t h, void *arg), void *arg);

/*
 * Writes to *handles a new array (free() it) of the handles of the objects of
 * kind (0: all) for which keep(object, arg) is true (keep NULL: all), sorted
 * ascending, and their count to *count. For callers that must act on objects
 * without holding the table's lock, or that page through them by handle.
 * Returns 0 (*handles NULL when none matched), or -ENOMEM: then nothing was
 * collected, which must not pass for "none".
 */
int handle_table_collect(struct handle_table *t, unsigned kind,
			 bool (*keep)(void *object, void *arg), void *arg, rdq_handle_t **handles,
			 unsigned *count);

/*
 * Moves the cursor: the next insert looks at id first (1 .. RDQ_HANDLE_MAX).
 * Only the unit tests call it, to reach the wrap without 2^31 inserts.
 */
void handle_table_seek(struct handle_table *t, rdq_handle_t id);

#endif
