/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <rdma/rdma_cma.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>

#include "shares.h"
#include "session.h"
#include "clients.h"
#include "control.h"
#include "endpoint.h"
#include "engine/level.h"
#include "fakes.h"
#include "object.h"
#include "protocol/errname.h"
#include "request.h"
#include "shutdown.h"
#include "work.h"

/* More rounds than any case needs to run everything that is queued. */
#define SETTLE_ROUNDS 1000

struct world w;

static struct rdma_event_channel dummy_channel = {.fd = -1};

const char *errname(int err)
{
	return err ? rdq_errno_name(err) : "ok";
}

/* ------------------------------------------------------------ the loop */

bool settle(void)
{
	for (unsigned i = 0; i < SETTLE_ROUNDS; i++) {
		clients_pump();
		if (rdqd_work_returned(&w.d))
			continue;
		if (!workers_run_queued(&w.d.workers, NULL))
			return true;
	}
	return false;
}

void step(work_fn fn)
{
	assert_true(workers_run_queued(&w.d.workers, fn));
	assert_int_equal(rdqd_work_returned(&w.d), 1);
	clients_pump();
}

struct request_search {
	int64_t id;   /* a client's request id, or -1 */
	uint64_t rid; /* or the daemon's number, or 0 */
	struct request *found;
};

static bool request_matches(struct request *req, void *arg)
{
	struct request_search *s = arg;

	if (req->id != s->id && req->rid != s->rid)
		return true;
	s->found = req;
	return false;
}

struct request *pending_request(uint64_t rid, int64_t id)
{
	struct request_search s = {.id = rid ? -1 : id, .rid = rid};

	request_foreach(&w.d, request_matches, &s);
	return s.found;
}

/* --------------------------------------------------------- the events */

/*
 * The events are requests from the other client, a closed socket, rdma_cm
 * events through the real switch, the clock reaching a deadline, and the real
 * shutdown. They may run inside a hook, in the middle of a worker step, so
 * they record and never assert.
 */

/* Whether a worker's step holds the endpoint's lock now (the test thread, inside a hook). */
static bool ep_lock_held(struct ep *ep)
{
	if (pthread_mutex_trylock(&ep->lock) != 0)
		return true;
	pthread_mutex_unlock(&ep->lock);
	return false;
}

/*
 * With now, a second worker is free: it takes fn's step at once, if the
 * endpoint's event queue lets the step reach the workers. Without an event
 * queue it does, but the step takes ep->lock, which the running step holds: a
 * real worker would wait there, so the test thread (which holds the lock
 * itself) only notes that it would.
 */
static void second_worker(struct ep *ep, work_fn fn)
{
	if (w.d.opt.sync_scope == SYNC_NONE && ep_lock_held(ep))
		w.lock_waits++;
	else if (workers_run_queued(&w.d.workers, fn))
		w.second_worker_runs++;
}

/*
 * op (ep.destroy or qp.destroy of h) from the other client; with now, a
 * second worker is free for endpoint ep's step fn.
 */
static int64_t destroy(const char *op, const char *key, rdq_handle_t h, rdq_handle_t ep_h, bool now,
		       work_fn fn)
{
	/* The test's own reference, for the lock check: the request unpublishes the endpoint. */
	struct ep *ep = endpoint_lookup(&w.d, ep_h, w.uid);
	int64_t id = clients_send(ADMIN, op, json_pack("{s:I}", key, (json_int_t)h));

	if (ep && now && fn)
		second_worker(ep, fn);
	object_unref(ep);
	return id;
}

/*
 * The clock reaches the request's deadline: its timer fires if it is still
 * armed, whatever the request's state (a dequeued request's timer must be
 * gone, and a case where it is not fails here); the loop runs it.
 */
static void fire_deadline(void)
{
	struct request *req = pending_request(w.r_rid, 0);

	if (req && req->deadline && evtimer_pending(req->deadline, NULL)) {
		w.deadlines_armed++;
		event_active(req->deadline, EV_TIMEOUT, 1);
	}
	clients_pump();
}

/* An rdma_cm event for endpoint h, through the real switch (cm.c acked it already). */
static void cm_event(rdq_handle_t h, int type, int status, struct rdma_cm_id *new_id)
{
	endpoint_cm_event(&w.d, h, type, status, new_id, NULL);
	clients_pump();
}

