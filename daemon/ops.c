/* SPDX-License-Identifier: MIT */
/*
 * The operations of the control protocol (docs/protocol.md): a table from
 * op name to handler. Handlers run on the loop; each checks its arguments,
 * then answers at once or hands the request on (to an endpoint's queue or a
 * worker). Every path ends in exactly one request_complete().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>
#include <stdint.h>

#include "ops.h"

#include "clock.h"
#include "config.h"
#include "control.h"
#include "device.h"
#include "endpoint.h"
#include "protocol/defaults.h"
#include "protocol/message.h"
#include "qp.h"
#include "rdqd.h"
#include "request.h"
#include "stats.h"

struct op {
	const char *name;
	void (*handler)(struct rdqd *d, struct request *req, const struct op_input *in);
};

/* Fails req with the argument error in err if ret < 0; returns whether it did. */
static bool bad_arg(struct request *req, int ret, const char *err)
{
	if (ret < 0)
		request_complete(req, ret, NULL, err);
	return ret < 0;
}

/* Reads args.ep and finds the endpoint, or fails req. A reference for the caller. */
static struct ep *arg_endpoint(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	uint64_t h = 0;
	struct ep *ep;

	if (bad_arg(req, rdq_arg_handle(in->args, "ep", true, &h, err), err))
		return NULL;
	ep = endpoint_lookup(d, h, req->uid);
	if (!ep)
		request_fail(req, -ENOENT, "no endpoint %llu", (unsigned long long)h);
	else
		req->ep = h; /* request.list shows what each request acts on */
	return ep;
}

static void op_version(struct rdqd *d, struct request *req, const struct op_input *in)
{
	request_complete(
		req, 0,
		json_pack("{s:s, s:i}", "version", RDQ_VERSION, "protocol", RDQ_PROTOCOL_VERSION),
		NULL);
}

static void op_status(struct rdqd *d, struct request *req, const struct op_input *in)
{
	bool rdma = d->cm && !d->rdma_error[0];

	request_complete(req, 0,
			 json_pack("{s:i, s:I, s:b, s:s?, s:I, s:O, s:I, s:I, s:I}", "pid",
				   (int)getpid(), "uptime_ms", (json_int_t)(now_ms() - d->start_ms),
				   "rdma", rdma, "rdma_error", rdma ? NULL : d->rdma_error,
				   "devices", (json_int_t)json_array_size(d->devices),
				   "device_names", d->devices, "endpoints",
				   stats_seen_endpoints(d, req->uid), "objects",
				   stats_seen_objects(d, req->uid), "connections",
				   (json_int_t)d->counters.connections),
			 NULL);
}

static void op_stats(struct rdqd *d, struct request *req, const struct op_input *in)
{
	json_t *result = stats_build(d, req->uid);

	if (!result)
		request_fail(req, -ENOMEM, "no memory for the counters");
	else
		request_complete(req, 0, result, NULL);
}

static void op_dev_show(struct rdqd *d, struct request *req, const struct op_input *in)
{
	if (!d->cm) {
		request_fail(req, -ENODEV, "no RDMA here: %s", d->rdma_error);
		return;
	}
	device_show(d, req);
}

/* Reads "addr" and "port"; fails req and returns false if they are wrong. */
static bool arg_address(struct request *req, const struct op_input *in, const char **addr,
			int64_t *port)
{
	char err[RDQ_ERRMSG_MAX];
	size_t len = 0;

	if (bad_arg(req, rdq_arg_string(in->args, "addr", true, addr, &len, err), err) ||
	    bad_arg(req, rdq_arg_int(in->args, "port", 1, 65535, RDQ_DEFAULT_PORT, port, err), err))
		return false;
	if (len == 0 || len >= 64) {
		request_fail(req, -EINVAL, "args.addr must be 1 to 63 characters");
		return false;
	}
	return true;
}

static void op_ep_listen(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	const char *addr, *mode = "echo";
	int64_t port, backlog, max_connections;
	size_t mode_len = 0;
	bool tied, serve;

	if (!arg_address(req, in, &addr, &port) ||
	    bad_arg(req,
		    rdq_arg_int(in->args, "backlog", 1, RDQ_MAX_BACKLOG, RDQ_DEFAULT_BACKLOG,
				&backlog, err),
		    err) ||
	    bad_arg(req,
		    rdq_arg_int(in->args, "max_connections", 1, RDQ_MAX_MAX_CONNECTIONS,
				RDQ_DEFAULT_MAX_CONNECTIONS, &max_connections, err),
		    err) ||
	    bad_arg(req, rdq_arg_bool(in->args, "tied", false, &tied, err), err) ||
	    bad_arg(req, rdq_arg_string(in->args, "mode", false, &mode, &mode_len, err), err))
		return;
	serve = strcmp(mode, "serve") == 0;
	if (!serve && strcmp(mode, "echo") != 0) {
		request_fail(req, -EINVAL, "args.mode must be \"echo\" or \"serve\"");
		return;
	}
	/* Its client serves it: without that client nobody would, so they go together. */
	endpoint_listen(d, req, addr, (int)port, (int)backlog, (unsigned)max_connections,
			tied || serve, serve);
}

