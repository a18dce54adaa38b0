/* SPDX-License-Identifier: MIT */
/*
 * Making connections: ep.listen, ep.connect, and the accept of a peer's
 * connection request on a listener. The loop half posts each step (resolve
 * the address, the route, make the QP and connect or accept, establish) to the
 * endpoint's event queue and acts on the rdma_cm event that follows; the
 * worker half runs the blocking calls, finding its endpoint again by handle.
 * A connect that fails, times out or is cancelled answers its request and
 * destroys the endpoint.
 *
 * Longer than rdq's other files on purpose: the active and passive sides
 * share their steps (the new QP published when a step returns, activation,
 * the connection parameters, making the rdma_cm_id), which split in two
 * files would become an internal interface of their own.
 */
#include "endpoint.h"

#include <errno.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "encode.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/errname.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "qp.h"
#include "rdqd.h"
#include "work.h"

static void activate(struct ep *ep);
static bool announce_served(struct ep *ep);
static void queue_establish(struct ep *ep);

static void listen_done(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct request *req = work_of(item)->request;
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (!ep) {
		request_fail(req, -ENOENT, "endpoint %llu was destroyed while it was being set up",
			     (unsigned long long)item->handle);
	} else if (item->status < 0) {
		request_fail(req, item->status, "cannot listen on %s:%d: %s", a->addr, a->port,
			     strerror(-item->status));
		ep_unpublish_unused(ep);
	} else {
		ep_set_state(ep, EP_LISTENING);
		ep->local = a->local;
		request_complete(req, 0,
				 RESULT(RESULT_LISTENING, .listening = {ep->obj.handle, ep->serve}),
				 NULL);
	}
	object_unref(ep);
	free(a);
}

/* Sets up an endpoint and its first work item; on failure completes req. */
static struct ep *ep_start(struct rdqd *d, struct request *req, enum ep_role role, bool tied,
			   work_fn passive, work_fn dispatch, struct work_item **item_out,
			   struct ep_work_args **args_out)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep;
	int err;

	if (!d->cm) {
		request_fail(req, -ENODEV, "no RDMA here: %s", d->rdma_error);
		return NULL;
	}
	ep = endpoint_new(d, role, req->uid, 0, tied ? req->conn : 0, &err);
	if (!ep) {
		request_fail(req, err,
			     err == -EDQUOT ? "too many endpoints for this user (limit %u)"
					    : "cannot make an endpoint (limit %u)",
			     d->opt.max_endpoints);
		return NULL;
	}
	args = calloc(1, sizeof(*args));
	err = -ENOMEM;
	item = args ? ep_item_for(ep, true, passive, dispatch, &err) : NULL;
	if (!item) {
		free(args);
		ep_unpublish_unused(ep);
		object_unref(ep);
		request_fail_no_work_item(req, err);
		return NULL;
	}
	item->data = args;
	*item_out = item;
	*args_out = args;
	return ep;
}

void endpoint_listen(struct rdqd *d, struct request *req, const char *addr, int port, int backlog,
		     unsigned max_connections, bool tied, bool serve)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep =
		ep_start(d, req, EP_LISTENER, tied, ep_work_listen, listen_done, &item, &args);

	RDQ_DISPATCH_ONLY();
	if (!ep)
		return;
	snprintf(args->addr, sizeof(args->addr), "%s", addr);
	snprintf(ep->addr, sizeof(ep->addr), "%s", addr);
	ep->max_connections = max_connections;
	ep->serve = serve;
	args->port = port;
	args->backlog = backlog;
	request_dispatch(req);
	work_of(item)->request = req;
	ep_post(ep, item);
	object_unref(ep);
}

/* The connection could not be made: answer the connect and drop the endpoint. */
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

static void connect_deadline(struct request *req)
{
	struct ep *ep = ep_get(req->d, req->ep);

	request_dequeue(req);
	request_fail(req, -ETIMEDOUT, "no connection within %lld ms", (long long)req->timeout_ms);
	if (ep) {
		endpoint_destroy(ep, NULL);
		object_unref(ep);
	}
}

