/* SPDX-License-Identifier: MIT */
/*
 * Taking endpoints down: ep.destroy, qp.destroy, a closing connection's tied
 * endpoints, shutdown, and a device removal. The loop unpublishes (the handle
 * stops resolving), fails what waits, stops the data path, and posts the
 * teardown last on the endpoint's event queue; a worker destroys the
 * rdma_cm_id and the QP.
 */
#include "endpoint.h"

#include <errno.h>
#include <string.h>
#include <rdma/rdma_cma.h>
#include <stdlib.h>

#include "control.h"
#include "encode.h"
#include "device.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/message.h"
#include "qp.h"
#include "rdqd.h"
#include "work.h"

/*
 * The endpoint is going for a reason a worker step that looks it up cannot
 * see (a device removal): requests that work items carry for it will answer
 * with that reason instead of a plain ENOENT.
 */
static bool mark_gone(struct request *req, void *arg)
{
	struct ep *ep = arg;

	if (req->ep == ep->obj.handle && req->state == REQ_IN_FLIGHT)
		req->gone_status = ep->destroy_status;
	return true;
}

static void teardown_done(struct work_item *item)
{
	struct ep_teardown *t = item->data;

	if (work_of(item)->request)
		request_complete(work_of(item)->request, 0, NULL, NULL);
	ep_broadcast_event(t->ep, EP_EVENT_DESTROYED, 0);
	/* Its id and QP are gone from a removed device: librdmacm may let the device go now. */
	if (t->ep->destroy_status == -ENODEV)
		device_resync(item->ctx);
	object_unref(t->qp);
	object_unref(t->ep);
	free(t);
}

/*
 * An item for a step that tears something of the endpoint down: its data is
 * a zeroed struct ep_teardown. Uncapped, so NULL only when out of memory.
 */
static struct work_item *ep_teardown_item(struct ep *ep, work_fn passive, work_fn dispatch)
{
	struct ep_teardown *t = calloc(1, sizeof(*t));
	struct work_item *item = t ? ep_item(ep, passive, dispatch) : NULL;

	if (!item) {
		free(t);
		return NULL;
	}
	item->data = t;
	return item;
}

/* Gives back a teardown item that was not queued. */
static void ep_teardown_item_put(struct rdqd *d, struct work_item *item)
{
	free(item->data);
	work_item_put(&d->workers, item);
}

void ep_destroy_children(struct ep *ep)
{
	while (ep->nchildren) {
		rdq_handle_t h = ep->children[--ep->nchildren];
		struct ep *child = ep_get(ep->d, h);

		if (child) {
			child->destroy_status = ep->destroy_status;
			child->destroy_message = ep->destroy_message;
			endpoint_destroy(child, NULL);
			object_unref(child);
		}
	}
}

