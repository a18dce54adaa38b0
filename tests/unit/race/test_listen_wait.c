/* SPDX-License-Identifier: MIT */
/*
 * Listeners that wait for their address (daemon/ep_wait.c), through rdqd's
 * own code on the race harness's fakes. The host's addresses are played by
 * the test: it changes the set rtnetlink would have changed and tells the
 * listeners as addr_watch.c does. Each case names the move it covers:
 * waiting then listening, the address going with a peer connected, events
 * that come while a step is out, a bind that fails for another reason (a
 * client's listener fails, a declared one is failed and tried again), the
 * device removed and back, a declared listener's being rdqd's own, and its
 * address rules changed in place, its peers kept.
 * Every case ends with the harness's checks that nothing is left: every
 * rdma_cm_id destroyed once, never used after.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <rdma/rdma_cma.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clients.h"
#include "endpoint.h"
#include "ep_wait.h"
#include "fakes.h"
#include "harness.h"
#include "listen_file.h"
#include "local_addrs.h"
#include "shares.h"

#define ADDR "10.0.0.5"
#define PORT 7000

static int setup(void **state)
{
	return world_start(SYNC_ENDPOINT);
}

static int teardown(void **state)
{
	local_addrs_clear(&w.d.local_addrs);
	world_stop();
	return 0;
}

/* The kernel adds (or removes) ADDR, and rtnetlink says so. */
static void address(bool added)
{
	struct sockaddr_storage ss;
	struct local_addr a;

	assert_int_equal(local_addr_from(ADDR, PORT, &ss), 0);
	local_addr_of(&ss, &a);
	if (added)
		assert_int_equal(local_addrs_add(&w.d.local_addrs, &a), 1);
	else
		assert_true(local_addrs_remove(&w.d.local_addrs, &a));
	ep_wait_address_changed(&w.d, &a, added);
}

/* The client's ep.listen with wait_address, its reply's state want_state; its handle. */
static rdq_handle_t listen_waiting(const char *want_state)
{
	const struct reply *reply;
	int64_t id = clients_send(
		CLIENT, "ep.listen",
		json_pack("{s:s, s:i, s:b}", "addr", ADDR, "port", PORT, "wait_address", 1));

	/* With its address there, it is answered once the listen step is back. */
	if (strcmp(want_state, "listening") == 0)
		step(ep_work_listen);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "ok");
	assert_string_equal(json_string_value(json_object_get(reply->result, "state")), want_state);
	return (rdq_handle_t)json_integer_value(json_object_get(reply->result, "ep"));
}

/* ep.show's row of h (a new reference), or NULL once it is gone. */
static json_t *row(rdq_handle_t h)
{
	const struct reply *reply;
	int64_t id = clients_send(ADMIN, "ep.show", json_pack("{s:I}", "ep", (json_int_t)h));

	assert_int_equal(clients_replies_for(ADMIN, id, &reply), 1);
	if (reply->err)
		return NULL;
	return json_incref(json_array_get(json_object_get(reply->result, "endpoints"), 0));
}

static void check_state(rdq_handle_t h, const char *state, const char *reason)
{
	json_t *r = row(h);
	const char *why;

	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "state")), state);
	why = json_string_value(json_object_get(r, "reason"));
	if (reason && (!why || !strstr(why, reason)))
		fail_msg("reason \"%s\" does not say \"%s\"", why ? why : "(none)", reason);
	if (!reason)
		assert_null(why);
	json_decref(r);
}

/* A peer's CONNECT_REQUEST on listener, accepted: its passive endpoint's handle. */
static rdq_handle_t peer_connects(rdq_handle_t listener)
{
	struct rdma_cm_id *id = fake_incoming_id();
	struct ep *l;
	rdq_handle_t child;

	endpoint_cm_event(&w.d, listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0, id, NULL);
	assert_true(settle());
	l = endpoint_lookup(&w.d, listener, w.uid);
	assert_int_equal(l->nchildren, 1);
	child = l->children[0];
	object_unref(l);
	return child;
}