/* A cancelled connect abandons the connection: its endpoint goes too. */
static void connect_cancelled(struct request *req, const char *message)
{
	struct ep *ep = ep_get(req->d, req->ep);

	request_dequeue(req);
	request_fail(req, -ECANCELED, "%s", message);
	if (ep) {
		endpoint_destroy(ep, NULL);
		object_unref(ep);
	}
}

/* Generic result of a connect step: on failure, give up the connection. */
static void connect_step_done(struct work_item *item, const char *what)
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

static void resolve_addr_done(struct work_item *item)
{
	connect_step_done(item, "address resolution");
}

static void resolve_route_done(struct work_item *item)
{
	connect_step_done(item, "route resolution");
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
	connect_step_done(item, "connect");
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

void endpoint_connect(struct rdqd *d, struct request *req, const char *addr, int port,
		      int64_t timeout_ms, bool tied)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep = ep_start(d, req, EP_ACTIVE, tied, ep_work_resolve_addr, resolve_addr_done,
				 &item, &args);

	RDQ_DISPATCH_ONLY();
	if (!ep)
		return;
	snprintf(args->addr, sizeof(args->addr), "%s", addr);
	snprintf(ep->addr, sizeof(ep->addr), "%s", addr);
	ep->port = (uint16_t)port;
	ep->timeout_ms = timeout_ms;
	args->port = port;
	args->timeout_ms = timeout_ms;
	ep_set_state(ep, EP_RESOLVING);
	req->ep = ep->obj.handle;
	/* The request waits on the endpoint until rdma_cm says how the connect went. */
	request_on_cancel(req, connect_cancelled);
	if (request_enqueue(&ep->connect_q, req, timeout_ms, connect_deadline) < 0) {
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
		ep_connect_failed(ep, -EBUSY, "out of work items");
		return;
	}
	args->timeout_ms = ep->timeout_ms;
	item->data = args;
	ep_post(ep, item);
}

