/* SPDX-License-Identifier: MIT */
/*
 * The endpoint state machine, on the loop (DISPATCH level). It never
 * blocks: each blocking step goes to a worker as a work item (see
 * endpoint_work.c) and its result comes back to a *_done callback here.
 * Requests that wait for rdma_cm sit on the endpoint's cancel-safe queues
 * until an event dequeues them, a deadline fires, or they are cancelled.
 */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/level.h"
#include "engine/workers.h"
#include "log.h"
#include "protocol/errname.h"
#include "protocol/message.h"
#include "qp.h"
#include "rdqd.h"

static const char *const state_names[] = {
	[EP_IDLE] = "idle",
	[EP_LISTENING] = "listening",
	[EP_RESOLVING] = "resolving",
	[EP_CONNECTING] = "connecting",
	[EP_CONNECTED] = "connected",
	[EP_DISCONNECTING] = "disconnecting",
	[EP_DISCONNECTED] = "disconnected",
};

#define TO(state) (1u << (state))

/* The legal moves: legal_moves[from] has a bit for each state the endpoint may go to. */
static const unsigned legal_moves[] = {
	/* listen, connect, and accept on a passive endpoint */
	[EP_IDLE] = TO(EP_LISTENING) | TO(EP_RESOLVING) | TO(EP_CONNECTING),
	[EP_LISTENING] = 0,
	[EP_RESOLVING] = TO(EP_CONNECTING), /* the route is resolved: connect */
	[EP_CONNECTING] = TO(EP_CONNECTED),
	/* our DREQ, or the peer's (DISCONNECTED straight away) */
	[EP_CONNECTED] = TO(EP_DISCONNECTING) | TO(EP_DISCONNECTED),
	/* DISCONNECTED arrives; or rdma_disconnect failed and no DREQ went out */
	[EP_DISCONNECTING] = TO(EP_DISCONNECTED) | TO(EP_CONNECTED),
	[EP_DISCONNECTED] = 0,
};

const char *ep_state_name(enum ep_state state)
{
	return state_names[state];
}

/* The one place an endpoint's state changes. A move off the table is a bug in rdqd. */
static void ep_set_state(struct ep *ep, enum ep_state to)
{
	if (!(legal_moves[ep->state] & TO(to))) {
		log_err("ep %llu: no move from %s to %s", (unsigned long long)ep->obj.handle,
			state_names[ep->state], state_names[to]);
		abort();
	}
	log_debug("ep %llu: %s -> %s", (unsigned long long)ep->obj.handle, state_names[ep->state],
		  state_names[to]);
	ep->state = to;
}

const char *sync_scope_name(enum sync_scope scope)
{
	return scope == SYNC_ENDPOINT ? "endpoint" : scope == SYNC_DEVICE ? "device" : "none";
}

const char *ep_role_name(enum ep_role role)
{
	return role == EP_LISTENER ? "listener" : role == EP_ACTIVE ? "active" : "passive";
}

static void ep_release(struct object *obj)
{
	struct ep *ep = (struct ep *)obj;

	pthread_mutex_destroy(&ep->lock);
	work_serial_destroy(&ep->own_serial);
	pthread_mutex_destroy(&ep->state_lock);
	free(ep->children);
	free(ep);
}

struct count_ctx {
	uid_t uid;
	unsigned count;
};

static bool count_owned(void *object, rdq_handle_t h, void *arg)
{
	struct count_ctx *c = arg;

	if (((struct object *)object)->owner == c->uid)
		c->count++;
	return true;
}

