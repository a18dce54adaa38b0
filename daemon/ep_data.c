/* SPDX-License-Identifier: MIT */
/*
 * Messages: ep.send posts to the QP at once (the loop owns the data path);
 * ep.recv answers from the messages that arrived, or waits, cancelable, on
 * the endpoint until one arrives, its deadline passes, or the peer
 * disconnects.
 */
#include "endpoint.h"

#include <errno.h>
#include <string.h>

#include "endpoint_internal.h"
#include "engine/level.h"
#include "qp.h"

/*
 * A send that did not complete in time: across a dead link the hardware may
 * retry for long, so the client is answered now. The slot is kept until the
 * hardware lets it go; the bytes may still arrive.
 */
static void send_deadline(struct request *req)
{
	struct ep *ep = ep_get(req->d, req->ep);

	/* The QP is still active: its deactivation would have completed the send. */
	if (ep && ep->qp_active)
		qp_abandon_send(ep->qp_active, req);
	object_unref(ep);
	request_fail(req, -ETIMEDOUT,
		     "the send did not complete within %lld ms: the peer may be unreachable "
		     "(the bytes may still arrive)",
		     (long long)req->timeout_ms);
}

void endpoint_send(struct ep *ep, struct request *req, const char *data, size_t len,
		   int64_t timeout_ms)
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
	if (ep->qp_active->failed) {
		request_fail(req, ep->qp_active->fail_status,
			     "endpoint %llu's connection failed: %s",
			     (unsigned long long)ep->obj.handle, ep->qp_active->fail_why);
		return;
	}
	if (len == 0 || len > ep->d->opt.max_message) {
		request_fail(req, -EMSGSIZE, "data must be 1 to %u bytes (--max-message), not %zu",
			     ep->d->opt.max_message, len);
		return;
	}
	ret = qp_post_send(ep->qp_active, data, len, req);
	/* In flight now; without memory for its deadline it simply has none. */
	if (ret == 0 && timeout_ms > 0)
		request_deadline_in_flight(req, timeout_ms, send_deadline);
	if (ret == -ENOBUFS)
		request_fail(req, ret,
			     "no send slot is free: endpoint %llu has %u sends in flight, or its "
			     "device's send buffers are all in use; retry",
			     (unsigned long long)ep->obj.handle, ep->qp_active->sends_out);
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
	while (ep->recv_q.head && ep->qp_active && ep->qp_active->held) {
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
	if (request_enqueue(&ep->recv_q, req, timeout_ms, recv_deadline) < 0)
		request_fail(req, -ENOMEM, "out of memory");
}

void endpoint_qp_event(struct rdqd *d, rdq_handle_t h, int status, const char *why)
{
	struct ep *ep = ep_get(d, h);

	RDQ_DISPATCH_ONLY();
	if (!ep)
		return;
	if (status == 0)
		deliver_messages(ep);
	else
		ep_transport_failed(ep, status, why);
	object_unref(ep);
}
