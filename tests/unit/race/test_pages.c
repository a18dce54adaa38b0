/* SPDX-License-Identifier: MIT */
/*
 * Lists longer than a page, through rdqd's own code on the race table's
 * fakes (harness.h): hundreds of endpoints and pending requests, which would
 * need RDMA hardware otherwise. Each list comes back whole, page by page,
 * every item once, in order; a page larger than the protocol allows is an
 * error, not a reply that does not fit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clients.h"
#include "fakes.h"
#include "harness.h"
#include "log.h"
#include "protocol/defaults.h"
#include "request.h"

#define LISTENERS 450
#define RECEIVES  300

static int setup(void **state)
{
	int ret = world_start(SYNC_ENDPOINT);

	w.d.opt.max_endpoints = 1000;
	w.d.opt.max_pending = 1000;
	return ret;
}

static int teardown(void **state)
{
	world_stop();
	return 0;
}

/* Sends op with args (stolen) and returns its one reply. */
static const struct reply *call(const char *op, json_t *args)
{
	const struct reply *reply = NULL;
	int64_t id = clients_send(CLIENT, op, args);

	assert_true(settle());
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	return reply;
}

/*
 * Reads the whole list key of op page by page; checks each page's size and
 * that the items' field come in increasing order. Returns how many there were.
 */
static unsigned read_pages(const char *op, const char *key, const char *field, unsigned *pages)
{
	json_int_t after = 0, prev = 0;
	unsigned total = 0;

	*pages = 0;
	do {
		const struct reply *r = call(op, json_pack("{s:I}", "after", after));
		json_t *items = json_object_get(r->result, key), *item, *next;
		size_t i;

		assert_string_equal(errname(r->err), "ok");
		assert_true(json_array_size(items) <= RDQ_DEFAULT_PAGE);
		json_array_foreach(items, i, item)
		{
			json_int_t v = json_integer_value(json_object_get(item, field));

			assert_true(v > prev);
			prev = v;
			total++;
		}
		next = json_object_get(r->result, "next");
		/* A page says there is more exactly when it is full and more remain. */
		if (next) {
			assert_int_equal(json_array_size(items), RDQ_DEFAULT_PAGE);
			assert_int_equal(json_integer_value(next), prev);
		}
		after = next ? json_integer_value(next) : 0;
		(*pages)++;
	} while (after);
	return total;
}

static void test_endpoints_in_pages(void **state)
{
	const struct reply *r;
	unsigned pages;

	for (int i = 0; i < LISTENERS; i++)
		clients_send(CLIENT, "ep.listen",
			     json_pack("{s:s, s:i}", "addr", "127.0.0.1", "port", 10000 + i));
	assert_true(settle());
	assert_int_equal(fake.listens, LISTENERS);

	assert_int_equal(read_pages("ep.show", "endpoints", "ep", &pages), LISTENERS);
	assert_int_equal(pages, (LISTENERS + RDQ_DEFAULT_PAGE - 1) / RDQ_DEFAULT_PAGE);

	/* The largest page allowed, and one more than that. */
	r = call("ep.show", json_pack("{s:i}", "limit", RDQ_MAX_PAGE));
	assert_string_equal(errname(r->err), "ok");
	assert_int_equal(json_array_size(json_object_get(r->result, "endpoints")), RDQ_MAX_PAGE);
	r = call("ep.show", json_pack("{s:i}", "limit", RDQ_MAX_PAGE + 1));
	assert_string_equal(errname(r->err), "EINVAL");
	assert_int_equal(w.d.counters.dropped, 0);
}

static void test_requests_in_pages(void **state)
{
	const struct reply *r;
	struct request *send;
	int64_t send_id;
	json_t *item;
	unsigned pages;
	size_t k;

	world_connect(false);
	for (int i = 0; i < RECEIVES; i++)
		clients_send(CLIENT, "ep.recv",
			     json_pack("{s:I, s:I}", "ep", (json_int_t)w.ep, "timeout_ms",
				       (json_int_t)FAR_MS));
	assert_true(settle());
	assert_int_equal(w.d.counters.pending, RECEIVES);

	/* Every pending receive once, in rid order; the request.list itself is not listed. */
	assert_int_equal(read_pages("request.list", "requests", "rid", &pages), RECEIVES);
	/* Each shows the endpoint it acts on: a receive waiting, and a send in flight. */
	r = call("request.list", json_pack("{s:i}", "limit", 5));
	json_array_foreach(json_object_get(r->result, "requests"), k, item)
		assert_int_equal(json_integer_value(json_object_get(item, "ep")), w.ep);
	send_id = clients_send(CLIENT, "ep.send",
			       json_pack("{s:I, s:s, s:b}", "ep", (json_int_t)w.ep, "data",
					 "in flight", "wait", 1));
	assert_int_equal(fake.sends, 1);
	send = pending_request(0, send_id);
	assert_non_null(send);
	r = call("request.list", json_pack("{s:I}", "after", (json_int_t)send->rid - 1));
	item = json_array_get(json_object_get(r->result, "requests"), 0);
	assert_string_equal(json_string_value(json_object_get(item, "op")), "ep.send");
	assert_string_equal(json_string_value(json_object_get(item, "state")), "dispatched");
	assert_int_equal(json_integer_value(json_object_get(item, "ep")), w.ep);
	assert_int_equal(w.d.counters.dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_endpoints_in_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_in_pages, setup, teardown),
	};

	log_max_priority = LOG_ERR;
	return cmocka_run_group_tests_name("pages", tests, NULL, NULL);
}
