/* SPDX-License-Identifier: MIT */
/*
 * The simulator's clients: each sends requests the seed makes up (every op
 * rdqd has, with handles it named, or bad in one argument, or no request at
 * all), reacts later to what rdqd tells it (a direct listener's peer, a
 * flush), and checks each reply against what it sent: one reply per
 * request, with a status its op documents.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "fakes.h"
#include "harness.h"
#include "protocol/errname.h"
#include "protocol/ops_table.h"
#include "request.h"
#include "sim.h"

/* Timeouts long enough that the real clock never reaches them: the simulator fires them. */
#define LONG_MS 600000

/* ------------------------------------------------------------ handles */

void handle_seen(rdq_handle_t h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < sim.nhandles; i++)
		if (sim.handles[i] == h)
			return;
	if (sim.nhandles < SIM_MAX_HANDLES)
		sim.handles[sim.nhandles++] = h;
	else
		sim.handles[rng_below(&sim.rng, SIM_MAX_HANDLES)] = h;
}

/* Far above any handle a schedule reaches, and a multiple of every table size up to it. */
#define SAME_SLOT (1ull << 20)

rdq_handle_t handle_pick(void)
{
	rdq_handle_t h;

	if (!sim.nhandles || rng_one_in(&sim.rng, 16))
		return 1 + rng_below(&sim.rng, 40); /* maybe never given, maybe given and gone */
	h = sim.handles[rng_below(&sim.rng, sim.nhandles)];
	if (!rng_one_in(&sim.rng, 12))
		return h;
	sim.never_given = true;
	return h + SAME_SLOT;
}

/* An endpoint of the client's own, mostly: what a program acts on. */
static rdq_handle_t own_pick(int who)
{
	unsigned n = 0, k;

	for (unsigned i = 0; i < sim.ngiven; i++)
		n += sim.given[i].client == who;
	if (!n || rng_one_in(&sim.rng, 2))
		return handle_pick();
	k = (unsigned)rng_below(&sim.rng, n);
	for (unsigned i = 0; i < sim.ngiven; i++)
		if (sim.given[i].client == who && k-- == 0)
			return sim.given[i].ep;
	return handle_pick();
}

static void name_handle(rdq_handle_t h)
{
	if (h && sim.nnamed < SIM_MAX_REQUESTS)
		sim.named[sim.nnamed++] = h;
}

bool handle_named(rdq_handle_t h)
{
	for (unsigned i = 0; i < sim.nnamed; i++)
		if (sim.named[i] == h)
			return true;
	return false;
}

/* ------------------------------------------------------ what was sent */

static struct sent *sent_new(int who, int op, enum expect expect)
{
	struct sent *s;

	if (sim.nsent == SIM_MAX_REQUESTS)
		sim_fail("more than %d requests in one schedule", SIM_MAX_REQUESTS);
	s = &sim.sent[sim.nsent++];
	*s = (struct sent){.id = ++sim.next_id, .client = who, .op = op, .expect = expect};
	return s;
}

static struct sent *sent_find(int64_t id)
{
	return id >= 1 && id <= (int64_t)sim.nsent ? &sim.sent[id - 1] : NULL;
}

static void sent_describe(struct sent *s, json_t *args);

/* ------------------------------------------------- valid requests */

static const char *const addresses[] = {"127.0.0.1", "10.0.0.2", "::1", "fe80::1%lo"};

static json_int_t timeout_pick(bool zero_ok)
{
	return zero_ok && rng_one_in(&sim.rng, 3) ? 0
						  : LONG_MS + (json_int_t)rng_below(&sim.rng, 9);
}

/* A pending request of this client, by id, to cancel. */
static json_int_t own_pending(int who)
{
	for (unsigned tries = 0; tries < 8 && sim.nsent; tries++) {
		struct sent *s = &sim.sent[rng_below(&sim.rng, sim.nsent)];

		if (s->client == who && !s->replies)
			return s->id;
	}
	return (json_int_t)rng_below(&sim.rng, sim.next_id + 2);
}

static bool rid_found(struct request *req, void *arg)
{
	uint64_t *pick = arg;

	if (rng_one_in(&sim.rng, 2))
		*pick = req->rid;
	return !*pick;
}

