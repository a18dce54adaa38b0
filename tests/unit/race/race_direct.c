/* SPDX-License-Identifier: MIT */
/*
 * The race tables of direct endpoints, whose QP is their client's: the
 * active side in each step of its setup (resolving, ep.attach's step queued
 * or running, waiting for the peer, the attributes' step, the client moving
 * its QP, ep.establish's step), connected, and disconnecting while the
 * client flushes its QP; the passive side from the peer's request to
 * ESTABLISHED. Against each: the client's connection closing (the client
 * dies), a device removal, the peer's DREQ or reject, a deadline, a cancel,
 * a QP that is not the client's, the listener's time running out. Each case
 * asserts the pending request's single completion, where the endpoint ends
 * up, the ep.flush events the client got, accepts and rejects sent, and
 * then, as every table does, that nothing is left.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clients.h"
#include "endpoint.h"
#include "fakes.h"
#include "harness.h"
#include "object.h"
#include "race_direct.h"
#include "request.h"

/* Where an endpoint ends up: connected, still there (resolved, readying, disconnected), gone. */
enum end { GONE = -1, KEPT = 0, CONNECTED = 1 };

static enum end where(rdq_handle_t h)
{
	struct ep *ep = endpoint_lookup(&w.d, h, w.uid);
	enum end e = !ep						  ? GONE
		     : strcmp(ep_state_name(ep->state), "connected") == 0 ? CONNECTED
									  : KEPT;

	object_unref(ep);
	return e;
}

/* Sends a request of the client's as the request under test. */
static void under_test(const char *op, json_t *args)
{
	struct request *req;

	w.r_id = clients_send(CLIENT, op, args);
	req = pending_request(0, w.r_id);
	w.r_rid = req ? req->rid : 0;
}

static void expect_ok(int64_t id)
{
	const struct reply *reply;

	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	if (reply->err)
		print_message("%s \"%s\"\n", errname(reply->err), reply->message);
	assert_string_equal(errname(reply->err), "ok");
}

/* ------------------------------------------------------ the active side */

enum direct_stage {
	DS_RESOLVING,	   /* ep.resolve sent: the address step waits */
	DS_INIT_QUEUED,	   /* ROUTE_RESOLVED came: the INIT step, which answers ep.resolve, waits */
	DS_ATTACH_QUEUED,  /* resolved; ep.attach sent: its step (owner check, connect) waits */
	DS_ATTACH_RUNNING, /* a worker is inside rdma_connect with the client's QP number */
	DS_WAIT_RESPONSE,  /* the connect is out; waiting for the peer */
	DS_STEPS_QUEUED,   /* CONNECT_RESPONSE came: the attributes' step waits */
	DS_READYING,	   /* ep.attach answered: the client moves its QP; nothing pending */
	DS_ESTABLISH_QUEUED, /* ep.establish sent: the RTU step waits */
	DS_ESTABLISHED,	     /* connected; nothing pending */
	DS_DREQ_QUEUED,	     /* ep.disconnect (wait) sent: the DREQ step waits */
	DS_FLUSHING, /* DISCONNECTED came: the client was told to flush; the disconnect waits */
};

struct direct_case {
	const char *name;
	enum direct_stage stage;
	enum race_event first, then;
	bool foreign_qp; /* RDMA netlink names another process as the QP's maker */
	int owner_error; /* the QP owner lookup fails with this errno (ESRCH: nobody owns it) */
	bool flushed;	 /* after the events, the client confirms its flush (ep.flushed) */
	int status;	 /* the pending request's one completion (none at READYING, ESTABLISHED) */
	enum end end;
	unsigned flushes; /* ep.flush events the client got */
	unsigned dropped; /* direct.dropped: connected when the client's connection closed */
};

