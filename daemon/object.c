/* SPDX-License-Identifier: MIT */
#include "object.h"

#include <stddef.h>

#include "engine/level.h"
#include "rdqd.h"
#include "shares.h"

static enum share_kind share_of(const struct object *o)
{
	if (o->kind == OBJ_EP)
		return o->network ? SHARE_NETWORK_ENDPOINTS : SHARE_ENDPOINTS;
	return SHARE_QPS;
}

int object_publish(struct rdqd *d, void *obj)
{
	struct object *o = obj;
	int ret;

	RDQ_DISPATCH_ONLY();
	ret = handle_table_insert(&d->objects, o, o->kind, &o->handle);
	if (ret == 0 && !o->unshared)
		shares_add(d, o->owner, share_of(o));
	return ret;
}

void *object_unpublish(struct rdqd *d, rdq_handle_t h)
{
	struct object *o;

	RDQ_DISPATCH_ONLY();
	o = handle_table_remove(&d->objects, h);
	if (o && !o->unshared)
		shares_remove(d, o->owner, share_of(o));
	return o;
}

void object_acquire(void *obj)
{
	object_ref(obj);
}

void *object_unref(void *obj)
{
	struct object *o = obj;

	if (o && atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
		o->release(o);
	return NULL;
}
