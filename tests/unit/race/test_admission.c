/* SPDX-License-Identifier: MIT */
/*
 * Admission of peers' connections, through rdqd's own code on the race
 * harness's fakes: a listener that holds its max_connections, rdqd holding
 * --max-network-endpoints, and rdqd out of file descriptors each reject the
 * next CONNECT_REQUEST at once, through rdma_cm on a worker, with a reason
 * in the private data; stats.network counts each; the owner's own
 * --max-endpoints is not spent by peers; a peer that leaves makes room; a
 * flood of rejects is logged once a second; a listener's address rules
 * refuse a peer by its address, before any count is looked at. Every case ends with the
 * harness's checks that nothing is left and the counters balance.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <rdma/rdma_cma.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>

#include "clients.h"
#include "endpoint.h"
#include "fakes.h"
#include "harness.h"
#include "log.h"
#include "object.h"
#include "protocol/addr_prefix.h"
#include "shares.h"

/* Descriptors a case may hold to run rdqd out of them (below this limit). */
#define FD_LIMIT 512

static int setup(void **state)
{
	int ret = world_start(SYNC_ENDPOINT);

	/* The owner's own quota: a listener and one more endpoint. */
	w.d.opt.max_endpoints = 2;
	w.d.opt.max_network_endpoints = 8;
	return ret;
}

static int teardown(void **state)
{
	world_stop();
	return 0;
}

/* A listener of the client's on port, admitting max peers at once; its handle. */
static rdq_handle_t listen_on(int port, int max)
{
	const struct reply *reply;
	int64_t id = clients_send(CLIENT, "ep.listen",
				  json_pack("{s:s, s:i, s:i}", "addr", "127.0.0.1", "port", port,
					    "max_connections", max));

	step(ep_work_listen);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "ok");
	return (rdq_handle_t)json_integer_value(json_object_get(reply->result, "ep"));
}

/*
 * A peer's CONNECT_REQUEST on listener, through the real switch, and what
 * the workers then do. Returns the index of the request's id in the fakes'
 * record.
 */
static unsigned peer_connects(rdq_handle_t listener)
{
	struct rdma_cm_id *id = fake_incoming_id();
	unsigned index = fake.nids - 1;

	assert_non_null(id);
	endpoint_cm_event(&w.d, listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0, id, NULL);
	assert_true(settle());
	return index;
}

/* A listener of the client's on port 7471 with address rules: its handle, or 0 with *err. */
static rdq_handle_t listen_with_rules(const char *allow, const char *deny, int *err,
				      const char **message)
{
	const struct reply *reply;
	json_t *args = json_pack("{s:s, s:i}", "addr", "127.0.0.1", "port", 7471);
	int64_t id;

	if (allow)
		json_object_set_new(args, "allow", json_string(allow));
	if (deny)
		json_object_set_new(args, "deny", json_string(deny));
	id = clients_send(CLIENT, "ep.listen", args);
	if (!clients_replies_for(CLIENT, id, &reply)) {
		step(ep_work_listen);
		assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	}
	*err = reply->err;
	if (message)
		*message = reply->message;
	return reply->err ? 0
			  : (rdq_handle_t)json_integer_value(json_object_get(reply->result, "ep"));
}

/* peer_connects(), the request coming from address text (IPv4 or IPv6). */
static unsigned peer_connects_from(rdq_handle_t listener, const char *text)
{
	struct rdma_cm_id *id = fake_incoming_id();
	struct sockaddr_storage *peer;
	unsigned index = fake.nids - 1;

	assert_non_null(id);
	peer = &id->route.addr.dst_storage;
	memset(peer, 0, sizeof(*peer));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)peer)->sin_addr) == 1) {
		peer->ss_family = AF_INET;
	} else {
		assert_int_equal(
			inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)peer)->sin6_addr), 1);
		peer->ss_family = AF_INET6;
	}
	endpoint_cm_event(&w.d, listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0, id, NULL);
	assert_true(settle());
	return index;
}

/* The peer's request was rejected once, told reason (with its NUL), and its id let go. */
static void check_rejected(unsigned index, const char *reason)
{
	const struct fake_id *r = &fake.ids[index];

	assert_int_equal(r->rejects, 1);
	assert_int_equal(r->accepts, 0);
	assert_int_equal(r->destroys, 1);
	assert_string_equal(r->reject_data, reason);
	assert_int_equal(r->reject_len, strlen(reason) + 1);
}

