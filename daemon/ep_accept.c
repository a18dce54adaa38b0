/* SPDX-License-Identifier: MIT */
/*
 * The passive side of a connection: a peer's connection request on one of
 * our listeners, admitted (admission.c) and accepted on a worker with a new
 * QP, or rejected with a reason the peer can read. What follows the accept
 * (the QP taken, ESTABLISHED, a served connection announced) is shared with
 * the active side, in ep_establish.c.
 */
#include "endpoint.h"

#include <errno.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "control.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/errname.h"
#include "qp.h"
#include "rdqd.h"
#include "work.h"

static void accept_done(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (ep && item->status == 0) {
		ep->local = a->local;
		ep->remote = a->remote;
	}
	ep_connect_step_done(item, "accept");
	object_unref(ep);
}

/*
 * What rejecting a connection request carries to the worker: the request's
 * rdma_cm_id, which nobody else owns (no endpoint took it), and the words
 * the peer gets.
 */
struct ep_rejection {
	struct rdma_cm_id *id;
	char reason[ADMISSION_REASON_MAX];
};

static void reject_done(struct work_item *item)
{
	/* The peer gave up waiting, most likely: its request is gone either way. */
	if (item->status < 0)
		log_debug("rdma_reject: %s", strerror(-item->status));
	free(item->data);
}

void ep_reject(struct rdqd *d, struct rdma_cm_id *id, enum admission why, const char *reason)
{
	/* Past the pool's cap too: the connection request must be answered. */
	struct ep_rejection *r = malloc(sizeof(*r));
	struct work_item *item = r ? work_item_get_uncapped(&d->workers) : NULL;

	admission_rejected(d, why, reason);
	if (!item) {
		free(r);
		log_err("out of memory: a connection request cannot be rejected");
		return;
	}
	r->id = id;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	item->ctx = d;
	item->data = r;
	item->passive = ep_work_reject;
	item->dispatch = reject_done;
	work_item_queue(&d->workers, item);
}

void ep_reject_orphan(struct rdqd *d, struct rdma_cm_id *id)
{
	ep_reject(d, id, REFUSE_OTHER, "rdq: the listener is going away");
}

/*
 * A direct listener's admitted request: a passive endpoint that holds the
 * id while its client makes a QP for it (ep_direct.c). Nothing is accepted
 * here: the client's ep.attach and ep.establish do it.
 */
static void request_direct(struct rdqd *d, struct ep *listener, struct rdma_cm_id *new_id)
{
	struct ep *ep;
	int err;

	ep = endpoint_new(d, EP_ACCEPTED, listener->obj.owner, listener->obj.handle,
			  listener->tied_conn, &err);
	if (!ep || !ep_children_add(listener, ep)) {
		if (ep) {
			ep_unpublish_unused(ep);
			object_unref(ep);
		}
		ep_reject(d, new_id, REFUSE_OTHER,
			  err == -EDQUOT ? "rdq: out of objects" : "rdq: out of memory");
		return;
	}
	ep->direct = true;
	ep->client_pid = listener->client_pid;
	snprintf(ep->addr, sizeof(ep->addr), "%s", listener->addr);
	ep->id = new_id;
	new_id->context = (void *)(uintptr_t)ep->obj.handle;
	if (!ep_direct_request(listener, ep, new_id)) {
		/* Never told, so nobody knows the handle: give the id back to be rejected. */
		ep->id = NULL;
		new_id->context = NULL;
		ep_stop_setup_timer(ep);
		ep_children_remove(listener, ep);
		ep_unpublish_unused(ep);
		object_unref(ep);
		ep_reject(d, new_id, REFUSE_NO_SERVER, "rdq: the listener's client cannot be told");
		return;
	}
	object_unref(ep);
	admission_accepted(d);
}