/* Arguments that are right in form for op (their meaning may still be refused). */
static json_t *valid_args(int who, enum rdq_op op)
{
	const char *addr = addresses[rng_below(&sim.rng, 4)];
	json_int_t port = 7471 + (json_int_t)rng_below(&sim.rng, 3);
	bool flip = rng_one_in(&sim.rng, 2);

	switch (op) {
	case RDQ_OP_CANCEL:
		if (flip) {
			uint64_t rid = 0;

			request_foreach(&w.d, rid_found, &rid);
			return json_pack("{s:I}", "rid",
					 (json_int_t)(rid ? rid : 1 + rng_below(&sim.rng, 9)));
		}
		return json_pack("{s:I}", "req", own_pending(who));
	case RDQ_OP_EP_ATTACH:
		return json_pack("{s:I, s:I, s:I}", "ep", (json_int_t)own_pick(who), "qp_num",
				 (json_int_t)(0x100 + rng_below(&sim.rng, 64)), "timeout_ms",
				 timeout_pick(false));
	case RDQ_OP_EP_CONNECT:
		return json_pack("{s:s, s:I, s:I, s:b}", "addr", addr, "port", port, "timeout_ms",
				 timeout_pick(false), "tied", flip);
	case RDQ_OP_EP_DISCONNECT:
		return json_pack("{s:I, s:b, s:I}", "ep", (json_int_t)own_pick(who), "wait",
				 !rng_one_in(&sim.rng, 3), "timeout_ms", timeout_pick(false));
	case RDQ_OP_EP_ESTABLISH:
		return json_pack("{s:I, s:I}", "ep", (json_int_t)own_pick(who), "timeout_ms",
				 timeout_pick(false));
	case RDQ_OP_EP_DESTROY:
	case RDQ_OP_EP_FLUSHED:
		return json_pack("{s:I}", "ep", (json_int_t)own_pick(who));
	case RDQ_OP_EP_LISTEN: {
		static const char *const modes[] = {"echo", "serve", "direct"};
		json_t *args =
			json_pack("{s:s, s:I, s:s, s:I, s:b, s:I}", "addr", addr, "port", port,
				  "mode", modes[rng_below(&sim.rng, 3)], "max_connections",
				  (json_int_t)(1 + rng_below(&sim.rng, 3)), "tied", flip,
				  "timeout_ms", timeout_pick(false));

		/* Now and then a listener that waits for its address (numeric ones only). */
		if (addr[0] != 'f' && rng_one_in(&sim.rng, 3))
			json_object_set_new(args, "wait_address", json_true());
		return args;
	}
	case RDQ_OP_EP_RECV:
		return json_pack("{s:I, s:I}", "ep", (json_int_t)own_pick(who), "timeout_ms",
				 timeout_pick(true));
	case RDQ_OP_EP_RESOLVE:
		return json_pack("{s:s, s:I, s:I}", "addr", addr, "port", port, "timeout_ms",
				 timeout_pick(false));
	case RDQ_OP_EP_SEND:
		return json_pack("{s:I, s:s, s:b, s:I}", "ep", (json_int_t)own_pick(who), "data",
				 flip ? "hello" : "", "wait", rng_one_in(&sim.rng, 2), "timeout_ms",
				 timeout_pick(true));
	case RDQ_OP_EP_SENDRECV:
		return json_pack("{s:I, s:s, s:I}", "ep", (json_int_t)own_pick(who), "data", "ping",
				 "timeout_ms", timeout_pick(true));
	case RDQ_OP_EP_SHOW:
		return flip ? json_pack("{s:I}", "ep", (json_int_t)own_pick(who))
			    : json_pack("{s:I}", "limit", (json_int_t)(1 + rng_below(&sim.rng, 4)));
	case RDQ_OP_QP_DESTROY:
		return json_pack("{s:I}", "qp", (json_int_t)handle_pick());
	case RDQ_OP_REQUEST_LIST:
		return json_pack("{s:I}", "limit", (json_int_t)(1 + rng_below(&sim.rng, 4)));
	case RDQ_OP_WATCH:
		return json_pack("{s:b}", "on", flip);
	default:
		return NULL;
	}
}

/* ---------------------------------------------------- bad requests */