/* clang-format off */
static const struct direct_case direct_cases[] = {
	{.name = "direct_connects",
	 .stage = DS_ESTABLISH_QUEUED, .status = 0, .end = CONNECTED},
	{.name = "attach_answered_with_the_steps",
	 .stage = DS_STEPS_QUEUED, .status = 0, .end = KEPT},
	{.name = "response_while_attach_step_running_is_kept",
	 .stage = DS_ATTACH_RUNNING, .first = EV_CONNECT_RESPONSE, .status = 0, .end = KEPT},
	{.name = "qp_of_another_process_is_refused_and_nothing_connects",
	 .stage = DS_ATTACH_QUEUED, .foreign_qp = true, .status = EPERM, .end = KEPT},
	{.name = "qp_no_process_owns_is_refused_and_nothing_connects",
	 .stage = DS_ATTACH_QUEUED, .owner_error = ESRCH, .status = EPERM, .end = KEPT},

	{.name = "client_dies_while_resolving",
	 .stage = DS_RESOLVING, .first = EV_CLOSE, .status = ECANCELED, .end = GONE},
	{.name = "client_dies_while_init_step_queued",
	 .stage = DS_INIT_QUEUED, .first = EV_CLOSE, .status = ECANCELED, .end = GONE},
	{.name = "device_removal_while_init_step_queued",
	 .stage = DS_INIT_QUEUED, .first = EV_DEVICE_REMOVAL, .status = ENODEV, .end = GONE,
	 .flushes = 1},
	{.name = "client_dies_while_attach_step_running",
	 .stage = DS_ATTACH_RUNNING, .first = EV_CLOSE, .status = ECANCELED, .end = GONE},
	{.name = "client_dies_while_waiting_for_the_peer",
	 .stage = DS_WAIT_RESPONSE, .first = EV_CLOSE, .status = ECANCELED, .end = GONE},
	{.name = "client_dies_while_steps_queued",
	 .stage = DS_STEPS_QUEUED, .first = EV_CLOSE, .status = ECANCELED, .end = GONE},
	{.name = "client_dies_while_moving_its_qp",
	 .stage = DS_READYING, .first = EV_CLOSE, .end = GONE},
	{.name = "client_dies_while_establish_queued",
	 .stage = DS_ESTABLISH_QUEUED, .first = EV_CLOSE, .status = ECANCELED, .end = GONE},
	{.name = "client_dies_connected_is_counted",
	 .stage = DS_ESTABLISHED, .first = EV_CLOSE, .end = GONE, .dropped = 1},
	{.name = "client_dies_while_flushing",
	 .stage = DS_FLUSHING, .first = EV_CLOSE, .status = ECANCELED, .end = GONE,
	 .flushes = 1},

	{.name = "peer_dreq_while_client_applies_rtr",
	 .stage = DS_READYING, .first = EV_DISCONNECTED, .end = GONE},
	{.name = "peer_rejects",
	 .stage = DS_WAIT_RESPONSE, .first = EV_REJECTED, .status = ECONNREFUSED, .end = GONE},
	{.name = "cancel_while_waiting_for_the_peer_abandons_it",
	 .stage = DS_WAIT_RESPONSE, .first = EV_CANCEL, .status = ECANCELED, .end = GONE},
	{.name = "deadline_while_establish_queued",
	 .stage = DS_ESTABLISH_QUEUED, .first = EV_DEADLINE, .status = ETIMEDOUT, .end = GONE},

	{.name = "device_removal_while_attach_step_running",
	 .stage = DS_ATTACH_RUNNING, .first = EV_DEVICE_REMOVAL, .status = ENODEV, .end = GONE,
	 .flushes = 1},
	{.name = "device_removal_connected_tells_the_client",
	 .stage = DS_ESTABLISHED, .first = EV_DEVICE_REMOVAL, .end = GONE, .flushes = 1},

	{.name = "disconnect_completes_when_the_client_flushed",
	 .stage = DS_FLUSHING, .flushed = true, .status = 0, .end = KEPT, .flushes = 1},
	{.name = "flush_never_confirmed_meets_the_deadline",
	 .stage = DS_FLUSHING, .first = EV_DEADLINE, .status = ETIMEDOUT, .end = KEPT,
	 .flushes = 1},
	{.name = "dreq_timeout_reported_after_the_flush",
	 .stage = DS_DREQ_QUEUED, .then = EV_DREQ_TIMEOUT, .flushed = true, .status = ETIMEDOUT,
	 .end = KEPT, .flushes = 1},
	{.name = "local_deadline_before_disconnected_tells_the_client",
	 .stage = DS_DREQ_QUEUED, .first = EV_DEADLINE, .status = ETIMEDOUT, .end = KEPT,
	 .flushes = 1},
	{.name = "peer_dreq_connected_tells_the_client",
	 .stage = DS_ESTABLISHED, .first = EV_DISCONNECTED, .end = KEPT, .flushes = 1},
};
/* clang-format on */