/* The peer's request made a passive endpoint: not rejected, its id not let go. */
static void check_admitted(unsigned index)
{
	assert_int_equal(fake.ids[index].rejects, 0);
	assert_int_equal(fake.ids[index].destroys, 0);
}

/* How many peers listener holds now (its children), as ep.show says. */
static json_int_t connections_of(rdq_handle_t listener)
{
	const struct reply *reply;
	int64_t id =
		clients_send(CLIENT, "ep.show", json_pack("{s:I}", "ep", (json_int_t)listener));
	json_t *ep;

	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	ep = json_array_get(json_object_get(reply->result, "endpoints"), 0);
	assert_non_null(json_object_get(ep, "max_connections"));
	return json_integer_value(json_object_get(ep, "connections"));
}

/* The owner's own ep.connect, played to its end; its status. */
static int owner_connects(void)
{
	const struct reply *reply;
	int64_t id = clients_send(CLIENT, "ep.connect",
				  json_pack("{s:s, s:i, s:I}", "addr", "127.0.0.1", "port", 7471,
					    "timeout_ms", (json_int_t)FAR_MS));

	if (clients_replies_for(CLIENT, id, &reply))
		return reply->err; /* refused at once (EDQUOT) */
	world_connect_steps(id);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	return reply->err;
}

/* The stats.network counter name, as a client reads it. */
static json_int_t network(const char *name)
{
	const struct reply *reply;
	int64_t id = clients_send(ADMIN, "stats", NULL);

	assert_int_equal(clients_replies_for(ADMIN, id, &reply), 1);
	return json_integer_value(json_object_get(json_object_get(reply->result, "network"), name));
}

/*
 * Opens descriptors until none is left under a lowered limit: rdqd (this
 * process) is out of them until fds_release. Returns how many it opened.
 */
static struct rlimit saved_limit;
static int held_fds[FD_LIMIT];

static int fds_exhaust(void)
{
	struct rlimit low;
	int n = 0;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_limit), 0);
	low = saved_limit;
	low.rlim_cur = FD_LIMIT;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < FD_LIMIT) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			assert_true(errno == EMFILE);
			break;
		}
		held_fds[n++] = fd;
	}
	assert_true(n < FD_LIMIT);
	return n;
}

static void fds_release(int n)
{
	while (n > 0)
		close(held_fds[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved_limit), 0);
}

/* --- the cases --- */

/*
 * A listener of 2 takes two peers and rejects the third, saying so; the
 * owner's quota of 2 (the listener and one more) is untouched by the peers.
 */
static void test_listener_full(void **state)
{
	rdq_handle_t l = listen_on(7471, 2);
	char reason[96];
	unsigned a, b, c;

	a = peer_connects(l);
	b = peer_connects(l);
	c = peer_connects(l);
	check_admitted(a);
	check_admitted(b);
	snprintf(reason, sizeof(reason), "rdq: listener %llu is full (2 connections)",
		 (unsigned long long)l);
	check_rejected(c, reason);
	assert_int_equal(connections_of(l), 2);
	assert_int_equal(network("requests"), 3);
	assert_int_equal(network("accepted"), 2);
	assert_int_equal(network("rejected_listener_full"), 1);
	assert_int_equal(network("endpoints"), 2);
	/* Counted apart: the owner holds one endpoint of its own and two of the network's. */
	assert_int_equal(shares_count(&w.d, w.uid, SHARE_ENDPOINTS), 1);
	assert_int_equal(shares_count(&w.d, w.uid, SHARE_NETWORK_ENDPOINTS), 2);
	/* Its own connect still has room; the one after it does not. */
	assert_string_equal(errname(owner_connects()), "ok");
	assert_string_equal(errname(owner_connects()), "EDQUOT");
	check_nothing_left();
}