/* A value that is wrong for arg: another type, or out of its range. */
static json_t *wrong_value(const struct rdq_arg_spec *arg)
{
	bool type = rng_one_in(&sim.rng, 2);

	switch (arg->type) {
	case RDQ_ARG_HANDLE:
		return type ? json_string("1")
			    : json_integer(-1 - (json_int_t)rng_below(&sim.rng, 3));
	case RDQ_ARG_INT:
		if (type)
			return json_true();
		if (arg->min > INT64_MIN && rng_one_in(&sim.rng, 2))
			return json_integer(arg->min - 1);
		return arg->max < INT64_MAX ? json_integer(arg->max + 1) : json_string("big");
	case RDQ_ARG_BOOL:
		return type ? json_integer(1) : json_string("true");
	case RDQ_ARG_STRING:
		if (type || !arg->max)
			return json_integer(7);
		return json_string(
			"an address far longer than sixty-three bytes, which no host name may be");
	case RDQ_ARG_CHOICE:
		return type ? json_integer(0) : json_string("nonsense");
	}
	return json_null();
}

/* Sends op with one argument wrong, or a required one missing: EINVAL. */
static void send_bad_args(int who, enum rdq_op op)
{
	const struct rdq_op_spec *spec = &rdq_ops[op];
	const struct rdq_arg_spec *arg;
	json_t *args = valid_args(who, op);
	struct sent *s;

	if (!spec->nargs) {
		json_decref(args);
		return;
	}
	if (!args)
		args = json_object();
	arg = &spec->args[rng_below(&sim.rng, spec->nargs)];
	if (arg->required && rng_one_in(&sim.rng, 2))
		json_object_del(args, arg->name);
	else
		json_object_set_new(args, arg->name, wrong_value(arg));
	/* Another wrong argument may come first in the table's order: EINVAL either way. */
	s = sent_new(who, op, EXPECT_EINVAL);
	trace("c%d -> %s, %s bad (id %lld)", who, spec->name, arg->name, (long long)s->id);
	clients_send_id(who, s->id, spec->name, args);
}

/* Frames that are no request at all. */
static void send_garbage(int who)
{
	static const char *const frames[] = {
		"{\"v\":1,\"id\":",				 /* cut short */
		"[1,2,3]",					 /* not an object */
		"{\"v\":9,\"op\":\"status\"}",			 /* no version rdqd speaks */
		"\"\\\"quoted\\\"\"",				 /* a string */
		"{\"v\":1,\"id\":0,\"op\":\"version\",\"v\":1}", /* a field twice */
		"{\"v\":1,\"id\":0,\"op\":\"ep.show\",\"args\":{\"limit\":1,\"limit\":2}}",
	};
	unsigned i = (unsigned)rng_below(&sim.rng, sizeof(frames) / sizeof(frames[0]));

	trace("c%d -> a frame that is no request: %s", who, frames[i]);
	sim.anonymous_expected[who]++;
	clients_send_raw(who, frames[i], strlen(frames[i]));
}

/* An op rdqd does not have, named with quotes that its error message must escape. */
static void send_unknown_op(int who)
{
	struct sent *s = sent_new(who, -1, EXPECT_ENOTSUP);

	trace("c%d -> an unknown op (id %lld)", who, (long long)s->id);
	clients_send_id(who, s->id, "ep.\"frob\"\\", NULL);
}

