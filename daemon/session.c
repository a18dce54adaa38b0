/* SPDX-License-Identifier: MIT */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "endpoint.h"
#include "ops.h"
#include "protocol/request_read.h"
#include "rdqd.h"
#include "request.h"
#include "shutdown.h"

/*
 * A frame becomes a request, or an error reply. Its envelope is read here,
 * its arguments by ops.c, straight into the op's struct; nothing of the
 * frame outlives this call.
 */
static void session_frame(struct rdqd *d, rdq_handle_t conn, struct control_requests *pending,
			  uid_t uid, pid_t pid, const char *body, size_t len)
{
	struct rdq_envelope e;
	char err[RDQ_ERRMSG_MAX];
	const struct rdq_op_spec *op;
	struct request *req;
	int ret;

	ret = rdq_envelope_read(body, len, &e, err);
	if (ret < 0) {
		control_reject(d, conn, e.id, -ret, err);
		goto out;
	}
	op = rdq_op_find(e.op, e.op_len);
	if (!op) {
		snprintf(err, sizeof(err), "unknown op \"%.*s\" (docs/protocol.md lists them)",
			 (int)strnlen(e.op, e.op_len < 60 ? e.op_len : 60), e.op);
		control_reject(d, conn, e.id, EOPNOTSUPP, err);
	} else if (d->shutting_down) {
		control_reject(d, conn, e.id, ESHUTDOWN, "rdqd is shutting down");
	} else if (pending->count >= d->opt.max_pending) {
		snprintf(err, sizeof(err),
			 "too many pending requests on this connection (limit %u)",
			 d->opt.max_pending);
		control_reject(d, conn, e.id, EBUSY, err);
	} else {
		req = request_new(d, conn, pending, uid, pid, e.id, e.version, op);
		if (req)
			ops_run(d, req, &e);
		else
			control_reject(d, conn, e.id, ENOMEM, "out of memory");
	}
out:
	rdq_envelope_clear(&e);
}

static void session_closed(struct rdqd *d, rdq_handle_t conn, struct control_requests *requests,
			   struct list *tied)
{
	/* Queued requests complete with ECANCELED; the others finish with nowhere to answer. */
	request_orphan_all(requests);
	endpoint_destroy_tied(d, tied);
	if (d->shutting_down)
		rdqd_check_exit(d);
}

static const struct control_handlers session_handlers = {
	.frame = session_frame,
	.closed = session_closed,
};

int session_start(struct rdqd *d)
{
	return control_listen(d, &session_handlers);
}
