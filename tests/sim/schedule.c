/* SPDX-License-Identifier: MIT */
/*
 * One schedule: a daemon in the race world, the seed's clients, network and
 * clock, one step at a time, the invariants after each step; then the end:
 * every endpoint destroyed, everything run, and nothing left.
 */
#include <dlfcn.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "endpoint.h"
#include "ep_wait.h"
#include "fakes.h"
#include "object.h"
#include "harness.h"
#include "local_addrs.h"
#include "protocol/ops_table.h"
#include "request.h"
#include "shutdown.h"
#include "work.h"
#include "sim.h"

struct sim sim;

/* ------------------------------------------------------------- timers */

#define MAX_TIMERS 256

/*
 * An armed timer and a name for it that does not depend on the real clock or
 * on addresses: libevent's own order of timers does (deadlines are real
 * times), and a replay must pick the same timer.
 */
struct timer {
	struct event *ev;
	uint64_t key;
};

struct timers {
	struct timer t[MAX_TIMERS];
	unsigned n;
};

static int timer_found(const struct event_base *base, const struct event *ev, void *arg)
{
	struct timers *t = arg;

	(void)base;
	uint64_t rid;

	if (t->n < MAX_TIMERS && event_get_fd(ev) < 0 && event_pending(ev, EV_TIMEOUT, NULL))
		t->t[t->n++] =
			(struct timer){(struct event *)ev,
				       request_timer_of(ev, &rid) ? 1ull << 40 | rid : UINT64_MAX};
	return 0;
}

static void key_as(struct timers *t, const struct event *ev, uint64_t key)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->t[i].ev == ev)
			t->t[i].key = key;
}

static bool key_setup(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;

	if (ep->setup_timer)
		key_as(arg, ep->setup_timer, 2ull << 40 | h);
	if (ep->wait && ep->wait->retry_timer)
		key_as(arg, ep->wait->retry_timer, 6ull << 40 | h);
	return true;
}