/* No address: the listener is made waiting, at once; the address comes: it listens. */
static void test_waits_then_listens(void **state)
{
	rdq_handle_t l = listen_waiting("waiting");

	/* Nothing was tried: no address, no rdma_cm_id. */
	assert_int_equal(fake.nids, 0);
	check_state(l, "waiting", "for the address: " ADDR ":7000 is on no interface");
	address(true);
	step(ep_work_listen);
	check_state(l, "listening", NULL);
	assert_int_equal(fake.listens, 1);
	check_nothing_left();
}

/* Listening with a peer: the address goes, the peer's endpoint and the id go, the listener stays.
 */
static void test_address_goes_and_comes_back(void **state)
{
	rdq_handle_t l, child;

	address(true);
	l = listen_waiting("listening");
	child = peer_connects(l);
	address(false);
	/* Its state says so at once; the id goes on a worker. */
	check_state(l, "waiting", "for the address");
	assert_true(settle());
	assert_null(row(child));
	assert_int_equal(fake.ids[0].destroys, 1);
	check_state(l, "waiting", "for the address");
	/* Back with the address: a new id, listening again, the same endpoint. */
	address(true);
	step(ep_work_listen);
	check_state(l, "listening", NULL);
	assert_int_equal(fake.listens, 2);
	check_nothing_left();
}

/* The address comes and goes while the listen step is out: the step is followed by an unlisten. */
static void test_event_while_a_step_is_out(void **state)
{
	rdq_handle_t l = listen_waiting("waiting");

	address(true);
	address(false); /* the listen step has not run yet */
	step(ep_work_listen);
	/* Back listening, and at once stopped again: the address is gone. */
	check_state(l, "waiting", "for the address");
	step(ep_work_unlisten);
	assert_int_equal(fake.ids[0].destroys, 1);
	check_state(l, "waiting", "for the address");
	assert_true(settle());
	assert_int_equal(fake.listens, 1);
	check_nothing_left();
}

/* A client's listener whose bind fails otherwise fails as any listen does, and is gone. */
static void test_client_listener_bind_fails(void **state)
{
	const struct reply *reply;
	int64_t id;

	address(true);
	fake.bind_error = EADDRINUSE;
	id = clients_send(
		CLIENT, "ep.listen",
		json_pack("{s:s, s:i, s:b}", "addr", ADDR, "port", PORT, "wait_address", 1));
	step(ep_work_listen);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "EADDRINUSE");
	assert_int_equal(handle_table_count(&w.d.objects), 0);
	check_nothing_left();
}

static struct listen_decl declaration(const char *name)
{
	struct listen_decl decl = {.max_connections = 4};

	snprintf(decl.name, sizeof(decl.name), "%s", name);
	assert_int_equal(local_addr_from(ADDR, PORT, &decl.addr), 0);
	return decl;
}

/* A declared listener whose bind fails otherwise is failed, says why, and is tried again. */
static void test_declared_failed_then_tried_again(void **state)
{
	struct listen_decl decl = declaration("echo");
	rdq_handle_t l;

	address(true);
	fake.bind_error = EADDRINUSE;
	l = ep_wait_declare(&w.d, &decl);
	assert_true(l != 0);
	step(ep_work_listen);
	check_state(l, "failed", "Address already in use");
	fake.bind_error = 0;
	/* The next device event tries it again. */
	ep_wait_all_look_again(&w.d);
	step(ep_work_listen);
	check_state(l, "listening", NULL);
	check_nothing_left();
}

/* rdma_cm removes the device: it waits for one, and the devices' change brings it back. */
static void test_device_removed_and_back(void **state)
{
	unsigned resyncs;
	rdq_handle_t l;

	address(true);
	l = listen_waiting("listening");
	resyncs = fake.resyncs;
	endpoint_cm_event(&w.d, l, RDMA_CM_EVENT_DEVICE_REMOVAL, 0, NULL, NULL);
	check_state(l, "waiting", "for an RDMA device");
	step(ep_work_unlisten);
	/* Its id is gone: the devices are read again, so librdmacm may let the device go. */
	assert_int_equal(fake.ids[0].destroys, 1);
	assert_int_equal(fake.resyncs, resyncs + 1);
	/* The address is still there, but no listen is tried until the devices change. */
	assert_true(settle());
	check_state(l, "waiting", "for an RDMA device");
	ep_wait_all_look_again(&w.d);
	step(ep_work_listen);
	check_state(l, "listening", NULL);
	check_nothing_left();
}