void client_request(int who)
{
	/* dev.show is left out: the fakes have no device list. */
	/* Weighted toward the life of connections; every op is in (dev.show: no device list). */
	static const enum rdq_op ops[] = {
		RDQ_OP_EP_CONNECT,    RDQ_OP_EP_CONNECT, RDQ_OP_EP_CONNECT,    RDQ_OP_EP_CONNECT,
		RDQ_OP_EP_LISTEN,     RDQ_OP_EP_LISTEN,	 RDQ_OP_EP_LISTEN,     RDQ_OP_EP_RESOLVE,
		RDQ_OP_EP_RESOLVE,    RDQ_OP_EP_RESOLVE, RDQ_OP_EP_DISCONNECT, RDQ_OP_EP_DISCONNECT,
		RDQ_OP_EP_DISCONNECT, RDQ_OP_EP_SEND,	 RDQ_OP_EP_SEND,       RDQ_OP_EP_RECV,
		RDQ_OP_EP_SENDRECV,   RDQ_OP_EP_DESTROY, RDQ_OP_EP_DESTROY,    RDQ_OP_QP_DESTROY,
		RDQ_OP_CANCEL,	      RDQ_OP_CANCEL,	 RDQ_OP_EP_ATTACH,     RDQ_OP_EP_ESTABLISH,
		RDQ_OP_EP_FLUSHED,    RDQ_OP_EP_SHOW,	 RDQ_OP_REQUEST_LIST,  RDQ_OP_STATS,
		RDQ_OP_STATUS,	      RDQ_OP_VERSION,	 RDQ_OP_WATCH,
	};
	enum rdq_op op = ops[rng_below(&sim.rng, sizeof(ops) / sizeof(ops[0]))];
	unsigned kind = (unsigned)rng_below(&sim.rng, 40);
	struct sent *s;
	json_t *args;
	char *text;

	if (kind == 0) {
		send_garbage(who);
		return;
	}
	if (kind == 1) {
		send_unknown_op(who);
		return;
	}
	if (kind < 6) {
		send_bad_args(who, op);
		return;
	}
	sim.never_given = false;
	args = valid_args(who, op);
	s = sent_new(who, op, sim.never_given ? EXPECT_ENOENT : EXPECT_ANY);
	if (op == RDQ_OP_EP_LISTEN && args)
		rules_pick(args, s);
	sent_describe(s, args);
	if (op == RDQ_OP_EP_DESTROY)
		given_may_go(s->ep);
	text = args ? json_dumps(args, JSON_COMPACT) : NULL;
	trace("c%d -> %s %s (id %lld)", who, rdq_ops[op].name, text ? text : "", (long long)s->id);
	free(text);
	clients_send_id(who, s->id, rdq_ops[op].name, args);
}

/* What a request asks that its reply will be held to. */
static void sent_describe(struct sent *s, json_t *args)
{
	const char *mode = json_string_value(json_object_get(args, "mode"));
	json_int_t qp_num = json_integer_value(json_object_get(args, "qp_num"));

	s->ep = (rdq_handle_t)json_integer_value(json_object_get(args, "ep"));
	s->tied = json_is_true(json_object_get(args, "tied")) || s->op == RDQ_OP_EP_RESOLVE ||
		  (mode && strcmp(mode, "echo") != 0);
	s->waits = s->op == RDQ_OP_EP_SEND && json_is_true(json_object_get(args, "wait"));
	if (s->expect != EXPECT_ANY)
		return;
	if (s->op == RDQ_OP_EP_ATTACH && qp_num >= SIM_FOREIGN_QPS)
		s->expect = EXPECT_REFUSED;
	/* Nothing more is set up for a peer rdqd refused. */
	if ((s->op == RDQ_OP_EP_ATTACH || s->op == RDQ_OP_EP_ESTABLISH) && peer_was_refused(s->ep))
		s->expect = EXPECT_REFUSED;
	/* A receive may still give what arrived before the failure; a send may not go. */
	if (s->op == RDQ_OP_EP_SEND && connection_failed(s->ep))
		s->expect = EXPECT_FAILED;
}

/* ---------------------------------------------------------- replies */

/*
 * The statuses each op documents (docs/protocol.md), and those any request
 * may get: EINVAL for a meaning rdqd refuses, ENOENT for a handle it does
 * not know, ECANCELED (cancel, shutdown), and the injected faults' errors.
 */
static bool documented(int op, int err)
{
	static const int any[] = {0,	  EINVAL, ENOENT, ECANCELED, ESHUTDOWN,
				  ENOMEM, EAGAIN, EBUSY,  ENODEV,    ETIMEDOUT};
	static const int connect[] = {ECONNREFUSED,  EHOSTUNREACH, ECONNRESET, EPERM,
				      EUSERS,	     EDQUOT,	   ENOTCONN,   EADDRINUSE,
				      EADDRNOTAVAIL, ENOBUFS,	   EMSGSIZE,   EALREADY,
				      EOPNOTSUPP,    EIO,	   ENETDOWN};

	for (unsigned i = 0; i < sizeof(any) / sizeof(any[0]); i++)
		if (err == any[i])
			return true;
	(void)op;
	for (unsigned i = 0; i < sizeof(connect) / sizeof(connect[0]); i++)
		if (err == connect[i])
			return true;
	return false;
}