/* The peer answered the connect: make the QP ready and send the RTU, on a worker. */
static void queue_establish(struct ep *ep)
{
	struct work_item *item = ep_item(ep, ep_work_establish, establish_done);

	if (!item) {
		ep_connect_failed(ep, -EBUSY, "out of work items");
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

static void accept_done(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (ep && item->status == 0) {
		ep->local = a->local;
		ep->remote = a->remote;
	}
	connect_step_done(item, "accept");
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
	why = admission_check(d, listener->obj.handle, listener->nchildren,
			      listener->max_connections, reason, sizeof(reason));
	/* Nobody would take the peer's requests: say so now rather than accept it. */
	if (why == ADMIT && listener->serve && !control_can_announce(d, listener->tied_conn)) {
		why = REFUSE_NO_SERVER;
		snprintf(reason, sizeof(reason), "rdq: the listener's server is not reading");
	}
	if (why != ADMIT) {
		ep_reject(d, new_id, why, reason);
		return;
	}
	/* A served endpoint goes with the client that serves it, as its listener does. */
	ep = endpoint_new(d, EP_PASSIVE, listener->obj.owner, listener->obj.handle,
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

/*
 * Connection parameters for both sides: what we ask of the peer's sends.
 * Both retry counts are finite (7 means "forever" for receiver-not-ready
 * retries everywhere, and for transport retries on rxe). Our own QP's counts
 * come from the peer's parameters, and qp.c caps them the same way.
 */
static void conn_param_init(struct rdma_conn_param *p, uint32_t qp_num)
{
	memset(p, 0, sizeof(*p));
	p->qp_num = qp_num;
	p->responder_resources = 1;
	p->initiator_depth = 1;
	p->retry_count = 6;
	p->rnr_retry_count = 6;
}

/* Resolves a numeric or named address; getaddrinfo may block, hence here. */
static int resolve(const char *addr, int port, bool passive, struct addrinfo **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
	char service[8];
	int ret;

	RDQ_PASSIVE_ONLY();
	snprintf(service, sizeof(service), "%d", port);
	ret = getaddrinfo(addr && *addr ? addr : NULL, service, &hints, out);
	if (ret == EAI_SYSTEM)
		return -errno;
	return ret ? -EADDRNOTAVAIL : 0;
}

static void save_addrs(struct rdma_cm_id *id, struct ep_work_args *a)
{
	memcpy(&a->local, rdma_get_local_addr(id), sizeof(struct sockaddr_in6));
	memcpy(&a->remote, rdma_get_peer_addr(id), sizeof(struct sockaddr_in6));
}

/*
 * Resolves the item's address and makes the endpoint's rdma_cm_id; on success
 * *ai is the address (freeaddrinfo it). Called under ep->lock.
 */
static int create_id(struct work_item *item, bool passive, struct rdma_cm_id **id,
		     struct addrinfo **ai)
{
	struct rdqd *d = item->ctx;
	struct ep_work_args *a = item->data;
	int ret;

	RDQ_PASSIVE_ONLY();
	ret = resolve(a->addr, a->port, passive, ai);
	if (ret < 0)
		return ret;
	/* The id's context is the endpoint's handle, never a pointer to it. */
	if (rdma_create_id(d->cm, id, (void *)(uintptr_t)item->handle, RDMA_PS_TCP)) {
		ret = -errno;
		freeaddrinfo(*ai);
		*ai = NULL;
	}
	return ret;
}

void ep_work_listen(struct work_item *item)
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
	ret = create_id(item, true, &id, &ai);
	if (ret == 0 && (rdma_bind_addr(id, ai->ai_addr) || rdma_listen(id, a->backlog))) {
		ret = -errno;
		rdma_destroy_id(id);
	} else if (ret == 0) {
		ep->id = id;
		save_addrs(id, a);
	}
	if (ai)
		freeaddrinfo(ai);
	item->status = ret;
	ep_step_leave(ep);
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
	ret = create_id(item, false, &id, &ai);
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
	ret = qp_create(d, ep->id, item->handle, ep->obj.owner, false, &qp);
	if (ret < 0)
		goto out;
	conn_param_init(&param, qp->qp->qp_num);
	save_addrs(ep->id, a);
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
	ret = qp_create(d, ep->id, item->handle, ep->obj.owner, !ep->serve, &qp);
	if (ret < 0)
		goto reject;
	ret = qp_ready(qp, ep->id);
	if (ret < 0)
		goto reject;
	conn_param_init(&param, qp->qp->qp_num);
	if (rdma_accept(ep->id, &param)) {
		ret = -errno;
		goto reject;
	}
	save_addrs(ep->id, a);
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
	 * rdqd's own connect, ep_events.c) reads a whole string.
	 */
	if (rdma_reject(r->id, r->reason, (uint8_t)(strlen(r->reason) + 1)))
		item->status = -errno;
	rdma_destroy_id(r->id);
}

void ep_work_qp_discard(struct work_item *item)
{
	RDQ_PASSIVE_ONLY();
	/* A QP made for an endpoint that was destroyed while the QP was being made. */
	qp_discard(item->data);
	item->data = NULL;
}

/* --------------------------------------------- the rdma_cm events of a connect */

void ep_addr_resolved(struct ep *ep)
{
	if (ep->state == EP_RESOLVING)
		connect_next(ep, ep_work_resolve_route, resolve_route_done);
}

void ep_route_resolved(struct ep *ep)
{
	if (ep->state == EP_RESOLVING) {
		ep_set_state(ep, EP_CONNECTING);
		connect_next(ep, ep_work_connect, connect_sent);
	}
}

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
	if (ep->state == EP_RESOLVING || ep->state == EP_CONNECTING) {
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