/* --max-network-endpoints counts every listener's peers together. */
static void test_daemon_full(void **state)
{
	rdq_handle_t l1, l2;
	unsigned a, b, c;

	w.d.opt.max_endpoints = 4;
	w.d.opt.max_network_endpoints = 2;
	l1 = listen_on(7471, 8);
	l2 = listen_on(7472, 8);
	a = peer_connects(l1);
	b = peer_connects(l2);
	c = peer_connects(l1);
	check_admitted(a);
	check_admitted(b);
	check_rejected(c, "rdq: too many connections from the network (2)");
	assert_int_equal(connections_of(l1), 1);
	assert_int_equal(connections_of(l2), 1);
	assert_int_equal(network("rejected_daemon_full"), 1);
	assert_int_equal(network("rejected_listener_full"), 0);
	assert_int_equal(network("accepted"), 2);
	assert_string_equal(errname(owner_connects()), "ok");
	check_nothing_left();
}

/* A peer that leaves makes room: the counts follow the endpoints, both ways. */
static void test_room_after_a_peer_leaves(void **state)
{
	rdq_handle_t l = listen_on(7471, 2), first;
	struct ep *listener;
	unsigned a, c, d;
	int64_t id;

	a = peer_connects(l);
	peer_connects(l);
	check_admitted(a);
	/* The first peer's endpoint goes (the owner destroys it): the last takes its place. */
	listener = endpoint_lookup(&w.d, l, w.uid);
	first = listener->children[0];
	object_unref(listener);
	id = clients_send(CLIENT, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)first));
	assert_true(settle());
	assert_int_equal(clients_replies_for(CLIENT, id, NULL), 1);
	assert_int_equal(connections_of(l), 1);
	assert_int_equal(network("endpoints"), 1);
	c = peer_connects(l);
	check_admitted(c);
	d = peer_connects(l);
	assert_int_equal(fake.ids[d].rejects, 1);
	assert_int_equal(connections_of(l), 2);
	/* Each child knows its place: destroying them one by one empties the listener. */
	listener = endpoint_lookup(&w.d, l, w.uid);
	while (listener->nchildren) {
		unsigned before = listener->nchildren;

		id = clients_send(CLIENT, "ep.destroy",
				  json_pack("{s:I}", "ep", (json_int_t)listener->children[0]));
		assert_true(settle());
		assert_int_equal(listener->nchildren, before - 1);
	}
	object_unref(listener);
	assert_int_equal(network("endpoints"), 0);
	check_nothing_left();
}

/* Out of descriptors: rejected at once, before any QP is made, saying so. */
static void test_out_of_descriptors(void **state)
{
	rdq_handle_t l = listen_on(7471, 8);
	unsigned a;
	int held;

	/* control_accept.c's episode (an accept of a client failed with EMFILE), for real. */
	w.d.fd_starved = true;
	held = fds_exhaust();
	a = peer_connects(l);
	fds_release(held);
	check_rejected(a, "rdq: out of file descriptors");
	assert_int_equal(fake.nqps, 0);
	assert_int_equal(connections_of(l), 0);
	assert_int_equal(network("rejected_nofd"), 1);
	assert_true(w.d.fd_starved);
	/* Descriptors are free again, and no client came to say so: the next peer does. */
	a = peer_connects(l);
	check_admitted(a);
	assert_false(w.d.fd_starved);
	assert_int_equal(network("accepted"), 1);
	check_nothing_left();
}

/*
 * An accept that runs out of descriptors (making its QP) tells its peer
 * why, and starts an episode: the next peer is rejected at once, without a
 * QP made for it.
 */
static void test_accept_out_of_descriptors(void **state)
{
	rdq_handle_t l = listen_on(7471, 8);
	unsigned a, b;
	int held;

	fake.qp_create_error = EMFILE;
	a = peer_connects(l);
	fake.qp_create_error = 0;
	assert_int_equal(fake.ids[a].accepts, 0);
	check_rejected(a, "rdq: out of file descriptors");
	assert_true(w.d.fd_starved);
	assert_int_equal(network("accepted"), 1);
	held = fds_exhaust();
	b = peer_connects(l);
	fds_release(held);
	check_rejected(b, "rdq: out of file descriptors");
	assert_int_equal(network("rejected_nofd"), 1);
	assert_int_equal(fake.nqps, 0);
	check_nothing_left();
}

/* A connection request for a listener going away: rejected, counted as other. */
static void test_listener_gone(void **state)
{
	rdq_handle_t l = listen_on(7471, 8);
	struct rdma_cm_id *id;
	unsigned a;

	/* The request was read before the listener's destroy, and handled after it. */
	id = fake_incoming_id();
	a = fake.nids - 1;
	clients_send(CLIENT, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)l));
	endpoint_cm_event(&w.d, l, RDMA_CM_EVENT_CONNECT_REQUEST, 0, id, NULL);
	assert_true(settle());
	check_rejected(a, "rdq: the listener is going away");
	assert_int_equal(network("rejected_other"), 1);
	check_nothing_left();
}