struct ep *endpoint_new(struct rdqd *d, enum ep_role role, uid_t owner, rdq_handle_t parent,
			rdq_handle_t tied_conn, int *err)
{
	struct count_ctx owned = {.uid = owner};
	struct ep *ep;

	if (role != EP_PASSIVE) {
		handle_table_foreach(&d->objects, OBJ_EP, count_owned, &owned);
		if (owned.count >= d->opt.max_endpoints) {
			*err = -EDQUOT;
			return NULL;
		}
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		*err = -ENOMEM;
		return NULL;
	}
	atomic_init(&ep->obj.refs, 2); /* the table's and the caller's */
	ep->obj.kind = OBJ_EP;
	ep->obj.owner = owner;
	ep->obj.release = ep_release;
	ep->d = d;
	ep->role = role;
	ep->parent = parent;
	ep->tied_conn = tied_conn;
	ep->state = EP_IDLE;
	ep->early_event = -1;
	ep->destroy_status = -ECANCELED;
	ep->destroy_message = "the endpoint was destroyed";
	pthread_mutex_init(&ep->lock, NULL);
	pthread_mutex_init(&ep->state_lock, NULL);
	work_serial_init(&ep->own_serial, &ep->state_lock);
	ep->serial = d->opt.sync_scope == SYNC_ENDPOINT ? &ep->own_serial
		     : d->opt.sync_scope == SYNC_DEVICE ? &d->device_serial
							: NULL;
	*err = handle_table_insert(&d->objects, ep, OBJ_EP, &ep->obj.handle);
	if (*err < 0) {
		if (*err == -ENOSPC)
			*err = -EDQUOT;
		ep_release(&ep->obj);
		return NULL;
	}
	return ep;
}

struct ep *endpoint_lookup(struct rdqd *d, rdq_handle_t h, uid_t uid)
{
	struct ep *ep = handle_table_lookup(&d->objects, h, OBJ_EP);

	if (ep && !object_visible(ep->obj.owner, uid))
		ep = object_unref(ep);
	return ep;
}

/* Loop-internal lookup of an endpoint a work item or event names; may be gone. */
static struct ep *ep_get(struct rdqd *d, rdq_handle_t h)
{
	return handle_table_lookup(&d->objects, h, OBJ_EP);
}

/* Unpublishes an endpoint that never got an rdma_cm_id: nothing to tear down. */
static void ep_unpublish_unused(struct ep *ep)
{
	if (handle_table_remove(&ep->d->objects, ep->obj.handle))
		object_unref(ep); /* the table's reference */
}

/*
 * Takes a work item for one of the endpoint's steps. Only a client's new
 * request (listen, connect, disconnect) is subject to the pool's cap: steps
 * that follow rdma_cm events or free resources must not be refused.
 */
static struct work_item *ep_item_for(struct ep *ep, bool capped, work_fn passive, work_fn dispatch)
{
	struct workers *w = &ep->d->workers;
	struct work_item *item = capped ? work_item_get(w) : work_item_get_uncapped(w);

	if (!item)
		return NULL;
	item->ctx = ep->d;
	item->handle = ep->obj.handle;
	item->passive = passive;
	item->dispatch = dispatch;
	return item;
}

static struct work_item *ep_item(struct ep *ep, work_fn passive, work_fn dispatch)
{
	return ep_item_for(ep, false, passive, dispatch);
}

/*
 * Posts one of the endpoint's worker steps to its event queue. The teardown
 * is the last item ever posted for an endpoint (it is unpublished first),
 * and the endpoint lives until the teardown is back: so the queue, which is
 * part of the endpoint, outlives every item on it.
 */
static void ep_post(struct ep *ep, struct work_item *item)
{
	work_item_post(&ep->d->workers, ep->serial, item);
}

void endpoints_init(struct rdqd *d)
{
	pthread_mutex_init(&d->device_lock, NULL);
	work_serial_init(&d->device_serial, &d->device_lock);
}

void endpoints_fini(struct rdqd *d)
{
	if (!d->device_serial.state_lock)
		return; /* never initialized */
	work_serial_destroy(&d->device_serial);
	pthread_mutex_destroy(&d->device_lock);
}

static void broadcast_ep_event(struct ep *ep, const char *name, int status)
{
	json_t *event = rdq_event_new(name);

	json_object_set_new(event, "ep", json_integer((json_int_t)ep->obj.handle));
	if (!strcmp(name, "ep.established"))
		json_object_set_new(event, "qp", json_integer((json_int_t)ep->qp));
	if (!strcmp(name, "ep.disconnected"))
		json_object_set_new(event, "status", json_integer(status));
	if (!strcmp(name, "ep.error")) {
		json_object_set_new(event, "errno", json_string(rdq_errno_name(-status)));
		json_object_set_new(event, "message", json_string(strerror(-status)));
	}
	control_broadcast(ep->d, ep->obj.owner, event);
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, size, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, size, "[%s]:%d", host, port);
	} else {
		snprintf(buf, size, "-");
	}
}