void ep_connect_request(struct rdqd *d, struct ep *listener, struct rdma_cm_id *new_id)
{
	char reason[ADMISSION_REASON_MAX];
	struct ep_work_args *args;
	struct work_item *item;
	enum admission why;
	struct ep *ep;
	int err;

	if (listener->state != EP_LISTENING) {
		ep_reject_orphan(d, new_id);
		return;
	}
	/* A refused address first: room made later would not let it in. */
	why = admission_check_peer(listener->rules, rdma_get_peer_addr(new_id), reason,
				   sizeof(reason));
	if (why == ADMIT)
		why = admission_check(d, listener->obj.handle, listener->nchildren,
				      listener->max_connections, reason, sizeof(reason));
	/* Nobody would take the peer's requests: say so now rather than accept it. */
	if (why == ADMIT && (listener->serve || listener->direct) &&
	    !control_can_announce(d, listener->tied_conn)) {
		why = REFUSE_NO_SERVER;
		snprintf(reason, sizeof(reason), "rdq: the listener's server is not reading");
	}
	if (why != ADMIT) {
		ep_reject(d, new_id, why, reason);
		return;
	}
	if (listener->direct) {
		request_direct(d, listener, new_id);
		return;
	}
	/* A served endpoint goes with the client that serves it, as its listener does. */
	ep = endpoint_new(d, EP_ACCEPTED, listener->obj.owner, listener->obj.handle,
			  listener->serve ? listener->tied_conn : 0, &err);
	if (ep)
		ep->serve = listener->serve; /* before any work item names it */
	args = ep ? calloc(1, sizeof(*args)) : NULL;
	item = args ? ep_item(ep, ep_work_accept, accept_done) : NULL;
	if (!item || !ep_children_add(listener, ep)) {
		if (item)
			work_item_put(&d->workers, item);
		free(args);
		if (ep) {
			ep_unpublish_unused(ep);
			object_unref(ep);
		}
		ep_reject(d, new_id, REFUSE_OTHER,
			  err == -EDQUOT ? "rdq: out of objects" : "rdq: out of memory");
		return;
	}
	/* Set before any worker can know the handle; later events find it by context. */
	ep->id = new_id;
	new_id->context = (void *)(uintptr_t)ep->obj.handle;
	ep_set_state(ep, EP_CONNECTING);
	snprintf(ep->addr, sizeof(ep->addr), "%s", listener->addr);
	item->data = args;
	ep_post(ep, item);
	object_unref(ep);
	admission_accepted(d);
}

/* The accept could not be made: the peer is told why, as admission's rejects tell it. */
static void accept_refused(struct rdma_cm_id *id, int err)
{
	char reason[ADMISSION_REASON_MAX];

	RDQ_PASSIVE_ONLY();
	if (err == -EMFILE || err == -ENFILE)
		snprintf(reason, sizeof(reason), "rdq: out of file descriptors");
	else
		snprintf(reason, sizeof(reason), "rdq: the connection could not be accepted (%s)",
			 rdq_errno_name(-err));
	rdma_reject(id, reason, (uint8_t)(strlen(reason) + 1));
}

void ep_work_accept(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct ep_work_args *a = item->data;
	struct rdma_conn_param param;
	struct qp *qp = NULL;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	ret = qp_create(d, ep->id, item->handle, ep->obj.owner, !ep->serve, endpoint_qp_event, &qp);
	if (ret < 0)
		goto reject;
	ret = qp_ready(qp, ep->id);
	if (ret < 0)
		goto reject;
	ep_conn_param_init(&param, qp->qp->qp_num);
	if (rdma_accept(ep->id, &param)) {
		ret = -errno;
		goto reject;
	}
	ep_save_addrs(ep->id, a);
	a->qp = qp;
	item->status = 0;
	ep_step_leave(ep);
	return;

reject:
	accept_refused(ep->id, ret);
	if (qp)
		qp_discard(qp);
	item->status = ret;
	ep_step_leave(ep);
}

void ep_work_reject(struct work_item *item)
{
	struct ep_rejection *r = item->data;

	RDQ_PASSIVE_ONLY();
	/*
	 * A connection request nobody takes: this item owns its id. The reason
	 * goes with its NUL, so that a peer that prints the private data (or
	 * rdqd's own connect, ep_cm.c) reads a whole string.
	 */
	if (rdma_reject(r->id, r->reason, (uint8_t)(strlen(r->reason) + 1)))
		item->status = -errno;
	rdma_destroy_id(r->id);
}
