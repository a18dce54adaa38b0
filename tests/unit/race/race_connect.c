/* SPDX-License-Identifier: MIT */
/*
 * The race tables of making a connection: an ep.connect in each step of its
 * way (resolving, the connect step queued, running or returning, waiting for
 * the peer, establishing) and a peer's connection on a listener (its accept
 * queued, running, returning, or waiting for ESTABLISHED), each against the
 * events that can come meanwhile. Each case asserts the connect's single
 * completion, where the endpoints end up (connected, or gone), how many QPs
 * were made, accepts and rejects sent, and then, as every table does, that
 * nothing is left.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clients.h"
#include "endpoint.h"
#include "fakes.h"
#include "harness.h"
#include "object.h"
#include "race_connect.h"
#include "request.h"

/* ------------------------------------------------------ the active side */

enum connect_stage {
	CS_RESOLVE_QUEUED,    /* ep.connect issued: the address step waits for a worker */
	CS_ROUTE_QUEUED,      /* ADDR_RESOLVED came: the route step waits */
	CS_CONNECT_QUEUED,    /* ROUTE_RESOLVED came: the connect step (QP, rdma_connect) waits */
	CS_CONNECT_RUNNING,   /* a worker is inside rdma_connect; the QP is made */
	CS_CONNECT_RETURNING, /* the connect step ran; its item, with the new QP, waits for the loop
			       */
	CS_WAIT_RESPONSE,     /* the QP is the endpoint's; waiting for the peer's answer */
	CS_ESTABLISH_QUEUED,  /* CONNECT_RESPONSE came: the establish step waits */
};

struct connect_case {
	const char *name;
	bool tied;
	enum connect_stage stage;
	enum race_event first, then;
	int status;	 /* the ep.connect's one completion */
	int first_reply; /* the reply to the first event's own request, if it made one */
	bool connected;	 /* the endpoint ends up connected; else it is gone */
	bool no_id;	 /* it is gone before its address step could make its rdma_cm_id */
	unsigned errors; /* ep.error events a watcher of the owner gets: a failed connect, or
			  * a peer unreachable while connected */
	unsigned qps;	 /* QPs made (each torn down once: the checks that end every case) */
};