/* ---------------------------------------------------------------- listen */

static void listen_done(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct request *req = item->request;
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
		request_complete(req, 0, json_pack("{s:I}", "ep", (json_int_t)ep->obj.handle),
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
	item = args ? ep_item_for(ep, true, passive, dispatch) : NULL;
	if (!item) {
		free(args);
		ep_unpublish_unused(ep);
		object_unref(ep);
		request_fail(req, -EBUSY, "the daemon is out of work items; try again");
		return NULL;
	}
	item->data = args;
	*item_out = item;
	*args_out = args;
	return ep;
}

void endpoint_listen(struct rdqd *d, struct request *req, const char *addr, int port, int backlog,
		     bool tied)
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
	args->port = port;
	args->backlog = backlog;
	request_dispatch(req);
	item->request = req;
	ep_post(ep, item);
	object_unref(ep);
}

/* --------------------------------------------------------------- connect */

/* The connection could not be made: answer the connect and drop the endpoint. */
static void connect_failed(struct ep *ep, int status, const char *what)
{
	struct request *req = request_queue_pop(&ep->connect_q);

	log_info("ep %llu: %s failed: %s", (unsigned long long)ep->obj.handle, what,
		 strerror(-status));
	if (req)
		request_fail(req, status, "cannot connect to %s:%d: %s (%s)", ep->addr, ep->port,
			     strerror(-status), what);
	broadcast_ep_event(ep, "ep.error", status);
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

static void activate(struct ep *ep);
static void queue_establish(struct ep *ep);

/* Generic result of a connect step: on failure, give up the connection. */
static void connect_step_done(struct work_item *item, const char *what)
{
	struct rdqd *d = item->ctx;
	struct ep *ep = ep_get(d, item->handle);

	if (item->handle2 && (!ep || item->status < 0)) {
		/* The step made a QP for an endpoint that is gone: discard it on a worker. */
		/* Past the pool's cap too: freeing must not be refused. */
		struct work_item *discard = work_item_get_uncapped(&d->workers);

		if (discard) {
			discard->ctx = d;
			discard->handle2 = item->handle2;
			discard->passive = ep_work_qp_discard;
			work_item_queue(&d->workers, discard);
		}
	}
	if (!ep)
		goto out;
	if (item->status < 0) {
		connect_failed(ep, item->status, what);
	} else if (item->handle2 && ep->state == EP_CONNECTING) {
		ep->qp = item->handle2;
		if (ep->early_event == RDMA_CM_EVENT_CONNECT_RESPONSE)
			queue_establish(ep);
		else if (ep->early_event == RDMA_CM_EVENT_ESTABLISHED)
			activate(ep);
		ep->early_event = -1;
	}
	object_unref(ep);
out:
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
		connect_failed(ep, item->status, "establish");
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
		connect_failed(ep, -EBUSY, "out of work items");
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
		connect_failed(ep, -EBUSY, "out of work items");
		return;
	}
	item->handle2 = ep->qp;
	ep_post(ep, item);
}

/* The QP is ready: start the data path and answer the connect. */
static void activate(struct ep *ep)
{
	struct qp *qp = handle_table_lookup(&ep->d->objects, ep->qp, OBJ_QP);
	struct request *req;

	if (!qp || qp_activate(qp) < 0) {
		object_unref(qp);
		connect_failed(ep, -ENOMEM, "activate");
		return;
	}
	ep->qp_active = qp;
	object_unref(qp); /* qp_activate holds the loop's own reference */
	ep_set_state(ep, EP_CONNECTED);
	req = request_queue_pop(&ep->connect_q);
	if (req)
		request_complete(req, 0,
				 json_pack("{s:I, s:I}", "ep", (json_int_t)ep->obj.handle, "qp",
					   (json_int_t)ep->qp),
				 NULL);
	broadcast_ep_event(ep, "ep.established", 0);
}

/* ---------------------------------------------------------------- accept */

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

