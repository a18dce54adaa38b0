/* SPDX-License-Identifier: MIT */
/*
 * Reading requests: the scanner reads the frames clients send without a
 * tree, declines the rest, and either way the answer is jansson's. Each case
 * is read both ways and must agree; the common ones must also take the fast
 * way, and a few answers are checked outright.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "read_both.h"

struct frame_case {
	const char *name;
	const char *body;
	bool fast; /* read without a tree */
};

static const struct frame_case cases[] = {
	{"no args", "{\"v\":1,\"id\":1,\"op\":\"version\"}", true},
	{"empty args", "{\"v\":2,\"id\":1,\"op\":\"stats\",\"args\":{}}", true},
	{"a handle", "{\"v\":2,\"id\":9,\"op\":\"ep.destroy\",\"args\":{\"ep\":3}}", true},
	{"every kind",
	 "{\"v\":2,\"id\":9,\"op\":\"ep.listen\",\"args\":{\"addr\":\"10.0.0.1\","
	 "\"port\":7000,\"backlog\":5,\"tied\":true,\"mode\":\"serve\"}}",
	 true},
	{"keys in any order", "{\"args\":{\"ep\":3},\"op\":\"ep.recv\",\"id\":4,\"v\":1}", true},
	{"spaces", " { \"v\" : 1 ,\n\"id\" : 1 , \"op\" : \"version\" } ", true},
	{"null is absent", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"ep\":null}}", true},
	{"an unknown argument", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"x\":1}}", true},
	{"an unknown field", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"trace\":\"abc\"}", true},
	{"negative zero", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"after\":-0}}", true},
	/* Declined: jansson reads them. */
	{"an escape", "{\"v\":1,\"id\":1,\"op\":\"ep.send\",\"args\":{\"ep\":1,\"data\":\"a\\n\"}}",
	 false},
	{"a unicode escape in op", "{\"v\":1,\"id\":1,\"op\":\"\\u0065p.show\"}", false},
	{"UTF-8", "{\"v\":1,\"id\":1,\"op\":\"ep.send\",\"args\":{\"ep\":1,\"data\":\"\xc3\xa9\"}}",
	 false},
	{"bad UTF-8", "{\"v\":1,\"id\":1,\"op\":\"ep.send\",\"args\":{\"ep\":1,\"data\":\"\xff\"}}",
	 false},
	{"a real", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"limit\":1e2}}", false},
	{"a real id", "{\"v\":1,\"id\":1.0,\"op\":\"version\"}", false},
	{"a huge id", "{\"v\":1,\"id\":123456789012345678901,\"op\":\"version\"}", false},
	{"a leading zero", "{\"v\":1,\"id\":01,\"op\":\"version\"}", false},
	{"a duplicate field", "{\"v\":1,\"id\":1,\"op\":\"version\",\"v\":1}", false},
	{"a duplicate argument",
	 "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"ep\":1,\"ep\":2}}", false},
	{"a duplicate after null",
	 "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"ep\":null,\"ep\":2}}", false},
	{"a duplicate unknown", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"x\":1,\"x\":2}}",
	 false},
	{"nesting", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"x\":[1]}}", false},
	{"args not an object", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":[]}", false},
	{"a wrong type", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"limit\":\"5\"}}", false},
	{"out of range", "{\"v\":1,\"id\":1,\"op\":\"ep.show\",\"args\":{\"limit\":0}}", false},
	{"a handle of 0", "{\"v\":1,\"id\":1,\"op\":\"ep.destroy\",\"args\":{\"ep\":0}}", false},
	{"required, missing", "{\"v\":1,\"id\":1,\"op\":\"ep.destroy\",\"args\":{}}", false},
	{"not a choice",
	 "{\"v\":1,\"id\":1,\"op\":\"ep.listen\",\"args\":{\"addr\":\"a\","
	 "\"mode\":\"x\"}}",
	 false},
	{"an address too long",
	 "{\"v\":1,\"id\":1,\"op\":\"ep.listen\",\"args\":{\"addr\":\"0123456789012345678901234567"
	 "890123456789012345678901234567890123\"}}",
	 false},
	{"no id", "{\"v\":1,\"op\":\"version\"}", false},
	{"a negative id", "{\"v\":1,\"id\":-1,\"op\":\"version\"}", false},
	{"version 3", "{\"v\":3,\"id\":1,\"op\":\"version\"}", false},
	{"no op", "{\"v\":1,\"id\":1}", false},
	{"not an object", "[1]", false},
	{"trailing bytes", "{\"v\":1,\"id\":1,\"op\":\"version\"}x", false},
	{"cut short", "{\"v\":1,\"id\":1,\"op\":\"vers", false},
	{"an attachment in version 1", "{\"v\":1,\"id\":1,\"op\":\"version\",\"attachment\":0}",
	 false},
	{"an attachment announced, none sent",
	 "{\"v\":2,\"id\":1,\"op\":\"version\",\"attachment\":3}", false},
};

