/* SPDX-License-Identifier: MIT */
/*
 * The operations of the control protocol (docs/protocol.md). Each op's
 * arguments are declared once, in lib/protocol/ops_table.c, and arrive here
 * decoded into the op's struct; a handler runs on the loop, answers at once
 * or hands the request on (to an endpoint's queue or a worker). Every path
 * ends in exactly one request_complete().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ops.h"

#include "clock.h"
#include "config.h"
#include "control.h"
#include "device.h"
#include "encode.h"
#include "endpoint.h"
#include "ep_wait.h"
#include "protocol/addr_prefix.h"
#include "protocol/defaults.h"
#include "protocol/message.h"
#include "protocol/request_read.h"
#include "qp.h"
#include "rdqd.h"
#include "request.h"
#include "stats.h"

/* A handler: args is the op's argument struct (ops_table.h), in what the frame brought. */
typedef void op_handler(struct rdqd *d, struct request *req, const void *args,
			const struct op_input *in);

/* Finds the endpoint h names, or fails req. A reference for the caller. */
static struct ep *arg_endpoint(struct rdqd *d, struct request *req, uint64_t h)
{
	struct ep *ep = endpoint_lookup(d, h, req->uid);

	if (!ep)
		request_fail(req, -ENOENT, "no endpoint %llu", (unsigned long long)h);
	else
		req->ep = h; /* request.list shows what each request acts on */
	return ep;
}

static void op_version(struct rdqd *d, struct request *req, const void *args,
		       const struct op_input *in)
{
	request_complete(req, 0, RESULT(RESULT_VERSION), NULL);
}

static void op_status(struct rdqd *d, struct request *req, const void *args,
		      const struct op_input *in)
{
	struct status_view s = {
		.pid = (int)getpid(),
		.uptime_ms = now_ms() - d->start_ms,
		.rdma = d->cm && !d->rdma_error[0],
		.rdma_error = d->rdma_error,
		.device_names = (const char(*)[RDQD_DEVICE_NAME_MAX])d->device_names,
		.devices = d->ndevices,
		.endpoints = stats_seen_endpoints(d, req->uid),
		.objects = stats_seen_objects(d, req->uid),
		.connections = d->counters.connections,
	};

	request_complete(req, 0, RESULT(RESULT_STATUS, .status = &s), NULL);
}

static void op_stats(struct rdqd *d, struct request *req, const void *args,
		     const struct op_input *in)
{
	struct stats_view s;

	stats_read(d, req->uid, &s);
	request_complete(req, 0, RESULT(RESULT_STATS, .stats = &s), NULL);
}

static void op_dev_show(struct rdqd *d, struct request *req, const void *args,
			const struct op_input *in)
{
	if (!d->cm) {
		request_fail(req, -ENODEV, "no RDMA here: %s", d->rdma_error);
		return;
	}
	device_show(d, req);
}

/* An address argument as getaddrinfo takes it: the table bounds it to 63 bytes. */
static void address_copy(char out[64], const struct rdq_text *addr)
{
	memcpy(out, addr->s, addr->len);
	out[addr->len] = '\0';
}

/*
 * ep.listen's allow and deny into *out: NULL when neither names a prefix.
 * Fails req (EINVAL, E2BIG, ENOMEM) and returns -1 otherwise. Once per
 * listener, not per peer: the check at each peer's request only reads them.
 */
static int listen_rules(struct request *req, const struct rdq_args_ep_listen *a,
			struct rdq_peer_rules **out)
{
	const struct {
		const char *name;
		const struct rdq_text *text;
	} lists[] = {{"allow", &a->allow}, {"deny", &a->deny}};
	struct rdq_peer_rules *rules;
	char why[200];

