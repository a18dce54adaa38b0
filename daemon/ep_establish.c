/* SPDX-License-Identifier: MIT */
/*
 * How a connection ends up, whichever side began it (ep_connect.c,
 * ep_accept.c): the QP its connect or accept step made is taken by the
 * endpoint, or discarded if the endpoint is gone; after the peer's answer,
 * the establish step makes the QP ready and sends the RTU (active side);
 * at ESTABLISHED or after that step, the endpoint is activated: its data
 * path starts, its connect is answered, a served connection is announced.
 * rdma_cm's events may come before the step they follow is back on the
 * loop: the endpoint keeps the early one (early_event) until then. A
 * connection that fails on the way is answered and destroyed here too.
 */
#include "endpoint.h"

#include <errno.h>
#include <rdma/rdma_cma.h>
#include <string.h>

#include "control.h"
#include "encode.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "qp.h"
#include "rdqd.h"
#include "work.h"

static void activate(struct ep *ep);
static bool announce_served(struct ep *ep);
static void queue_establish(struct ep *ep);

void ep_connect_failed(struct ep *ep, int status, const char *what)
{
	struct request *req = request_queue_pop(&ep->connect_q);

	log_info("ep %llu: %s failed: %s", (unsigned long long)ep->obj.handle, what,
		 strerror(-status));
	if (req)
		request_fail(req, status, "cannot connect to %s:%d: %s (%s)", ep->addr, ep->port,
			     strerror(-status), what);
	ep_broadcast_event(ep, EP_EVENT_ERROR, status);
	/* Nobody else holds a handle to a failed active or passive endpoint. */
	endpoint_destroy(ep, NULL);
}

void ep_setup_deadline(struct request *req)
{
	struct ep *ep = ep_get(req->d, req->ep);

	request_dequeue(req);
	request_fail(req, -ETIMEDOUT, "no connection within %lld ms", (long long)req->timeout_ms);
	if (ep) {
		endpoint_destroy(ep, NULL);
		object_unref(ep);
	}
}

void ep_setup_cancelled(struct request *req, const char *message)
{
	struct ep *ep = ep_get(req->d, req->ep);

	request_dequeue(req);
	request_fail(req, -ECANCELED, "%s", message);
	if (ep) {
		endpoint_destroy(ep, NULL);
		object_unref(ep);
	}
}

void ep_connect_step_done(struct work_item *item, const char *what)
{
	struct rdqd *d = item->ctx;
	struct ep_work_args *a = item->data;
	struct ep *ep = ep_get(d, item->handle);
	struct qp *qp = a ? a->qp : NULL; /* made by the step, not yet published */
	int ret;

	/*
	 * A step that ran out of descriptors (in the verbs or rdma_cm library)
	 * starts an episode: the next peers are rejected at once instead of
	 * each failing here after a worker made half a QP.
	 */
	if (item->status == -EMFILE || item->status == -ENFILE)
		control_fd_shortage(d, -item->status);
	if (!ep)
		goto out;
	if (item->status < 0) {
		ep_connect_failed(ep, item->status, what);
	} else if (qp && ep->state == EP_CONNECTING) {
		/* The endpoint takes the QP: only now does a handle name it. */
		ret = qp_publish(d, qp);
		if (ret < 0) {
			ep_connect_failed(ep, ret, "too many objects for the QP");
		} else {
			ep->qp = qp->obj.handle;
			qp = NULL;
			if (ep->early_event == RDMA_CM_EVENT_CONNECT_RESPONSE)
				queue_establish(ep);
			else if (ep->early_event == RDMA_CM_EVENT_ESTABLISHED)
				activate(ep);
			ep->early_event = -1;
		}
	}
	object_unref(ep);
out:
	if (qp) {
		/* A QP nobody took (its endpoint is gone or failed): discard it on a worker. */
		/* Past the pool's cap too: freeing must not be refused. */
		struct work_item *discard = work_item_get_uncapped(&d->workers);

		if (discard) {
			discard->ctx = d;
			discard->data = qp;
			discard->passive = ep_work_qp_discard;
			work_item_queue(&d->workers, discard);
		}
	}
	free(item->data);
}

static void establish_done(struct work_item *item)
{
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (!ep)
		return;
	if (item->status < 0)
		ep_connect_failed(ep, item->status, "establish");
	else if (ep->state == EP_CONNECTING)
		activate(ep);
	object_unref(ep);
}

/* The peer answered the connect: make the QP ready and send the RTU, on a worker. */
static void queue_establish(struct ep *ep)
{
	struct work_item *item = ep_item(ep, ep_work_establish, establish_done);

	if (!item) {
		ep_connect_failed(ep, -ENOMEM, "out of memory for a work item");
		return;
	}
	work_of(item)->qp = ep->qp;
	ep_post(ep, item);
}