static void children_add(struct ep *listener, rdq_handle_t child)
{
	if (listener->nchildren == listener->children_cap) {
		unsigned cap = listener->children_cap ? listener->children_cap * 2 : 8;
		rdq_handle_t *c = realloc(listener->children, cap * sizeof(*c));

		if (!c)
			return; /* the child still works; the listener's destroy just won't find it
				 */
		listener->children = c;
		listener->children_cap = cap;
	}
	listener->children[listener->nchildren++] = child;
}

static void children_remove(struct ep *listener, rdq_handle_t child)
{
	for (unsigned i = 0; i < listener->nchildren; i++) {
		if (listener->children[i] == child) {
			listener->children[i] = listener->children[--listener->nchildren];
			return;
		}
	}
}

static void reject_orphan(struct rdqd *d, struct rdma_cm_id *id)
{
	/* Past the pool's cap too: the connection request must be answered. */
	struct work_item *item = work_item_get_uncapped(&d->workers);

	if (!item) {
		log_err("out of memory: a connection request cannot be rejected");
		return;
	}
	item->ctx = d;
	item->data = id;
	item->passive = ep_work_reject;
	work_item_queue(&d->workers, item);
}

static void connect_request(struct rdqd *d, struct ep *listener, struct rdma_cm_id *new_id)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep;
	int err;

	if (listener->state != EP_LISTENING) {
		reject_orphan(d, new_id);
		return;
	}
	ep = endpoint_new(d, EP_PASSIVE, listener->obj.owner, listener->obj.handle, 0, &err);
	args = ep ? calloc(1, sizeof(*args)) : NULL;
	item = args ? ep_item(ep, ep_work_accept, accept_done) : NULL;
	if (!item) {
		free(args);
		if (ep) {
			ep_unpublish_unused(ep);
			object_unref(ep);
		}
		reject_orphan(d, new_id);
		return;
	}
	/* Set before any worker can know the handle; later events find it by context. */
	ep->id = new_id;
	new_id->context = (void *)(uintptr_t)ep->obj.handle;
	ep_set_state(ep, EP_CONNECTING);
	snprintf(ep->addr, sizeof(ep->addr), "%s", listener->addr);
	children_add(listener, ep->obj.handle);
	item->data = args;
	ep_post(ep, item);
	object_unref(ep);
}

/* ---------------------------------------------------------- send, recv */

void endpoint_send(struct ep *ep, struct request *req, const char *data, size_t len)
{
	int ret;

	RDQ_DISPATCH_ONLY();
	if (ep->state != EP_CONNECTED || !ep->qp_active) {
		request_fail(req, -ENOTCONN, "endpoint %llu is %s%s",
			     (unsigned long long)ep->obj.handle, ep_state_name(ep->state),
			     ep->state == EP_CONNECTED ? " but its QP was destroyed"
						       : ", not connected");
		return;
	}
	if (len == 0 || len > QP_SLOT_SIZE) {
		request_fail(req, -EMSGSIZE, "data must be 1 to %u bytes, not %zu", QP_SLOT_SIZE,
			     len);
		return;
	}
	ret = qp_post_send(ep->qp_active, data, len, req);
	if (ret == -ENOBUFS)
		request_fail(req, ret, "all %u send slots of endpoint %llu are busy; retry",
			     QP_SEND_SLOTS, (unsigned long long)ep->obj.handle);
	else if (ret < 0)
		request_fail(req, ret, "cannot post the send: %s", strerror(-ret));
}

static void recv_deadline(struct request *req)
{
	request_fail(req, -EAGAIN, "no message arrived within %lld ms", (long long)req->timeout_ms);
}

/* Answers waiting receives while messages are buffered. */
static void deliver_messages(struct ep *ep)
{
	while (ep->recv_q.head && ep->qp_active && ep->qp_active->rx_count) {
		struct request *req = request_queue_pop(&ep->recv_q);
		json_t *msg;
		size_t len;

		qp_take_message(ep->qp_active, &msg, &len);
		request_complete(req, 0, msg, NULL);
	}
}