static void op_ep_connect(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	const char *addr;
	int64_t port, timeout;
	bool tied;

	if (!arg_address(req, in, &addr, &port) ||
	    bad_arg(req,
		    rdq_arg_int(in->args, "timeout_ms", 1, RDQ_MAX_TIMEOUT_MS,
				RDQ_DEFAULT_TIMEOUT_MS, &timeout, err),
		    err) ||
	    bad_arg(req, rdq_arg_bool(in->args, "tied", false, &tied, err), err))
		return;
	endpoint_connect(d, req, addr, (int)port, timeout, tied);
}

/*
 * The bytes to send: version 2 carries them as the frame's attachment,
 * version 1 as args.data (text). Fails req and returns false if neither or
 * both are there.
 */
static bool arg_send_data(struct request *req, const struct op_input *in, const void **data,
			  size_t *len)
{
	char err[RDQ_ERRMSG_MAX];
	const char *text = NULL;

	if (bad_arg(req, rdq_arg_string(in->args, "data", false, &text, len, err), err))
		return false;
	if (text && in->data) {
		request_fail(req, -EINVAL, "give the data once: as args.data or as the attachment");
		return false;
	}
	if (!text && !in->data) {
		request_fail(req, -EINVAL,
			     "args.data is required (or, in protocol version 2, an attachment)");
		return false;
	}
	if (in->data) {
		*data = in->data;
		*len = in->data_len;
	} else {
		*data = text;
	}
	return true;
}

/* What ep.send and ep.sendrecv share: the bytes and "timeout_ms"; fails req if they are wrong. */
static bool arg_send(struct request *req, const struct op_input *in, const void **data, size_t *len,
		     int64_t *timeout)
{
	char err[RDQ_ERRMSG_MAX];

	return arg_send_data(req, in, data, len) &&
	       !bad_arg(req,
			rdq_arg_int(in->args, "timeout_ms", 0, RDQ_MAX_TIMEOUT_MS,
				    RDQ_DEFAULT_TIMEOUT_MS, timeout, err),
			err);
}

static void op_ep_send(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	const void *data;
	size_t len = 0;
	int64_t timeout;
	bool wait;
	struct ep *ep;

	if (!arg_send(req, in, &data, &len, &timeout) ||
	    bad_arg(req, rdq_arg_bool(in->args, "wait", false, &wait, err), err))
		return;
	ep = arg_endpoint(d, req, in);
	if (!ep)
		return;
	endpoint_send(ep, req, data, len, wait, timeout);
	object_unref(ep);
}

static void op_ep_sendrecv(struct rdqd *d, struct request *req, const struct op_input *in)
{
	const void *data;
	size_t len = 0;
	int64_t timeout;
	struct ep *ep;

	if (!arg_send(req, in, &data, &len, &timeout))
		return;
	ep = arg_endpoint(d, req, in);
	if (!ep)
		return;
	endpoint_send_recv(ep, req, data, len, timeout);
	object_unref(ep);
}

static void op_ep_recv(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	int64_t timeout;
	struct ep *ep;

	if (bad_arg(req,
		    rdq_arg_int(in->args, "timeout_ms", 0, RDQ_MAX_TIMEOUT_MS,
				RDQ_DEFAULT_TIMEOUT_MS, &timeout, err),
		    err))
		return;
	ep = arg_endpoint(d, req, in);
	if (!ep)
		return;
	endpoint_recv(ep, req, timeout);
	object_unref(ep);
}

static void op_ep_disconnect(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	int64_t timeout;
	uint64_t qp = 0;
	bool wait;
	struct ep *ep;

	if (bad_arg(req, rdq_arg_handle(in->args, "qp", false, &qp, err), err) ||
	    bad_arg(req,
		    rdq_arg_int(in->args, "timeout_ms", 1, RDQ_MAX_TIMEOUT_MS,
				d->opt.disconnect_timeout_ms, &timeout, err),
		    err) ||
	    bad_arg(req, rdq_arg_bool(in->args, "wait", true, &wait, err), err))
		return;
	ep = arg_endpoint(d, req, in);
	if (!ep)
		return;
	endpoint_disconnect(ep, req, qp, wait, timeout);
	object_unref(ep);
}

