/* SPDX-License-Identifier: MIT */
/*
 * Out of memory, through the allocator seam (alloc.h): each allocation of a
 * request's life fails in turn, and the request must say ENOMEM, leave
 * nothing behind, and rdqd answer the next one. The simulator sweeps every
 * kind of request this way; these cases keep the two answers it found wrong:
 * ep.show listed no endpoints when it had no memory to list them, and an
 * ep.connect whose work item could not be allocated said EBUSY.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alloc.h"
#include "clients.h"
#include "fakes.h"
#include "harness.h"
#include "request.h"

/* The connect's rdma_cm answers, played whether or not its endpoint is still there. */
static void answer_connect(void)
{
	static const enum race_event answers[] = {EV_ADDR_RESOLVED, EV_ROUTE_RESOLVED,
						  EV_CONNECT_RESPONSE};

	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		assert_true(settle());
		fire(answers[i]);
	}
	assert_true(settle());
}

/* op's life with its k-th allocation failing; false once the life passed without it. */
static bool life_with_failure(const char *op, uint64_t k)
{
	const struct reply *reply;
	struct request *req;
	bool failed;
	int64_t id, next;

	assert_int_equal(world_start(SYNC_ENDPOINT), 0);
	if (strcmp(op, "ep.show") == 0)
		world_connect(false); /* something to list */
	alloc_faults = (struct alloc_faults){.armed = true, .fail_at = k};
	if (strcmp(op, "ep.show") == 0) {
		id = clients_send(CLIENT, "ep.show", NULL);
		assert_true(settle());
	} else {
		id = clients_send(CLIENT, "ep.connect",
				  json_pack("{s:s, s:I}", "addr", "127.0.0.1", "timeout_ms",
					    (json_int_t)FAR_MS));
		req = pending_request(0, id);
		w.ep = req ? req->ep : 0;
		answer_connect();
	}
	failed = alloc_faults.failed;
	alloc_faults = (struct alloc_faults){.armed = false};
	assert_int_equal(clients_replies_for(CLIENT, id, &reply), 1);
	if (failed) {
		if (reply->err != ENOMEM)
			print_message("%s, allocation %llu failing: %s \"%s\"\n", op,
				      (unsigned long long)k, errname(reply->err), reply->message);
		assert_string_equal(errname(reply->err), "ENOMEM");
	}
	next = clients_send(CLIENT, "version", NULL);
	assert_int_equal(clients_replies_for(CLIENT, next, &reply), 1);
	assert_string_equal(errname(reply->err), "ok");
	check_nothing_left();
	world_stop();
	return failed;
}

static void each_allocation_fails(const char *op)
{
	uint64_t k = 1;

	while (life_with_failure(op, k))
		k++;
	/* The life has allocations to fail: a seam that counts nothing would pass too. */
	assert_true(k > 2);
}

static void ep_show_out_of_memory_says_enomem(void **state)
{
	(void)state;
	each_allocation_fails("ep.show");
}

static void ep_connect_out_of_memory_says_enomem(void **state)
{
	(void)state;
	each_allocation_fails("ep.connect");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ep_show_out_of_memory_says_enomem),
		cmocka_unit_test(ep_connect_out_of_memory_says_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