static void check_reply(const struct reply *r)
{
	struct sent *s = r->id > 0 ? sent_find(r->id) : NULL;

	if (r->id <= 0) {
		/* A frame that was no request: EBADMSG, or a version rdqd does not speak. */
		if (r->err != EBADMSG && r->err != EPROTONOSUPPORT)
			sim_fail("c%d: a reply without a request id: %s \"%s\"", r->who,
				 errname(r->err), r->message);
		sim.anonymous_seen[r->who]++;
		if (sim.anonymous_seen[r->who] > sim.anonymous_expected[r->who])
			sim_fail("c%d: more replies without an id than bad frames sent", r->who);
		return;
	}
	if (!s)
		sim_fail("c%d: a reply to id %lld, which it never sent", r->who, (long long)r->id);
	if (s->client != r->who)
		sim_fail("c%d: the reply to id %lld, which c%d sent", r->who, (long long)r->id,
			 s->client);
	s->err = r->err;
	if (++s->replies > 1)
		sim_fail("c%d: a second reply to id %lld (%s \"%s\")", r->who, (long long)r->id,
			 errname(r->err), r->message);
	trace("c%d <- id %lld %s%s%s", r->who, (long long)r->id, errname(r->err),
	      r->err ? ": " : "", r->message);
	switch (s->expect) {
	case EXPECT_EINVAL:
		if (r->err != EINVAL)
			sim_fail("id %lld, bad in an argument, got %s \"%s\"", (long long)r->id,
				 errname(r->err), r->message);
		return;
	case EXPECT_ENOTSUP:
		if (r->err != EOPNOTSUPP)
			sim_fail("id %lld, an unknown op, got %s", (long long)r->id,
				 errname(r->err));
		return;
	case EXPECT_ENOENT:
		if (r->err != ENOENT)
			sim_fail("id %lld (%s) names a handle rdqd never gave, and got %s \"%s\"",
				 (long long)r->id, rdq_ops[s->op].name, errname(r->err),
				 r->message);
		return;
	case EXPECT_CANCELED:
		if (r->err != ECANCELED && r->err != ESHUTDOWN)
			sim_fail("id %lld (%s) was queued when rdqd was told to stop, and got %s "
				 "\"%s\"",
				 (long long)r->id, rdq_ops[s->op].name, errname(r->err),
				 r->message);
		return;
	case EXPECT_REFUSED:
		if (!r->err)
			sim_fail("id %lld (%s, ep %llu) succeeded: %s", (long long)r->id,
				 rdq_ops[s->op].name, (unsigned long long)s->ep,
				 s->op == RDQ_OP_EP_ATTACH ? "the QP is another process's"
							   : "its connection had failed");
		break;
	case EXPECT_FAILED:
		/* Later sends and receives say why the connection failed (docs/protocol.md). */
		/* Or what the request itself gets first: no such op here, no bytes given. */
		if (r->err != ETIMEDOUT && r->err != ENOENT && r->err != ECANCELED &&
		    r->err != ESHUTDOWN && r->err != EOPNOTSUPP && r->err != EINVAL)
			sim_fail("id %lld (%s) on ep %llu, whose connection failed, got %s \"%s\"",
				 (long long)r->id, rdq_ops[s->op].name, (unsigned long long)s->ep,
				 errname(r->err), r->message);
		return;
	case EXPECT_ANY:
		break;
	}
	if (r->err == EDQUOT)
		quota_check(s);
	/* A program whose ep.attach failed may try again, with another QP. */
	if (r->err && s->op == RDQ_OP_EP_ATTACH && rng_one_in(&sim.rng, 2))
		react_later(r->who, "retry", s->ep);
	if (!documented(s->op, r->err))
		sim_fail("id %lld (%s) got %s \"%s\", which the op does not document",
			 (long long)r->id, rdq_ops[s->op].name, errname(r->err), r->message);
	if (r->err && !r->message[0])
		sim_fail("id %lld: an error without a message", (long long)r->id);
	if (!r->err && r->result) {
		rdq_handle_t ep =
			(rdq_handle_t)json_integer_value(json_object_get(r->result, "ep"));

		handle_seen(ep);
		handle_seen((rdq_handle_t)json_integer_value(json_object_get(r->result, "qp")));
		if (!s->ep)
			s->ep = ep;
		if (s->op == RDQ_OP_EP_RECV || s->op == RDQ_OP_EP_SENDRECV)
			message_received(s, json_string_value(json_object_get(r->result, "data")));
		if (s->op == RDQ_OP_EP_CONNECT || s->op == RDQ_OP_EP_RESOLVE ||
		    s->op == RDQ_OP_EP_LISTEN) {
			name_handle(ep);
			given_record(r->who, ep, s->tied, false);
		}
		if (s->op == RDQ_OP_EP_LISTEN)
			rules_listener(ep, s->rules);
		/* A direct client goes on: its QP after ep.resolve, the RTU after ep.attach. */
		if (s->op == RDQ_OP_EP_RESOLVE)
			react_later(r->who, "request", ep);
		else if (s->op == RDQ_OP_EP_ATTACH)
			react_later(r->who, "attached", ep);
		else if (s->op == RDQ_OP_EP_CONNECT || s->op == RDQ_OP_EP_ESTABLISH)
			react_later(r->who, "connected", s->op == RDQ_OP_EP_CONNECT ? ep : s->ep);
	}
}

