/* SPDX-License-Identifier: MIT */
/*
 * The allocation-failure sweep: for each kind of request, and for a peer's
 * connection and a disconnect, its whole life is played again and again with
 * the k-th allocation rdqd makes failing, k = 1, 2, ... until a life passes
 * without reaching k. Each must end with the request answered once (ENOMEM,
 * or another status its op documents), nothing left behind, no leak, and the
 * daemon answering the next request. Every allocation site reached is noted
 * for the report.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <event2/event.h>
#include <errno.h>
#include <rdma/rdma_cma.h>
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clients.h"
#include "endpoint.h"
#include "fakes.h"
#include "ep_wait.h"
#include "harness.h"
#include "local_addrs.h"
#include "protocol/ops_table.h"
#include "request.h"
#include "sim.h"

/* What a scenario starts from. */
enum prep {
	P_NONE,
	P_CONNECTED,	    /* an endpoint rdqd connected, with its QP */
	P_ECHO_LISTENER,    /* an echo listener */
	P_DIRECT_LISTENER,  /* a direct listener */
	P_DIRECT_CONNECTED, /* a direct endpoint, connected with its client's QP */
	P_WAITING,	    /* a listener waiting for its address */
	P_RECV_WAITING,	    /* a connected endpoint with an ep.recv waiting on it */
};

/* What a scenario does when it is not a request (op < 0). */
enum {
	PEER_REQUEST = -1,  /* a peer's connection request on the prepared listener */
	ADDRESS_COMES = -2, /* the prepared listener's address comes to an interface */
	CLIENT_COMES = -3,  /* a client connects to rdqd */
};

struct scenario {
	const char *name;
	enum prep prep;
	int op;		  /* enum rdq_op, or what happens instead (PEER_REQUEST...) */
	const char *args; /* JSON; "EP" stands for the prepared endpoint's handle */
	int also;	  /* what it may end with, besides ENOMEM, when an allocation fails */
};

static const struct scenario scenarios[] = {
	{"version", P_NONE, RDQ_OP_VERSION, NULL, 0},
	{"status", P_CONNECTED, RDQ_OP_STATUS, NULL, 0},
	{"stats", P_CONNECTED, RDQ_OP_STATS, NULL, 0},
	{"watch", P_NONE, RDQ_OP_WATCH, "{\"on\":true}", 0},
	{"request.list", P_CONNECTED, RDQ_OP_REQUEST_LIST, NULL, 0},
	{"ep.show", P_CONNECTED, RDQ_OP_EP_SHOW, NULL, 0},
	{"ep.show one", P_CONNECTED, RDQ_OP_EP_SHOW, "{\"ep\":EP}", 0},
	{"cancel", P_NONE, RDQ_OP_CANCEL, "{\"req\":7}", 0},
	{"ep.listen echo", P_NONE, RDQ_OP_EP_LISTEN, "{\"addr\":\"127.0.0.1\"}", 0},
	{"ep.listen serve", P_NONE, RDQ_OP_EP_LISTEN, "{\"addr\":\"127.0.0.1\",\"mode\":\"serve\"}",
	 0},
	{"ep.listen direct", P_NONE, RDQ_OP_EP_LISTEN,
	 "{\"addr\":\"127.0.0.1\",\"mode\":\"direct\",\"timeout_ms\":600000}", 0},
	{"ep.listen with address rules", P_NONE, RDQ_OP_EP_LISTEN,
	 "{\"addr\":\"127.0.0.1\",\"allow\":\"10.1.0.0/16\",\"deny\":\"any\"}", 0},
	{"ep.connect, to established", P_NONE, RDQ_OP_EP_CONNECT,
	 "{\"addr\":\"127.0.0.1\",\"timeout_ms\":600000}", 0},
	{"ep.resolve, attach, establish (direct)", P_NONE, RDQ_OP_EP_RESOLVE,
	 "{\"addr\":\"127.0.0.1\",\"timeout_ms\":600000}", 0},
	{"ep.send", P_CONNECTED, RDQ_OP_EP_SEND, "{\"ep\":EP,\"data\":\"hello\"}", 0},
	{"ep.recv", P_CONNECTED, RDQ_OP_EP_RECV, "{\"ep\":EP,\"timeout_ms\":0}", 0},
	{"ep.disconnect, to DISCONNECTED", P_CONNECTED, RDQ_OP_EP_DISCONNECT,
	 "{\"ep\":EP,\"timeout_ms\":600000}", 0},
	{"ep.disconnect without wait", P_CONNECTED, RDQ_OP_EP_DISCONNECT,
	 "{\"ep\":EP,\"wait\":false}", 0},
	{"ep.destroy", P_CONNECTED, RDQ_OP_EP_DESTROY, "{\"ep\":EP}", 0},
	{"request.list, with a request waiting", P_RECV_WAITING, RDQ_OP_REQUEST_LIST, NULL, 0},
	{"ep.listen, waiting for its address", P_NONE, RDQ_OP_EP_LISTEN,
	 "{\"addr\":\"127.0.0.1\",\"wait_address\":true}", 0},
	{"its address comes: the waiting listener listens", P_WAITING, ADDRESS_COMES, NULL, 0},
	{"a peer's connection, accepted", P_ECHO_LISTENER, PEER_REQUEST, NULL, 0},
	{"a peer's connection to a direct listener", P_DIRECT_LISTENER, PEER_REQUEST, NULL, 0},
	{"a client connects", P_NONE, CLIENT_COMES, NULL, 0},
	/* Its client's ep.flushed may be what fails: the disconnect then meets its deadline. */
	{"direct ep.disconnect, through the flush", P_DIRECT_CONNECTED, RDQ_OP_EP_DISCONNECT,
	 "{\"ep\":EP,\"timeout_ms\":600000}", ETIMEDOUT},
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))
#define MAX_SITES  1024