/* A declared listener is rdqd's: no share counts it, no client may destroy it. */
static void test_declared_is_rdqds_own(void **state)
{
	struct listen_decl decl = declaration("echo");
	const struct reply *reply;
	rdq_handle_t l = ep_wait_declare(&w.d, &decl);
	json_t *r = row(l);
	int64_t id;

	assert_string_equal(json_string_value(json_object_get(r, "name")), "echo");
	assert_int_equal(json_integer_value(json_object_get(r, "owner")), 0);
	json_decref(r);
	assert_int_equal(shares_total(&w.d, SHARE_ENDPOINTS), 0);
	id = clients_send(ADMIN, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)l));
	assert_int_equal(clients_replies_for(ADMIN, id, &reply), 1);
	assert_string_equal(errname(reply->err), "EPERM");
	/* Its file removed: undeclared, it goes. */
	ep_wait_undeclare(&w.d, l);
	assert_true(settle());
	assert_null(row(l));
	check_nothing_left();
}

/* A peer's CONNECT_REQUEST from IPv4 address text: whether it was rejected. */
static bool peer_from_rejected(rdq_handle_t listener, const char *text)
{
	struct rdma_cm_id *id = fake_incoming_id();
	struct sockaddr_in *peer = &id->route.addr.dst_sin;
	unsigned index = fake.nids - 1;

	memset(peer, 0, sizeof(*peer));
	peer->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, text, &peer->sin_addr), 1);
	endpoint_cm_event(&w.d, listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0, id, NULL);
	assert_true(settle());
	return fake.ids[index].rejects == 1;
}

/*
 * A reload that changes only a declared listener's rules: the same listener
 * keeps its connected peer (its id neither rejected nor destroyed), and the
 * next peer the new rules refuse is refused; rules taken away admit it again.
 */
static void test_declared_rules_change_keeps_peers(void **state)
{
	struct listen_decl decl = declaration("echo");
	char err[200];
	rdq_handle_t l, child;
	struct ep *ep;
	unsigned ids;

	address(true);
	assert_int_equal(rdq_prefix_list_add(&decl.rules.allow, "10.9.0.0/16", 11, err, 200), 0);
	l = ep_wait_declare(&w.d, &decl);
	step(ep_work_listen);
	check_state(l, "listening", NULL);
	/* Its first rules already count: only 10.9/16 is named, and nothing is denied. */
	assert_false(peer_from_rejected(l, "10.1.0.1"));
	ep = endpoint_lookup(&w.d, l, w.uid);
	child = ep->children[0];
	object_unref(ep);
	ids = fake.nids;

	/* The file now says: deny 10.1/16. */
	assert_int_equal(rdq_prefix_list_add(&decl.rules.deny, "10.1.0.0/16", 11, err, 200), 0);
	assert_int_equal(ep_wait_declared_rules(&w.d, l, &decl.rules), 0);
	assert_true(settle());
	ep = endpoint_lookup(&w.d, l, w.uid);
	assert_non_null(ep);
	assert_int_equal(ep->nchildren, 1);
	assert_int_equal(ep->children[0], child);
	object_unref(ep);
	assert_int_equal(fake.ids[ids - 1].rejects, 0);
	assert_int_equal(fake.ids[ids - 1].destroys, 0);
	assert_true(peer_from_rejected(l, "10.1.0.2"));
	assert_false(peer_from_rejected(l, "10.9.0.2"));
	assert_int_equal(w.d.counters.net_rejected_by_rule, 1);

	/* Rules taken away: everyone again. */
	memset(&decl.rules, 0, sizeof(decl.rules));
	assert_int_equal(ep_wait_declared_rules(&w.d, l, &decl.rules), 0);
	assert_false(peer_from_rejected(l, "10.1.0.3"));
	ep_wait_undeclare(&w.d, l);
	assert_true(settle());
	check_nothing_left();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_waits_then_listens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_goes_and_comes_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_while_a_step_is_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_listener_bind_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declared_failed_then_tried_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_removed_and_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declared_is_rdqds_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declared_rules_change_keeps_peers, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