void replies_check(void)
{
	unsigned n = clients_nreplies();

	for (unsigned i = 0; i < n; i++)
		check_reply(clients_reply_at(i));
	clients_forget_replies();
}

/* -------------------------------------------------------- reactions */

void react_later(int who, const char *what, rdq_handle_t ep)
{
	struct reaction *r;

	if (sim.nreactions == SIM_MAX_REACTIONS)
		return; /* a client too busy to act on everything: a silent one */
	r = &sim.reactions[sim.nreactions++];
	r->client = who;
	r->ep = ep;
	snprintf(r->what, sizeof(r->what), "%s", what);
}

void client_event(int who, json_t *event)
{
	const char *name = json_string_value(json_object_get(event, "event"));
	rdq_handle_t ep = (rdq_handle_t)json_integer_value(json_object_get(event, "ep"));

	trace("c%d <- event %s ep %llu", who, name ? name : "?", (unsigned long long)ep);
	handle_seen(ep);
	/* A served or direct listener's connection is its client's, tied to it. */
	if (name && strcmp(name, "ep.accepted") == 0) {
		given_record(who, ep, true, true);
		react_later(who, "connected", ep);
	}
	if (name && strcmp(name, "ep.request") == 0)
		given_record(who, ep, true, false);
	if (name && (strcmp(name, "ep.request") == 0 || strcmp(name, "ep.flush") == 0))
		react_later(who, name + 3, ep);
}