int64_t fire(enum race_event ev)
{
	switch (ev) {
	case EV_NONE:
		break;
	case EV_CANCEL:
		return clients_send(ADMIN, "cancel",
				    json_pack("{s:I}", "rid", (json_int_t)w.r_rid));
	case EV_CLOSE:
		clients_close(CLIENT);
		break;
	case EV_DESTROY:
	case EV_DESTROY_NOW:
		return destroy("ep.destroy", "ep", w.ep, w.ep, ev == EV_DESTROY_NOW,
			       ep_work_teardown);
	case EV_QP_DESTROY:
	case EV_QP_DESTROY_NOW:
		return destroy("qp.destroy", "qp", w.qp, w.ep, ev == EV_QP_DESTROY_NOW,
			       ep_work_qp_destroy);
	case EV_DESTROY_LISTENER:
		return destroy("ep.destroy", "ep", w.listener, w.listener, false, NULL);
	case EV_DISCONNECTED:
		cm_event(w.ep, RDMA_CM_EVENT_DISCONNECTED, 0, NULL);
		break;
	case EV_DREQ_TIMEOUT:
		cm_event(w.ep, RDMA_CM_EVENT_DISCONNECTED, -ETIMEDOUT, NULL);
		break;
	case EV_DEADLINE:
		fire_deadline();
		break;
	case EV_DEVICE_REMOVAL:
		cm_event(w.ep, RDMA_CM_EVENT_DEVICE_REMOVAL, 0, NULL);
		break;
	case EV_LISTENER_REMOVAL:
		cm_event(w.listener, RDMA_CM_EVENT_DEVICE_REMOVAL, 0, NULL);
		break;
	case EV_SHUTDOWN:
		rdqd_shutdown(&w.d);
		clients_pump();
		break;
	case EV_ADDR_RESOLVED:
		cm_event(w.ep, RDMA_CM_EVENT_ADDR_RESOLVED, 0, NULL);
		break;
	case EV_ROUTE_RESOLVED:
		cm_event(w.ep, RDMA_CM_EVENT_ROUTE_RESOLVED, 0, NULL);
		break;
	case EV_CONNECT_RESPONSE:
		cm_event(w.ep, RDMA_CM_EVENT_CONNECT_RESPONSE, 0, NULL);
		break;
	case EV_ESTABLISHED:
		cm_event(w.ep, RDMA_CM_EVENT_ESTABLISHED, 0, NULL);
		break;
	case EV_REJECTED:
		cm_event(w.ep, RDMA_CM_EVENT_REJECTED, 0, NULL);
		break;
	case EV_UNREACHABLE:
		cm_event(w.ep, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT, NULL);
		break;
	case EV_CONNECT_REQUEST:
		cm_event(w.listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0, fake_incoming_id());
		break;
	}
	return 0;
}

void hook_fire(void *arg)
{
	enum rdq_level level = rdq_level_current();

	rdq_level_set(RDQ_LEVEL_DISPATCH);
	w.first_id = fire(*(const enum race_event *)arg);
	rdq_level_set(level);
}

/* ------------------------------------------------------------ fixture */

int world_start(enum sync_scope scope)
{
	return world_start_clients(scope, NCLIENTS);
}

int world_start_clients(enum sync_scope scope, int nclients)
{
	struct rdqd *d = &w.d;

	memset(&w, 0, sizeof(w));
	/* As rdqd does: a client that closed must not kill the daemon's writes. */
	signal(SIGPIPE, SIG_IGN);
	fake_reset();
	rdq_level_set(RDQ_LEVEL_DISPATCH);
	w.uid = getuid();
	snprintf(w.dir, sizeof(w.dir), "/tmp/rdq-race-XXXXXX");
	if (!mkdtemp(w.dir))
		return -1;
	snprintf(w.socket_path, sizeof(w.socket_path), "%s/rdqd.sock", w.dir);
	d->opt = (struct rdqd_options){
		.socket_path = w.socket_path,
		.max_pending = 64,
		.max_endpoints = 16,
		.max_network_endpoints = 16,
		.max_clients = 8,
		.max_clients_per_user = 8,
		.sync_scope = scope,
		.disconnect_timeout_ms = FAR_MS,
		.max_message = 65536,
		.recv_backlog = 64,
	};
	d->listen_fd = -1;
	d->device_watch.uevent_fd = -1;
	d->spare_fd = -1;
	d->base = event_base_new();
	if (!d->base || handle_table_init(&d->objects, 1u << 24, object_acquire) < 0 ||
	    handle_table_init(&d->conns, d->opt.max_clients, NULL) < 0 ||
	    workers_start(&d->workers, WORKERS_MANUAL, 4, 0, sizeof(struct rdqd_work)) < 0)
		return -1;
	endpoints_init(d);
	d->cm = &dummy_channel;
	if (session_start(d) < 0)
		return -1;
	clients_open(d, nclients);
	return control_connections(d) == (unsigned)nclients ? 0 : -1;
}