/* Our own connect, rejected by a full rdqd: the peer's words reach the client. */
static void test_reject_reason_reaches_the_connect(void **state)
{
	static const char says[] = "rdq: listener 1 is full (5 connections)";
	const struct reply *reply;
	int64_t id = clients_send(CLIENT, "ep.connect",
				  json_pack("{s:s, s:i, s:I}", "addr", "127.0.0.1", "port", 7471,
					    "timeout_ms", (json_int_t)FAR_MS));
	struct request *req = pending_request(0, id);

	assert_non_null(req);
	w.ep = req->ep;
	step(ep_work_resolve_addr);
	endpoint_cm_event(&w.d, w.ep, RDMA_CM_EVENT_ADDR_RESOLVED, 0, NULL, NULL);
	step(ep_work_resolve_route);
	endpoint_cm_event(&w.d, w.ep, RDMA_CM_EVENT_ROUTE_RESOLVED, 0, NULL, NULL);
	step(ep_work_connect);
	endpoint_cm_event(&w.d, w.ep, RDMA_CM_EVENT_REJECTED, 28, NULL, says);
	assert_true(settle());
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "ECONNREFUSED");
	if (!strstr(reply->message, says))
		print_message("ep.connect: \"%s\"\n", reply->message);
	assert_non_null(strstr(reply->message, says));
	check_nothing_left();
}

/* Counts the lines of file that contain text. */
static unsigned lines_with(FILE *file, const char *text)
{
	char line[600];
	unsigned n = 0;

	rewind(file);
	while (fgets(line, sizeof(line), file))
		if (strstr(line, text))
			n++;
	return n;
}

/*
 * A flood of rejects makes one line at once and one a second after, with
 * the count; a quiet second ends it, and the next reject is logged at once.
 */
static void test_rejects_logged_once_a_second(void **state)
{
	rdq_handle_t l = listen_on(7471, 1);
	FILE *log = tmpfile();
	int saved = dup(STDERR_FILENO);

	assert_non_null(log);
	assert_true(saved >= 0);
	fflush(stderr);
	dup2(fileno(log), STDERR_FILENO);
	log_max_priority = LOG_WARNING;

	for (int i = 0; i < 11; i++)
		peer_connects(l);
	fflush(stderr);
	assert_int_equal(lines_with(log, "rejected a connection request"), 1);
	assert_int_equal(lines_with(log, "more connection request"), 0);
	assert_int_equal(w.d.rejects_unlogged, 9);
	/* The second is over: its nine rejects make one line. */
	event_active(w.d.reject_log_timer, EV_TIMEOUT, 1);
	clients_pump();
	fflush(stderr);
	assert_int_equal(lines_with(log, "rejected 9 more connection request(s)"), 1);
	assert_true(evtimer_pending(w.d.reject_log_timer, NULL));
	/* A quiet second: nothing to say, and the watch ends. */
	event_active(w.d.reject_log_timer, EV_TIMEOUT, 1);
	clients_pump();
	assert_false(evtimer_pending(w.d.reject_log_timer, NULL));
	peer_connects(l);
	fflush(stderr);
	assert_int_equal(lines_with(log, "rejected a connection request"), 2);

	log_max_priority = LOG_ERR;
	dup2(saved, STDERR_FILENO);
	close(saved);
	fclose(log);
	assert_int_equal(network("rejected_listener_full"), 11);
	check_nothing_left();
}

/*
 * "Only 10.1/16": deny any, allow the prefix. A peer from elsewhere (IPv4 or
 * IPv6) is rejected at once, told its address, counted by_rule, and never
 * gets a QP; one from inside (IPv4, or IPv4-mapped IPv6) is accepted.
 */
