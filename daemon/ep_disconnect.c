/* SPDX-License-Identifier: MIT */
/*
 * ep.disconnect, after WinVerbs' disconnect: a worker sends the DREQ; the
 * request waits, cancelable, on the endpoint; rdma_cm's DISCONNECTED (a DREP,
 * the peer's DREQ, or our DREQ timing out) or the local deadline dequeues it
 * into a work item, and a worker finds the endpoint and QP again by handle,
 * moves the QP to error, and the request completes on the loop.
 */
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <rdma/rdma_cma.h>
#include <string.h>

#include "encode.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/errname.h"
#include "qp.h"
#include "rdqd.h"
#include "work.h"

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
			     (unsigned long long)work_of(item)->qp);
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
		request_complete(req, 0, RESULT(RESULT_DISCONNECTED, .disconnected = item->arg),
				 NULL);
}

/* The QP is in error after rdma_cm's DISCONNECTED. */
static void qp_error_done(struct work_item *item)
{
	struct ep *ep = ep_get(item->ctx, item->handle);

	/* No request when the peer started the disconnect: nobody waits for an answer. */
	if (work_of(item)->request)
		answer_disconnect(work_of(item)->request, item);
	/*
	 * An echoing listener's endpoint lives for its connection only; a served
	 * one stays, with the messages it holds, until its client destroys it.
	 */
	if (ep && ep->role == EP_ACCEPTED && !ep->serve && ep->state == EP_DISCONNECTED)
		endpoint_destroy(ep, NULL);
	object_unref(ep);
}

/* The local deadline passed before rdma_cm reported: the QP went to error anyway. */
static void deadline_qp_error_done(struct work_item *item)
{
	struct request *req = work_of(item)->request;

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
		log_err("ep %llu: out of memory for a work item; its QP stays as it is",
			(unsigned long long)ep->obj.handle);
		if (req)
			request_fail(req, -ENOMEM, "out of memory for a work item");
		return;
	}
	work_of(item)->qp = ep->qp;
	item->arg = status;
	if (req) {
		request_set_in_flight(req);
		work_of(item)->request = req;
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
	if (ep->direct) {
		ep_direct_flush(ep, NULL, -ETIMEDOUT);
		request_fail(req, -ETIMEDOUT,
			     "rdma_cm did not report the disconnect within %lld ms; the client was "
			     "told to flush its QP",
			     (long long)req->timeout_ms);
		object_unref(ep);
		return;
	}
	queue_qp_error(ep, req, -ETIMEDOUT, ep_work_qp_error, deadline_qp_error_done);
	object_unref(ep);
}

static void disconnect_sent(struct work_item *item)
{
	struct request *req = work_of(item)->request;
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
			request_complete(req, 0, RESULT(RESULT_DISCONNECTING), NULL);
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
	int err;

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
	item = ep_item_for(ep, true, ep_work_disconnect, disconnect_sent, &err);
	if (!item) {
		request_fail_no_work_item(req, err);
		return;
	}
	req->ep = ep->obj.handle; /* its deadline finds the endpoint by it */
	if (wait) {
		if (request_enqueue(&ep->disconnect_q, req, timeout_ms, disconnect_deadline) < 0) {
			work_item_put(&ep->d->workers, item);
			request_fail(req, -ENOMEM, "out of memory");
			return;
		}
	} else {
		request_set_in_flight(req);
		work_of(item)->request = req;
	}
	ep_set_state(ep, EP_DISCONNECTING);
	ep_post(ep, item);
}

/* rdma_cm reported DISCONNECTED: a DREP, the peer's DREQ, or our DREQ timing out. */
void ep_disconnected(struct ep *ep, int status)
{
	bool started_by_peer = ep->state == EP_CONNECTED;
	struct request *req;

	if (ep->state == EP_DISCONNECTED)
		return;
	if (ep->connect_q.head || ep_setting_up(ep)) {
		ep_connect_failed(ep, -ECONNRESET, "disconnected while connecting");
		return;
	}
	ep_set_state(ep, EP_DISCONNECTED);
	ep->disconnect_status = status;
	/* Dequeued from here on: it can no longer be cancelled, only completed. */
	req = request_queue_pop(&ep->disconnect_q);
	request_queue_fail_all(&ep->recv_q, -ECONNRESET, "the connection was disconnected");
	ep_broadcast_event(ep, EP_EVENT_DISCONNECTED, status);
	if (ep->direct) {
		/* The QP is the client's: it moves it to error, and says so. */
		ep_direct_flush(ep, req, status);
		return;
	}
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
	if (ep->role == EP_ACCEPTED && !ep->serve)
		endpoint_destroy(ep, NULL);
}

void ep_transport_failed(struct ep *ep, int status, const char *why)
{
	struct work_item *item;

	RDQ_DISPATCH_ONLY();
	log_warn("ep %llu: %s", (unsigned long long)ep->obj.handle, why);
	ep->d->counters.transport_failed++;
	if (!ep->failed_status) {
		ep->failed_status = status;
		snprintf(ep->failed_why, sizeof(ep->failed_why), "%s", why);
	}
	ep_broadcast_error(ep, status, why);
	request_queue_fail_all(&ep->recv_q, status, why);
	/* Already disconnecting or disconnected: its DREQ is out, or the peer's came. */
	if (ep->state != EP_CONNECTED)
		return;
	item = ep_item(ep, ep_work_disconnect, disconnect_sent);
	if (!item)
		return; /* it stays connected, broken: watchers were told, sends fail */
	ep_set_state(ep, EP_DISCONNECTING);
	ep_post(ep, item);
}

void ep_work_disconnect(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	/* Sends the DREQ (or the DREP, if the peer's DREQ came first). */
	item->status = rdma_disconnect(ep->id) ? -errno : 0;
	ep_step_leave(ep);
}

/* Moves the item's QP to error; the caller holds ep->lock. */
static void qp_error_locked(struct work_item *item)
{
	struct qp *qp = handle_table_lookup(&((struct rdqd *)item->ctx)->objects, work_of(item)->qp,
					    OBJ_QP);

	if (!qp) {
		item->status = -ENOENT;
		return;
	}
	item->status = qp_to_error(qp);
	object_unref(qp);
}

void ep_work_qp_error(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	qp_error_locked(item);
	ep_step_leave(ep);
}

void ep_work_answer_dreq(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	/*
	 * The peer's DREQ waits for our DREP, which rdma_disconnect sends: without
	 * it the peer only learns of the disconnect when its DREQ times out.
	 */
	rdma_disconnect(ep->id);
	qp_error_locked(item);
	ep_step_leave(ep);
}