void endpoint_destroy(struct ep *ep, struct request *req)
{
	struct rdqd *d = ep->d;
	struct ep_teardown *t;
	struct work_item *item;

	RDQ_DISPATCH_ONLY();
	item = ep_teardown_item(ep, ep_work_teardown, teardown_done);
	if (!item) {
		if (req)
			request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	/* From here on the handle is stale: every lookup fails. */
	ep_untie(ep);
	ep_unwait(ep);
	ep_set_rules(ep, NULL); /* on the loop, where they are read */
	if (!object_unpublish(d, ep->obj.handle)) {
		ep_teardown_item_put(d, item);
		if (req)
			request_fail(req, -ENOENT, "endpoint already gone");
		return;
	}
	t = item->data;
	t->ep = ep; /* the table's reference, now the teardown's */
	ep_stop_setup_timer(ep);
	if (ep->destroy_status != -ECANCELED)
		request_foreach(d, mark_gone, ep);

	request_queue_fail_all(&ep->connect_q, ep->destroy_status, ep->destroy_message);
	request_queue_fail_all(&ep->disconnect_q, ep->destroy_status, ep->destroy_message);
	request_queue_fail_all(&ep->recv_q, ep->destroy_status, ep->destroy_message);
	request_queue_fail_all(&ep->flush_q, ep->destroy_status, ep->destroy_message);

	/* Children first, as in KMDF's object tree. */
	ep_destroy_children(ep);
	if (ep->parent) {
		struct ep *parent = ep_get(d, ep->parent);

		if (parent) {
			ep_children_remove(parent, ep);
			object_unref(parent);
		}
	}
	if (ep->qp_active) {
		qp_deactivate(ep->qp_active, ep->destroy_status);
		ep->qp_active = NULL;
	}
	if (ep->qp)
		t->qp = object_unpublish(d, ep->qp); /* the table's reference */
	if (req) {
		request_set_in_flight(req);
		work_of(item)->request = req;
	}
	ep_post(ep, item);
}

static void qp_destroy_done(struct work_item *item)
{
	struct ep_teardown *t = item->data;
	struct qp *qp = t->qp;
	struct event_view e = {
		.kind = EVENT_QP_DESTROYED, .qp = qp->obj.handle, .ep = item->handle};

	if (work_of(item)->request)
		request_complete(work_of(item)->request, 0, NULL, NULL);
	control_broadcast(item->ctx, qp->obj.owner, &e);
	object_unref(qp);
	object_unref(t->ep);
	free(t);
}

void endpoint_qp_destroy(struct ep *ep, struct request *req)
{
	struct rdqd *d = ep->d;
	struct ep_teardown *t;
	struct work_item *item;
	struct qp *qp;

	RDQ_DISPATCH_ONLY();
	item = ep_teardown_item(ep, ep_work_qp_destroy, qp_destroy_done);
	if (!item) {
		request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	/* From here on the QP's handle is stale, for clients and for workers alike. */
	qp = ep->qp ? object_unpublish(d, ep->qp) : NULL;
	if (!qp) {
		ep_teardown_item_put(d, item);
		request_fail(req, -ENOENT, "endpoint %llu has no QP (any more)",
			     (unsigned long long)ep->obj.handle);
		return;
	}
	if (ep->qp_active == qp) {
		qp_deactivate(qp, -ECANCELED);
		ep->qp_active = NULL;
	}
	/*
	 * The QP's last reference (the table's) and one on the endpoint, whose
	 * lock the worker takes: a step of the endpoint may be using the QP
	 * (with sync scope none it may run beside this one).
	 */
	t = item->data;
	t->qp = qp;
	t->ep = object_ref(ep);
	request_set_in_flight(req);
	work_of(item)->request = req;
	ep_post(ep, item);
}

void endpoint_destroy_tied(struct rdqd *d, struct list *tied)
{
	struct list_node *node;

	/*
	 * The connection's own endpoints, not a walk over all: O(its own). Always
	 * the first one, never a next saved across a destroy: a serve listener's
	 * children are tied to the same connection, and destroying the listener
	 * takes them off the list too.
	 */
	while ((node = tied->first)) {
		/* Listed, so still published: the table's reference keeps it alive. */
		struct ep *ep = object_ref(list_entry(node, struct ep, tied));

		/* Its QP went with the client: destroying the id sends the peer a DREQ. */
		if (ep->direct && ep->state == EP_CONNECTED)
			d->counters.direct_dropped++;
		endpoint_destroy(ep, NULL);
		/* Off the list even if its teardown could not start: the list is going. */
		ep_untie(ep);
		object_unref(ep);
	}
}

/* handle_table_foreach's: the first endpoint found. */
static bool first_endpoint(void *object, rdq_handle_t h, void *arg)
{
	(void)object;
	*(rdq_handle_t *)arg = h;
	return false;
}

void endpoint_destroy_all(struct rdqd *d)
{
	unsigned count;
	rdq_handle_t *handles, h;

	/* Collected first: destroying changes the table, which must not be locked then. */
	if (handle_table_collect(&d->objects, OBJ_EP, NULL, NULL, &handles, &count) < 0) {
		/* Out of memory for the list: one at a time (each destroy unpublishes it). */
		while ((h = 0, handle_table_foreach(&d->objects, OBJ_EP, first_endpoint, &h), h)) {
			struct ep *ep = ep_get(d, h);

			if (!ep)
				break;
			endpoint_destroy(ep, NULL);
			object_unref(ep);
		}
		return;
	}
	for (unsigned i = 0; i < count; i++) {
		struct ep *ep = ep_get(d, handles[i]);

		if (ep) {
			endpoint_destroy(ep, NULL);
			object_unref(ep);
		}
	}
	free(handles);
}

/*
 * The endpoint's RDMA device is going away. The kernel cannot let it go
 * while an rdma_cm_id or verbs object of ours is on it, so the endpoint is
 * torn down now, on a worker; what waits on it completes with ENODEV.
 */
void ep_device_removed(struct ep *ep)
{
	log_warn("ep %llu: its RDMA device was removed; tearing it down",
		 (unsigned long long)ep->obj.handle);
	ep->d->counters.device_removals++;
	ep_broadcast_event(ep, EP_EVENT_ERROR, -ENODEV);
	if (ep->direct)
		ep_tell_flush(ep, -ENODEV); /* the client's QP is on the device too */
	ep->destroy_status = -ENODEV;
	ep->destroy_message = "the RDMA device was removed";
	endpoint_destroy(ep, NULL);
}

void ep_work_teardown(struct work_item *item)
{
	struct ep_teardown *t = item->data;

	RDQ_PASSIVE_ONLY();
	/* Unpublished objects: these references are the only way left to reach them. */
	pthread_mutex_lock(&t->ep->lock);
	if (t->qp)
		qp_teardown(t->qp);
	if (t->ep->id && t->ep->reject_reason && !t->ep->reject_sent) {
		/* The refusal's own step has not run (and now never will): its reject goes here. */
		rdma_reject(t->ep->id, t->ep->reject_reason,
			    (uint8_t)(strlen(t->ep->reject_reason) + 1));
		t->ep->reject_sent = true;
	}
	if (t->ep->id) {
		/* Waits until the loop has acked every event of this id. */
		rdma_destroy_id(t->ep->id);
		t->ep->id = NULL;
	}
	t->ep->dead = true;
	pthread_mutex_unlock(&t->ep->lock);
	item->status = 0;
}

void ep_work_qp_destroy(struct work_item *item)
{
	struct ep_teardown *t = item->data;

	RDQ_PASSIVE_ONLY();
	/*
	 * Unpublished by qp.destroy: the item holds the last reference. The
	 * endpoint's lock keeps a step that found the QP before that (and is
	 * moving it to error, say) from seeing it torn down under it.
	 */
	pthread_mutex_lock(&t->ep->lock);
	qp_teardown(t->qp);
	pthread_mutex_unlock(&t->ep->lock);
	item->status = 0;
}