void world_stop(void)
{
	struct rdqd *d = &w.d;

	rdq_level_set(RDQ_LEVEL_DISPATCH);
	for (int at = 0; at < FAKE_POINTS; at++)
		fake_hook_set(at, NULL, NULL);
	endpoint_destroy_all(d);
	settle();
	clients_reset();
	clients_pump();
	settle();
	control_stop_accepting(d);
	control_close_all(d, true);
	if (d->shutdown_timer)
		event_free(d->shutdown_timer);
	rdq_level_set(RDQ_LEVEL_PASSIVE);
	workers_stop(&d->workers);
	endpoints_fini(d);
	handle_table_fini(&d->objects);
	handle_table_fini(&d->conns);
	shares_fini(d);
	event_base_free(d->base);
	rmdir(w.dir);
	fake_reset();
	rdq_level_set(RDQ_LEVEL_UNSET);
}

rdq_handle_t listener_first_child(void)
{
	struct ep *listener = endpoint_lookup(&w.d, w.listener, w.uid);
	rdq_handle_t h = listener && listener->nchildren ? listener->children[0] : 0;

	object_unref(listener);
	return h;
}

void world_connect_steps(int64_t id)
{
	struct request *req = pending_request(0, id);

	assert_non_null(req);
	w.ep = req->ep; /* the request waits on the endpoint, so it is still there to read */
	step(ep_work_resolve_addr);
	fire(EV_ADDR_RESOLVED);
	step(ep_work_resolve_route);
	fire(EV_ROUTE_RESOLVED);
	step(ep_work_connect);
	fire(EV_CONNECT_RESPONSE);
	step(ep_work_establish);
}

/* An active endpoint, connected through the real state machine, step by step. */
void world_connect(bool tied)
{
	struct rdqd *d = &w.d;
	int64_t id = clients_send(CLIENT, "ep.connect",
				  json_pack("{s:s, s:i, s:I, s:b}", "addr", "127.0.0.1", "port",
					    7471, "timeout_ms", (json_int_t)FAR_MS, "tied", tied));
	const struct reply *reply;
	struct ep *ep;

	if (!pending_request(0, id) && clients_replies_for(CLIENT, id, &reply))
		print_message("ep.connect: %s \"%s\"\n", errname(reply->err), reply->message);
	world_connect_steps(id);

	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "ok");
	assert_int_equal(json_integer_value(json_object_get(reply->result, "ep")), w.ep);
	w.qp = (rdq_handle_t)json_integer_value(json_object_get(reply->result, "qp"));
	assert_non_null(fake_qp_by_handle(w.qp));
	ep = endpoint_lookup(d, w.ep, w.uid);
	assert_non_null(ep);
	assert_string_equal(ep_state_name(ep->state), "connected");
	object_unref(ep);
	assert_int_equal(workers_in_use(&d->workers), 0);
	assert_int_equal(fake.nids, 1);
}

/* ------------------------------------------------------------- checks */

static unsigned bucket_of(int err)
{
	for (unsigned i = 0; i < REQ_STATUS_BUCKETS - 1; i++)
		if (strcmp(request_status_name(i), errname(err)) == 0)
			return i;
	return REQ_STATUS_BUCKETS - 1;
}

/*
 * The request under test completed exactly once, with status: answered on
 * its connection, or, if that closed first, counted as dropped in the
 * status's bucket (the only dropped completion of the case).
 */

void check_completed_once(int64_t id, uint64_t rid, int status)
{
	const struct reply *reply = NULL;
	unsigned replies;
	uint64_t in_bucket;

	clients_pump();
	replies = clients_replies_for(CLIENT, id, &reply);
	assert_null(pending_request(rid, 0));
	if (replies) {
		assert_int_equal(replies, 1);
		if (reply->err != status)
			print_message("request %lld: %s \"%s\"\n", (long long)id,
				      errname(reply->err), reply->message);
		assert_string_equal(errname(reply->err), errname(status));
		assert_int_equal(w.d.counters.dropped, 0);
		return;
	}
	/* Orphaned: its connection closed before it completed. */
	assert_true(clients_closed(CLIENT));
	assert_int_equal(w.d.counters.dropped, 1);
	in_bucket = clients_replies_with(status);
	if (w.d.counters.by_status[bucket_of(status)] != in_bucket + 1)
		for (unsigned b = 0; b < REQ_STATUS_BUCKETS; b++)
			print_message("by_status %s: %llu\n", request_status_name(b),
				      (unsigned long long)w.d.counters.by_status[b]);
	assert_int_equal(w.d.counters.by_status[bucket_of(status)], in_bucket + 1);
}