/* The fakes' call a case fails, and how (fake.fault). */
static enum fake_call failing_call;
static int failing_error;

static int case_fault(enum fake_call call)
{
	return call == failing_call ? failing_error : 0;
}

static void fail_call(enum fake_call call, int err)
{
	failing_call = call;
	failing_error = err;
	fake.fault = err ? case_fault : NULL;
}

static json_t *ep_args(const char *more_key, json_int_t more)
{
	return json_pack("{s:I, s:I, s:I}", "ep", (json_int_t)w.ep, "timeout_ms",
			 (json_int_t)FAR_MS, more_key, more);
}

/* Plays the setup up to the stage; true if the hook played the first event. */
static bool reach_direct_stage(const struct direct_case *c)
{
	under_test("ep.resolve", json_pack("{s:s, s:i, s:I}", "addr", "127.0.0.1", "port", 7471,
					   "timeout_ms", (json_int_t)FAR_MS));
	w.ep = pending_request(w.r_rid, 0)->ep;
	if (c->stage == DS_RESOLVING)
		return false;
	step(ep_work_resolve_addr);
	fire(EV_ADDR_RESOLVED);
	step(ep_work_resolve_route);
	fire(EV_ROUTE_RESOLVED);
	if (c->stage == DS_INIT_QUEUED)
		return false;
	step(ep_work_direct_init);
	expect_ok(w.r_id);

	under_test("ep.attach", ep_args("qp_num", 77));
	if (c->stage == DS_ATTACH_QUEUED)
		return false;
	if (c->stage == DS_ATTACH_RUNNING) {
		fake_hook_set(FAKE_AT_CONNECT, hook_fire, (void *)&c->first);
		assert_true(workers_run_queued(&w.d.workers, ep_work_direct_attach));
		assert_int_equal(fake.hooks_run, 1);
		return true;
	}
	step(ep_work_direct_attach);
	if (c->stage == DS_WAIT_RESPONSE)
		return false;
	fire(EV_CONNECT_RESPONSE);
	if (c->stage == DS_STEPS_QUEUED)
		return false;
	step(ep_work_direct_steps);
	expect_ok(w.r_id);
	w.r_id = 0;
	if (c->stage == DS_READYING)
		return false;

	under_test("ep.establish", ep_args("timeout_ms", FAR_MS));
	if (c->stage == DS_ESTABLISH_QUEUED)
		return false;
	step(ep_work_direct_establish);
	expect_ok(w.r_id);
	w.r_id = 0;
	if (c->stage == DS_ESTABLISHED)
		return false;

	under_test("ep.disconnect", ep_args("timeout_ms", FAR_MS));
	if (c->stage == DS_DREQ_QUEUED)
		return false;
	step(ep_work_disconnect);
	fire(EV_DISCONNECTED);
	return false;
}

static void run_direct_case(void **state)
{
	const struct direct_case *c = *state;

	fake.qp_owner = c->foreign_qp ? FAKE_OTHER_PROCESS : 0;
	fail_call(FAKE_QP_OWNER, c->owner_error);
	if (!reach_direct_stage(c))
		w.first_id = fire(c->first);
	assert_true(settle());
	w.then_id = fire(c->then);
	assert_true(settle());
	if (c->flushed) {
		expect_ok(clients_send(CLIENT, "ep.flushed",
				       json_pack("{s:I}", "ep", (json_int_t)w.ep)));
		assert_true(settle());
	}

	if (w.r_id)
		check_completed_once(w.r_id, w.r_rid, c->status);
	check_event_reply(w.first_id, 0);
	check_event_reply(w.then_id, 0);
	assert_int_equal(where(w.ep), c->end);
	clients_pump();
	assert_int_equal(clients_events_named("ep.flush"), c->flushes);
	assert_int_equal(w.d.counters.direct_dropped, c->dropped);
	/* The QP is the client's: rdqd makes none. */
	assert_int_equal(fake.nqps, 0);
	check_nothing_left();
}

