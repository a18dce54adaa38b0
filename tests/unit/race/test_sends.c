/* SPDX-License-Identifier: MIT */
/*
 * Sends through rdqd's own code on the race harness.
 *
 * A send that waits for its completion, which the hardware never reports (a
 * dead link: the transport retries for long): its deadline answers the
 * client with ETIMEDOUT, the QP forgets the request (its slot stays busy
 * until the hardware lets go), and a later completion or teardown answers no
 * one twice.
 *
 * A send that does not wait: answered once it is posted; when the
 * connection then fails under it, the next ep.send and ep.recv say why.
 *
 * ep.sendrecv: the send is posted and the request waits as an ep.recv; a
 * failure of the connection answers it with why; on a failed connection,
 * or on an endpoint that cannot receive, nothing is sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>

#include "clients.h"
#include "endpoint.h"
#include "fakes.h"
#include "harness.h"
#include "log.h"
#include "qp.h"
#include "request.h"

static int setup(void **state)
{
	return world_start(SYNC_ENDPOINT);
}

static int teardown(void **state)
{
	world_stop();
	return 0;
}

static int64_t send_lost(int64_t timeout_ms)
{
	return clients_send(CLIENT, "ep.send",
			    json_pack("{s:I, s:s, s:I, s:b}", "ep", (json_int_t)w.ep, "data",
				      "lost", "timeout_ms", (json_int_t)timeout_ms, "wait", 1));
}

static unsigned slots_holding(struct qp *qp)
{
	unsigned n = 0;

	for (unsigned s = 0; s < QP_SEND_SLOTS; s++)
		n += qp->send_req[s] != NULL;
	return n;
}

static void test_send_deadline(void **state)
{
	const struct reply *reply;
	struct request *req;
	struct qp *qp;
	int64_t timed, untimed;

	world_connect(false);
	qp = fake_qp_by_handle(w.qp)->qp;
	timed = send_lost(FAR_MS);
	untimed = send_lost(0);
	assert_int_equal(fake.sends, 2);
	assert_int_equal(slots_holding(qp), 2);

	/* The clock reaches the first send's deadline; the second has none. */
	req = pending_request(0, timed);
	assert_non_null(req);
	assert_non_null(req->deadline);
	assert_null(pending_request(0, untimed)->deadline);
	event_active(req->deadline, EV_TIMEOUT, 1);
	clients_pump();

	assert_int_equal(clients_replies_for(CLIENT, timed, &reply), 1);
	assert_string_equal(errname(reply->err), "ETIMEDOUT");
	assert_non_null(strstr(reply->message, "did not complete within"));
	assert_null(pending_request(0, timed));
	assert_int_equal(slots_holding(qp), 1);

	/* The other completes when the endpoint goes: once, and the timed one not again. */
	clients_send(CLIENT, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)w.ep));
	assert_true(settle());
	assert_int_equal(clients_replies_for(CLIENT, untimed, &reply), 1);
	assert_string_equal(errname(reply->err), "ECANCELED");
	assert_int_equal(clients_replies_for(CLIENT, timed, NULL), 1);
	check_nothing_left();
}

static unsigned slots_busy(struct qp *qp)
{
	unsigned n = 0;

	for (unsigned s = 0; s < QP_SEND_SLOTS; s++)
		n += qp->send_busy[s];
	return n;
}

