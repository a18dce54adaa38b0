/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <errno.h>
#include <stdio.h>

#include "control.h"
#include "endpoint.h"
#include "json_arena.h"
#include "ops.h"
#include "protocol/message.h"
#include "rdqd.h"
#include "request.h"
#include "shutdown.h"

/*
 * A frame becomes a request, or an error reply. Everything JSON made for it
 * (the decoded request, and the reply of an operation answered at once) lives
 * in the loop's arena until the frame is done.
 */
static void client_frame(struct rdqd *d, rdq_handle_t conn, uid_t uid, const char *body, size_t len)
{
	struct control_requests *pending = control_requests(d, conn);
	struct rdq_request_msg msg;
	char err[RDQ_ERRMSG_MAX];
	const struct op *op;
	struct request *req;
	int ret;

	json_arena_enter();
	ret = rdq_request_decode(body, len, &msg, err);
	if (ret < 0) {
		control_reject(d, conn, msg.id, -ret, err);
		goto out;
	}
	op = ops_find(msg.op);
	if (!op) {
		snprintf(err, sizeof(err), "unknown op \"%.60s\" (docs/protocol.md lists them)",
			 msg.op);
		control_reject(d, conn, msg.id, EOPNOTSUPP, err);
	} else if (d->shutting_down) {
		control_reject(d, conn, msg.id, ESHUTDOWN, "rdqd is shutting down");
	} else if (pending && pending->count >= d->opt.max_pending) {
		snprintf(err, sizeof(err),
			 "too many pending requests on this connection (limit %u)",
			 d->opt.max_pending);
		control_reject(d, conn, msg.id, EBUSY, err);
	} else {
		struct op_input in = {.args = msg.args, .data = msg.data, .data_len = msg.data_len};

		req = request_new(d, conn, uid, msg.id, msg.version, op);
		if (req)
			ops_dispatch(d, req, &in);
		else
			control_reject(d, conn, msg.id, ENOMEM, "out of memory");
	}
	rdq_request_msg_clear(&msg);
out:
	json_arena_leave();
}

static void client_closed(struct rdqd *d, rdq_handle_t conn, struct control_requests *requests,
			  struct list *tied)
{
	/* Queued requests complete with ECANCELED; the others finish with nowhere to answer. */
	request_orphan_all(requests);
	endpoint_destroy_tied(d, tied);
	if (d->shutting_down)
		rdqd_check_exit(d);
}

const struct control_handlers client_handlers = {
	.frame = client_frame,
	.closed = client_closed,
};