static void op_ep_destroy(struct rdqd *d, struct request *req, const struct op_input *in)
{
	struct ep *ep = arg_endpoint(d, req, in);

	if (!ep)
		return;
	endpoint_destroy(ep, req);
	object_unref(ep);
}

static bool visible_to(void *object, void *arg)
{
	return object_visible(((struct object *)object)->owner, *(uid_t *)arg);
}

/*
 * A page of a list: at most args.limit items after args.after (a cursor: the
 * "next" of the page before). A whole list may not fit in one message.
 */
struct page {
	int64_t limit;
	uint64_t after;
};

static bool arg_page(struct request *req, const struct op_input *in, struct page *p)
{
	char err[RDQ_ERRMSG_MAX];
	int64_t after;

	if (bad_arg(req,
		    rdq_arg_int(in->args, "limit", 1, RDQ_MAX_PAGE, RDQ_DEFAULT_PAGE, &p->limit,
				err),
		    err) ||
	    bad_arg(req, rdq_arg_int(in->args, "after", 0, INT64_MAX, 0, &after, err), err))
		return false;
	p->after = (uint64_t)after;
	return true;
}

/* The result of a page: items, and "next" (the cursor for the page after) if more remain. */
static void complete_page(struct request *req, const char *key, json_t *items, bool more,
			  uint64_t last)
{
	json_t *result = json_pack("{s:o}", key, items);

	if (more && result)
		json_object_set_new(result, "next", json_integer((json_int_t)last));
	request_complete(req, 0, result, NULL);
}

static void op_ep_show(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	json_t *list = json_array();
	uint64_t one = 0, last = 0;
	struct page page;
	bool more = false;

	if (bad_arg(req, rdq_arg_handle(in->args, "ep", false, &one, err), err) ||
	    !arg_page(req, in, &page)) {
		json_decref(list);
		return;
	}
	if (one) {
		struct ep *ep = endpoint_lookup(d, one, req->uid);

		if (!ep) {
			json_decref(list);
			request_fail(req, -ENOENT, "no endpoint %llu", (unsigned long long)one);
			return;
		}
		json_array_append_new(list, endpoint_describe(ep));
		object_unref(ep);
	} else {
		/*
		 * Describe outside the table's lock: collect the handles first, in
		 * ascending order, which the cursor follows.
		 */
		unsigned count;
		rdq_handle_t *handles =
			handle_table_collect(&d->objects, OBJ_EP, visible_to, &req->uid, &count);

		for (unsigned i = 0; i < count; i++) {
			struct ep *ep;

			if (page.after && handles[i] <= page.after)
				continue;
			if ((int64_t)json_array_size(list) == page.limit) {
				more = true;
				break;
			}
			ep = endpoint_lookup(d, handles[i], req->uid);
			if (ep) {
				json_array_append_new(list, endpoint_describe(ep));
				last = handles[i];
				object_unref(ep);
			}
		}
		free(handles);
	}
	complete_page(req, "endpoints", list, more, last);
}

static void op_watch(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	bool on;

	if (bad_arg(req, rdq_arg_bool(in->args, "on", true, &on, err), err))
		return;
	control_set_watch(d, req->conn, on);
	request_complete(req, 0, json_pack("{s:b}", "watching", on), NULL);
}

/* What request.list collects: the pending requests the asker's uid may see, past the cursor. */
struct request_search {
	struct request *self; /* the request.list itself: not listed */
	uint64_t after;	      /* only requests with a greater rid */
	struct request **found;
	size_t n, cap;
	bool out_of_memory;
};

static bool request_seen(struct request *req, void *arg)
{
	struct request_search *s = arg;

	if (req == s->self || req->rid <= s->after || !object_visible(req->uid, s->self->uid))
		return true;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct request **found = realloc(s->found, cap * sizeof(*found));

		if (!found) {
			s->out_of_memory = true;
			return false;
		}
		s->found = found;
		s->cap = cap;
	}
	s->found[s->n++] = req;
	return true;
}

static int by_rid(const void *a, const void *b)
{
	uint64_t x = (*(struct request *const *)a)->rid, y = (*(struct request *const *)b)->rid;

	return (x > y) - (x < y);
}