/* ----------------------------------------------------- the passive side */

enum passive_direct_stage {
	PD_INIT_QUEUED,	     /* the peer's request: the INIT step, which announces it, waits */
	PD_REQUESTED,	     /* its client was told (ep.request), with the INIT step */
	PD_ATTACH_QUEUED,    /* ep.attach sent: its step (owner check, the attributes) waits */
	PD_READYING,	     /* ep.attach answered: the client moves its QP; nothing pending */
	PD_ACCEPT_QUEUED,    /* ep.establish sent: the accept step waits */
	PD_ACCEPT_RUNNING,   /* a worker is inside rdma_accept with the client's QP number */
	PD_WAIT_ESTABLISHED, /* accepted: waiting for the peer's RTU (ESTABLISHED) */
};

struct passive_direct_case {
	const char *name;
	enum passive_direct_stage stage;
	enum race_event first, then;
	bool late; /* first: the listener's time for its client runs out */
	bool foreign_qp;
	bool init_fails; /* the INIT step's rdma_init_qp_attr fails (EINVAL) */
	int status;	 /* the pending request's one completion (none at REQUESTED, READYING) */
	enum end end;
	bool listening;
	unsigned accepts, rejects, flushes;
};

/* clang-format off */
static const struct passive_direct_case passive_direct_cases[] = {
	{.name = "passive_direct_connects",
	 .stage = PD_WAIT_ESTABLISHED, .first = EV_ESTABLISHED, .status = 0, .end = CONNECTED,
	 .listening = true, .accepts = 1},
	{.name = "established_while_accept_running_is_kept",
	 .stage = PD_ACCEPT_RUNNING, .first = EV_ESTABLISHED, .status = 0, .end = CONNECTED,
	 .listening = true, .accepts = 1},
	{.name = "passive_qp_of_another_process_is_refused",
	 .stage = PD_ATTACH_QUEUED, .foreign_qp = true, .status = EPERM, .end = KEPT,
	 .listening = true},

	{.name = "client_takes_no_request_in_time_the_peer_is_rejected",
	 .stage = PD_REQUESTED, .late = true, .end = GONE, .listening = true, .rejects = 1},
	{.name = "client_does_not_establish_in_time_the_peer_is_rejected",
	 .stage = PD_READYING, .late = true, .end = GONE, .listening = true, .rejects = 1},
	{.name = "time_runs_out_while_init_step_out_which_then_fails_rejects_once",
	 .stage = PD_INIT_QUEUED, .late = true, .init_fails = true, .end = GONE, .listening = true,
	 .rejects = 1},
	{.name = "time_runs_out_while_attach_queued",
	 .stage = PD_ATTACH_QUEUED, .late = true, .status = ETIMEDOUT, .end = GONE,
	 .listening = true, .rejects = 1},

	{.name = "passive_client_dies_when_requested",
	 .stage = PD_REQUESTED, .first = EV_CLOSE, .end = GONE},
	{.name = "passive_client_dies_before_it_is_told",
	 .stage = PD_INIT_QUEUED, .first = EV_CLOSE, .end = GONE},
	{.name = "passive_client_dies_while_accept_running",
	 .stage = PD_ACCEPT_RUNNING, .first = EV_CLOSE, .status = ECANCELED, .end = GONE,
	 .accepts = 1},
	{.name = "passive_device_removal_when_requested",
	 .stage = PD_REQUESTED, .first = EV_DEVICE_REMOVAL, .end = GONE, .listening = true,
	 .flushes = 1},
	{.name = "peer_gives_up_while_client_readies",
	 .stage = PD_READYING, .first = EV_UNREACHABLE, .end = GONE, .listening = true},
	{.name = "peer_dreq_while_accepted",
	 .stage = PD_WAIT_ESTABLISHED, .first = EV_DISCONNECTED, .status = ECONNRESET, .end = GONE,
	 .listening = true, .accepts = 1},
};
/* clang-format on */