/* clang-format off */
static const struct connect_case connect_cases[] = {
	{.name = "connect_completes",
	 .stage = CS_WAIT_RESPONSE, .first = EV_CONNECT_RESPONSE,
	 .status = 0, .connected = true, .qps = 1},
	{.name = "response_while_connect_step_returning_is_kept",
	 .stage = CS_CONNECT_RETURNING, .first = EV_CONNECT_RESPONSE,
	 .status = 0, .connected = true, .qps = 1},
	{.name = "response_while_connect_step_running_is_kept",
	 .stage = CS_CONNECT_RUNNING, .first = EV_CONNECT_RESPONSE,
	 .status = 0, .connected = true, .qps = 1},

	{.name = "unreachable_when_connected_is_reported_and_kept",
	 .stage = CS_WAIT_RESPONSE, .first = EV_CONNECT_RESPONSE, .then = EV_UNREACHABLE,
	 .status = 0, .connected = true, .qps = 1, .errors = 1},
	{.name = "unreachable_while_connecting_fails_the_connect",
	 .stage = CS_WAIT_RESPONSE, .first = EV_UNREACHABLE,
	 .status = ETIMEDOUT, .qps = 1, .errors = 1},

	{.name = "destroy_while_resolve_queued",
	 .stage = CS_RESOLVE_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .no_id = true, .qps = 0},
	{.name = "destroy_while_connect_step_running_discards_its_qp",
	 .stage = CS_CONNECT_RUNNING, .first = EV_DESTROY,
	 .status = ECANCELED, .qps = 1},
	{.name = "destroy_while_connect_step_returning_discards_its_qp",
	 .stage = CS_CONNECT_RETURNING, .first = EV_DESTROY,
	 .status = ECANCELED, .qps = 1},
	{.name = "destroy_while_establish_queued",
	 .stage = CS_ESTABLISH_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .qps = 1},

	{.name = "cancel_while_resolving_destroys_the_endpoint",
	 .stage = CS_RESOLVE_QUEUED, .first = EV_CANCEL,
	 .status = ECANCELED, .no_id = true, .qps = 0},
	{.name = "cancel_while_connect_step_running",
	 .stage = CS_CONNECT_RUNNING, .first = EV_CANCEL,
	 .status = ECANCELED, .qps = 1},
	{.name = "cancel_while_establish_queued",
	 .stage = CS_ESTABLISH_QUEUED, .first = EV_CANCEL,
	 .status = ECANCELED, .qps = 1},
	{.name = "response_after_cancel_is_stale",
	 .stage = CS_WAIT_RESPONSE, .first = EV_CANCEL, .then = EV_CONNECT_RESPONSE,
	 .status = ECANCELED, .qps = 1},

	{.name = "deadline_while_route_queued",
	 .stage = CS_ROUTE_QUEUED, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qps = 0},
	{.name = "deadline_while_connect_step_running",
	 .stage = CS_CONNECT_RUNNING, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qps = 1},
	{.name = "response_after_deadline_is_stale",
	 .stage = CS_WAIT_RESPONSE, .first = EV_DEADLINE, .then = EV_CONNECT_RESPONSE,
	 .status = ETIMEDOUT, .qps = 1},

	{.name = "rejected_by_the_peer",
	 .stage = CS_WAIT_RESPONSE, .first = EV_REJECTED,
	 .status = ECONNREFUSED, .qps = 1, .errors = 1},
	{.name = "unreachable_while_connect_step_returning",
	 .stage = CS_CONNECT_RETURNING, .first = EV_UNREACHABLE,
	 .status = ETIMEDOUT, .qps = 1, .errors = 1},
	{.name = "rejected_while_connect_step_running",
	 .stage = CS_CONNECT_RUNNING, .first = EV_REJECTED,
	 .status = ECONNREFUSED, .qps = 1, .errors = 1},

	{.name = "device_removal_while_route_queued",
	 .stage = CS_ROUTE_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qps = 0, .errors = 1},
	{.name = "device_removal_while_connect_step_returning",
	 .stage = CS_CONNECT_RETURNING, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qps = 1, .errors = 1},

	{.name = "close_while_connect_step_queued_tied", .tied = true,
	 .stage = CS_CONNECT_QUEUED, .first = EV_CLOSE,
	 .status = ECANCELED, .qps = 0},
	{.name = "close_while_connect_step_running_tied", .tied = true,
	 .stage = CS_CONNECT_RUNNING, .first = EV_CLOSE,
	 .status = ECANCELED, .qps = 1},
	/* Untied, the endpoint would outlive its client: but nobody was told its handle. */
	{.name = "close_while_resolve_queued_abandons_the_connect",
	 .stage = CS_RESOLVE_QUEUED, .first = EV_CLOSE,
	 .status = ECANCELED, .qps = 0, .no_id = true},
	{.name = "close_while_connect_step_queued_abandons_the_connect",
	 .stage = CS_CONNECT_QUEUED, .first = EV_CLOSE,
	 .status = ECANCELED, .qps = 0},
	{.name = "close_while_connect_step_running_abandons_the_connect",
	 .stage = CS_CONNECT_RUNNING, .first = EV_CLOSE,
	 .status = ECANCELED, .qps = 1},
	{.name = "shutdown_while_connect_step_running",
	 .stage = CS_CONNECT_RUNNING, .first = EV_SHUTDOWN,
	 .status = ECANCELED, .qps = 1},
	{.name = "shutdown_while_establish_queued",
	 .stage = CS_ESTABLISH_QUEUED, .first = EV_SHUTDOWN,
	 .status = ECANCELED, .qps = 1},
};
/* clang-format on */

/*
 * Plays the connect up to its stage. Returns true if the first event was
 * played already, by the hook, inside the running connect step.
 */