	*out = NULL;
	if (!a->allow.s && !a->deny.s)
		return 0;
	rules = calloc(1, sizeof(*rules));
	if (!rules) {
		request_fail(req, -ENOMEM, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct rdq_prefix_list *l = i == 0 ? &rules->allow : &rules->deny;
		int ret = lists[i].text->s
				  ? rdq_prefix_list_add(l, lists[i].text->s, lists[i].text->len,
							why, sizeof(why))
				  : 0;

		if (ret < 0) {
			free(rules);
			request_fail(req, ret, "%s: %s", lists[i].name, why);
			return -1;
		}
	}
	if (!rdq_peer_rules_any(rules)) {
		free(rules);
		return 0;
	}
	*out = rules;
	return 0;
}

static void op_ep_listen(struct rdqd *d, struct request *req, const void *args,
			 const struct op_input *in)
{
	const struct rdq_args_ep_listen *a = args;
	struct rdq_peer_rules *rules;
	char addr[64];

	if (listen_rules(req, a, &rules) < 0)
		return;
	address_copy(addr, &a->addr);
	const struct listen_args l = {
		.addr = addr,
		.port = (int)a->port,
		.backlog = (int)a->backlog,
		.max_connections = (unsigned)a->max_connections,
		/*
		 * Its client serves it, or owns its QPs: without that client
		 * nobody would, so they go together.
		 */
		.tied = a->tied || a->mode != RDQ_MODE_ECHO,
		.mode = a->mode,
		.timeout_ms = a->timeout_ms,
		.wait_address = a->wait_address,
		.rules = rules,
	};

	if (a->wait_address)
		endpoint_listen_waiting(d, req, &l);
	else
		endpoint_listen(d, req, &l);
}

static void op_ep_connect(struct rdqd *d, struct request *req, const void *args,
			  const struct op_input *in)
{
	const struct rdq_args_ep_connect *a = args;
	char addr[64];

	address_copy(addr, &a->addr);
	endpoint_connect(d, req, addr, (int)a->port, a->timeout_ms, a->tied, false);
}

/* A direct endpoint's QP dies with its client's process: the endpoint goes with the connection. */
static void op_ep_resolve(struct rdqd *d, struct request *req, const void *args,
			  const struct op_input *in)
{
	const struct rdq_args_ep_resolve *a = args;
	char addr[64];

	address_copy(addr, &a->addr);
	endpoint_connect(d, req, addr, (int)a->port, a->timeout_ms, true, true);
}

static void op_ep_attach(struct rdqd *d, struct request *req, const void *args,
			 const struct op_input *in)
{
	const struct rdq_args_ep_attach *a = args;
	struct ep *ep;

	if (a->qp_num == 0) {
		request_fail(req, -EINVAL,
			     "args.qp_num is required: the number of the client's QP");
		return;
	}
	ep = arg_endpoint(d, req, a->ep);
	if (!ep)
		return;
	endpoint_attach(ep, req, (uint32_t)a->qp_num, a->timeout_ms);
	object_unref(ep);
}

static void op_ep_establish(struct rdqd *d, struct request *req, const void *args,
			    const struct op_input *in)
{
	const struct rdq_args_ep_establish *a = args;
	struct ep *ep = arg_endpoint(d, req, a->ep);

	if (!ep)
		return;
	endpoint_establish(ep, req, a->timeout_ms);
	object_unref(ep);
}

/*
 * The bytes to send: version 2 carries them as the frame's attachment,
 * version 1 as args.data (text). Fails req and returns false if neither or
 * both are there.
 */
static bool send_data(struct request *req, const struct rdq_args_ep_send *a,
		      const struct op_input *in, const void **data, size_t *len)
{
	if (a->data.s && in->data) {
		request_fail(req, -EINVAL, "give the data once: as args.data or as the attachment");
		return false;
	}
	if (!a->data.s && !in->data) {
		request_fail(req, -EINVAL,
			     "args.data is required (or, in protocol version 2, an attachment)");
		return false;
	}
	*data = in->data ? (const void *)in->data : a->data.s;
	*len = in->data ? in->data_len : a->data.len;
	return true;
}

static void op_ep_send(struct rdqd *d, struct request *req, const void *args,
		       const struct op_input *in)
{
	const struct rdq_args_ep_send *a = args;
	const void *data;
	size_t len;
	struct ep *ep;

	if (!send_data(req, a, in, &data, &len))
		return;
	ep = arg_endpoint(d, req, a->ep);
	if (!ep)
		return;
	endpoint_send(ep, req, data, len, a->wait, a->timeout_ms);
	object_unref(ep);
}

static void op_ep_sendrecv(struct rdqd *d, struct request *req, const void *args,
			   const struct op_input *in)
{
	const struct rdq_args_ep_send *a = args;
	const void *data;
	size_t len;
	struct ep *ep;

	if (!send_data(req, a, in, &data, &len))
		return;
	ep = arg_endpoint(d, req, a->ep);
	if (!ep)
		return;
	endpoint_send_recv(ep, req, data, len, a->timeout_ms);
	object_unref(ep);
}

static void op_ep_recv(struct rdqd *d, struct request *req, const void *args,
		       const struct op_input *in)
{
	const struct rdq_args_ep_recv *a = args;
	struct ep *ep = arg_endpoint(d, req, a->ep);

	if (!ep)
		return;
	endpoint_recv(ep, req, a->timeout_ms);
	object_unref(ep);
}

static void op_ep_disconnect(struct rdqd *d, struct request *req, const void *args,
			     const struct op_input *in)
{
	const struct rdq_args_ep_disconnect *a = args;
	struct ep *ep = arg_endpoint(d, req, a->ep);

	if (!ep)
		return;
	endpoint_disconnect(ep, req, a->qp, a->wait,
			    a->timeout_ms ? a->timeout_ms : d->opt.disconnect_timeout_ms);
	object_unref(ep);
}

static void op_ep_flushed(struct rdqd *d, struct request *req, const void *args,
			  const struct op_input *in)
{
	const struct rdq_args_ep *a = args;
	struct ep *ep = arg_endpoint(d, req, a->ep);

	if (!ep)
		return;
	endpoint_flushed(ep, req);
	object_unref(ep);
}

static void op_ep_destroy(struct rdqd *d, struct request *req, const void *args,
			  const struct op_input *in)
{
	const struct rdq_args_ep *a = args;
	struct ep *ep = arg_endpoint(d, req, a->ep);

	if (!ep)
		return;
	/* rdqd keeps a declared listener up until its file says otherwise. */
	if (ep->wait && ep->wait->name[0]) {
		request_fail(req, -EPERM,
			     "endpoint %llu is the declared listener %s: remove %s/%s.conf and "
			     "reload rdqd",
			     (unsigned long long)a->ep, ep->wait->name, d->opt.listen_dir,
			     ep->wait->name);
		object_unref(ep);
		return;
	}
	endpoint_destroy(ep, req);
	object_unref(ep);
}

static bool visible_to(void *object, void *arg)
{
	return object_visible(((struct object *)object)->owner, *(uid_t *)arg);
}

/*
 * A page of endpoints: at most args.limit after args.after (a cursor: the
 * "next" of the page before), in handle order. A whole list may not fit in
 * one message.
 */
static void op_ep_show(struct rdqd *d, struct request *req, const void *args,
		       const struct op_input *in)
{
	const struct rdq_args_page *a = args;
	struct ep_view *rows = calloc((size_t)a->limit, sizeof(*rows));
	struct result page = {.kind = RESULT_ENDPOINTS};
	size_t n = 0;

	if (!rows) {
		request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	if (a->ep) {
		struct ep *ep = endpoint_lookup(d, a->ep, req->uid);

		if (!ep) {
			free(rows);
			request_fail(req, -ENOENT, "no endpoint %llu", (unsigned long long)a->ep);
			return;
		}
		endpoint_view(ep, &rows[n]);
		rows[n++].prefixes = true;
		object_unref(ep);
	} else {
		/*
		 * Describe outside the table's lock: collect the handles first, in
		 * ascending order, which the cursor follows.
		 */
		unsigned count;
		rdq_handle_t *handles;

		if (handle_table_collect(&d->objects, OBJ_EP, visible_to, &req->uid, &handles,
					 &count) < 0) {
			free(rows);
			request_fail(req, -ENOMEM, "out of memory listing the endpoints");
			return;
		}
		for (unsigned i = 0; i < count; i++) {
			struct ep *ep;

			if (a->after && handles[i] <= (uint64_t)a->after)
				continue;
			if ((int64_t)n == a->limit) {
				page.page.more = true;
				break;
			}
			ep = endpoint_lookup(d, handles[i], req->uid);
			if (ep) {
				endpoint_view(ep, &rows[n++]);
				page.page.next = handles[i];
				object_unref(ep);
			}
		}
		free(handles);
	}
	page.page.rows = rows;
	page.page.n = n;
	request_complete(req, 0, &page, NULL);
	free(rows);
}

static void op_watch(struct rdqd *d, struct request *req, const void *args,
		     const struct op_input *in)
{
	const struct rdq_args_watch *a = args;

	control_set_watch(d, req->conn, a->on);
	request_complete(req, 0, RESULT(RESULT_WATCHING, .watching = a->on), NULL);
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

static void request_view(const struct request *r, const struct request *asker,
			 struct request_view *out)
{
	*out = (struct request_view){
		.rid = r->rid,
		.id = r->id,
		.op = r->op->name,
		.state = request_state_name(r->state),
		.ep = r->ep,
		.age_ms = now_ms() - r->start_ms,
		.uid = r->uid,
		.mine = r->conn == asker->conn,
	};
}

static void op_request_list(struct rdqd *d, struct request *req, const void *args,
			    const struct op_input *in)
{
	const struct rdq_args_page *a = args;
	struct request_search s = {.self = req, .after = (uint64_t)a->after};
	struct result page = {.kind = RESULT_REQUESTS};
	struct request_view *rows;
	size_t n;

	request_foreach(d, request_seen, &s);
	n = s.n < (size_t)a->limit ? s.n : (size_t)a->limit;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (s.out_of_memory || !rows) {
		free(s.found);
		free(rows);
		request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	/* In rid order, so that the cursor (the last rid listed) finds the rest. */
	if (s.n) /* s.found is NULL when nothing was found, and qsort's array may not be */
		qsort(s.found, s.n, sizeof(*s.found), by_rid);
	for (size_t i = 0; i < n; i++)
		request_view(s.found[i], req, &rows[i]);
	page.page.rows = rows;
	page.page.n = n;
	page.page.more = s.n > n;
	page.page.next = n ? s.found[n - 1]->rid : 0;
	free(s.found);
	request_complete(req, 0, &page, NULL);
	free(rows);
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
		request_complete(req, 0, RESULT(RESULT_CANCELLED, .cancelled = 1), NULL);
}

static void op_cancel(struct rdqd *d, struct request *req, const void *args,
		      const struct op_input *in)
{
	const struct rdq_args_cancel *a = args;
	int64_t target = a->req, rid = a->rid;
	unsigned n;

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
		request_complete(req, 0, RESULT(RESULT_CANCELLED, .cancelled = n), NULL);
}

static void op_qp_destroy(struct rdqd *d, struct request *req, const void *args,
			  const struct op_input *in)
{
	const struct rdq_args_qp *a = args;
	uint64_t h = a->qp;
	struct qp *qp;
	struct ep *ep = NULL;

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

/* Each op's handler, by its place in the protocol's table (lib/protocol/ops_table.h). */
static op_handler *const handlers[RDQ_OP_COUNT] = {
	[RDQ_OP_CANCEL] = op_cancel,
	[RDQ_OP_DEV_SHOW] = op_dev_show,
	[RDQ_OP_EP_ATTACH] = op_ep_attach,
	[RDQ_OP_EP_CONNECT] = op_ep_connect,
	[RDQ_OP_EP_DESTROY] = op_ep_destroy,
	[RDQ_OP_EP_DISCONNECT] = op_ep_disconnect,
	[RDQ_OP_EP_ESTABLISH] = op_ep_establish,
	[RDQ_OP_EP_FLUSHED] = op_ep_flushed,
	[RDQ_OP_EP_LISTEN] = op_ep_listen,
	[RDQ_OP_EP_RECV] = op_ep_recv,
	[RDQ_OP_EP_RESOLVE] = op_ep_resolve,
	[RDQ_OP_EP_SEND] = op_ep_send,
	[RDQ_OP_EP_SENDRECV] = op_ep_sendrecv,
	[RDQ_OP_EP_SHOW] = op_ep_show,
	[RDQ_OP_QP_DESTROY] = op_qp_destroy,
	[RDQ_OP_REQUEST_LIST] = op_request_list,
	[RDQ_OP_STATS] = op_stats,
	[RDQ_OP_STATUS] = op_status,
	[RDQ_OP_VERSION] = op_version,
	[RDQ_OP_WATCH] = op_watch,
};

void ops_run(struct rdqd *d, struct request *req, struct rdq_envelope *e)
{
	_Alignas(max_align_t) unsigned char args[RDQ_OP_ARGS_MAX];
	const struct op_input in = {.data = e->data, .data_len = e->data_len};
	char err[RDQ_ERRMSG_MAX];
	int ret = rdq_args_read(e, req->op, args, err);

	if (ret < 0) {
		request_complete(req, ret, NULL, err);
		return;
	}
	handlers[req->op->op](d, req, args, &in);
}