/* The listener's time for its client runs out: the endpoint's timer fires on the loop. */
static void setup_timer_fires(void)
{
	struct ep *ep = endpoint_lookup(&w.d, w.ep, w.uid);

	assert_non_null(ep);
	assert_non_null(ep->setup_timer);
	event_active(ep->setup_timer, EV_TIMEOUT, 1);
	object_unref(ep);
	clients_pump();
}

static bool reach_passive_direct_stage(const struct passive_direct_case *c)
{
	fire(EV_CONNECT_REQUEST);
	w.ep = listener_first_child();
	assert_int_not_equal(w.ep, 0);
	if (c->stage == PD_INIT_QUEUED)
		return false;
	step(ep_work_direct_init);
	clients_pump();
	assert_int_equal(clients_events_named("ep.request"), 1);
	if (c->stage == PD_REQUESTED)
		return false;
	under_test("ep.attach", ep_args("qp_num", 78));
	if (c->stage == PD_ATTACH_QUEUED)
		return false;
	step(ep_work_direct_attach);
	expect_ok(w.r_id);
	w.r_id = 0;
	if (c->stage == PD_READYING)
		return false;
	under_test("ep.establish", ep_args("timeout_ms", FAR_MS));
	if (c->stage == PD_ACCEPT_QUEUED)
		return false;
	if (c->stage == PD_ACCEPT_RUNNING) {
		fake_hook_set(FAKE_AT_ACCEPT, hook_fire, (void *)&c->first);
		assert_true(workers_run_queued(&w.d.workers, ep_work_direct_establish));
		assert_int_equal(fake.hooks_run, 1);
		return true;
	}
	step(ep_work_direct_establish);
	return false;
}

static void run_passive_direct_case(void **state)
{
	const struct passive_direct_case *c = *state;
	const struct reply *reply;
	unsigned accepts = 0, rejects = 0;
	int64_t id;

	fake.qp_owner = c->foreign_qp ? FAKE_OTHER_PROCESS : 0;
	fail_call(FAKE_QP_ATTR, c->init_fails ? EINVAL : 0);
	id = clients_send(CLIENT, "ep.listen",
			  json_pack("{s:s, s:i, s:s, s:i}", "addr", "127.0.0.1", "port", 7471,
				    "mode", "direct", "timeout_ms", 1000));
	step(ep_work_listen);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(json_string_value(json_object_get(reply->result, "mode")), "direct");
	w.listener = (rdq_handle_t)json_integer_value(json_object_get(reply->result, "ep"));

	if (!reach_passive_direct_stage(c)) {
		if (c->late)
			setup_timer_fires();
		else
			w.first_id = fire(c->first);
	}
	assert_true(settle());
	w.then_id = fire(c->then);
	assert_true(settle());

	if (w.r_id)
		check_completed_once(w.r_id, w.r_rid, c->status);
	check_event_reply(w.first_id, 0);
	check_event_reply(w.then_id, 0);
	assert_int_equal(where(w.ep), c->end);
	assert_int_equal(where(w.listener) != GONE, c->listening);
	clients_pump();
	assert_int_equal(clients_events_named("ep.flush"), c->flushes);
	for (unsigned i = 0; i < fake.nids; i++) {
		accepts += fake.ids[i].accepts;
		rejects += fake.ids[i].rejects;
		/* A peer rejected for want of a QP reads why. */
		if (fake.ids[i].rejects && c->late)
			assert_non_null(strstr(fake.ids[i].reject_data, "gave no QP in time"));
	}
	assert_int_equal(accepts, c->accepts);
	assert_int_equal(rejects, c->rejects);
	assert_int_equal(fake.nqps, 0);
	check_nothing_left();
}

/*
 * With sync scope none nothing orders an endpoint's steps: a peer refused
 * for want of a QP (its reject step queued), then its listener destroyed,
 * and the endpoint's teardown runs before the reject step. The peer must
 * still be rejected, with the reason.
 */