static struct site {
	void *caller;
	unsigned failed; /* runs where the allocation here was the one that failed */
} sites[MAX_SITES];
static unsigned nsites;

/* The request under test, and whether the failure came while it was still rdqd's to answer. */
static int64_t under_test;
static uint64_t received_before;
static bool failed_while_pending;

/*
 * Whether the request under test is still rdqd's to answer. Not yet read, or
 * on its connection's list. If rdqd is walking the lists now (the lock is
 * held, by this very thread), it is doing so for that request: pending.
 */
static bool still_pending(void)
{
	bool pending;

	if (w.d.counters.received == received_before)
		return true;
	if (pthread_mutex_trylock(&w.d.conns.lock) != 0)
		return true;
	pthread_mutex_unlock(&w.d.conns.lock);
	pending = pending_request(0, under_test) != NULL;
	return pending;
}

static void site_seen(void *caller, bool failed)
{
	unsigned i;

	if (failed && under_test)
		failed_while_pending = still_pending();

	for (i = 0; i < nsites && sites[i].caller != caller; i++)
		;
	if (i == nsites) {
		if (nsites == MAX_SITES)
			return;
		sites[nsites++].caller = caller;
	}
	sites[i].failed += failed;
	if (failed && trace_verbose) {
		Dl_info info;

		if (dladdr(caller, &info) && info.dli_fbase)
			printf("    the failing allocation: %#lx\n",
			       (unsigned long)((char *)caller - (char *)info.dli_fbase) - 1);
	}
}

/* Runs everything: owed rdma_cm answers, clients acting on what they were told. */
static void drive(void)
{
	for (unsigned rounds = 0;; rounds++) {
		if (!settle() || rounds > 1000)
			sim_fail("the sweep's life never ended");
		replies_check();
		/* A connection made is the end of a life here: what a program does next is not. */
		reactions_drop("connected");
		if (!network_answer_owed() && !client_react_first())
			break;
	}
	replies_check();
}

/* Time passes: what waits on a deadline (a flush never confirmed) meets it. */
static void clock_runs_out(void)
{
	deadlines_pass();
	drive();
}