void endpoint_recv(struct ep *ep, struct request *req, int64_t timeout_ms)
{
	json_t *msg;
	size_t len;

	RDQ_DISPATCH_ONLY();
	if (ep->role != EP_ACTIVE) {
		request_fail(req, -EOPNOTSUPP,
			     "endpoint %llu is a %s: it %s, it does not keep messages for ep.recv",
			     (unsigned long long)ep->obj.handle, ep_role_name(ep->role),
			     ep->role == EP_LISTENER ? "has no QP" : "echoes what it receives");
		return;
	}
	if (ep->qp_active && !ep->recv_q.head && qp_take_message(ep->qp_active, &msg, &len)) {
		request_complete(req, 0, msg, NULL);
		return;
	}
	if (ep->state != EP_CONNECTED) {
		request_fail(req, -ENOTCONN, "endpoint %llu is %s and holds no message",
			     (unsigned long long)ep->obj.handle, ep_state_name(ep->state));
		return;
	}
	if (timeout_ms == 0) {
		request_fail(req, -EAGAIN, "no message is waiting");
		return;
	}
	req->ep = ep->obj.handle;
	if (request_enqueue(&ep->recv_q, req, timeout_ms, recv_deadline) < 0)
		request_fail(req, -ENOMEM, "out of memory");
}

void endpoint_message_arrived(struct rdqd *d, rdq_handle_t h)
{
	struct ep *ep = ep_get(d, h);

	if (!ep)
		return;
	deliver_messages(ep);
	object_unref(ep);
}

/* ------------------------------------------------------------ disconnect */

/* The status for a step that found its endpoint or QP gone: ENOENT, unless we know better. */
static int gone_status(const struct request *req)
{
	return req->gone_status ? req->gone_status : -ENOENT;
}

/* Answers the disconnect request (if any) with how the disconnect ended. */
static void answer_disconnect(struct request *req, struct work_item *item)
{
	if (item->status == -ENOENT && req->gone_status)
		request_fail(req, req->gone_status, "disconnected, but the endpoint went away: %s",
			     strerror(-req->gone_status));
	else if (item->status == -ENOENT)
		request_fail(req, -ENOENT,
			     "disconnected, but QP %llu was already destroyed: nothing to move to "
			     "error",
			     (unsigned long long)item->handle2);
	else if (item->status < 0)
		request_fail(req, item->status,
			     "disconnected, but the QP could not be moved to error: %s",
			     strerror(-item->status));
	else if (item->arg == -ETIMEDOUT)
		request_fail(req, -ETIMEDOUT,
			     "the peer never answered the DREQ (rdma_cm timed out); the QP is in "
			     "error");
	else if (item->arg < 0)
		request_fail(req, item->arg, "disconnected with status %s; the QP is in error",
			     rdq_errno_name(-item->arg));
	else
		request_complete(req, 0, json_pack("{s:i}", "status", item->arg), NULL);
}

/* The QP is in error after rdma_cm's DISCONNECTED. */
static void qp_error_done(struct work_item *item)
{
	struct ep *ep = ep_get(item->ctx, item->handle);

	/* No request when the peer started the disconnect: nobody waits for an answer. */
	if (item->request)
		answer_disconnect(item->request, item);
	/* A listener's endpoint lives for its connection only. */
	if (ep && ep->role == EP_PASSIVE && ep->state == EP_DISCONNECTED)
		endpoint_destroy(ep, NULL);
	object_unref(ep);
}

/* The local deadline passed before rdma_cm reported: the QP went to error anyway. */
static void deadline_qp_error_done(struct work_item *item)
{
	struct request *req = item->request;

	request_fail(req, -ETIMEDOUT,
		     "rdma_cm did not report the disconnect within %lld ms; the QP %s",
		     (long long)req->timeout_ms,
		     item->status < 0 ? "could not be moved to error" : "is in error");
}

/* Queues passive (the QP's move to error); req (may be NULL) completes after it in done. */
static void queue_qp_error(struct ep *ep, struct request *req, int status, work_fn passive,
			   work_fn done)
{
	struct work_item *item = ep_item(ep, passive, done);

	if (!item) {
		log_err("ep %llu: out of work items; its QP stays as it is",
			(unsigned long long)ep->obj.handle);
		if (req)
			request_fail(req, -EBUSY, "out of work items");
		return;
	}
	item->handle2 = ep->qp;
	item->arg = status;
	if (req) {
		request_dispatch(req);
		item->request = req;
	}
	ep->qp_error_queued = true;
	ep_post(ep, item);
}