/* A direct listener (w.listener), and a peer's request on it (w.ep), its client told. */
static void listener_with_a_request(void)
{
	int64_t id = clients_send(CLIENT, "ep.listen",
				  json_pack("{s:s, s:i, s:s, s:i}", "addr", "127.0.0.1", "port",
					    7471, "mode", "direct", "timeout_ms", 1000));

	step(ep_work_listen);
	expect_ok(id);
	w.listener = (rdq_handle_t)json_integer_value(
		json_object_get(clients_reply_at(clients_nreplies() - 1)->result, "ep"));
	fire(EV_CONNECT_REQUEST);
	w.ep = listener_first_child();
	step(ep_work_direct_init);
}

static void refused_peer_rejected_when_its_teardown_runs_first(void **state)
{
	unsigned rejects = 0;

	(void)state;
	world_stop();
	assert_int_equal(world_start(SYNC_NONE), 0);
	listener_with_a_request();
	setup_timer_fires(); /* the reject step is queued */
	w.first_id = fire(EV_DESTROY_LISTENER);
	assert_true(workers_run_queued(&w.d.workers, ep_work_teardown));
	assert_true(settle());
	check_event_reply(w.first_id, 0);
	for (unsigned i = 0; i < fake.nids; i++) {
		rejects += fake.ids[i].rejects;
		if (fake.ids[i].rejects)
			assert_non_null(strstr(fake.ids[i].reject_data, "gave no QP in time"));
	}
	assert_int_equal(rejects, 1);
	assert_int_equal(where(w.ep), GONE);
	check_nothing_left();
}

/*
 * The peer is refused (its client's time ran out) while the client's
 * ep.attach step is out; the client, told ETIMEDOUT, attaches again, this
 * time a QP of another process. The step that was out must not answer that
 * second ep.attach: nothing more may be set up for a refused peer.
 */
static void refused_peer_takes_no_second_attach(void **state)
{
	const struct reply *reply;
	int64_t first, second;

	(void)state;
	listener_with_a_request();
	first = clients_send(CLIENT, "ep.attach", ep_args("qp_num", 78));
	setup_timer_fires(); /* refused: the first ep.attach is answered, its step still queued */
	assert_int_equal(clients_replies_for(CLIENT, first, &reply), 1);
	assert_string_equal(errname(reply->err), "ETIMEDOUT");
	fake.qp_owner = FAKE_OTHER_PROCESS;
	second = clients_send(CLIENT, "ep.attach", ep_args("qp_num", 79));
	assert_true(settle());
	assert_int_equal(clients_replies_for(CLIENT, second, &reply), 1);
	if (reply->err != ECONNREFUSED)
		print_message("second ep.attach: %s \"%s\"\n", errname(reply->err), reply->message);
	assert_string_equal(errname(reply->err), "ECONNREFUSED");
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

#define NDIRECT	 (sizeof(direct_cases) / sizeof(direct_cases[0]))
#define NPASSIVE (sizeof(passive_direct_cases) / sizeof(passive_direct_cases[0]))

int race_direct_run(void)
{
	static struct CMUnitTest active[NDIRECT], passive[NPASSIVE];
	int failed;

	for (size_t i = 0; i < NDIRECT; i++)
		active[i] = (struct CMUnitTest){
			.name = direct_cases[i].name,
			.test_func = run_direct_case,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&direct_cases[i],
		};
	for (size_t i = 0; i < NPASSIVE; i++)
		passive[i] = (struct CMUnitTest){
			.name = passive_direct_cases[i].name,
			.test_func = run_passive_direct_case,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&passive_direct_cases[i],
		};
	failed = cmocka_run_group_tests_name("race-direct", active, NULL, NULL);
	failed += cmocka_run_group_tests_name("race-direct-passive", passive, NULL, NULL);
	{
		const struct CMUnitTest unordered[] = {
			cmocka_unit_test_setup_teardown(
				refused_peer_rejected_when_its_teardown_runs_first, setup,
				teardown),
			cmocka_unit_test_setup_teardown(refused_peer_takes_no_second_attach, setup,
							teardown),
		};

		failed += cmocka_run_group_tests_name("race-direct-more", unordered, NULL, NULL);
	}
	return failed;
}