static void react(struct reaction r, bool right)
{
	struct sent *s;
	json_t *args;
	enum rdq_op op;

	if (sim.closed[r.client])
		return;
	if (strcmp(r.what, "flush") == 0) {
		op = RDQ_OP_EP_FLUSHED;
		args = json_pack("{s:I}", "ep", (json_int_t)r.ep);
	} else if (strcmp(r.what, "recv") == 0) {
		op = RDQ_OP_EP_RECV;
		args = json_pack("{s:I, s:I}", "ep", (json_int_t)r.ep, "timeout_ms", (json_int_t)0);
	} else if (strcmp(r.what, "send") == 0) {
		op = RDQ_OP_EP_SEND;
		args = json_pack("{s:I, s:s}", "ep", (json_int_t)r.ep, "data", "after");
	} else if (strcmp(r.what, "connected") == 0) {
		/* A program with a connection: it ends it, mostly; or uses it, or drops it. */
		/* At the end: half the connections end, half wait for the peer's next message. */
		unsigned what = right ? (r.ep % 2 ? 0 : 4) : (unsigned)rng_below(&sim.rng, 6);

		op = what < 3	 ? RDQ_OP_EP_DISCONNECT
		     : what == 3 ? RDQ_OP_EP_SEND
		     : what == 4 ? RDQ_OP_EP_RECV
				 : RDQ_OP_EP_DESTROY;
		args = op == RDQ_OP_EP_DISCONNECT
			       ? json_pack("{s:I, s:b, s:I}", "ep", (json_int_t)r.ep, "wait",
					   what != 1, "timeout_ms", (json_int_t)LONG_MS)
		       : op == RDQ_OP_EP_SEND
			       ? json_pack("{s:I, s:s}", "ep", (json_int_t)r.ep, "data", "x")
		       : op == RDQ_OP_EP_RECV
			       ? json_pack("{s:I, s:I}", "ep", (json_int_t)r.ep, "timeout_ms",
					   right || rng_one_in(&sim.rng, 2) ? (json_int_t)LONG_MS
									    : 0)
			       : json_pack("{s:I}", "ep", (json_int_t)r.ep);
	} else if (strcmp(r.what, "attached") == 0 || (!right && rng_one_in(&sim.rng, 6))) {
		op = RDQ_OP_EP_ESTABLISH;
		args = json_pack("{s:I, s:I}", "ep", (json_int_t)r.ep, "timeout_ms",
				 (json_int_t)LONG_MS);
	} else {
		/* Now and then the QP is another process's; a retry's, one time in two. */
		bool foreign = !right && rng_one_in(&sim.rng, strcmp(r.what, "retry") ? 6 : 2);

		op = RDQ_OP_EP_ATTACH;
		args = json_pack("{s:I, s:I, s:I}", "ep", (json_int_t)r.ep, "qp_num",
				 (json_int_t)(0x200 + r.ep) + (foreign ? SIM_FOREIGN_QPS : 0),
				 "timeout_ms", (json_int_t)LONG_MS);
	}
	s = sent_new(r.client, op, EXPECT_ANY);
	sent_describe(s, args);
	if (op == RDQ_OP_EP_DESTROY)
		given_may_go(s->ep);
	trace("c%d -> %s ep %llu, acting on ep.%s (id %lld)", r.client, rdq_ops[op].name,
	      (unsigned long long)r.ep, r.what, (long long)s->id);
	clients_send_id(r.client, s->id, rdq_ops[op].name, args);
}

/* A client acts on one thing it was told, as librdq would (or does it twice, or wrongly). */
bool client_react(void)
{
	unsigned i;
	struct reaction r;

	if (!sim.nreactions)
		return false;
	i = (unsigned)rng_below(&sim.rng, sim.nreactions);
	r = sim.reactions[i];
	if (!rng_one_in(&sim.rng, 8)) /* now and then a client acts twice */
		sim.reactions[i] = sim.reactions[--sim.nreactions];
	react(r, false);
	return true;
}

bool client_react_first(void)
{
	struct reaction r;

	if (!sim.nreactions)
		return false;
	r = sim.reactions[0];
	sim.reactions[0] = sim.reactions[--sim.nreactions];
	react(r, true);
	return true;
}

static bool mark_queued(struct request *req, void *arg)
{
	struct sent *s = sent_find(req->id);

	(void)arg;
	if (req->state == REQ_QUEUED && s && !s->replies && s->expect == EXPECT_ANY)
		s->expect = EXPECT_CANCELED;
	return true;
}

void requests_queued_at_shutdown(void)
{
	request_foreach(&w.d, mark_queued, NULL);
}

bool may_wait_forever(const struct sent *s)
{
	/* No message arrives and no send completes in this world: these wait for them. */
	return s->op == RDQ_OP_EP_RECV || s->op == RDQ_OP_EP_SENDRECV || s->waits;
}

int64_t client_send_op(int who, int op, json_t *args)
{
	struct sent *s = sent_new(who, op, EXPECT_ANY);

	sent_describe(s, args);
	trace("c%d -> %s (id %lld)", who, rdq_ops[op].name, (long long)s->id);
	clients_send_id(who, s->id, rdq_ops[op].name, args);
	return s->id;
}

const struct sent *client_sent(int64_t id)
{
	return sent_find(id);
}

void reactions_drop(const char *what)
{
	for (unsigned i = 0; i < sim.nreactions;)
		if (strcmp(sim.reactions[i].what, what) == 0)
			sim.reactions[i] = sim.reactions[--sim.nreactions];
		else
			i++;
}
