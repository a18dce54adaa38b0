/* SPDX-License-Identifier: MIT */
/*
 * A watcher that never reads, through rdqd's own code on the race harness's
 * fakes: rdqd keeps at most about its output limit for it, counts the events
 * it could not send, and, once the watcher reads again, tells it how many it
 * lost before any newer event. Every event is either read or counted lost.
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

/* Listeners made and destroyed: an ep.destroyed event each, well past 1 MiB of events. */
#define CYCLES 30000

static int setup(void **state)
{
	int ret = world_start(SYNC_ENDPOINT);

	w.d.opt.max_endpoints = CYCLES;
	return ret;
}

static int teardown(void **state)
{
	world_stop();
	return 0;
}

static void test_deaf_watcher(void **state)
{
	uint64_t read, lost, sent_before;
	int64_t id;

	id = clients_send(ADMIN, "watch", json_pack("{s:b}", "on", true));
	assert_int_equal(clients_replies_for(ADMIN, id, NULL), 1);
	clients_reading(ADMIN, false);

	sent_before = w.d.counters.events_sent;
	for (int i = 0; i < CYCLES; i++) {
		const struct reply *r;

		id = clients_send(
			CLIENT, "ep.listen",
			json_pack("{s:s, s:i}", "addr", "127.0.0.1", "port", 20000 + i % 1000));
		assert_true(settle());
		assert_int_equal(clients_replies_for(CLIENT, id, &r), 1);
		clients_send(CLIENT, "ep.destroy",
			     json_pack("{s:O}", "ep", json_object_get(r->result, "ep")));
		assert_true(settle());
		clients_forget_replies();
	}
	/* Most went nowhere: counted, not held. */
	print_message("events sent %llu, lost %llu\n",
		      (unsigned long long)(w.d.counters.events_sent - sent_before),
		      (unsigned long long)w.d.counters.events_lost);
	assert_true(w.d.counters.events_lost > 0);
	assert_int_equal(w.d.counters.events_sent - sent_before + w.d.counters.events_lost, CYCLES);

	/* It reads again: everything sent arrives, then how many were lost. */
	clients_reading(ADMIN, true);
	clients_pump();
	clients_events(&read, &lost);
	assert_int_equal(read, w.d.counters.events_sent - sent_before);
	assert_int_equal(lost, w.d.counters.events_lost);
	/* The daemon is still answering it. */
	id = clients_send(ADMIN, "version", NULL);
	assert_int_equal(clients_replies_for(ADMIN, id, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deaf_watcher, setup, teardown),
	};

	log_max_priority = LOG_ERR;
	return cmocka_run_group_tests_name("watchers", tests, NULL, NULL);
}
