/* SPDX-License-Identifier: MIT */
/*
 * The header every daemon object starts with: a reference count, its kind,
 * its handle and its owner. The handle table holds one reference until the
 * object is removed; a lookup takes another; the last unref frees.
 */
#ifndef RDQD_OBJECT_H
#define RDQD_OBJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "engine/handle_table.h"

struct object {
	atomic_uint refs;
	unsigned kind;	     /* enum object_kind */
	rdq_handle_t handle; /* set once inserted; stale after removal */
	uid_t owner;	     /* the uid that created it */
	/*
	 * Made for a remote peer (a listener's passive endpoint): counted in its
	 * owner's SHARE_NETWORK_ENDPOINTS, not in the owner's own endpoints.
	 * Fixed before it is published.
	 */
	bool network;
	/*
	 * rdqd's own (a declared listener): counted in no user's share, since no
	 * client made it. Fixed before it is published.
	 */
	bool unshared;
	void (*release)(struct object *obj); /* frees the object at the last unref */
};

/* The handle table's acquire callback. */
void object_acquire(void *obj);

static inline void *object_ref(void *obj)
{
	if (obj)
		atomic_fetch_add_explicit(&((struct object *)obj)->refs, 1, memory_order_relaxed);
	return obj;
}

/* Drops a reference; frees at the last. Accepts NULL. Returns NULL. */
void *object_unref(void *obj);

struct rdqd;

/*
 * Publishes obj in d's object table under its kind: the table takes a
 * reference and obj->handle names it; it counts in its owner's share (of
 * its kind, or the network's).
 * Returns 0 or -ENOSPC. Loop only.
 */
int object_publish(struct rdqd *d, void *obj);

/*
 * Unpublishes handle h: its lookups fail from now on, and it no longer
 * counts in its owner's share. Returns the table's reference (the caller
 * drops it), or NULL if h was not published. Loop only.
 */
void *object_unpublish(struct rdqd *d, rdq_handle_t h);

/* Whether uid may see an object owned by owner: its own, or root. */
static inline int object_visible(uid_t owner, uid_t uid)
{
	return uid == 0 || owner == uid;
}

#endif
