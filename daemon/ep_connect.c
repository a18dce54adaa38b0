/* SPDX-License-Identifier: MIT */
/*
 * ep.connect, the active side of a connection. The loop half posts each
 * step to the endpoint's event queue (resolve the address, the route, make
 * the QP and connect) and acts on the rdma_cm event that follows; the worker
 * half runs the blocking calls, finding its endpoint again by handle. The
 * peer's answer and what follows it, shared with the passive side, are
 * ep_establish.c's. A connect that fails, times out or is cancelled answers
 * its request and destroys the endpoint.
 */
#include "endpoint.h"

#include <errno.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>

#include "endpoint_internal.h"
#include "engine/level.h"
#include "qp.h"
#include "rdqd.h"
#include "work.h"

static void resolve_addr_done(struct work_item *item)
{
	ep_connect_step_done(item, "address resolution");
}

static void resolve_route_done(struct work_item *item)
{
	ep_connect_step_done(item, "route resolution");
}

static void connect_sent(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (ep && item->status == 0) {
		ep->local = a->local;
		ep->remote = a->remote;
	}
	object_unref(ep);
	ep_connect_step_done(item, "connect");
}

void endpoint_connect(struct rdqd *d, struct request *req, const char *addr, int port,
		      int64_t timeout_ms, bool tied, bool direct)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep = ep_start(d, req, EP_ACTIVE, tied, ep_work_resolve_addr, resolve_addr_done,
				 &item, &args);

	RDQ_DISPATCH_ONLY();
	if (!ep)
		return;
	ep->direct = direct;
	ep->client_pid = req->pid;
	snprintf(args->addr, sizeof(args->addr), "%s", addr);
	snprintf(ep->addr, sizeof(ep->addr), "%s", addr);
	ep->port = (uint16_t)port;
	ep->timeout_ms = timeout_ms;
	args->port = port;
	args->timeout_ms = timeout_ms;
	ep_set_state(ep, EP_RESOLVING);
	req->ep = ep->obj.handle;
	/* The request waits on the endpoint until rdma_cm says how the connect went. */
	request_on_cancel(req, ep_setup_cancelled);
	if (request_enqueue(&ep->connect_q, req, timeout_ms, ep_setup_deadline) < 0) {
		free(args);
		work_item_put(&d->workers, item);
		request_fail(req, -ENOMEM, "out of memory");
		endpoint_destroy(ep, NULL);
		object_unref(ep);
		return;
	}
	ep_post(ep, item);
	object_unref(ep);
}

/* A step after address resolution: queue passive with fresh args. */
static void connect_next(struct ep *ep, work_fn passive, work_fn dispatch)
{
	struct ep_work_args *args = calloc(1, sizeof(*args));
	struct work_item *item = args ? ep_item(ep, passive, dispatch) : NULL;

	if (!item) {
		free(args);
		ep_connect_failed(ep, -ENOMEM, "out of memory for a work item");
		return;
	}
	args->timeout_ms = ep->timeout_ms;
	item->data = args;
	ep_post(ep, item);
}

void ep_work_resolve_addr(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct rdma_cm_id *id = NULL;
	struct addrinfo *ai = NULL;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	ret = ep_create_id(item, false, &id, &ai);
	if (ret == 0) {
		ep->id = id;
		/* Asynchronous: ADDR_RESOLVED or ADDR_ERROR comes to the loop. */
		if (rdma_resolve_addr(id, NULL, ai->ai_addr, (int)a->timeout_ms))
			ret = -errno;
		freeaddrinfo(ai);
	}
	item->status = ret;
	ep_step_leave(ep);
}

void ep_work_resolve_route(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	item->status = rdma_resolve_route(ep->id, (int)a->timeout_ms) ? -errno : 0;
	ep_step_leave(ep);
}

void ep_work_connect(struct work_item *item)
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
	ret = qp_create(d, ep->id, item->handle, ep->obj.owner, false, endpoint_qp_event, &qp);
	if (ret < 0)
		goto out;
	ep_conn_param_init(&param, qp->qp->qp_num);
	ep_save_addrs(ep->id, a);
	if (rdma_connect(ep->id, &param)) {
		ret = -errno;
		qp_discard(qp);
		qp = NULL;
	}
out:
	a->qp = qp;
	item->status = ret;
	ep_step_leave(ep);
}

/* --------------------------------------------- the rdma_cm events of a connect */

void ep_addr_resolved(struct ep *ep)
{
	if (ep->state == EP_RESOLVING)
		connect_next(ep, ep_work_resolve_route, resolve_route_done);
}

void ep_route_resolved(struct ep *ep, struct rdma_cm_id *id)
{
	if (ep->state == EP_RESOLVING && ep->direct) {
		/* The id knows its device now; the direct client opens the same one. */
		ep_id_device(id, ep->device, sizeof(ep->device), &ep->port_num);
		ep_direct_resolved(ep);
	} else if (ep->state == EP_RESOLVING) {
		ep_set_state(ep, EP_CONNECTING);
		connect_next(ep, ep_work_connect, connect_sent);
	}
}