static json_t *describe_request(const struct request *r, const struct request *asker)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:I, s:I, s:i, s:b}", "rid", (json_int_t)r->rid,
			 "id", (json_int_t)r->id, "op", r->op->name, "state",
			 request_state_name(r->state), "ep", (json_int_t)r->ep, "age_ms",
			 (json_int_t)(now_ms() - r->start_ms), "uid", (int)r->uid, "mine",
			 r->conn == asker->conn);
}

static void op_request_list(struct rdqd *d, struct request *req, const struct op_input *in)
{
	struct request_search s = {.self = req};
	struct page page;
	json_t *list;
	size_t n;

	if (!arg_page(req, in, &page))
		return;
	s.after = page.after;
	request_foreach(d, request_seen, &s);
	if (s.out_of_memory) {
		free(s.found);
		request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	/* In rid order, so that the cursor (the last rid listed) finds the rest. */
	if (s.n) /* s.found is NULL when nothing was found, and qsort's array may not be */
		qsort(s.found, s.n, sizeof(*s.found), by_rid);
	n = s.n < (size_t)page.limit ? s.n : (size_t)page.limit;
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, describe_request(s.found[i], req));
	complete_page(req, "requests", list, s.n > n, n ? s.found[n - 1]->rid : 0);
	free(s.found);
}

/* cancel with args.rid: any pending request of this uid, by the daemon's number. */
static void cancel_by_rid(struct rdqd *d, struct request *req, int64_t rid)
{
	enum request_state state;
	int ret = request_cancel_rid(d, req->uid, (uint64_t)rid, req, &state);

	if (ret == -ENOENT)
		request_fail(req, ret, "no pending request %lld", (long long)rid);
	else if (ret == -EALREADY)
		request_fail(req, ret,
			     "request %lld is %s, past the point where it can be cancelled; it "
			     "completes on its own",
			     (long long)rid, request_state_name(state));
	else
		request_complete(req, 0, json_pack("{s:i}", "cancelled", 1), NULL);
}

static void op_cancel(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	int64_t target, rid;
	unsigned n;

	if (bad_arg(req, rdq_arg_int(in->args, "req", 0, INT64_MAX, -1, &target, err), err) ||
	    bad_arg(req, rdq_arg_int(in->args, "rid", 1, INT64_MAX, -1, &rid, err), err))
		return;
	if ((target < 0) == (rid < 0)) {
		request_fail(req, -EINVAL,
			     "give one of args.req (a request id of this connection) or args.rid "
			     "(a request number from request.list)");
		return;
	}
	if (rid > 0) {
		cancel_by_rid(d, req, rid);
		return;
	}
	n = request_cancel_id(d, req->conn, target, req);
	if (n == 0)
		request_fail(req, -ENOENT, "no cancelable request %lld on this connection",
			     (long long)target);
	else
		request_complete(req, 0, json_pack("{s:i}", "cancelled", (int)n), NULL);
}

static void op_qp_destroy(struct rdqd *d, struct request *req, const struct op_input *in)
{
	char err[RDQ_ERRMSG_MAX];
	uint64_t h = 0;
	struct qp *qp;
	struct ep *ep = NULL;

	if (bad_arg(req, rdq_arg_handle(in->args, "qp", true, &h, err), err))
		return;
	qp = handle_table_lookup(&d->objects, h, OBJ_QP);
	if (qp && object_visible(qp->obj.owner, req->uid))
		ep = endpoint_lookup(d, qp->ep, req->uid);
	object_unref(qp);
	if (!ep || ep->qp != h) {
		request_fail(req, -ENOENT, "no QP %llu", (unsigned long long)h);
		object_unref(ep);
		return;
	}
	req->ep = ep->obj.handle;
	req->qp = h;
	endpoint_qp_destroy(ep, req);
	object_unref(ep);
}

/* Sorted by name; ops_find() scans it (a dozen entries). */
static const struct op ops[] = {
	{"cancel", op_cancel},
	{"dev.show", op_dev_show},
	{"ep.connect", op_ep_connect},
	{"ep.destroy", op_ep_destroy},
	{"ep.disconnect", op_ep_disconnect},
	{"ep.listen", op_ep_listen},
	{"ep.recv", op_ep_recv},
	{"ep.send", op_ep_send},
	{"ep.sendrecv", op_ep_sendrecv},
	{"ep.show", op_ep_show},
	{"qp.destroy", op_qp_destroy},
	{"request.list", op_request_list},
	{"stats", op_stats},
	{"status", op_status},
	{"version", op_version},
	{"watch", op_watch},
};

const struct op *ops_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}

void ops_dispatch(struct rdqd *d, struct request *req, const struct op_input *in)
{
	req->op->handler(d, req, in);
}