static bool reach_connect_stage(const struct connect_case *c)
{
	if (c->stage == CS_RESOLVE_QUEUED)
		return false;
	step(ep_work_resolve_addr);
	fire(EV_ADDR_RESOLVED);
	if (c->stage == CS_ROUTE_QUEUED)
		return false;
	step(ep_work_resolve_route);
	fire(EV_ROUTE_RESOLVED);
	if (c->stage == CS_CONNECT_QUEUED)
		return false;
	if (c->stage == CS_CONNECT_RUNNING) {
		fake_hook_set(FAKE_AT_CONNECT, hook_fire, (void *)&c->first);
		assert_true(workers_run_queued(&w.d.workers, ep_work_connect));
		assert_int_equal(fake.hooks_run, 1);
		return true;
	}
	if (c->stage == CS_CONNECT_RETURNING) {
		assert_true(workers_run_queued(&w.d.workers, ep_work_connect));
		return false;
	}
	step(ep_work_connect);
	if (c->stage == CS_WAIT_RESPONSE)
		return false;
	fire(EV_CONNECT_RESPONSE);
	return false;
}

/* Whether endpoint h is there and connected; -1 if it is gone. */
static int ep_connected(rdq_handle_t h)
{
	struct ep *ep = endpoint_lookup(&w.d, h, w.uid);
	int connected = ep ? strcmp(ep_state_name(ep->state), "connected") == 0 : -1;

	object_unref(ep);
	return connected;
}

static void run_connect_case(void **state)
{
	const struct connect_case *c = *state;
	struct request *req;

	assert_int_equal(clients_replies_for(ADMIN, clients_send(ADMIN, "watch", NULL), NULL), 1);
	w.r_id = clients_send(CLIENT, "ep.connect",
			      json_pack("{s:s, s:i, s:I, s:b}", "addr", "127.0.0.1", "port", 7471,
					"timeout_ms", (json_int_t)FAR_MS, "tied", c->tied));
	req = pending_request(0, w.r_id);
	assert_non_null(req);
	w.r_rid = req->rid;
	w.ep = req->ep;
	if (!reach_connect_stage(c))
		w.first_id = fire(c->first);
	assert_true(settle());
	w.then_id = fire(c->then);
	assert_true(settle());

	check_completed_once(w.r_id, w.r_rid, c->status);
	check_event_reply(w.first_id, c->first_reply);
	check_event_reply(w.then_id, 0);
	assert_int_equal(ep_connected(w.ep), c->connected ? 1 : -1);
	assert_int_equal(fake.nqps, c->qps);
	assert_int_equal(fake.nids, c->no_id ? 0 : 1);
	assert_int_equal(clients_events_named("ep.error"), c->errors);
	check_nothing_left();
}

/* ----------------------------------------------------- the passive side */

enum passive_stage {
	PS_LISTENING,	     /* the listener listens; no peer yet */
	PS_ACCEPT_QUEUED,    /* a peer's CONNECT_REQUEST: the accept step waits for a worker */
	PS_ACCEPT_RUNNING,   /* a worker is inside rdma_accept; the QP is made */
	PS_ACCEPT_RETURNING, /* the accept step ran; its item, with the QP, waits for the loop */
	PS_WAIT_ESTABLISHED, /* the QP is the passive endpoint's; waiting for ESTABLISHED */
};

struct passive_case {
	const char *name;
	bool tied;  /* the listener is tied to the client's connection */
	bool serve; /* a serve listener: its client serves the peers (implies tied) */
	enum passive_stage stage;
	enum race_event first, then;
	int first_reply;
	bool connected; /* the passive endpoint ends up connected; else it is gone */
	bool kept; /* not connected, but still there (a served endpoint after its disconnect) */
	unsigned announced; /* ep.accepted events the serving client got */
	bool listening;	    /* the listener is still there */
	unsigned accepts, rejects, qps;
};