static int by_key(const void *a, const void *b)
{
	const struct timer *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* Every armed timer, each named by what owns it, in that order. */
static void timers_collect(struct timers *t)
{
	event_base_foreach_event(w.d.base, timer_found, t);
	handle_table_foreach(&w.d.objects, OBJ_EP, key_setup, t);
	key_as(t, w.d.reject_log_timer, 3ull << 40);
	key_as(t, w.d.shutdown_timer, 4ull << 40);
	key_as(t, w.d.accept_timer, 5ull << 40);
	qsort(t->t, t->n, sizeof(t->t[0]), by_key);
	if (t->n && t->t[t->n - 1].key == UINT64_MAX) {
		Dl_info info = {0};

		dladdr((void *)(uintptr_t)event_get_callback(t->t[t->n - 1].ev), &info);
		sim_fail("a timer the simulator cannot name (its callback: %s): add it to "
			 "timers_collect",
			 info.dli_sname ? info.dli_sname : "?");
	}
}

static void timer_fires(const struct timer *pick)
{
	trace("the clock reaches timer %llu.%llu", (unsigned long long)(pick->key >> 40),
	      (unsigned long long)(pick->key & ((1ull << 40) - 1)));
	/* A direct peer's setup time ran out: rdqd refuses it. */
	if (pick->key >> 40 == 2)
		peer_refused(pick->key & ((1ull << 40) - 1));
	event_active(pick->ev, EV_TIMEOUT, 1);
}

/*
 * The clock reaches one armed timer, whichever the seed picks: every timer
 * rdqd arms is a deadline of its own length, so any of them may be next.
 */
static bool timer_fire(void)
{
	struct timers t = {.n = 0};

	timers_collect(&t);
	if (!t.n)
		return false;
	timer_fires(&t.t[rng_below(&sim.rng, t.n)]);
	clients_pump();
	return true;
}

void timers_all_fire(void)
{
	struct timers t = {.n = 0};

	timers_collect(&t);
	for (unsigned i = 0; i < t.n; i++)
		timer_fires(&t.t[i]);
	clients_pump();
}

/* ------------------------------------------------------------ workers */

/* A queued worker step, the seed's pick: a free worker takes it now. */
static bool worker_step(void)
{
	uint64_t n = workers_queued(&w.d.workers);

	if (!n)
		return false;
	{
		uint64_t k = rng_below(&sim.rng, n);
		struct work_item *item = w.d.workers.head;
		Dl_info info = {0};

		for (uint64_t i = 0; i < k && item; i++)
			item = item->next;
		if (item)
			dladdr((void *)(uintptr_t)item->passive, &info);
		trace("a worker runs queued step %llu of %llu: %s for %llu",
		      (unsigned long long)k + 1, (unsigned long long)n,
		      info.dli_sname ? info.dli_sname : "?",
		      item ? (unsigned long long)item->handle : 0ull);
		workers_run_nth(&w.d.workers, k);
	}
	return true;
}

/* The loop takes back what the workers finished, and runs their dispatch halves. */
static bool loop_takes_back(void)
{
	unsigned n = rdqd_work_returned(&w.d);

	if (n)
		trace("the loop takes back %u finished step%s", n, n == 1 ? "" : "s");
	clients_pump();
	return n > 0;
}

/* ---------------------------------------------------------- invariants */

/* A client's requests that will get no reply: its connection is gone. */
static void orphan_requests_of(int who)
{
	sim.closed[who] = true;
	for (unsigned i = 0; i < sim.ngiven; i++)
		if (sim.given[i].client == who)
			sim.given[i].conn_closed = true;
	for (unsigned i = 0; i < sim.nsent; i++)
		if (sim.sent[i].client == who && !sim.sent[i].replies)
			sim.sent[i].orphaned = true;
}

static void check_step(void)
{
	const struct rdqd_counters *n = &w.d.counters;

	replies_check();
	for (int c = 0; c < sim.nclients; c++) {
		if (sim.closed[c] || !clients_eof(c))
			continue;
		/* rdqd closes its clients' connections only when it exits. */
		if (!sim.shut_down)
			sim_fail("rdqd closed c%d's connection", c);
		trace("rdqd closed c%d's connection on its way out", c);
		orphan_requests_of(c);
	}
	if (n->received != n->completed + n->pending)
		sim_fail("%llu requests received, %llu completed, %llu pending",
			 (unsigned long long)n->received, (unsigned long long)n->completed,
			 (unsigned long long)n->pending);
	/* Every message gets one reply (docs/protocol.md, "Counters that balance"). */
	if (n->received + n->rejected != n->replied + n->dropped + n->pending)
		sim_fail("%llu received + %llu rejected != %llu replied + %llu dropped + %llu "
			 "pending",
			 (unsigned long long)n->received, (unsigned long long)n->rejected,
			 (unsigned long long)n->replied, (unsigned long long)n->dropped,
			 (unsigned long long)n->pending);
	if (fake.unexpected)
		sim_fail("rdqd made %u calls the fakes did not expect", fake.unexpected);
	for (unsigned i = 0; i < fake.nids; i++)
		if (fake.ids[i].used_after_destroy || fake.ids[i].destroys > 1)
			sim_fail("rdma_cm_id #%u used after its destroy, or destroyed twice", i);
	for (unsigned i = 0; i < fake.nqps; i++)
		if (fake.qps[i].error_on_freed || fake.qps[i].teardowns > 1)
			sim_fail("QP #%u moved after its teardown, or torn down twice", i);
	structure_check();
	qpmap_check();
	rules_check();
}

/* Every request of a client still connected got its one reply. */
static void check_all_answered(void)
{
	for (unsigned i = 0; i < sim.nsent; i++) {
		const struct sent *s = &sim.sent[i];

		if (!s->replies && !s->orphaned)
			sim_fail("c%d's request %lld (%s) was never answered", s->client,
				 (long long)s->id, s->op >= 0 ? "an op" : "an unknown op");
	}
	for (int c = 0; c < sim.nclients; c++)
		if (!sim.closed[c] && sim.anonymous_seen[c] != sim.anonymous_expected[c])
			sim_fail("c%d sent %u frames that were no request and got %u answers", c,
				 sim.anonymous_expected[c], sim.anonymous_seen[c]);
}

/* --------------------------------------------------------------- steps */

static void client_closes(void)
{
	int who = (int)rng_below(&sim.rng, (uint64_t)sim.nclients);

	if (sim.closed[who]) {
		/* A process comes back: a new connection in its place, with new requests. */
		if (rng_one_in(&sim.rng, 2) || sim.shut_down)
			return;
		trace("c%d connects again", who);
		sim.closed[who] = false;
		sim.anonymous_expected[who] = sim.anonymous_seen[who] = 0;
		clients_reopen(who);
		return;
	}
	trace("c%d closes its connection", who);
	replies_check();
	orphan_requests_of(who);
	clients_close(who);
}

static void one_step(void)
{
	unsigned pick = (unsigned)rng_below(&sim.rng, 100);
	int who = (int)rng_below(&sim.rng, (uint64_t)sim.nclients);

	if (pick < 30) {
		if (!sim.closed[who] && !sim.shut_down)
			client_request(who);
	} else if (pick < 55) {
		worker_step();
	} else if (pick < 68) {
		loop_takes_back();
	} else if (pick < 84) {
		network_event();
		clients_pump();
	} else if (pick < 85) {
		network_address_change();
		clients_pump();
	} else if (pick < 88) {
		timer_fire();
	} else if (pick < 93) {
		client_react();
	} else if (pick < 94) {
		qp_fails();
		clients_pump();
	} else if (pick < 97) {
		if (rng_one_in(&sim.rng, 2))
			message_arrives();
		else
			send_completes();
	} else if (pick < 99) {
		client_closes();
	} else if (rng_one_in(&sim.rng, 20) && !sim.shut_down) {
		trace("rdqd is told to stop (SIGTERM)");
		sim.shut_down = true;
		requests_queued_at_shutdown();
		rdqd_shutdown(&w.d);
		clients_pump();
	}
}

/*
 * The end, first half: the network gives every answer it still owes (the
 * good one), clients act on what they were told, and everything runs, until
 * nothing moves. Then nothing may still wait that has something to wait for.
 */
static bool deadline_passes(struct request *req, void *arg)
{
	(void)arg;
	if (req->deadline && event_pending(req->deadline, EV_TIMEOUT, NULL))
		event_active(req->deadline, EV_TIMEOUT, 1);
	return true;
}

void deadlines_pass(void)
{
	request_foreach(&w.d, deadline_passes, NULL);
	clients_pump();
}

static void drain(void)
{
	unsigned rounds = 0, messages = 4;

	/* In half the schedules time passes first: every timer armed now fires. */
	if (rng_one_in(&sim.rng, 2)) {
		/* Clients act on what they were told, the clock passes, and they act again. */
		while (client_react_first())
			replies_check();
		trace("the end: the clock passes every timer");
		timers_all_fire();
		replies_check();
		while (client_react_first())
			replies_check();
	}
	trace("the end: the network answers, clients act, everything runs");
	do {
		if (!settle())
			sim_fail("the daemon never stopped moving");
		replies_check();
		if (++rounds > 10000)
			sim_fail("the end's drain never ended");
		/* Once connections are up, a few last messages: each given once, in order. */
	} while (network_answer_owed() || (messages && messages-- && message_arrives()) ||
		 client_react_first() || (clients_pump(), false));
	if (!settle())
		sim_fail("the daemon never stopped moving");
	check_step();
}

static bool active_unnamed(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;

	(void)arg;
	if (ep->role == EP_ACTIVE && !handle_named(h))
		sim_fail("active endpoint %llu (%s) is left, and no reply ever gave it to a client",
			 (unsigned long long)h, ep_state_name(ep->state));
	return true;
}

static void check_settled(void)
{
	for (unsigned i = 0; i < sim.nsent; i++) {
		const struct sent *s = &sim.sent[i];

		if (!s->replies && !s->orphaned && !may_wait_forever(s))
			sim_fail(
				"c%d's request %lld (%s) still waits with nothing left to wait for",
				s->client, (long long)s->id,
				s->op >= 0 ? rdq_ops[s->op].name : "?");
	}
	handle_table_foreach(&w.d.objects, OBJ_EP, active_unnamed, NULL);
	structure_check_settled();
	if (sim.shut_down && handle_table_count(&w.d.objects))
		sim_fail("rdqd was told to stop, and %u objects are left once everything ran",
			 (unsigned)handle_table_count(&w.d.objects));
}

/* The end, second half: every endpoint goes; every request is answered; nothing may remain. */
static void finish(void)
{
	const char *why;

	/* Faults go on through the drain: a failed call is an answer too, never a wait. */
	drain();
	check_settled();
	fake.fault = NULL;
	trace("the end: every endpoint is destroyed");
	endpoint_destroy_all(&w.d);
	if (!settle())
		sim_fail("the daemon never stopped moving after destroying everything");
	check_step();
	check_all_answered();
	why = world_leftovers();
	if (why)
		sim_fail("left behind: %s", why);
}

uint64_t schedule_run(uint64_t seed, uint64_t steps)
{
	static const enum sync_scope scopes[] = {SYNC_ENDPOINT, SYNC_DEVICE, SYNC_NONE};
	enum sync_scope scope;

	memset(&sim, 0, sizeof(sim));
	sim.seed = seed;
	rng_seed(&sim.rng, seed);
	sim.nclients = 1 + (int)rng_below(&sim.rng, SIM_MAX_CLIENTS);
	sim.steps = steps ? steps : 20 + rng_below(&sim.rng, 180);
	/* A third of the schedules have no faults; the others fail some calls often, some rarely.
	 */
	if (!rng_one_in(&sim.rng, 3))
		for (int c = 0; c < FAKE_CALLS; c++)
			sim.fault_one_in[c] = rng_one_in(&sim.rng, 4)
						      ? 2 + (unsigned)rng_below(&sim.rng, 4)
						      : 16 + (unsigned)rng_below(&sim.rng, 48);
	trace_reset();
	network_reset();
	rules_reset();
	scope = scopes[rng_below(&sim.rng, 3)];
	if (world_start_clients(scope, sim.nclients) < 0)
		sim_fail("the world did not start");
	clients_on_event(client_event);
	fake.fault = fault_decide;
	fake.foreign_qps = SIM_FOREIGN_QPS;
	qpmap_start();
	/* Small limits, so that schedules meet them. */
	w.d.opt.max_endpoints = 2 + (unsigned)rng_below(&sim.rng, 15);
	w.d.opt.max_network_endpoints = 1 + (unsigned)rng_below(&sim.rng, 16);
	trace("seed %llu: %d clients, %llu steps, sync scope %s, faults %s",
	      (unsigned long long)seed, sim.nclients, (unsigned long long)sim.steps,
	      sync_scope_name(scope), sim.fault_one_in[0] ? "on" : "off");
	for (sim.step = 1; sim.step <= sim.steps; sim.step++) {
		one_step();
		check_step();
	}
	finish();
	local_addrs_clear(&w.d.local_addrs);
	world_stop();
	qpmap_stop();
	return sim.steps;
}