/* The QP is ready: start the data path and answer the connect. */
static void activate(struct ep *ep)
{
	struct qp *qp = handle_table_lookup(&ep->d->objects, ep->qp, OBJ_QP);
	struct request *req;

	if (!qp || qp_activate(qp) < 0) {
		object_unref(qp);
		ep_connect_failed(ep, -ENOMEM, "activate");
		return;
	}
	ep->qp_active = qp;
	object_unref(qp); /* qp_activate holds the loop's own reference */
	ep_set_state(ep, EP_CONNECTED);
	if (ep->serve && !announce_served(ep))
		return;
	req = request_queue_pop(&ep->connect_q);
	if (req)
		request_complete(req, 0,
				 RESULT(RESULT_CONNECTED, .connected = {ep->obj.handle, ep->qp}),
				 NULL);
	ep_broadcast_event(ep, EP_EVENT_ESTABLISHED, 0);
	/* Messages, or a failure, that came between RTR and now. */
	qp_catch_up(ep->qp_active);
}

/*
 * A served endpoint is connected: the client serving its listener is told
 * (ep.accepted), and the peer's messages wait for that client's ep.recv. A
 * client that cannot be told (gone, or not reading) would never serve the
 * peer, so the connection is closed at once instead, and counted. Returns
 * whether the endpoint goes on.
 */
static bool announce_served(struct ep *ep)
{
	char local[80], remote[80];
	struct event_view e = {.kind = EVENT_EP_ACCEPTED,
			       .ep = ep->obj.handle,
			       .listener = ep->parent,
			       .qp = ep->qp,
			       .peer = remote,
			       .local = local};
	int ret;

	ep_format_addr(&ep->local, local, sizeof(local));
	ep_format_addr(&ep->remote, remote, sizeof(remote));
	ret = control_announce(ep->d, ep->tied_conn,
			       encode_event(control_body(), RDQ_MAX_MESSAGE, &e));
	if (ret == 0)
		return true;
	ep->d->counters.net_unannounced++;
	log_warn("ep %llu: closed: the client serving listener %llu cannot be told of it (%s)",
		 (unsigned long long)ep->obj.handle, (unsigned long long)ep->parent,
		 strerror(-ret));
	endpoint_destroy(ep, NULL);
	return false;
}

/*
 * What we ask of the peer's sends. Both retry counts are finite (7 means
 * "forever" for receiver-not-ready retries everywhere, and for transport
 * retries on rxe). Our own QP's counts come from the peer's parameters, and
 * qp.c caps them the same way.
 */
void ep_conn_param_init(struct rdma_conn_param *p, uint32_t qp_num)
{
	memset(p, 0, sizeof(*p));
	p->qp_num = qp_num;
	p->responder_resources = 1;
	p->initiator_depth = 1;
	p->retry_count = 6;
	p->rnr_retry_count = 6;
}

void ep_work_establish(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct qp *qp;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	qp = handle_table_lookup(&d->objects, work_of(item)->qp, OBJ_QP);
	if (!qp) {
		ret = -ENOENT;
		goto out;
	}
	ret = qp_ready(qp, ep->id);
	/* rdma_establish sends the RTU: the passive side then reports ESTABLISHED. */
	if (ret == 0 && rdma_establish(ep->id))
		ret = -errno;
	object_unref(qp);
out:
	item->status = ret;
	ep_step_leave(ep);
}

void ep_work_qp_discard(struct work_item *item)
{
	RDQ_PASSIVE_ONLY();
	/* A QP made for an endpoint that was destroyed while the QP was being made. */
	qp_discard(item->data);
	item->data = NULL;
}

/* ---------------------------------- the rdma_cm events of a connection coming up */

void ep_connect_response(struct ep *ep)
{
	/* Our QP is not rdma_cm's: we make it ready and send the RTU ourselves. */
	if (ep->state == EP_CONNECTING && !ep->qp)
		ep->early_event = RDMA_CM_EVENT_CONNECT_RESPONSE; /* the connect step is not back */
	else if (ep->state == EP_CONNECTING)
		queue_establish(ep);
}

void ep_established(struct ep *ep)
{
	if (ep->state == EP_CONNECTING && !ep->qp)
		ep->early_event = RDMA_CM_EVENT_ESTABLISHED; /* the accept step is not back yet */
	else if (ep->state == EP_CONNECTING)
		activate(ep);
}

void ep_connect_error(struct ep *ep, int status, const char *what)
{
	if (ep_setting_up(ep)) {
		ep_connect_failed(ep, status, what);
	} else if (ep->state == EP_CONNECTED || ep->state == EP_DISCONNECTING) {
		/*
		 * The peer became unreachable while connected (rdma_cm says so again
		 * every few seconds while it lasts). The connection is not given up
		 * here: sends fail on their own (transport retries, their deadline),
		 * and the peer may come back. Watchers are told each time.
		 */
		log_info("ep %llu: %s while %s", (unsigned long long)ep->obj.handle, what,
			 ep_state_name(ep->state));
		ep_broadcast_event(ep, EP_EVENT_ERROR, status);
	}
}