static void disconnect_deadline(struct request *req)
{
	struct ep *ep = ep_get(req->d, req->ep);

	/* Dequeued now: the DISCONNECTED that may still come finds no request. */
	request_dequeue(req);
	if (!ep) {
		request_fail(req, -ENOENT, "the endpoint is gone");
		return;
	}
	queue_qp_error(ep, req, -ETIMEDOUT, ep_work_qp_error, deadline_qp_error_done);
	object_unref(ep);
}

static void disconnect_sent(struct work_item *item)
{
	struct request *req = item->request;
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (req) {
		/* Not waiting: the answer is that the DREQ went out. */
		if (item->status == -ENOENT)
			request_fail(req, gone_status(req),
				     "the endpoint went away before the DREQ was sent (%s)",
				     req->gone_status ? strerror(-req->gone_status) : "destroyed");
		else if (item->status < 0)
			request_fail(req, item->status, "rdma_disconnect failed: %s",
				     strerror(-item->status));
		else
			request_complete(req, 0, json_pack("{s:s}", "state", "disconnecting"),
					 NULL);
	} else if (item->status < 0 && ep) {
		struct request *waiting = request_queue_pop(&ep->disconnect_q);

		if (waiting)
			request_fail(waiting, item->status, "rdma_disconnect failed: %s",
				     strerror(-item->status));
	}
	/* No DREQ went out: the connection is as it was, and may be disconnected again. */
	if (item->status < 0 && ep && ep->state == EP_DISCONNECTING)
		ep_set_state(ep, EP_CONNECTED);
	object_unref(ep);
}

void endpoint_disconnect(struct ep *ep, struct request *req, rdq_handle_t qp, bool wait,
			 int64_t timeout_ms)
{
	struct work_item *item;

	RDQ_DISPATCH_ONLY();
	if (qp && qp != ep->qp) {
		request_fail(req, -EINVAL, "qp %llu is not endpoint %llu's QP",
			     (unsigned long long)qp, (unsigned long long)ep->obj.handle);
		return;
	}
	if (ep->state == EP_DISCONNECTING) {
		request_fail(req, -EALREADY, "endpoint %llu is already disconnecting",
			     (unsigned long long)ep->obj.handle);
		return;
	}
	if (ep->state != EP_CONNECTED) {
		request_fail(req, -ENOTCONN, "endpoint %llu is %s, not connected",
			     (unsigned long long)ep->obj.handle, ep_state_name(ep->state));
		return;
	}
	item = ep_item_for(ep, true, ep_work_disconnect, disconnect_sent);
	if (!item) {
		request_fail(req, -EBUSY, "the daemon is out of work items; try again");
		return;
	}
	req->ep = ep->obj.handle;
	if (wait) {
		if (request_enqueue(&ep->disconnect_q, req, timeout_ms, disconnect_deadline) < 0) {
			work_item_put(&ep->d->workers, item);
			request_fail(req, -ENOMEM, "out of memory");
			return;
		}
	} else {
		request_dispatch(req);
		item->request = req;
	}
	ep_set_state(ep, EP_DISCONNECTING);
	ep_post(ep, item);
}

/* rdma_cm reported DISCONNECTED: a DREP, the peer's DREQ, or our DREQ timing out. */
static void disconnected(struct ep *ep, int status)
{
	bool started_by_peer = ep->state == EP_CONNECTED;
	struct request *req;

	if (ep->state == EP_DISCONNECTED)
		return;
	if (ep->connect_q.head || ep->state == EP_CONNECTING) {
		connect_failed(ep, -ECONNRESET, "disconnected while connecting");
		return;
	}
	ep_set_state(ep, EP_DISCONNECTED);
	ep->disconnect_status = status;
	/* Dequeued from here on: it can no longer be cancelled, only completed. */
	req = request_queue_pop(&ep->disconnect_q);
	request_queue_fail_all(&ep->recv_q, -ECONNRESET, "the connection was disconnected");
	broadcast_ep_event(ep, "ep.disconnected", status);
	if (!ep->qp_error_queued) {
		queue_qp_error(ep, req, status,
			       started_by_peer ? ep_work_answer_dreq : ep_work_qp_error,
			       qp_error_done);
		return;
	}
	/*
	 * The local deadline already moved the QP to error (and answered its
	 * request; no other disconnect can be waiting, they get EALREADY).
	 */
	if (req)
		request_fail(req, -EALREADY, "the QP was already moved to error");
	if (ep->role == EP_PASSIVE)
		endpoint_destroy(ep, NULL);
}