void check_event_reply(int64_t id, int expected)
{
	const struct reply *reply = NULL;

	if (!id)
		return;
	assert_int_equal(clients_replies_for(ADMIN, id, &reply), 1);
	if (reply->err != expected)
		print_message("event request %lld: %s \"%s\"\n", (long long)id, errname(reply->err),
			      reply->message);
	assert_string_equal(errname(reply->err), errname(expected));
}

/* Where the request was when the first event came: what the stage promises. */

/* rdma_reject calls on every id made. */
static unsigned rejects_sent(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fake.nids; i++)
		n += fake.ids[i].rejects;
	return n;
}

/* The first way the world is not balanced and empty, in words, or NULL. */
const char *world_leftovers(void)
{
	static char why[160];
	struct rdqd *d = &w.d;
	const struct rdqd_counters *n = &d->counters;

#define LEFT(cond, ...)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(why, sizeof(why), __VA_ARGS__);                                   \
			return why;                                                                \
		}                                                                                  \
	} while (0)
	LEFT(n->pending == 0, "%llu requests pending", (unsigned long long)n->pending);
	LEFT(n->completed == n->received, "%llu requests received, %llu completed",
	     (unsigned long long)n->received, (unsigned long long)n->completed);
	LEFT(n->replied + n->dropped == n->completed + n->rejected,
	     "%llu replied + %llu dropped != %llu completed + %llu rejected",
	     (unsigned long long)n->replied, (unsigned long long)n->dropped,
	     (unsigned long long)n->completed, (unsigned long long)n->rejected);
	LEFT(workers_in_use(&d->workers) == 0, "%llu work items out of the pool",
	     (unsigned long long)workers_in_use(&d->workers));
	LEFT(handle_table_count(&d->objects) == 0, "%u objects still published",
	     (unsigned)handle_table_count(&d->objects));
	/* Every object published was counted in its owner's share, and uncounted once. */
	LEFT(shares_total(d, SHARE_ENDPOINTS) == 0, "endpoint shares not returned");
	LEFT(shares_total(d, SHARE_NETWORK_ENDPOINTS) == 0, "network endpoint shares not returned");
	LEFT(shares_total(d, SHARE_QPS) == 0, "QP shares not returned");
	LEFT(shares_count(d, w.uid, SHARE_ENDPOINTS) == 0,
	     "the user's endpoint share not returned");
	LEFT(shares_count(d, w.uid, SHARE_NETWORK_ENDPOINTS) == 0,
	     "the user's network endpoint share not returned");
	/* Every peer's connection request was accepted or rejected, for one reason. */
	LEFT(n->net_requests == n->net_accepted + n->net_rejected_listener_full +
					n->net_rejected_daemon_full + n->net_rejected_nofd +
					n->net_rejected_no_server + n->net_rejected_other +
					n->net_rejected_by_rule,
	     "%llu peers' requests, not each accepted or rejected once",
	     (unsigned long long)n->net_requests);
	/* Each rejected one was answered through rdma_cm (so were accepts that failed). */
	LEFT(rejects_sent() >= n->net_requests - n->net_accepted,
	     "%u rejects sent for %llu requests not accepted", rejects_sent(),
	     (unsigned long long)(n->net_requests - n->net_accepted));
	for (unsigned i = 0; i < fake.nids; i++) {
		LEFT(fake.ids[i].destroys == 1, "rdma_cm_id #%u destroyed %u times", i,
		     fake.ids[i].destroys);
		LEFT(fake.ids[i].used_after_destroy == 0, "rdma_cm_id #%u used after its destroy",
		     i);
	}
	for (unsigned i = 0; i < fake.nqps; i++) {
		const struct fake_qp *q = &fake.qps[i];

		LEFT(q->teardowns == 1, "QP #%u torn down %u times", i, q->teardowns);
		LEFT(q->released == 1, "QP #%u released %u times", i, q->released);
		LEFT(q->to_error <= 1, "QP #%u moved to error %u times", i, q->to_error);
		LEFT(q->error_on_freed == 0, "QP #%u moved to error after its teardown", i);
		LEFT(q->deactivations == q->activations, "QP #%u activated %u, deactivated %u", i,
		     q->activations, q->deactivations);
	}
	LEFT(fake.unexpected == 0, "%u calls the fakes did not expect", fake.unexpected);
	LEFT(fake.overflows == 0, "%u records did not fit", fake.overflows);
#undef LEFT
	return NULL;
}

void check_nothing_left(void)
{
	const char *why;

	endpoint_destroy_all(&w.d);
	assert_true(settle());
	why = world_leftovers();
	if (why)
		print_message("left: %s\n", why);
	assert_null(why);
	/* Still one completion: the clean-up completed nothing twice. */
	assert_true(clients_replies_for(CLIENT, w.r_id, NULL) <= 1);
}