static void test_refused_by_address_rules(void **state)
{
	int err;
	rdq_handle_t l = listen_with_rules("10.1.0.0/16", "any", &err, NULL);
	unsigned in4, out4, mapped, out6;

	assert_string_equal(errname(err), "ok");
	out4 = peer_connects_from(l, "10.2.0.9");
	check_rejected(out4, "rdq: peer 10.2.0.9 is refused by the listener's address rules");
	out6 = peer_connects_from(l, "fd00::9");
	check_rejected(out6, "rdq: peer fd00::9 is refused by the listener's address rules");
	assert_int_equal(fake.nqps, 0);
	in4 = peer_connects_from(l, "10.1.0.7");
	mapped = peer_connects_from(l, "::ffff:10.1.3.4");
	check_admitted(in4);
	check_admitted(mapped);
	assert_int_equal(connections_of(l), 2);
	assert_int_equal(network("rejected_by_rule"), 2);
	assert_int_equal(network("accepted"), 2);
	assert_int_equal(network("requests"), 4);
	check_nothing_left();
}

/* A refused address is refused for that, even by a full listener: room would not help it. */
static void test_rules_before_room(void **state)
{
	int err;
	rdq_handle_t l = listen_with_rules(NULL, "10.0.0.9", &err, NULL);
	unsigned a, b;

	w.d.opt.max_network_endpoints = 1;
	a = peer_connects_from(l, "10.0.0.1");
	b = peer_connects_from(l, "10.0.0.9");
	check_admitted(a);
	check_rejected(b, "rdq: peer 10.0.0.9 is refused by the listener's address rules");
	assert_int_equal(network("rejected_by_rule"), 1);
	assert_int_equal(network("rejected_daemon_full"), 0);
	check_nothing_left();
}

/* Bad prefixes are refused by ep.listen, naming them; too many is E2BIG; nothing is made. */
static void test_listen_bad_rules(void **state)
{
	char many[RDQ_PREFIX_TEXT_MAX] = "";
	const char *message = NULL;
	size_t len = 0;
	int err;

	assert_int_equal(listen_with_rules("10.0.0.0/8, 10.0.0.0/33", NULL, &err, &message), 0);
	assert_string_equal(errname(err), "EINVAL");
	assert_non_null(strstr(message, "allow: \"10.0.0.0/33\" is not an address prefix"));
	assert_int_equal(listen_with_rules(NULL, "fd00::/8 bogus", &err, &message), 0);
	assert_string_equal(errname(err), "EINVAL");
	assert_non_null(strstr(message, "deny: \"bogus\""));
	for (int i = 0; i <= RDQ_PREFIX_MAX; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "10.%d.0.0/16,", i);
	assert_int_equal(listen_with_rules(NULL, many, &err, &message), 0);
	assert_string_equal(errname(err), "E2BIG");
	assert_int_equal(shares_total(&w.d, SHARE_ENDPOINTS), 0);
	check_nothing_left();
}

/* ep.show of the listener names its prefixes; a page of all counts them. */
static void test_show_rules(void **state)
{
	const struct reply *reply;
	int err;
	rdq_handle_t l = listen_with_rules("10.1.0.0/16,fd00::1", "any", &err, NULL);
	json_t *row, *allow;
	int64_t id;

	id = clients_send(CLIENT, "ep.show", json_pack("{s:I}", "ep", (json_int_t)l));
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	row = json_array_get(json_object_get(reply->result, "endpoints"), 0);
	allow = json_object_get(row, "allow");
	assert_int_equal(json_array_size(allow), 2);
	assert_string_equal(json_string_value(json_array_get(allow, 0)), "10.1.0.0/16");
	assert_string_equal(json_string_value(json_array_get(allow, 1)), "fd00::1/128");
	assert_string_equal(json_string_value(json_array_get(json_object_get(row, "deny"), 0)),
			    "any");
	assert_int_equal(json_integer_value(json_object_get(row, "rules")), 3);
	id = clients_send(CLIENT, "ep.show", NULL);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	row = json_array_get(json_object_get(reply->result, "endpoints"), 0);
	assert_int_equal(json_integer_value(json_object_get(row, "rules")), 3);
	assert_null(json_object_get(row, "allow"));
	check_nothing_left();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_listener_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_after_a_peer_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_out_of_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_reason_reaches_the_connect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rejects_logged_once_a_second, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_by_address_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_before_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_bad_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_rules, setup, teardown),
	};

	/* The loop's warnings (the rejects themselves) are what the cases do. */
	log_max_priority = LOG_ERR;
	return cmocka_run_group_tests_name("admission", tests, NULL, NULL);
}