static void each_case_agrees(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool fast;

		if (!read_both_agree(cases[i].body, strlen(cases[i].body), NULL, &fast))
			fail_msg("the two ways disagree on: %s", cases[i].name);
		if (fast != cases[i].fast)
			fail_msg("%s: read %s, expected %s", cases[i].name,
				 fast ? "fast" : "by jansson",
				 cases[i].fast ? "fast" : "by jansson");
	}
}

/* Every op's frame of every argument at its bounds reads the same both ways. */
static void every_op_at_its_bounds(void **state)
{
	char body[512];

	for (int o = 0; o < RDQ_OP_COUNT; o++) {
		const struct rdq_op_spec *op = &rdq_ops[o];

		for (unsigned i = 0; i < op->nargs; i++) {
			const struct rdq_arg_spec *a = &op->args[i];
			const char *values[] = {"0",
						"1",
						"-1",
						"true",
						"\"x\"",
						"null",
						"65535",
						"65536",
						"\"echo\"",
						"\"serve\"",
						"9223372036854775807"};

			for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
				bool fast;
				int n = snprintf(
					body, sizeof(body),
					"{\"v\":2,\"id\":5,\"op\":\"%s\",\"args\":{\"%s\":%s}}",
					op->name, a->name, values[v]);

				if (!read_both_agree(body, (size_t)n, op, &fast))
					fail_msg("the two ways disagree on: %s", body);
			}
		}
	}
}

/* What the scanner gives is the value itself: a frame with every kind, read field by field. */
static void values_read(void **state)
{
	static const char body[] = "{\"v\":2,\"id\":77,\"op\":\"ep.listen\",\"args\":{\"addr\":"
				   "\"10.0.0.1\",\"port\":7000,"
				   "\"tied\":true,\"mode\":\"serve\"}}";
	struct rdq_args_ep_listen a;
	struct rdq_envelope e;
	char err[RDQ_ERRMSG_MAX];

	assert_int_equal(rdq_envelope_read(body, sizeof(body) - 1, &e, err), 0);
	assert_int_equal(e.id, 77);
	assert_int_equal(e.version, 2);
	assert_ptr_equal(rdq_op_find(e.op, e.op_len), &rdq_ops[RDQ_OP_EP_LISTEN]);
	assert_int_equal(rdq_args_read(&e, &rdq_ops[RDQ_OP_EP_LISTEN], &a, err), 0);
	assert_null(e.tree.root);
	assert_int_equal(a.addr.len, 8);
	assert_memory_equal(a.addr.s, "10.0.0.1", 8);
	assert_int_equal(a.port, 7000);
	assert_int_equal(a.backlog, 64); /* the default */
	assert_true(a.tied);
	assert_int_equal(a.mode, RDQ_MODE_SERVE);
	rdq_envelope_clear(&e);
}

/* A wrong argument is named, the first in the table's order, whatever the frame's order. */
static void first_wrong_argument_named(void **state)
{
	static const char body[] =
		"{\"v\":1,\"id\":1,\"op\":\"ep.listen\",\"args\":{\"mode\":\"x\","
		"\"backlog\":0,\"addr\":\"a\"}}";
	struct rdq_args_ep_listen a;
	struct rdq_envelope e;
	char err[RDQ_ERRMSG_MAX];

	assert_int_equal(rdq_envelope_read(body, sizeof(body) - 1, &e, err), 0);
	assert_int_equal(rdq_args_read(&e, &rdq_ops[RDQ_OP_EP_LISTEN], &a, err), -EINVAL);
	assert_string_equal(err, "args.backlog must be an integer from 1 to 4096");
	rdq_envelope_clear(&e);
}

/* Ops are found by name, exactly: not by a prefix, not past a NUL. */
static void ops_found_by_name(void **state)
{
	for (int o = 0; o < RDQ_OP_COUNT; o++) {
		assert_int_equal(rdq_ops[o].op, o);
		assert_ptr_equal(rdq_op_find(rdq_ops[o].name, strlen(rdq_ops[o].name)),
				 &rdq_ops[o]);
	}
	assert_null(rdq_op_find("ep.sho", 6));
	assert_null(rdq_op_find("ep.showx", 8));
	assert_null(rdq_op_find("ep.show\0x", 9));
	assert_null(rdq_op_find("", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_case_agrees),  cmocka_unit_test(every_op_at_its_bounds),
		cmocka_unit_test(values_read),	     cmocka_unit_test(first_wrong_argument_named),
		cmocka_unit_test(ops_found_by_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
