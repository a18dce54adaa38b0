/* SPDX-License-Identifier: MIT */
/*
 * rdqd's encoder (daemon/encode.c): what it writes is JSON jansson reads
 * back, with the fields docs/protocol.md names, whatever the values; a
 * message too big for the buffer is measured, not cut silently; text that
 * is not UTF-8 is repaired, never written as it is.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "encode.h"
#include "protocol/message.h"

static char buf[1 << 16];

/* Encodes with f into buf, checks the length and that jansson reads it; returns the value. */
static json_t *read_back(size_t len)
{
	json_error_t err;
	json_t *v;

	assert_true(len > 0 && len < sizeof(buf));
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!v)
		fail_msg("not JSON (%s): %.*s", err.text, (int)len, buf);
	return v;
}

static void version_reply(void **state)
{
	json_t *v =
		read_back(encode_reply_ok(buf, sizeof(buf), 2, 7, RESULT(RESULT_VERSION), NULL, 0));

	assert_int_equal(json_integer_value(json_object_get(v, "v")), 2);
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 7);
	assert_true(json_is_true(json_object_get(v, "ok")));
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(v, "result"), "protocol")),
		RDQ_PROTOCOL_VERSION);
	json_decref(v);
}

/* Version 1 carries a message in the JSON: text as "data", other bytes as "hex". */
static void received_message(void **state)
{
	static const char text[] = "hello \"you\"\n\x01";
	static const uint8_t bytes[] = {0xff, 0x00, 0x41};
	json_t *v, *r;
	size_t n;

	v = read_back(encode_reply_ok(buf, sizeof(buf), 1, 1, RESULT(RESULT_RECEIVED), text,
				      sizeof(text) - 1));
	r = json_object_get(v, "result");
	assert_string_equal(json_string_value(json_object_get(r, "data")), text);
	assert_int_equal(json_integer_value(json_object_get(r, "bytes")), sizeof(text) - 1);
	assert_null(json_object_get(v, "attachment"));
	json_decref(v);

	v = read_back(encode_reply_ok(buf, sizeof(buf), 1, 1, RESULT(RESULT_RECEIVED), bytes, 3));
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "result"), "hex")),
			    "ff0041");
	json_decref(v);

	/* Version 2: the bytes follow as the attachment, which the reply announces. */
	n = encode_reply_ok(buf, sizeof(buf), 2, 1, RESULT(RESULT_RECEIVED), bytes, 3);
	v = read_back(n);
	assert_int_equal(json_integer_value(json_object_get(v, "attachment")), 3);
	assert_null(json_object_get(json_object_get(v, "result"), "hex"));
	json_decref(v);
}

/* An error's message is any bytes: made UTF-8 and cut, never left out. */
static void error_message_repaired(void **state)
{
	char message[3000];
	json_t *v, *e;

	memset(message, 'x', sizeof(message));
	message[10] = (char)0xff;
	message[sizeof(message) - 1] = '\0';
	v = read_back(encode_reply_error(buf, sizeof(buf), 2, RDQ_NO_ID, EINVAL, message));
	assert_true(json_is_null(json_object_get(v, "id")));
	e = json_object_get(v, "error");
	assert_string_equal(json_string_value(json_object_get(e, "errno")), "EINVAL");
	assert_int_equal(json_integer_value(json_object_get(e, "code")), EINVAL);
	assert_true(strlen(json_string_value(json_object_get(e, "message"))) <
		    RDQ_REPLY_MESSAGE_MAX);
	json_decref(v);

	/* No message: strerror's. */
	v = read_back(encode_reply_error(buf, sizeof(buf), 1, 3, ENOENT, NULL));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(v, "error"), "message")),
		strerror(ENOENT));
	json_decref(v);
}

/* Too big for the buffer: the length needed is returned, and is the length of the whole. */
static void measured_when_too_big(void **state)
{
	struct ep_view rows[3];
	struct result page = {.kind = RESULT_ENDPOINTS};
	size_t whole, cut;
	char small[40];

	memset(rows, 0, sizeof(rows));
	for (int i = 0; i < 3; i++) {
		rows[i].ep = (uint64_t)i + 1;
		rows[i].role = "active";
		rows[i].state = "connected";
		strcpy(rows[i].local, "10.0.0.1:7472");
		strcpy(rows[i].remote, "10.0.0.2:40000");
	}
	page.page.rows = rows;
	page.page.n = 3;
	page.page.more = true;
	page.page.next = 3;
	whole = encode_reply_ok(buf, sizeof(buf), 2, 1, &page, NULL, 0);
	cut = encode_reply_ok(small, sizeof(small), 2, 1, &page, NULL, 0);
	assert_int_equal(whole, cut);
	assert_memory_equal(small, buf, sizeof(small));
	json_decref(read_back(whole));
}

/* Every event reads back with its name and the version 1 envelope. */
static void events(void **state)
{
	static const struct {
		enum event_kind kind;
		const char *name, *field;
	} cases[] = {
		{EVENT_EP_ESTABLISHED, "ep.established", "qp"},
		{EVENT_EP_DISCONNECTED, "ep.disconnected", "status"},
		{EVENT_EP_ERROR, "ep.error", "message"},
		{EVENT_EP_DESTROYED, "ep.destroyed", "ep"},
		{EVENT_EP_ACCEPTED, "ep.accepted", "peer"},
		{EVENT_QP_DESTROYED, "qp.destroyed", "qp"},
		{EVENT_EVENTS_LOST, "events.lost", "count"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct event_view e = {.kind = cases[i].kind,
				       .ep = 3,
				       .qp = 4,
				       .status = -ETIMEDOUT,
				       .peer = "10.0.0.2:1",
				       .local = "10.0.0.1:2",
				       .count = 9};
		json_t *v = read_back(encode_event(buf, sizeof(buf), &e));

		assert_int_equal(json_integer_value(json_object_get(v, "v")), 1);
		assert_string_equal(json_string_value(json_object_get(v, "event")), cases[i].name);
		assert_non_null(json_object_get(v, cases[i].field));
		json_decref(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_reply),
		cmocka_unit_test(received_message),
		cmocka_unit_test(error_message_repaired),
		cmocka_unit_test(measured_when_too_big),
		cmocka_unit_test(events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