/*
 * The endpoint is going for a reason a worker step that looks it up cannot
 * see (a device removal): requests that work items carry for it will answer
 * with that reason instead of a plain ENOENT.
 */
static bool mark_gone(struct request *req, void *arg)
{
	struct ep *ep = arg;

	if (req->ep == ep->obj.handle && req->state == REQ_DISPATCHED)
		req->gone_status = ep->destroy_status;
	return true;
}

/* ----------------------------------------------------------- destroy */

static void teardown_done(struct work_item *item)
{
	struct ep_teardown *t = item->data;

	if (item->request)
		request_complete(item->request, 0, NULL, NULL);
	broadcast_ep_event(t->ep, "ep.destroyed", 0);
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
	if (!handle_table_remove(&d->objects, ep->obj.handle)) {
		ep_teardown_item_put(d, item);
		if (req)
			request_fail(req, -ENOENT, "endpoint already gone");
		return;
	}
	t = item->data;
	t->ep = ep; /* the table's reference, now the teardown's */
	if (ep->destroy_status != -ECANCELED)
		control_foreach_request(d, mark_gone, ep);

	request_queue_fail_all(&ep->connect_q, ep->destroy_status, ep->destroy_message);
	request_queue_fail_all(&ep->disconnect_q, ep->destroy_status, ep->destroy_message);
	request_queue_fail_all(&ep->recv_q, ep->destroy_status, ep->destroy_message);

	/* Children first, as in KMDF's object tree. */
	while (ep->nchildren) {
		rdq_handle_t h = ep->children[--ep->nchildren];
		struct ep *child = ep_get(d, h);

		if (child) {
			child->destroy_status = ep->destroy_status;
			child->destroy_message = ep->destroy_message;
			endpoint_destroy(child, NULL);
			object_unref(child);
		}
	}
	if (ep->parent) {
		struct ep *parent = ep_get(d, ep->parent);

		if (parent) {
			children_remove(parent, ep->obj.handle);
			object_unref(parent);
		}
	}
	if (ep->qp_active) {
		qp_deactivate(ep->qp_active, ep->destroy_status);
		ep->qp_active = NULL;
	}
	if (ep->qp)
		t->qp = handle_table_remove(&d->objects, ep->qp); /* the table's reference */
	if (req) {
		request_dispatch(req);
		item->request = req;
	}
	ep_post(ep, item);
}

static void qp_destroy_done(struct work_item *item)
{
	struct ep_teardown *t = item->data;
	struct qp *qp = t->qp;
	json_t *event = rdq_event_new("qp.destroyed");

	if (item->request)
		request_complete(item->request, 0, NULL, NULL);
	json_object_set_new(event, "qp", json_integer((json_int_t)qp->obj.handle));
	json_object_set_new(event, "ep", json_integer((json_int_t)item->handle));
	control_broadcast(item->ctx, qp->obj.owner, event);
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
	qp = ep->qp ? handle_table_remove(&d->objects, ep->qp) : NULL;
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
	request_dispatch(req);
	item->request = req;
	ep_post(ep, item);
}

/* Keeps the endpoints tied to the connection arg points to (0: every endpoint). */
static bool tied_to(void *object, void *arg)
{
	rdq_handle_t conn = *(rdq_handle_t *)arg;

	return !conn || ((struct ep *)object)->tied_conn == conn;
}

static void destroy_collected(struct rdqd *d, rdq_handle_t conn)
{
	unsigned count;
	/* Collected first: destroying changes the table, which must not be locked then. */
	rdq_handle_t *handles = handle_table_collect(&d->objects, OBJ_EP, tied_to, &conn, &count);

	for (unsigned i = 0; i < count; i++) {
		struct ep *ep = ep_get(d, handles[i]);

		if (ep) {
			endpoint_destroy(ep, NULL);
			object_unref(ep);
		}
	}
	free(handles);
}

