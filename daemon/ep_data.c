/* SPDX-License-Identifier: MIT */
/*
 * Messages: ep.send posts to the QP at once (the loop owns the data path)
 * and answers then, or, asked to wait, when the send completes; ep.recv
 * answers from the messages that arrived, or waits, cancelable, on the
 * endpoint until one arrives, its deadline passes, or the peer disconnects.
 */
#include "endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "encode.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "protocol/message.h"
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

/* Fails req with why the endpoint's connection failed, if it did; returns whether. */
/* A direct endpoint's messages go over its client's own QP, never through rdqd. */
static bool direct_data(struct ep *ep, struct request *req)
{
	if (!ep->direct)
		return false;
	request_fail(req, -EOPNOTSUPP,
		     "endpoint %llu is direct: its messages go over its client's own QP",
		     (unsigned long long)ep->obj.handle);
	return true;
}

static bool failed_connection(struct ep *ep, struct request *req)
{
	int status = ep->failed_status;
	const char *why = ep->failed_why;

	if (!status && ep->qp_active && ep->qp_active->failed) {
		status = ep->qp_active->fail_status;
		why = ep->qp_active->fail_why;
	}
	if (status)
		request_fail(req, status, "endpoint %llu's connection failed: %s",
			     (unsigned long long)ep->obj.handle, why);
	return status != 0;
}

/*
 * Posts len bytes at data on the endpoint's QP; the send's completion
 * answers completion_req if it is not NULL. Returns whether it was posted;
 * if not, req is failed with why.
 */
static bool post_send(struct ep *ep, struct request *req, const void *data, size_t len,
		      struct request *completion_req)
{
	int ret;

	if (direct_data(ep, req) || failed_connection(ep, req))
		return false;
	if (ep->state != EP_CONNECTED || !ep->qp_active) {
		request_fail(req, -ENOTCONN, "endpoint %llu is %s%s",
			     (unsigned long long)ep->obj.handle, ep_state_name(ep->state),
			     ep->state == EP_CONNECTED ? " but its QP was destroyed"
						       : ", not connected");
		return false;
	}
	if (len == 0 || len > ep->d->opt.max_message) {
		request_fail(req, -EMSGSIZE, "data must be 1 to %u bytes (--max-message), not %zu",
			     ep->d->opt.max_message, len);
		return false;
	}
	ret = qp_post_send(ep->qp_active, data, len, completion_req);
	if (ret == -ENOBUFS)
		request_fail(req, ret,
			     "no send slot is free: endpoint %llu has %u sends in flight, or its "
			     "device's send buffers are all in use; retry",
			     (unsigned long long)ep->obj.handle, ep->qp_active->sends_out);
	else if (ret < 0)
		request_fail(req, ret, "cannot post the send: %s", strerror(-ret));
	return ret == 0;
}

void endpoint_send(struct ep *ep, struct request *req, const void *data, size_t len, bool wait,
		   int64_t timeout_ms)
{
	RDQ_DISPATCH_ONLY();
	if (!post_send(ep, req, data, len, wait ? req : NULL))
		return;
	if (!wait) {
		/* Posted: its completion answers no one; a failure fails the connection. */
		request_complete(req, 0, RESULT(RESULT_SENT, .sent = {len, false}), NULL);
	} else if (timeout_ms > 0) {
		/* In flight now; without memory for its deadline it simply has none. */
		request_deadline_in_flight(req, timeout_ms, send_deadline);
	}
}

/*
 * A held message as the reply to req: in version 2 its bytes are the
 * reply's attachment, lent to the connection's output from the buffer they
 * were held in (their one copy in rdqd was into it), which comes back once
 * they are written; in version 1 they are text in the JSON, or hex for bytes
 * that are not UTF-8, and the buffer comes back at once.
 */
static void answer_message(struct rdqd *d, struct request *req, struct qp_msg *m)
{
	struct control_loan loan = {
		.data = m->data,
		.len = m->len,
		.room = sizeof(m->room),
		.give_back = qp_message_given_back,
		.arg = m,
	};

	if (!request_complete_lent(req, &loan))
		qp_message_done(d, m);
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
		answer_message(ep->d, req, qp_take_message(ep->qp_active));
	}
}

void endpoint_recv(struct ep *ep, struct request *req, int64_t timeout_ms)
{
	struct qp_msg *m;

	RDQ_DISPATCH_ONLY();
	if (direct_data(ep, req))
		return;
	if (ep->role == EP_LISTENER || (ep->role == EP_ACCEPTED && !ep->serve)) {
		request_fail(req, -EOPNOTSUPP,
			     "endpoint %llu is a %s: it %s, it does not keep messages for ep.recv",
			     (unsigned long long)ep->obj.handle, ep_role_name(ep->role),
			     ep->role == EP_LISTENER ? "has no QP"
						     : "echoes what it receives (its listener's "
						       "mode is echo, not serve)");
		return;
	}
	m = ep->qp_active && !ep->recv_q.head ? qp_take_message(ep->qp_active) : NULL;
	if (m) {
		answer_message(ep->d, req, m);
		return;
	}
	if (failed_connection(ep, req))
		return;
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

void endpoint_send_recv(struct ep *ep, struct request *req, const void *data, size_t len,
			int64_t timeout_ms)
{
	RDQ_DISPATCH_ONLY();
	/*
	 * Receiving is checked first: a send to a peer whose answer nobody could
	 * read (a listener, an echo listener's endpoint) is not made at all.
	 */
	if (direct_data(ep, req))
		return;
	if (ep->role == EP_LISTENER || (ep->role == EP_ACCEPTED && !ep->serve)) {
		endpoint_recv(ep, req, timeout_ms);
		return;
	}
	/* Posted: a failure of the send fails the connection, and so this receive. */
	if (post_send(ep, req, data, len, NULL))
		endpoint_recv(ep, req, timeout_ms);
}

bool endpoint_qp_event(struct rdqd *d, rdq_handle_t h, int status, const char *why,
		       const uint8_t *data, uint32_t len)
{
	struct ep *ep = ep_get(d, h);
	bool taken = false;

	RDQ_DISPATCH_ONLY();
	if (!ep)
		return false;
	if (status == 0 && data) {
		/* Arrived with nothing held before it: a waiting receive answers from the buffer.
		 */
		if (ep->recv_q.head && ep->qp_active) {
			request_complete_message(request_queue_pop(&ep->recv_q), data, len);
			taken = true;
		}
	} else if (status == 0) {
		deliver_messages(ep);
	} else {
		ep_transport_failed(ep, status, why);
	}
	object_unref(ep);
	return taken;
}
