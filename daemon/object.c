/* SPDX-License-Identifier: MIT */
#include "object.h"

#include <stddef.h>

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