static void test_send_posted_then_failed(void **state)
{
	static const char why[] = "the send failed: the transport gave up";
	const struct reply *reply;
	struct qp *qp;
	int64_t posted, after, recv;

	world_connect(false);
	qp = fake_qp_by_handle(w.qp)->qp;
	posted = clients_send(CLIENT, "ep.send",
			      json_pack("{s:I, s:s}", "ep", (json_int_t)w.ep, "data", "posted"));
	clients_pump();

	/* Answered at once, and says the send has not completed; its slot is lent meanwhile. */
	assert_int_equal(clients_replies_for(CLIENT, posted, &reply), 1);
	assert_int_equal(reply->err, 0);
	assert_int_equal(json_integer_value(json_object_get(reply->result, "bytes")), 6);
	assert_true(json_is_false(json_object_get(reply->result, "completed")));
	assert_int_equal(slots_busy(qp), 1);
	assert_int_equal(slots_holding(qp), 0);

	/* Its completion fails, which fails the QP: the QP module tells the endpoint so. */
	endpoint_qp_event(&w.d, w.ep, -ETIMEDOUT, why, NULL, 0);
	assert_true(settle());

	after = clients_send(CLIENT, "ep.send",
			     json_pack("{s:I, s:s}", "ep", (json_int_t)w.ep, "data", "after"));
	recv = clients_send(CLIENT, "ep.recv",
			    json_pack("{s:I, s:I}", "ep", (json_int_t)w.ep, "timeout_ms", 0));
	clients_pump();
	assert_int_equal(clients_replies_for(CLIENT, after, &reply), 1);
	assert_string_equal(errname(reply->err), "ETIMEDOUT");
	assert_non_null(strstr(reply->message, why));
	assert_int_equal(clients_replies_for(CLIENT, recv, &reply), 1);
	assert_string_equal(errname(reply->err), "ETIMEDOUT");
	assert_non_null(strstr(reply->message, why));
	assert_int_equal(fake.sends, 1); /* the one after was never posted */
}

static void test_sendrecv(void **state)
{
	static const char why[] = "the send failed: the transport gave up";
	const struct reply *reply;
	int64_t waiting, after;

	world_connect(false);
	waiting = clients_send(CLIENT, "ep.sendrecv",
			       json_pack("{s:I, s:s, s:I}", "ep", (json_int_t)w.ep, "data",
					 "request", "timeout_ms", (json_int_t)60000));
	clients_pump();
	/* Posted, and waiting for the answer: no reply yet. */
	assert_int_equal(fake.sends, 1);
	assert_int_equal(clients_replies_for(CLIENT, waiting, NULL), 0);
	assert_non_null(pending_request(0, waiting));

	/* The connection fails: the waiting receive is answered with why, once. */
	endpoint_qp_event(&w.d, w.ep, -ETIMEDOUT, why, NULL, 0);
	assert_true(settle());
	clients_pump();
	assert_int_equal(clients_replies_for(CLIENT, waiting, &reply), 1);
	assert_string_equal(errname(reply->err), "ETIMEDOUT");
	assert_non_null(strstr(reply->message, why));

	/* On the failed connection nothing more is sent. */
	after = clients_send(CLIENT, "ep.sendrecv",
			     json_pack("{s:I, s:s}", "ep", (json_int_t)w.ep, "data", "after"));
	clients_pump();
	assert_int_equal(clients_replies_for(CLIENT, after, &reply), 1);
	assert_string_equal(errname(reply->err), "ETIMEDOUT");
	assert_int_equal(fake.sends, 1);
}

static void test_sendrecv_on_a_listener_sends_nothing(void **state)
{
	const struct reply *reply;
	json_int_t listener;
	int64_t id;

	id = clients_send(CLIENT, "ep.listen",
			  json_pack("{s:s, s:i}", "addr", "127.0.0.1", "port", 7470));
	step(ep_work_listen);
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "ok");
	listener = json_integer_value(json_object_get(reply->result, "ep"));
	id = clients_send(CLIENT, "ep.sendrecv",
			  json_pack("{s:I, s:s}", "ep", listener, "data", "x"));
	clients_pump();
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	assert_string_equal(errname(reply->err), "EOPNOTSUPP");
	assert_int_equal(fake.sends, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_posted_then_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendrecv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendrecv_on_a_listener_sends_nothing, setup,
						teardown),
	};

	log_max_priority = LOG_ERR;
	return cmocka_run_group_tests_name("sends", tests, NULL, NULL);
}