void endpoint_destroy_tied(struct rdqd *d, rdq_handle_t conn)
{
	destroy_collected(d, conn);
}

void endpoint_destroy_all(struct rdqd *d)
{
	destroy_collected(d, 0);
}

/*
 * The endpoint's RDMA device is going away. The kernel cannot let it go
 * while an rdma_cm_id or verbs object of ours is on it, so the endpoint is
 * torn down now, on a worker; what waits on it completes with ENODEV.
 */
static void device_removed(struct ep *ep)
{
	log_warn("ep %llu: its RDMA device was removed; tearing it down",
		 (unsigned long long)ep->obj.handle);
	ep->d->counters.device_removals++;
	broadcast_ep_event(ep, "ep.error", -ENODEV);
	ep->destroy_status = -ENODEV;
	ep->destroy_message = "the RDMA device was removed";
	endpoint_destroy(ep, NULL);
}

/* ------------------------------------------------------------ rdma_cm */

void endpoint_cm_event(struct rdqd *d, rdq_handle_t h, int type, int status,
		       struct rdma_cm_id *new_id)
{
	struct ep *ep = ep_get(d, h);

	RDQ_DISPATCH_ONLY();
	if (!ep) {
		/* An event for an endpoint destroyed meanwhile. */
		d->counters.cm_stale++;
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST)
			reject_orphan(d, new_id);
		return;
	}
	switch (type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (ep->state == EP_RESOLVING)
			connect_next(ep, ep_work_resolve_route, resolve_route_done);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		if (ep->state == EP_RESOLVING) {
			ep_set_state(ep, EP_CONNECTING);
			connect_next(ep, ep_work_connect, connect_sent);
		}
		break;
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		/* Our QP is not rdma_cm's: we make it ready and send the RTU ourselves. */
		if (ep->state == EP_CONNECTING && !ep->qp)
			ep->early_event = type; /* the connect step is not back yet */
		else if (ep->state == EP_CONNECTING)
			queue_establish(ep);
		break;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		connect_request(d, ep, new_id);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (ep->state == EP_CONNECTING && !ep->qp)
			ep->early_event = type; /* the accept step is not back yet */
		else if (ep->state == EP_CONNECTING)
			activate(ep);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		if (ep->state == EP_RESOLVING || ep->state == EP_CONNECTING)
			connect_failed(ep, status < 0 ? status : -EHOSTUNREACH,
				       rdma_event_str(type));
		break;
	case RDMA_CM_EVENT_REJECTED:
		if (ep->state == EP_RESOLVING || ep->state == EP_CONNECTING)
			connect_failed(ep, -ECONNREFUSED, "the peer rejected the connection");
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		disconnected(ep, status);
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		device_removed(ep);
		break;
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		/* The QP may be reused now; ours is torn down with the endpoint anyway. */
	case RDMA_CM_EVENT_ADDR_CHANGE:
		/* Bonding failover and the like: the connection goes on. */
	case RDMA_CM_EVENT_MULTICAST_JOIN:
	case RDMA_CM_EVENT_MULTICAST_ERROR:
		/* rdq joins no multicast groups. */
	default:
		break;
	}
	object_unref(ep);
}

/* -------------------------------------------------------------- show */

json_t *endpoint_describe(struct ep *ep)
{
	char local[80], remote[80];
	struct qp *qp = ep->qp_active;

	format_addr(&ep->local, local, sizeof(local));
	format_addr(&ep->remote, remote, sizeof(remote));
	return json_pack(
		"{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:i, s:b, s:I, s:I, s:I}", "ep",
		(json_int_t)ep->obj.handle, "qp", (json_int_t)ep->qp, "role",
		ep_role_name(ep->role), "state", ep_state_name(ep->state), "local", local, "remote",
		remote, "parent", (json_int_t)ep->parent, "owner", (int)ep->obj.owner, "tied",
		ep->tied_conn != 0, "sent", (json_int_t)(qp ? qp->sent : 0), "received",
		(json_int_t)(qp ? qp->received : 0), "echoed", (json_int_t)(qp ? qp->echoed : 0));
}