/* Sends a request and plays its life to the end; returns its id. */
static int64_t play(int op, const char *args_text, rdq_handle_t ep)
{
	char text[256] = "";
	json_t *args = NULL;
	char *at;

	if (args_text) {
		snprintf(text, sizeof(text), "%s", args_text);
		at = strstr(text, "EP");
		if (at) {
			char rest[256];

			snprintf(rest, sizeof(rest), "%s", at + 2);
			snprintf(at, sizeof(text) - (size_t)(at - text), "%llu%s",
				 (unsigned long long)ep, rest);
		}
		args = json_loads(text, 0, NULL);
	}
	return client_send_op(0, op, args);
}

/* The endpoint a request's success reply gave. */
static rdq_handle_t given_by(int64_t id)
{
	const struct sent *s = client_sent(id);

	if (!s || s->replies != 1)
		sim_fail("the sweep's preparation was not answered");
	return s->ep;
}

static rdq_handle_t prepare(enum prep prep)
{
	int64_t id;

	switch (prep) {
	case P_NONE:
		return 0;
	case P_CONNECTED:
		id = play(RDQ_OP_EP_CONNECT, "{\"addr\":\"127.0.0.1\",\"timeout_ms\":600000}", 0);
		break;
	case P_ECHO_LISTENER:
		id = play(RDQ_OP_EP_LISTEN, "{\"addr\":\"127.0.0.1\"}", 0);
		break;
	case P_DIRECT_LISTENER:
		id = play(RDQ_OP_EP_LISTEN,
			  "{\"addr\":\"127.0.0.1\",\"mode\":\"direct\",\"timeout_ms\":600000}", 0);
		break;
	case P_DIRECT_CONNECTED:
		id = play(RDQ_OP_EP_RESOLVE, "{\"addr\":\"127.0.0.1\",\"timeout_ms\":600000}", 0);
		break;
	case P_WAITING:
		id = play(RDQ_OP_EP_LISTEN, "{\"addr\":\"127.0.0.1\",\"wait_address\":true}", 0);
		break;
	case P_RECV_WAITING:
		id = play(RDQ_OP_EP_CONNECT, "{\"addr\":\"127.0.0.1\",\"timeout_ms\":600000}", 0);
		drive();
		play(RDQ_OP_EP_RECV, "{\"ep\":EP,\"timeout_ms\":600000}", given_by(id));
		break;
	default:
		return 0;
	}
	drive();
	/* The preparation's reactions are spent: what the scenario does next is its own. */
	sim.nreactions = 0;
	return given_by(id);
}

/* A peer's connection request on the listener: rdma_cm made an id for it. */
static void peer_request(rdq_handle_t listener)
{
	struct rdma_cm_id *id = fake_incoming_id();

	if (!id)
		sim_fail("no id for the peer");
	endpoint_cm_event(&w.d, listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0, id, NULL);
	clients_pump();
}

/*
 * The work-item pool, emptied for the life (its items held here), so that
 * the life's work items are allocated, as when rdqd is busy: their
 * allocations fail in turn too.
 */
static struct work_item *held_items;

static void pool_cold(void)
{
	struct work_item *item;

	while (w.d.workers.pool && (item = work_item_get_uncapped(&w.d.workers))) {
		item->next = held_items;
		held_items = item;
	}
}

static void pool_warm(void)
{
	struct work_item *item;

	while ((item = held_items)) {
		held_items = item->next;
		work_item_put(&w.d.workers, item);
	}
}

/* The address the waiting listener asked for comes to an interface. */
static void address_comes(void)
{
	struct sockaddr_storage ss;
	struct local_addr a;

	if (local_addr_from("127.0.0.1", 7472, &ss) < 0 || !local_addr_of(&ss, &a))
		sim_fail("no address");
	if (local_addrs_add(&w.d.local_addrs, &a) >= 0)
		ep_wait_address_changed(&w.d, &a, true);
	clients_pump();
}

