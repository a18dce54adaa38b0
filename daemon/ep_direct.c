/* SPDX-License-Identifier: MIT */
/*
 * Direct endpoints: rdqd runs the connection's life (its rdma_cm_id, the
 * handshake, admission, the disconnect and its deadline, device removal)
 * while the QP belongs to the client, which drives its own data path. The
 * id has no QP, so librdmacm leaves the QP's moves to us: rdqd asks rdma_cm
 * for each step's attributes (rdma_init_qp_attr) and hands them to the
 * client, whose ibv_modify_qp applies them.
 *
 *   active:  ep.resolve   address and route; the reply names the device and port
 *                         and gives the INIT attributes (the client's QP takes
 *                         them, and its receives, before it is named)
 *            ep.attach    the client's QP, checked to be its own; rdma_connect
 *                         with its number; answered at CONNECT_RESPONSE with
 *                         the RTR and RTS attributes
 *            ep.establish the QP is at RTS: rdma_establish sends the RTU
 *   passive: ep.request   (event) a peer's connection request on a direct
 *                         listener, with the INIT attributes
 *            ep.attach    the client's QP, checked; answered at once with the
 *                         RTR and RTS attributes
 *            ep.establish the QP is at RTS: rdma_accept; answered at ESTABLISHED
 *
 * A passive endpoint its client does not establish in the listener's
 * timeout_ms is rejected, and the peer reads why. Each loop half is here
 * with its worker half.
 */
#include "endpoint.h"

#include <errno.h>
#include <event2/event.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "clock.h"
#include "control.h"
#include "encode.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/frame.h"
#include "qp.h"
#include "qp_owner.h"
#include "rdqd.h"
#include "work.h"

/* What a direct step carries between the loop and its worker. */
struct direct_args {
	uint32_t qp_num;
	pid_t pid;   /* the client's, from SO_PEERCRED */
	pid_t owner; /* the QP's creator, as RDMA netlink names it */
	struct qp_steps steps;
	struct sockaddr_storage local, remote;
};

static bool is_passive(const struct ep *ep)
{
	return ep->role == EP_ACCEPTED;
}

/*
 * Checks that req may take the next setup step of ep (in state): a direct
 * endpoint of req's own connection, in that state, with no step under way.
 * Fails req and returns false otherwise.
 */
static bool step_allowed(struct ep *ep, struct request *req, enum ep_state state, const char *op)
{
	if (!ep->direct) {
		request_fail(req, -EINVAL, "endpoint %llu is not direct: rdqd owns its QP",
			     (unsigned long long)ep->obj.handle);
		return false;
	}
	if (ep->tied_conn != req->conn) {
		request_fail(req, -EPERM, "endpoint %llu belongs to another connection",
			     (unsigned long long)ep->obj.handle);
		return false;
	}
	if (ep->reject_reason) {
		request_fail(req, -ECONNREFUSED, "endpoint %llu: its peer was refused (%s)",
			     (unsigned long long)ep->obj.handle, ep->reject_reason);
		return false;
	}
	if (ep->connect_q.head || ep->direct_step_out) {
		request_fail(req, -EBUSY, "endpoint %llu: a step of its setup is under way",
			     (unsigned long long)ep->obj.handle);
		return false;
	}
	if (ep->state != state) {
		request_fail(req, -EINVAL, "endpoint %llu is %s; %s needs it %s",
			     (unsigned long long)ep->obj.handle, ep_state_name(ep->state), op,
			     ep_state_name(state));
		return false;
	}
	return true;
}