/* clang-format off */
static const struct passive_case passive_cases[] = {
	{.name = "accept_then_established",
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_ESTABLISHED,
	 .connected = true, .listening = true, .accepts = 1, .qps = 1},
	{.name = "established_while_accept_returning_is_kept",
	 .stage = PS_ACCEPT_RETURNING, .first = EV_ESTABLISHED,
	 .connected = true, .listening = true, .accepts = 1, .qps = 1},
	{.name = "established_while_accept_running_is_kept",
	 .stage = PS_ACCEPT_RUNNING, .first = EV_ESTABLISHED,
	 .connected = true, .listening = true, .accepts = 1, .qps = 1},

	{.name = "destroy_listener_while_accept_queued",
	 .stage = PS_ACCEPT_QUEUED, .first = EV_DESTROY_LISTENER,
	 .accepts = 0, .qps = 0},
	{.name = "destroy_listener_while_accept_running",
	 .stage = PS_ACCEPT_RUNNING, .first = EV_DESTROY_LISTENER,
	 .accepts = 1, .qps = 1},
	{.name = "destroy_listener_while_accept_returning",
	 .stage = PS_ACCEPT_RETURNING, .first = EV_DESTROY_LISTENER,
	 .accepts = 1, .qps = 1},
	{.name = "destroy_listener_takes_its_connected_endpoints",
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_ESTABLISHED, .then = EV_DESTROY_LISTENER,
	 .accepts = 1, .qps = 1},
	{.name = "connect_request_after_listener_destroyed_is_rejected",
	 .stage = PS_LISTENING, .first = EV_DESTROY_LISTENER, .then = EV_CONNECT_REQUEST,
	 .rejects = 1},

	{.name = "listener_device_removal_while_accept_queued",
	 .stage = PS_ACCEPT_QUEUED, .first = EV_LISTENER_REMOVAL,
	 .accepts = 0, .qps = 0},
	{.name = "device_removal_while_accept_running",
	 .stage = PS_ACCEPT_RUNNING, .first = EV_DEVICE_REMOVAL,
	 .listening = true, .accepts = 1, .qps = 1},
	{.name = "unreachable_while_accept_returning",
	 .stage = PS_ACCEPT_RETURNING, .first = EV_UNREACHABLE,
	 .listening = true, .accepts = 1, .qps = 1},
	{.name = "disconnected_before_established",
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_DISCONNECTED,
	 .listening = true, .accepts = 1, .qps = 1},

	{.name = "close_while_accept_queued_tied", .tied = true,
	 .stage = PS_ACCEPT_QUEUED, .first = EV_CLOSE,
	 .accepts = 0, .qps = 0},
	{.name = "close_while_accept_running_tied", .tied = true,
	 .stage = PS_ACCEPT_RUNNING, .first = EV_CLOSE,
	 .accepts = 1, .qps = 1},
	{.name = "shutdown_while_accept_running",
	 .stage = PS_ACCEPT_RUNNING, .first = EV_SHUTDOWN,
	 .accepts = 1, .qps = 1},

	{.name = "served_connection_is_announced_once_established", .serve = true,
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_ESTABLISHED,
	 .connected = true, .listening = true, .announced = 1, .accepts = 1, .qps = 1},
	{.name = "served_established_while_accept_running_is_announced", .serve = true,
	 .stage = PS_ACCEPT_RUNNING, .first = EV_ESTABLISHED,
	 .connected = true, .listening = true, .announced = 1, .accepts = 1, .qps = 1},
	{.name = "served_disconnected_before_established_is_never_announced", .serve = true,
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_DISCONNECTED,
	 .listening = true, .accepts = 1, .qps = 1},
	{.name = "served_endpoint_stays_after_its_disconnect", .serve = true,
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_ESTABLISHED, .then = EV_DISCONNECTED,
	 .kept = true, .listening = true, .announced = 1, .accepts = 1, .qps = 1},
	{.name = "serving_client_closes_listener_and_served_endpoints_go", .serve = true,
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_ESTABLISHED, .then = EV_CLOSE,
	 .announced = 1, .accepts = 1, .qps = 1},
	{.name = "serving_client_closes_while_accept_running", .serve = true,
	 .stage = PS_ACCEPT_RUNNING, .first = EV_CLOSE,
	 .accepts = 1, .qps = 1},
	{.name = "served_endpoint_device_removal", .serve = true,
	 .stage = PS_WAIT_ESTABLISHED, .first = EV_ESTABLISHED, .then = EV_DEVICE_REMOVAL,
	 .listening = true, .announced = 1, .accepts = 1, .qps = 1},
};
/* clang-format on */