/* One life of scenario c with the k-th allocation failing; returns whether it came. */
static bool run_once(const struct scenario *c, uint64_t k, const char **status)
{
	rdq_handle_t ep;
	int64_t id = 0, next;
	const struct sent *s;
	const char *why;

	memset(&sim, 0, sizeof(sim));
	sim.seed = k;
	rng_seed(&sim.rng, k);
	sim.nclients = 2;
	trace_reset();
	network_reset();
	rules_reset();
	if (world_start_clients(SYNC_ENDPOINT, 2) < 0)
		sim_fail("the world did not start");
	clients_on_event(client_event);
	ep = prepare(c->prep);
	if (c->op == CLIENT_COMES)
		clients_close(1); /* its place, for the one that comes */

	under_test = sim.next_id + 1; /* the id play gives it */
	received_before = w.d.counters.received;
	failed_while_pending = false;
	pool_cold();
	alloc_faults = (struct alloc_faults){.armed = true, .fail_at = k, .site = site_seen};
	if (c->op >= 0)
		id = play(c->op, c->args, ep);
	else if (c->op == PEER_REQUEST)
		peer_request(ep);
	else if (c->op == ADDRESS_COMES)
		address_comes();
	else
		clients_reopen(1);
	drive();
	clock_runs_out();
	alloc_faults.armed = false;
	pool_warm();

	if (id) {
		s = client_sent(id);
		if (s->replies != 1)
			sim_fail("%s, allocation %llu failing: %u replies", c->name,
				 (unsigned long long)k, s->replies);
	}
	*status = id ? errname(client_sent(id)->err) : "-";
	/* An allocation that failed while the request was rdqd's must not pass unnoticed. */
	if (id && failed_while_pending && client_sent(id)->err != ENOMEM &&
	    (!c->also || client_sent(id)->err != c->also))
		sim_fail("%s, allocation %llu failing while it was pending: answered %s", c->name,
			 (unsigned long long)k, errname(client_sent(id)->err));
	under_test = 0;
	/* The next request is served. */
	next = play(RDQ_OP_VERSION, NULL, 0);
	drive();
	if (client_sent(next)->replies != 1)
		sim_fail("%s, allocation %llu failing: the next request was not answered", c->name,
			 (unsigned long long)k);
	endpoint_destroy_all(&w.d);
	if (!settle())
		sim_fail("%s: the daemon never stopped moving", c->name);
	replies_check();
	why = world_leftovers();
	if (why)
		sim_fail("%s, allocation %llu failing: left behind: %s", c->name,
			 (unsigned long long)k, why);
	local_addrs_clear(&w.d.local_addrs);
	world_stop();
	if (__lsan_do_recoverable_leak_check())
		sim_fail("%s, allocation %llu failing: memory leaked (above)", c->name,
			 (unsigned long long)k);
	return alloc_faults.failed;
}

int alloc_sweep(const char *report)
{
	uint64_t runs = 0;
	Dl_info info;
	FILE *out;

	for (unsigned i = 0; i < NSCENARIOS; i++) {
		const char *status;
		char seen[160] = "";
		uint64_t k;

		for (k = 1; run_once(&scenarios[i], k, &status); k++) {
			runs++;
			if (trace_verbose)
				printf("  %s, allocation %llu failing: %s\n", scenarios[i].name,
				       (unsigned long long)k, status);
			if (!strstr(seen, status) &&
			    strlen(seen) + strlen(status) + 2 < sizeof(seen))
				strcat(strcat(seen, " "), status);
		}
		printf("%-42s %3llu allocations failed in turn; answered:%s\n", scenarios[i].name,
		       (unsigned long long)(k - 1), seen[0] ? seen : " -");
	}
	printf("%llu lives with an allocation failing, %u allocation sites reached\n",
	       (unsigned long long)runs, nsites);
	if (!report)
		return 0;
	out = fopen(report, "w");
	if (!out) {
		perror(report);
		return 1;
	}
	/* Offsets in the executable, for addr2line: the report script names them. */
	for (unsigned i = 0; i < nsites; i++)
		if (dladdr(sites[i].caller, &info) && info.dli_fbase)
			fprintf(out, "%#lx %u\n",
				(unsigned long)((char *)sites[i].caller - (char *)info.dli_fbase) -
					1,
				sites[i].failed);
	fclose(out);
	return 0;
}