/* Queues a worker step of req's; req waits on connect_q meanwhile. */
static void queue_step(struct ep *ep, struct request *req, int64_t timeout_ms, work_fn passive,
		       work_fn dispatch, struct direct_args *args)
{
	struct work_item *item;
	int err = -ENOMEM;

	item = args ? ep_item_for(ep, true, passive, dispatch, &err) : NULL;
	if (!item) {
		free(args);
		request_fail_no_work_item(req, err);
		return;
	}
	req->ep = ep->obj.handle;
	request_on_cancel(req, ep_setup_cancelled);
	if (request_enqueue(&ep->connect_q, req, timeout_ms, ep_setup_deadline) < 0) {
		free(args);
		work_item_put(&ep->d->workers, item);
		request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	item->data = args;
	ep->direct_step_out = true;
	ep_post(ep, item);
}

/* ----------------------------------------------- the INIT step: ep.resolve */

/*
 * PASSIVE: the INIT step's attributes, which the client applies before it
 * names its QP: a QP with its port is one RDMA netlink finds by number
 * (qp_owner.c), and one that takes receives before the peer can send.
 */
void ep_work_direct_init(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	a->steps.n = 1;
	item->status = qp_attr_from_cm(ep->id, IBV_QPS_INIT, &a->steps.attr[0], &a->steps.mask[0]);
	ep_step_leave(ep);
}

/* Posts the INIT step with dispatch done; false when no work item can be had. */
static bool queue_init(struct ep *ep, work_fn done)
{
	struct direct_args *a = calloc(1, sizeof(*a));
	struct work_item *item = a ? ep_item(ep, ep_work_direct_init, done) : NULL;

	if (!item) {
		free(a);
		return false;
	}
	item->data = a;
	ep_post(ep, item);
	return true;
}

static void resolve_init_done(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct ep *ep = ep_get(item->ctx, item->handle);
	struct request *req;

	if (ep && item->status < 0) {
		ep_connect_failed(ep, item->status, "QP attributes");
	} else if (ep && ep->state == EP_RESOLVING) {
		ep_set_state(ep, EP_RESOLVED);
		req = request_queue_pop(&ep->connect_q);
		if (req)
			request_complete(
				req, 0,
				RESULT(RESULT_RESOLVED, .resolved = {ep->obj.handle, ep->device,
								     ep->port_num, &a->steps}),
				NULL);
	}
	object_unref(ep);
	free(a);
}

void ep_direct_resolved(struct ep *ep)
{
	if (!queue_init(ep, resolve_init_done))
		ep_connect_failed(ep, -ENOMEM, "out of memory for a work item");
}

/* ---------------------------------------------------------------- ep.attach */

static void answer_attach(struct ep *ep, const struct direct_args *a)
{
	struct request *req = request_queue_pop(&ep->connect_q);

	ep_set_state(ep, EP_READYING);
	if (req)
		request_complete(req, 0,
				 RESULT(RESULT_ATTACHED,
					.attached = {ep->obj.handle, ep->qp_num, &a->steps}),
				 NULL);
}

/* PASSIVE: the RTR and RTS steps' attributes for id's connection. */
static int steps_from_cm(struct rdma_cm_id *id, struct qp_steps *s)
{
	static const enum ibv_qp_state order[QP_STEPS_MAX] = {IBV_QPS_RTR, IBV_QPS_RTS};
	int ret = 0;

	RDQ_PASSIVE_ONLY();
	for (s->n = 0; s->n < QP_STEPS_MAX && ret == 0; s->n++)
		ret = qp_attr_from_cm(id, order[s->n], &s->attr[s->n], &s->mask[s->n]);
	return ret;
}

static void steps_done(struct work_item *item)
{
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (ep && item->status < 0)
		ep_connect_failed(ep, item->status, "QP attributes");
	else if (ep && ep->state == EP_CONNECTING)
		answer_attach(ep, item->data);
	object_unref(ep);
	free(item->data);
}

void ep_work_direct_steps(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	item->status = steps_from_cm(ep->id, &a->steps);
	ep_step_leave(ep);
}

/* Active: the peer accepted; the client's QP needs its attributes before the RTU. */
static void queue_steps(struct ep *ep)
{
	struct direct_args *a = calloc(1, sizeof(*a));
	struct work_item *item = a ? ep_item(ep, ep_work_direct_steps, steps_done) : NULL;

	if (!item) {
		free(a);
		ep_connect_failed(ep, -ENOMEM, "out of memory for a work item");
		return;
	}
	item->data = a;
	ep_post(ep, item);
}

static void attach_done(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct ep *ep = ep_get(item->ctx, item->handle);
	struct request *req;

	if (ep)
		ep->direct_step_out = false;
	if (!ep || ep->state != EP_RESOLVED)
		goto out;
	if (item->status == -EPERM || item->status == -ENOENT) {
		/* Nothing was connected: the client may attach a QP of its own. */
		req = request_queue_pop(&ep->connect_q);
		if (req && item->status == -EPERM && !a->owner)
			request_fail(req, -EPERM,
				     "QP %u on %s is not this client's (no process owns it)",
				     a->qp_num, ep->device);
		else if (req && item->status == -EPERM)
			request_fail(req, -EPERM,
				     "QP %u on %s is not this client's (made by pid %d, not %d)",
				     a->qp_num, ep->device, (int)a->owner, (int)a->pid);
		else if (req)
			request_fail(req, -ENOENT, "no QP %u on %s", a->qp_num, ep->device);
		goto out;
	}
	if (item->status < 0) {
		ep_connect_failed(ep, item->status, is_passive(ep) ? "attach" : "connect");
		goto out;
	}
	ep->qp_num = a->qp_num;
	ep->local = a->local;
	ep->remote = a->remote;
	if (is_passive(ep)) {
		ep_set_state(ep, EP_CONNECTING);
		answer_attach(ep, a);
		goto out;
	}
	ep_set_state(ep, EP_CONNECTING);
	if (ep->early_event == RDMA_CM_EVENT_CONNECT_RESPONSE)
		queue_steps(ep);
	ep->early_event = -1;
out:
	object_unref(ep);
	free(a);
}

/*
 * PASSIVE: the process whose thread tid is (its Tgid), or -1. The kernel
 * records the thread that made a QP: a client that made it on a thread of
 * its own is still its owner. A thread gone since (its QP stays with the
 * process) is not found, and the check fails closed.
 */
static pid_t process_of(pid_t tid)
{
	char path[40], line[128];
	pid_t tgid = -1;
	FILE *f;

	RDQ_PASSIVE_ONLY();
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

void ep_work_direct_attach(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct rdma_conn_param param;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	/* The QP must be the asking process's own: a number alone proves nothing. */
	ret = qp_owner_pid(ep->device, a->qp_num, &a->owner);
	if (ret == 0 && a->owner != a->pid && process_of(a->owner) != a->pid)
		ret = -EPERM;
	/* A QP no process owns (the kernel's, or its creator exited) is not this client's either.
	 */
	if (ret == -ESRCH) {
		a->owner = 0;
		ret = -EPERM;
	}
	if (ret == 0 && ep->role == EP_ACCEPTED) {
		ret = steps_from_cm(ep->id, &a->steps);
	} else if (ret == 0) {
		ep_conn_param_init(&param, a->qp_num);
		if (rdma_connect(ep->id, &param))
			ret = -errno;
	}
	if (ret == 0) {
		struct ep_work_args addrs;

		ep_save_addrs(ep->id, &addrs);
		a->local = addrs.local;
		a->remote = addrs.remote;
	}
	item->status = ret;
	ep_step_leave(ep);
}

void endpoint_attach(struct ep *ep, struct request *req, uint32_t qp_num, int64_t timeout_ms)
{
	struct direct_args *a;

	RDQ_DISPATCH_ONLY();
	if (!step_allowed(ep, req, EP_RESOLVED, "ep.attach"))
		return;
	a = calloc(1, sizeof(*a));
	if (a) {
		a->qp_num = qp_num;
		a->pid = req->pid;
	}
	queue_step(ep, req, timeout_ms, ep_work_direct_attach, attach_done, a);
}

/* ------------------------------------------------------------- ep.establish */

/* The connection is up: the client's QP carries the data from here on. */
static void direct_activate(struct ep *ep)
{
	struct request *req = request_queue_pop(&ep->connect_q);

	ep_stop_setup_timer(ep);
	ep_set_state(ep, EP_CONNECTED);
	if (req)
		request_complete(req, 0, RESULT(RESULT_ESTABLISHED, .established = ep->obj.handle),
				 NULL);
	ep_broadcast_event(ep, EP_EVENT_ESTABLISHED, 0);
}

static void establish_done(struct work_item *item)
{
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (ep)
		ep->direct_step_out = false;
	if (!ep || ep->state != EP_READYING)
		goto out;
	if (item->status < 0) {
		ep_connect_failed(ep, item->status, is_passive(ep) ? "accept" : "establish");
	} else if (!is_passive(ep)) {
		direct_activate(ep);
	} else {
		/* Accepted: the peer's RTU (ESTABLISHED) completes it. */
		ep_set_state(ep, EP_CONNECTING);
		if (ep->early_event == RDMA_CM_EVENT_ESTABLISHED)
			direct_activate(ep);
		ep->early_event = -1;
	}
out:
	object_unref(ep);
	free(item->data);
}

void ep_work_direct_establish(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct rdma_conn_param param;
	struct ep *ep;
	int ret = 0;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	if (ep->role == EP_ACCEPTED) {
		ep_conn_param_init(&param, a->qp_num);
		if (rdma_accept(ep->id, &param))
			ret = -errno;
	} else if (rdma_establish(ep->id)) {
		ret = -errno;
	}
	item->status = ret;
	ep_step_leave(ep);
}

void endpoint_establish(struct ep *ep, struct request *req, int64_t timeout_ms)
{
	struct direct_args *a;

	RDQ_DISPATCH_ONLY();
	if (!step_allowed(ep, req, EP_READYING, "ep.establish"))
		return;
	a = calloc(1, sizeof(*a));
	if (a)
		a->qp_num = ep->qp_num;
	queue_step(ep, req, timeout_ms, ep_work_direct_establish, establish_done, a);
}

/* -------------------------------------------------- rdma_cm's events, direct */

void ep_direct_connect_response(struct ep *ep)
{
	if (ep->state == EP_RESOLVED)
		ep->early_event = RDMA_CM_EVENT_CONNECT_RESPONSE; /* ep.attach's step is not back */
	else if (ep->state == EP_CONNECTING && !is_passive(ep))
		queue_steps(ep);
}

void ep_direct_established(struct ep *ep)
{
	if (ep->state == EP_READYING)
		ep->early_event = RDMA_CM_EVENT_ESTABLISHED; /* the accept step is not back */
	else if (ep->state == EP_CONNECTING && is_passive(ep))
		direct_activate(ep);
}

/* ------------------------------------------------- the disconnect: a flush */

static void flush_deadline(struct request *req)
{
	request_dequeue(req);
	request_fail(req, -ETIMEDOUT,
		     "disconnected, but the client that owns the QP did not confirm its flush "
		     "within the request's deadline (%lld ms)",
		     (long long)(now_ms() - req->start_ms));
}

void ep_direct_flush(struct ep *ep, struct request *req, int status)
{
	int64_t left;
	int ret;

	RDQ_DISPATCH_ONLY();
	ret = ep_tell_flush(ep, status);
	if (!req)
		return;
	if (ret < 0) {
		request_fail(
			req, -ECOMM,
			"disconnected, but the client that owns the QP cannot be told to flush "
			"it (%s)",
			strerror(-ret));
		return;
	}
	/* What is left of the request's own deadline covers the client's answer. */
	left = req->timeout_ms - (int64_t)(now_ms() - req->start_ms);
	if (request_enqueue(&ep->flush_q, req, left > 0 ? left : 1, flush_deadline) < 0)
		request_fail(req, -ENOMEM, "out of memory");
}

void endpoint_flushed(struct ep *ep, struct request *req)
{
	struct request *waiting;

	RDQ_DISPATCH_ONLY();
	if (!ep->direct || ep->tied_conn != req->conn) {
		request_fail(req, -EINVAL, "endpoint %llu's QP is not this connection's",
			     (unsigned long long)ep->obj.handle);
		return;
	}
	while ((waiting = request_queue_pop(&ep->flush_q))) {
		if (ep->disconnect_status == -ETIMEDOUT)
			request_fail(waiting, -ETIMEDOUT,
				     "the peer never answered the DREQ (rdma_cm timed out); the "
				     "client's QP is in error");
		else if (ep->disconnect_status < 0)
			request_fail(waiting, ep->disconnect_status,
				     "disconnected with status %s; the client's QP is in error",
				     strerror(-ep->disconnect_status));
		else
			request_complete(
				waiting, 0,
				RESULT(RESULT_DISCONNECTED, .disconnected = ep->disconnect_status),
				NULL);
	}
	request_complete(req, 0, NULL, NULL);
}

/* -------------------------------------------- a direct listener's requests */

/*
 * A passive endpoint whose peer is refused: the peer is told why in the
 * reject's private data (the item carries the reason, a string constant),
 * then the endpoint goes.
 */
static void refused_done(struct work_item *item)
{
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (ep) {
		endpoint_destroy(ep, NULL);
		object_unref(ep);
	}
}

void ep_work_direct_reject(struct work_item *item)
{
	const char *reason = item->data;
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	item->data = NULL; /* a string constant: nothing to free */
	ep = ep_step_enter(item);
	if (!ep)
		return;
	item->status = rdma_reject(ep->id, reason, (uint8_t)(strlen(reason) + 1)) ? -errno : 0;
	ep->reject_sent = true;
	ep_step_leave(ep);
}

static void refuse(struct ep *ep, enum admission why, const char *reason)
{
	struct work_item *item;

	/* Refused once: its time ran out while a step was out, which then failed too. */
	if (ep->reject_reason)
		return;
	item = ep_item(ep, ep_work_direct_reject, refused_done);
	ep_stop_setup_timer(ep);
	admission_rejected(ep->d, why, reason);
	request_queue_fail_all(&ep->connect_q, -ETIMEDOUT,
			       "the connection was not established in the listener's timeout_ms");
	if (!item) {
		endpoint_destroy(ep, NULL);
		return;
	}
	item->data = (void *)reason;
	ep->reject_reason = reason;
	ep_post(ep, item);
}

static void setup_expired(evutil_socket_t fd, short what, void *arg)
{
	struct ep *ep = arg; /* the timer is the endpoint's, freed on the loop before it goes */

	(void)fd;
	(void)what;
	RDQ_DISPATCH_ONLY();
	log_info("ep %llu: its client did not establish it within %lld ms; rejected",
		 (unsigned long long)ep->obj.handle, (long long)ep->timeout_ms);
	refuse(ep, REFUSE_NO_SERVER, "rdq: the listener's client gave no QP in time");
}

/* The INIT step is back: the listener's client is told of the request, with it. */
static void request_init_done(struct work_item *item)
{
	struct direct_args *a = item->data;
	struct ep *ep = ep_get(item->ctx, item->handle);
	char local[80], remote[80];
	struct event_view e = {.kind = EVENT_EP_REQUEST,
			       .ep = item->handle,
			       .peer = remote,
			       .local = local,
			       .init = &a->steps};

	if (!ep)
		goto out;
	if (item->status < 0) {
		refuse(ep, REFUSE_OTHER, "rdq: the connection could not be accepted");
		goto out;
	}
	e.listener = ep->parent;
	e.device = ep->device;
	e.port = ep->port_num;
	ep_format_addr(&ep->local, local, sizeof(local));
	ep_format_addr(&ep->remote, remote, sizeof(remote));
	if (control_announce(ep->d, ep->tied_conn,
			     encode_event(control_body(), RDQ_MAX_MESSAGE, &e)) < 0) {
		ep->d->counters.net_unannounced++;
		refuse(ep, REFUSE_NO_SERVER, "rdq: the listener's client cannot be told");
	}
out:
	object_unref(ep);
	free(a);
}

/*
 * A new passive direct endpoint ep of listener, holding new_id: its clock
 * starts, and the INIT step is made for the request's announcement. Returns
 * false (and the caller rejects the peer) if neither can start.
 */
bool ep_direct_request(struct ep *listener, struct ep *ep, struct rdma_cm_id *new_id)
{
	struct timeval tv = {.tv_sec = listener->timeout_ms / 1000,
			     .tv_usec = (listener->timeout_ms % 1000) * 1000};

	ep_id_device(new_id, ep->device, sizeof(ep->device), &ep->port_num);
	ep->timeout_ms = listener->timeout_ms;
	memcpy(&ep->local, rdma_get_local_addr(new_id), sizeof(struct sockaddr_in6));
	memcpy(&ep->remote, rdma_get_peer_addr(new_id), sizeof(struct sockaddr_in6));
	ep->setup_timer = evtimer_new(ep->d->base, setup_expired, ep);
	if (!ep->setup_timer || evtimer_add(ep->setup_timer, &tv) < 0)
		return false;
	ep_set_state(ep, EP_RESOLVED);
	return queue_init(ep, request_init_done);
}