/* Plays the peer's connection up to the stage; true if the hook played the first event. */
static bool reach_passive_stage(const struct passive_case *c)
{
	if (c->stage == PS_LISTENING)
		return false;
	fire(EV_CONNECT_REQUEST);
	w.ep = listener_first_child();
	assert_int_not_equal(w.ep, 0);
	if (c->stage == PS_ACCEPT_QUEUED)
		return false;
	if (c->stage == PS_ACCEPT_RUNNING) {
		fake_hook_set(FAKE_AT_ACCEPT, hook_fire, (void *)&c->first);
		assert_true(workers_run_queued(&w.d.workers, ep_work_accept));
		assert_int_equal(fake.hooks_run, 1);
		return true;
	}
	if (c->stage == PS_ACCEPT_RETURNING) {
		assert_true(workers_run_queued(&w.d.workers, ep_work_accept));
		return false;
	}
	step(ep_work_accept);
	return false;
}

static void run_passive_case(void **state)
{
	const struct passive_case *c = *state;
	const struct reply *reply;
	unsigned accepts = 0, rejects = 0;

	w.r_id = clients_send(CLIENT, "ep.listen",
			      json_pack("{s:s, s:i, s:b, s:s}", "addr", "127.0.0.1", "port", 7471,
					"tied", c->tied, "mode", c->serve ? "serve" : "echo"));
	step(ep_work_listen);
	assert_int_equal(clients_replies_for(CLIENT, w.r_id, &reply), 1);
	assert_string_equal(errname(reply->err), "ok");
	assert_string_equal(json_string_value(json_object_get(reply->result, "mode")),
			    c->serve ? "serve" : "echo");
	w.listener = (rdq_handle_t)json_integer_value(json_object_get(reply->result, "ep"));
	assert_int_equal(fake.listens, 1);

	if (!reach_passive_stage(c))
		w.first_id = fire(c->first);
	assert_true(settle());
	w.then_id = fire(c->then);
	assert_true(settle());

	check_event_reply(w.first_id, c->first_reply);
	check_event_reply(w.then_id, 0);
	if (w.ep)
		assert_int_equal(ep_connected(w.ep), c->connected ? 1 : c->kept ? 0 : -1);
	clients_pump();
	assert_int_equal(clients_events_named("ep.accepted"), c->announced);
	assert_int_equal(ep_connected(w.listener) != -1, c->listening);
	for (unsigned i = 0; i < fake.nids; i++) {
		accepts += fake.ids[i].accepts;
		rejects += fake.ids[i].rejects;
	}
	assert_int_equal(accepts, c->accepts);
	assert_int_equal(rejects, c->rejects);
	assert_int_equal(fake.nqps, c->qps);
	assert_int_equal(fake.incoming, 1);
	check_nothing_left();
}

/* ------------------------------------------------------------- the tables */

static int setup(void **state)
{
	return world_start(SYNC_ENDPOINT);
}

static int teardown(void **state)
{
	world_stop();
	return 0;
}

#define NCONNECT (sizeof(connect_cases) / sizeof(connect_cases[0]))
#define NPASSIVE (sizeof(passive_cases) / sizeof(passive_cases[0]))

int race_connect_run(void)
{
	static struct CMUnitTest connect_tests[NCONNECT], passive_tests[NPASSIVE];
	int failed;

	for (size_t i = 0; i < NCONNECT; i++)
		connect_tests[i] = (struct CMUnitTest){
			.name = connect_cases[i].name,
			.test_func = run_connect_case,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&connect_cases[i],
		};
	for (size_t i = 0; i < NPASSIVE; i++)
		passive_tests[i] = (struct CMUnitTest){
			.name = passive_cases[i].name,
			.test_func = run_passive_case,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&passive_cases[i],
		};
	failed = cmocka_run_group_tests_name("race-connect", connect_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("race-passive", passive_tests, NULL, NULL);
	return failed;
}
