/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol (lib/protocol/, docs/protocol.md): frame headers,
 * request decoding, argument readers, replies and events, packing, errno
 * names, making text valid UTF-8 for error messages, and the counters as
 * Prometheus text. Every table row is one input and what must
 * come of it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "protocol/errname.h"
#include "protocol/frame.h"
#include "protocol/json_read.h"
#include "protocol/json_write.h"
#include "protocol/message.h"
#include "protocol/prometheus.h"
#include "protocol/utf8.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Frame headers */

static void test_frame_read_header(void **state)
{
	static const struct {
		const char *name;
		uint8_t header[RDQ_FRAME_HEADER];
		int ret;
		uint32_t len; /* set even on -EMSGSIZE, so the body can be skipped */
	} cases[] = {
		{"0: an empty frame", {0, 0, 0, 0}, -EBADMSG, 0},
		{"1: the smallest body", {0, 0, 0, 1}, 0, 1},
		{"0x1234: big-endian", {0, 0, 0x12, 0x34}, 0, 0x1234},
		{"65535", {0, 0, 0xff, 0xff}, 0, 65535},
		{"65536: the largest JSON", {0, 1, 0, 0}, 0, 65536},
		{"65537: JSON, a NUL, no attachment", {0, 1, 0, 1}, 0, 65537},
		/* 65536 + 1 + 1 MiB = 0x110001 */
		{"the largest frame: JSON, NUL, 1 MiB", {0, 0x11, 0, 1}, 0, 0x110001},
		{"one byte more", {0, 0x11, 0, 2}, -EMSGSIZE, 0x110002},
		{"0x01020304: big-endian, too big", {1, 2, 3, 4}, -EMSGSIZE, 0x01020304},
		{"0x80000000: top bit, not a sign", {0x80, 0, 0, 0}, -EMSGSIZE, 0x80000000u},
		{"0xffffffff", {0xff, 0xff, 0xff, 0xff}, -EMSGSIZE, 0xffffffffu},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t len = 0xdeadbeef;

		print_message("%s\n", cases[i].name);
		assert_int_equal(rdq_frame_read_header(cases[i].header, &len), cases[i].ret);
		assert_int_equal(len, cases[i].len);
	}
}

static void test_frame_write_header(void **state)
{
	static const uint32_t lens[] = {0, 1, 0x1234, 65536, 65537, 0x01020304, 0xffffffffu};
	uint8_t header[RDQ_FRAME_HEADER];
	uint32_t len;

	rdq_frame_write_header(0x01020304, header);
	assert_memory_equal(header, ((uint8_t[]){1, 2, 3, 4}), RDQ_FRAME_HEADER);

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		print_message("write then read %#x\n", lens[i]);
		rdq_frame_write_header(lens[i], header);
		rdq_frame_read_header(header, &len);
		assert_int_equal(len, lens[i]);
	}
}

/* Request decoding */

#define NOID RDQ_NO_ID

static const struct decode_case {
	const char *name;
	const char *body;
	int ret;
	int64_t id;	/* NOID: no id could be read */
	const char *op; /* on success */
	size_t nargs;	/* on success: keys in args */
} decode_cases[] = {
	/* Good requests. */
	{"no args: args becomes an empty object", "{\"v\":1,\"id\":7,\"op\":\"version\"}", 0, 7,
	 "version", 0},
	{"with args",
	 "{\"v\":1,\"id\":8,\"op\":\"ep.send\",\"args\":{\"ep\":3,\"data\":\"hello\"}}", 0, 8,
	 "ep.send", 2},
	{"empty args", "{\"v\":1,\"id\":9,\"op\":\"status\",\"args\":{}}", 0, 9, "status", 0},
	{"fields in another order, with whitespace",
	 " {\n\t\"args\" : {\"on\": true},\r\n \"op\": \"watch\", \"id\": 10, \"v\": 1 } ", 0, 10,
	 "watch", 1},
	{"id 0 is a valid id", "{\"v\":1,\"id\":0,\"op\":\"version\"}", 0, 0, "version", 0},
	{"id 2^32+7 is not truncated", "{\"v\":1,\"id\":4294967303,\"op\":\"version\"}", 0,
	 4294967303LL, "version", 0},
	{"id INT64_MAX", "{\"v\":1,\"id\":9223372036854775807,\"op\":\"version\"}", 0, INT64_MAX,
	 "version", 0},
	{"unknown op decodes (the daemon answers EOPNOTSUPP)",
	 "{\"v\":1,\"id\":11,\"op\":\"no.such.op\"}", 0, 11, "no.such.op", 0},
	{"extra fields are ignored", "{\"v\":1,\"id\":12,\"op\":\"version\",\"extra\":[1,2]}", 0,
	 12, "version", 0},

	/* Not JSON. */
	{"empty body", "", -EBADMSG, NOID, NULL, 0},
	{"malformed JSON", "{\"v\":1,\"id\":7,\"op\":}", -EBADMSG, NOID, NULL, 0},
	{"truncated JSON", "{\"v\":1,\"id\":7,\"op\":\"vers", -EBADMSG, NOID, NULL, 0},
	{"truncated after the id", "{\"v\":1,\"id\":7", -EBADMSG, NOID, NULL, 0},
	{"a second value after the object", "{\"v\":1,\"id\":7,\"op\":\"version\"}{}", -EBADMSG,
	 NOID, NULL, 0},
	{"single quotes", "{'v':1,'id':7,'op':'version'}", -EBADMSG, NOID, NULL, 0},
	{"invalid UTF-8 in a string", "{\"v\":1,\"id\":7,\"op\":\"\xff\xfe\"}", -EBADMSG, NOID,
	 NULL, 0},
	{"\\u0000 in a string", "{\"v\":1,\"id\":7,\"op\":\"a\\u0000b\"}", -EBADMSG, NOID, NULL, 0},

	/* JSON, but not an object. */
	{"an array", "[{\"v\":1,\"id\":7,\"op\":\"version\"}]", -EBADMSG, NOID, NULL, 0},
	{"a string", "\"version\"", -EBADMSG, NOID, NULL, 0},
	{"a number", "42", -EBADMSG, NOID, NULL, 0},
	{"null", "null", -EBADMSG, NOID, NULL, 0},
	{"true", "true", -EBADMSG, NOID, NULL, 0},

	/* The id: read first, so that every later error can name the request. */
	{"missing id", "{\"v\":1,\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"negative id", "{\"v\":1,\"id\":-1,\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"id INT64_MIN", "{\"v\":1,\"id\":-9223372036854775808,\"op\":\"version\"}", -EBADMSG, NOID,
	 NULL, 0},
	{"id as a string", "{\"v\":1,\"id\":\"7\",\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"id as a real", "{\"v\":1,\"id\":7.0,\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"id null", "{\"v\":1,\"id\":null,\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"id true", "{\"v\":1,\"id\":true,\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"id 2^63, past int64", "{\"v\":1,\"id\":9223372036854775808,\"op\":\"version\"}", -EBADMSG,
	 NOID, NULL, 0},
	{"id of 30 digits", "{\"v\":1,\"id\":123456789012345678901234567890,\"op\":\"version\"}",
	 -EBADMSG, NOID, NULL, 0},

	/* The version. */
	{"missing v", "{\"id\":7,\"op\":\"version\"}", -EBADMSG, 7, NULL, 0},
	{"v 2", "{\"v\":2,\"id\":7,\"op\":\"version\"}", 0, 7, "version", 0},
	{"v 3", "{\"v\":3,\"id\":7,\"op\":\"version\"}", -EPROTONOSUPPORT, 7, NULL, 0},
	{"v 0", "{\"v\":0,\"id\":7,\"op\":\"version\"}", -EPROTONOSUPPORT, 7, NULL, 0},
	{"v -1", "{\"v\":-1,\"id\":7,\"op\":\"version\"}", -EPROTONOSUPPORT, 7, NULL, 0},
	{"v 2^32+1 is not truncated to 1", "{\"v\":4294967297,\"id\":7,\"op\":\"version\"}",
	 -EPROTONOSUPPORT, 7, NULL, 0},
	{"v as a string", "{\"v\":\"1\",\"id\":7,\"op\":\"version\"}", -EBADMSG, 7, NULL, 0},
	{"v as a real", "{\"v\":1.0,\"id\":7,\"op\":\"version\"}", -EBADMSG, 7, NULL, 0},
	{"v past int64", "{\"v\":18446744073709551617,\"id\":7,\"op\":\"version\"}", -EBADMSG, NOID,
	 NULL, 0},
	{"v 3 and no op: the version is checked first", "{\"v\":3,\"id\":7}", -EPROTONOSUPPORT, 7,
	 NULL, 0},

	/* The op. */
	{"missing op", "{\"v\":1,\"id\":7}", -EBADMSG, 7, NULL, 0},
	{"op a number", "{\"v\":1,\"id\":7,\"op\":5}", -EBADMSG, 7, NULL, 0},
	{"op null", "{\"v\":1,\"id\":7,\"op\":null}", -EBADMSG, 7, NULL, 0},
	{"op an object", "{\"v\":1,\"id\":7,\"op\":{}}", -EBADMSG, 7, NULL, 0},

	/* The args. */
	{"args an array", "{\"v\":1,\"id\":7,\"op\":\"ep.show\",\"args\":[3]}", -EINVAL, 7, NULL,
	 0},
	{"args a string", "{\"v\":1,\"id\":7,\"op\":\"ep.show\",\"args\":\"ep=3\"}", -EINVAL, 7,
	 NULL, 0},
	{"args a number", "{\"v\":1,\"id\":7,\"op\":\"ep.show\",\"args\":3}", -EINVAL, 7, NULL, 0},
	{"args null", "{\"v\":1,\"id\":7,\"op\":\"ep.show\",\"args\":null}", -EINVAL, 7, NULL, 0},

	/* Duplicate keys: which one counts would be up to the parser, so neither does. */
	{"duplicate id", "{\"v\":1,\"id\":7,\"id\":8,\"op\":\"version\"}", -EBADMSG, NOID, NULL, 0},
	{"duplicate op", "{\"v\":1,\"id\":7,\"op\":\"version\",\"op\":\"status\"}", -EBADMSG, NOID,
	 NULL, 0},
	{"duplicate key inside args",
	 "{\"v\":1,\"id\":7,\"op\":\"ep.show\",\"args\":{\"ep\":1,\"ep\":2}}", -EBADMSG, NOID, NULL,
	 0},
};

static void test_request_decode(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		struct rdq_request_msg msg;
		char err[RDQ_ERRMSG_MAX] = "";
		int ret;

		print_message("%s\n", c->name);
		ret = rdq_request_decode(c->body, strlen(c->body), &msg, err);
		assert_int_equal(ret, c->ret);
		assert_int_equal(msg.id, c->id);
		if (ret == 0) {
			assert_non_null(msg.root);
			assert_string_equal(msg.op, c->op);
			assert_true(json_is_object(msg.args));
			assert_int_equal(json_object_size(msg.args), c->nargs);
			/* The borrowed args are the root's own. */
			assert_ptr_equal(json_object_get(msg.root, "args"), msg.args);
		} else {
			assert_null(msg.root);
			assert_null(msg.op);
			assert_null(msg.args);
			assert_true(err[0] != '\0'); /* the reply's message */
			assert_non_null(memchr(err, '\0', RDQ_ERRMSG_MAX));
		}
		rdq_request_msg_clear(&msg); /* safe after a failure too */
		assert_null(msg.root);
	}
}

/* The body is len bytes, not a C string: bytes after it are not read. */
static void test_request_decode_honours_len(void **state)
{
	static const char body[] = "{\"v\":1,\"id\":7,\"op\":\"version\"}garbage";
	struct rdq_request_msg msg;
	char err[RDQ_ERRMSG_MAX];

	assert_int_equal(rdq_request_decode(body, strlen(body) - strlen("garbage"), &msg, err), 0);
	assert_int_equal(msg.id, 7);
	rdq_request_msg_clear(&msg);

	/* One byte short of the closing brace: truncated. */
	assert_int_equal(rdq_request_decode(body, strlen(body) - strlen("garbage") - 1, &msg, err),
			 -EBADMSG);
	assert_int_equal(msg.id, RDQ_NO_ID);
}

/*
 * Version 2: a NUL after the JSON starts the attachment, which "attachment"
 * must announce exactly; version 1 has none.
 */
static void test_request_decode_attachment(void **state)
{
	static const struct {
		const char *name;
		const char *json; /* then a NUL and the attachment, if attachment is set */
		const char *attachment;
		size_t attachment_len;
		int ret;
	} cases[] = {
		{"announced and there", "{\"v\":2,\"id\":1,\"op\":\"ep.send\",\"attachment\":4}",
		 "a\0\xff\n", 4, 0},
		{"every byte value may follow", "{\"v\":2,\"id\":1,\"op\":\"x\",\"attachment\":2}",
		 "\0\0", 2, 0},
		{"an empty attachment", "{\"v\":2,\"id\":1,\"op\":\"x\",\"attachment\":0}", "", 0,
		 0},
		{"version 1 has none", "{\"v\":1,\"id\":1,\"op\":\"x\",\"attachment\":1}", "z", 1,
		 -EBADMSG},
		{"not announced", "{\"v\":2,\"id\":1,\"op\":\"x\"}", "z", 1, -EBADMSG},
		{"announced short", "{\"v\":2,\"id\":1,\"op\":\"x\",\"attachment\":1}", "zz", 2,
		 -EBADMSG},
		{"announced long", "{\"v\":2,\"id\":1,\"op\":\"x\",\"attachment\":3}", "zz", 2,
		 -EBADMSG},
		{"announced as a string", "{\"v\":2,\"id\":1,\"op\":\"x\",\"attachment\":\"2\"}",
		 "zz", 2, -EBADMSG},
	};
	static char body[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t json_len = strlen(cases[i].json);
		size_t len = json_len + 1 + cases[i].attachment_len;
		struct rdq_request_msg msg;
		char err[RDQ_ERRMSG_MAX] = "";

		print_message("%s\n", cases[i].name);
		memcpy(body, cases[i].json, json_len);
		body[json_len] = '\0';
		memcpy(body + json_len + 1, cases[i].attachment, cases[i].attachment_len);
		assert_int_equal(rdq_request_decode(body, len, &msg, err), cases[i].ret);
		if (cases[i].ret == 0) {
			assert_int_equal(msg.version, 2);
			assert_int_equal(msg.data_len, cases[i].attachment_len);
			assert_ptr_equal(msg.data, body + json_len + 1);
			assert_memory_equal(msg.data, cases[i].attachment, cases[i].attachment_len);
		} else {
			assert_non_null(strstr(err, "attachment"));
		}
		rdq_request_msg_clear(&msg);
	}
}

/* The error sentence names what is wrong, for the reply's message. */
static void test_request_decode_messages(void **state)
{
	static const struct {
		const char *body;
		const char *says;
	} cases[] = {
		{"{\"v\":1,\"id\":7,\"op\":}", "malformed JSON"},
		{"[1]", "object"},
		{"{\"v\":1,\"op\":\"x\"}", "\"id\""},
		{"{\"id\":1,\"op\":\"x\"}", "\"v\""},
		{"{\"v\":3,\"id\":1,\"op\":\"x\"}", "version 3"},
		{"{\"v\":2,\"id\":1,\"op\":\"x\",\"attachment\":3}", "announces 3 bytes"},
		{"{\"v\":1,\"id\":1}", "\"op\""},
		{"{\"v\":1,\"id\":1,\"op\":\"x\",\"args\":[]}", "\"args\""},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = strlen(cases[i].body);
		struct rdq_request_msg msg;
		char err[RDQ_ERRMSG_MAX] = "";

		print_message("%s\n", cases[i].body);
		assert_true(rdq_request_decode(cases[i].body, len, &msg, err) < 0);
		assert_non_null(strstr(err, cases[i].says));
	}
}

/* Argument readers */

static json_t *test_args(void)
{
	json_t *args =
		json_pack("{s:I, s:I, s:I, s:I, s:s, s:n, s:f, s:b, s:b, s:I, s:I, s:[]}", "ep",
			  (json_int_t)3, "zero", (json_int_t)0, "neg", (json_int_t)-1, "big",
			  (json_int_t)INT64_MAX, "str", "hello", "null", "real", 3.0, "yes", 1,
			  "no", 0, "low", (json_int_t)1, "high", (json_int_t)4096, "list");

	/* A string with a NUL inside: only the length says where it ends. */
	json_object_set_new(args, "nul", json_stringn("a\0b", 3));
	return args;
}

static void test_arg_handle(void **state)
{
	static const struct {
		const char *name;
		const char *arg;
		bool required;
		int ret;
		uint64_t out; /* 99: left alone */
	} cases[] = {
		{"present", "ep", true, 0, 3},
		{"present, optional", "ep", false, 0, 3},
		{"largest", "big", true, 0, INT64_MAX},
		{"required, missing", "missing", true, -EINVAL, 99},
		{"optional, missing: left alone", "missing", false, 0, 99},
		{"required, null", "null", true, -EINVAL, 99},
		{"optional, null: as missing", "null", false, 0, 99},
		{"0 is no handle", "zero", true, -EINVAL, 99},
		{"negative", "neg", true, -EINVAL, 99},
		{"a string", "str", true, -EINVAL, 99},
		{"a real", "real", true, -EINVAL, 99},
		{"a boolean", "yes", true, -EINVAL, 99},
		{"an array", "list", false, -EINVAL, 99},
	};
	json_t *args = test_args();

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t out = 99;
		char err[RDQ_ERRMSG_MAX] = "";
		char name[32];

		print_message("%s\n", cases[i].name);
		assert_int_equal(rdq_arg_handle(args, cases[i].arg, cases[i].required, &out, err),
				 cases[i].ret);
		assert_int_equal(out, cases[i].out);
		if (cases[i].ret) {
			snprintf(name, sizeof(name), "args.%s", cases[i].arg);
			assert_non_null(strstr(err, name));
		}
	}
	json_decref(args);
}

static void test_arg_int(void **state)
{
	static const struct {
		const char *name;
		const char *arg;
		int64_t min, max, def;
		int ret;
		int64_t out;
	} cases[] = {
		{"missing: the default", "missing", 1, 4096, 5000, 0, 5000},
		{"null: the default", "null", 1, 4096, 64, 0, 64},
		{"in range", "ep", 1, 4096, 64, 0, 3},
		{"at min", "low", 1, 4096, 64, 0, 1},
		{"at max", "high", 1, 4096, 64, 0, 4096},
		{"below min", "zero", 1, 4096, 64, -EINVAL, 64},
		{"above max", "high", 1, 4095, 64, -EINVAL, 64},
		{"negative, range from 0", "neg", 0, 10, 5, -EINVAL, 5},
		{"the int64 extremes", "big", INT64_MIN, INT64_MAX, 0, 0, INT64_MAX},
		{"an empty range", "ep", 3, 3, 0, 0, 3},
		{"a string", "str", 0, 10, 5, -EINVAL, 5},
		{"a real", "real", 0, 10, 5, -EINVAL, 5},
		{"a boolean", "yes", 0, 10, 5, -EINVAL, 5},
	};
	json_t *args = test_args();

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t out = 99;
		char err[RDQ_ERRMSG_MAX] = "";
		char name[32];

		print_message("%s\n", cases[i].name);
		assert_int_equal(rdq_arg_int(args, cases[i].arg, cases[i].min, cases[i].max,
					     cases[i].def, &out, err),
				 cases[i].ret);
		if (cases[i].ret == 0) {
			assert_int_equal(out, cases[i].out);
		} else {
			snprintf(name, sizeof(name), "args.%s", cases[i].arg);
			assert_non_null(strstr(err, name));
		}
	}

	/* The message gives the range, so the client can fix the request. */
	{
		int64_t out;
		char err[RDQ_ERRMSG_MAX] = "";

		assert_int_equal(rdq_arg_int(args, "zero", 1, 4096, 64, &out, err), -EINVAL);
		assert_non_null(strstr(err, "from 1 to 4096"));
	}
	json_decref(args);
}

static void test_arg_bool(void **state)
{
	static const struct {
		const char *name;
		const char *arg;
		bool def;
		int ret;
		bool out;
	} cases[] = {
		{"true", "yes", false, 0, true},
		{"false", "no", true, 0, false},
		{"missing: default true", "missing", true, 0, true},
		{"missing: default false", "missing", false, 0, false},
		{"null: the default", "null", true, 0, true},
		{"an integer 1 is not true", "low", false, -EINVAL, false},
		{"an integer 0 is not false", "zero", true, -EINVAL, false},
		{"a string", "str", false, -EINVAL, false},
	};
	json_t *args = test_args();

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool out = !cases[i].out;
		char err[RDQ_ERRMSG_MAX] = "";
		char name[32];

		print_message("%s\n", cases[i].name);
		assert_int_equal(rdq_arg_bool(args, cases[i].arg, cases[i].def, &out, err),
				 cases[i].ret);
		if (cases[i].ret == 0) {
			assert_int_equal(out, cases[i].out);
		} else {
			snprintf(name, sizeof(name), "args.%s", cases[i].arg);
			assert_non_null(strstr(err, name));
		}
	}
	json_decref(args);
}

static void test_arg_string(void **state)
{
	static const char untouched[] = "untouched";
	static const struct {
		const char *name;
		const char *arg;
		bool required;
		int ret;
		const char *out; /* untouched: left alone */
		size_t len;
	} cases[] = {
		{"present", "str", true, 0, "hello", 5},
		{"with a NUL inside: the length counts it", "nul", true, 0, "a", 3},
		{"required, missing", "missing", true, -EINVAL, untouched, 99},
		{"optional, missing: left alone", "missing", false, 0, untouched, 99},
		{"required, null", "null", true, -EINVAL, untouched, 99},
		{"an integer", "ep", true, -EINVAL, untouched, 99},
		{"a boolean", "yes", false, -EINVAL, untouched, 99},
	};
	json_t *args = test_args();

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *out = untouched;
		size_t len = 99;
		char err[RDQ_ERRMSG_MAX] = "";
		char name[32];

		print_message("%s\n", cases[i].name);
		assert_int_equal(
			rdq_arg_string(args, cases[i].arg, cases[i].required, &out, &len, err),
			cases[i].ret);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(len, cases[i].len);
		if (cases[i].ret) {
			snprintf(name, sizeof(name), "args.%s", cases[i].arg);
			assert_non_null(strstr(err, name));
		}
	}

	/* The length is optional. */
	{
		const char *out = NULL;
		char err[RDQ_ERRMSG_MAX];

		assert_int_equal(rdq_arg_string(args, "str", true, &out, NULL, err), 0);
		assert_string_equal(out, "hello");
	}
	json_decref(args);
}

/* Replies, events, requests */

/* The compact, key-sorted text of msg, so that expectations can be written as JSON. */
static void assert_json(json_t *msg, const char *expected)
{
	char *text;

	assert_non_null(msg);
	text = json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_string_equal(text, expected);
	free(text);
	json_decref(msg);
}

/*
 * The fast reader reads the shapes requests have, each to jansson's value,
 * and declines what it leaves to jansson (a reader that declined everything
 * would be correct, and slow: so the first list must be read).
 */
static void test_json_read(void **state)
{
	static const char *const read[] = {
		"{\"v\":1,\"id\":7,\"op\":\"version\"}",
		" { \"v\" : 2 "
		",\"id\":0,\"op\":\"ep.send\",\"args\":{\"ep\":4294967297,\"wait\":true},"
		"\"attachment\":5}\n",
		"{\"a\":[],\"b\":{},\"c\":[1,-2,null,false,\"x\"],\"d\":-0,\"e\":"
		"123456789012345678}",
		"{\"s\":\"tab\\there \\\"q\\\" \\\\ \\/ \\u00e9\\u20ac \\n\",\"\\u0041\":1}",
		"[[[{\"deep\":[[[1]]]}]]]",
	};
	static const char *const declined[] = {
		"{\"v\":1.5}",		       /* a real */
		"{\"s\":\"caf\xc3\xa9\"}",     /* bytes that are not ASCII */
		"{\"s\":\"\\ud83d\\ude00\"}",  /* a surrogate pair */
		"{\"s\":\"a\\u0000b\"}",       /* a NUL */
		"{\"a\":1,\"a\":2}",	       /* a duplicate key */
		"{\"n\":1234567890123456789}", /* 19 digits */
		/* Past int64_t: the fuzzer found the first version of the reader overflowing. */
		"{\"id\":20000000000000000000000000000000000000}",
		"{\"n\":01}",	/* a leading zero */
		"{\"a\":1,}",	/* a syntax error */
		"{\"a\":1} x",	/* something after */
		"\"a string\"", /* not an object or array */
		"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(read); i++) {
		json_t *mine = rdq_json_read(read[i], strlen(read[i]));
		json_t *theirs = json_loads(read[i], JSON_REJECT_DUPLICATES, NULL);

		print_message("read: %s\n", read[i]);
		assert_non_null(mine);
		assert_non_null(theirs);
		assert_true(json_equal(mine, theirs));
		json_decref(mine);
		json_decref(theirs);
	}
	for (size_t i = 0; i < ARRAY_SIZE(declined); i++) {
		print_message("declined: %s\n", declined[i]);
		assert_null(rdq_json_read(declined[i], strlen(declined[i])));
	}
}

/* rdq_json_write gives jansson's compact bytes for every kind of value. */
static void test_json_write(void **state)
{
	static const char *const texts[] = {
		"{}",
		"[]",
		"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
		"[0,-1,9223372036854775807,-9223372036854775808,42]",
		"[1.5,-0.25,1e20,1.0,123456789.123,1e-7,-3e300,0.1]",
		"[\"plain\",\"\",\"q\\\"b\\\\s/"
		"\",\"\\b\\f\\n\\r\\t\",\"\\u0000\\u0001\\u001f\\u007f\"]",
		"[\"caf\u00e9\",\"\\u00e9\\u20ac\\ud83d\\ude00\",\"\u65e5\u672c\"]",
		"{\"z\":1,\"a\":2,\"m\":3,\"key with \\\"quote\":4,\"\\n\":5}",
		"[[[[[[[[[[1]]]]]]]]]]",
	};
	char mine[512], theirs[512];

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		json_t *v = json_loads(texts[i], JSON_ALLOW_NUL, NULL);
		size_t m, n;

		print_message("%s\n", texts[i]);
		assert_non_null(v);
		m = json_dumpb(v, theirs, sizeof(theirs), JSON_COMPACT);
		n = rdq_json_write(v, mine, sizeof(mine));
		assert_int_equal(n, m);
		assert_memory_equal(mine, theirs, n);
		/* Short of room: what fits, and the length it needs. */
		assert_int_equal(rdq_json_write(v, mine, 3), m);
		assert_memory_equal(mine, theirs, m < 3 ? m : 3);
		assert_int_equal(rdq_json_write(v, NULL, 0), m);
		json_decref(v);
	}
	/* JSON has no infinity: nothing is written, as jansson writes nothing. */
	{
		json_t *inf = json_pack("[f]", 1e308 * 10);

		assert_int_equal(rdq_json_write(inf, mine, sizeof(mine)), 0);
		json_decref(inf);
	}
}

static void test_builders(void **state)
{
	print_message("ok, no result: an empty object\n");
	assert_json(rdq_reply_ok(7, NULL), "{\"id\":7,\"ok\":true,\"result\":{},\"v\":1}");

	print_message("ok, with a result (stolen)\n");
	assert_json(rdq_reply_ok(7, json_pack("{s:i}", "bytes", 5)),
		    "{\"id\":7,\"ok\":true,\"result\":{\"bytes\":5},\"v\":1}");

	print_message("ok, id 0 is an id, not null\n");
	assert_json(rdq_reply_ok(0, NULL), "{\"id\":0,\"ok\":true,\"result\":{},\"v\":1}");

	print_message("error: errno name, code, message\n");
	assert_json(rdq_reply_error(8, ENOENT, "no endpoint 9"),
		    "{\"error\":{\"code\":2,\"errno\":\"ENOENT\",\"message\":\"no endpoint 9\"},"
		    "\"id\":8,\"ok\":false,\"v\":1}");

	print_message("error with no id: id null\n");
	assert_json(rdq_reply_error(RDQ_NO_ID, EBADMSG, "malformed JSON"),
		    "{\"error\":{\"code\":74,\"errno\":\"EBADMSG\",\"message\":\"malformed JSON\"},"
		    "\"id\":null,\"ok\":false,\"v\":1}");

	print_message("error without a message: strerror's\n");
	{
		json_t *reply = rdq_reply_error(9, EBUSY, NULL);
		json_t *error = json_object_get(reply, "error");

		assert_string_equal(json_string_value(json_object_get(error, "message")),
				    strerror(EBUSY));
		assert_string_equal(json_string_value(json_object_get(error, "errno")), "EBUSY");
		json_decref(reply);
	}

	print_message("error with an errno without a name: E?\n");
	assert_json(rdq_reply_error(10, 4000, "odd"),
		    "{\"error\":{\"code\":4000,\"errno\":\"E?\",\"message\":\"odd\"},"
		    "\"id\":10,\"ok\":false,\"v\":1}");

	print_message("ok with the largest id\n");
	assert_json(rdq_reply_ok(INT64_MAX, NULL),
		    "{\"id\":9223372036854775807,\"ok\":true,\"result\":{},\"v\":1}");

	print_message("event: no id\n");
	assert_json(rdq_event_new("ep.destroyed"), "{\"event\":\"ep.destroyed\",\"v\":1}");

	print_message("request, no args: an empty object\n");
	assert_json(rdq_request_new(3, "version", NULL),
		    "{\"args\":{},\"id\":3,\"op\":\"version\",\"v\":1}");

	print_message("request with args (stolen)\n");
	assert_json(rdq_request_new(4, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)5)),
		    "{\"args\":{\"ep\":5},\"id\":4,\"op\":\"ep.destroy\",\"v\":1}");
}

/* Packing */

/* What a reader of the socket does: header, then the body, decoded as a request. */
static void test_pack_round_trip(void **state)
{
	json_t *args = json_pack("{s:I, s:s}", "ep", (json_int_t)3, "data", "hello");
	json_t *req = rdq_request_new(42, "ep.send", args);
	struct rdq_request_msg msg;
	char err[RDQ_ERRMSG_MAX];
	const char *data;
	uint64_t ep;
	uint32_t len;
	size_t size = 0;
	uint8_t *buf;

	buf = rdq_message_pack(req, &size);
	json_decref(req);
	assert_non_null(buf);
	assert_true(size > RDQ_FRAME_HEADER);
	assert_int_equal(rdq_frame_read_header(buf, &len), 0);
	assert_int_equal(len, size - RDQ_FRAME_HEADER);

	assert_int_equal(rdq_request_decode((const char *)buf + RDQ_FRAME_HEADER, len, &msg, err),
			 0);
	assert_int_equal(msg.id, 42);
	assert_string_equal(msg.op, "ep.send");
	assert_int_equal(rdq_arg_handle(msg.args, "ep", true, &ep, err), 0);
	assert_int_equal(ep, 3);
	assert_int_equal(rdq_arg_string(msg.args, "data", true, &data, NULL, err), 0);
	assert_string_equal(data, "hello");
	rdq_request_msg_clear(&msg);
	free(buf);
}

/* {"s":"xxx…"} is 8 bytes plus the string: a body of exactly n bytes. */
static json_t *message_of_size(size_t n)
{
	size_t chars = n - strlen("{\"s\":\"\"}");
	char *s = malloc(chars + 1);
	json_t *msg;

	assert_non_null(s);
	memset(s, 'x', chars);
	s[chars] = '\0';
	msg = json_pack("{s:s}", "s", s);
	free(s);
	assert_non_null(msg);
	return msg;
}

static void test_pack_sizes(void **state)
{
	static const struct {
		const char *name;
		size_t body;
		bool packs;
	} cases[] = {
		{"a small message", 100, true},
		{"65535 bytes", 65535, true},
		{"65536 bytes: the largest", 65536, true},
		{"65537 bytes: one too many", 65537, false},
		{"70000 bytes", 70000, false},
		{"1 MiB", 1u << 20, false},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *msg = message_of_size(cases[i].body);
		size_t size = 0;
		uint32_t len;
		uint8_t *buf;

		print_message("%s\n", cases[i].name);
		buf = rdq_message_pack(msg, &size);
		json_decref(msg);
		if (!cases[i].packs) {
			assert_null(buf);
			continue;
		}
		assert_non_null(buf);
		assert_int_equal(size, RDQ_FRAME_HEADER + cases[i].body);
		assert_int_equal(rdq_frame_read_header(buf, &len), 0);
		assert_int_equal(len, cases[i].body);
		assert_int_equal(buf[size - 1], '}');
		free(buf);
	}
}

/* Errno names */

/* Every name the protocol documents (docs/protocol.md), both ways. */
static void test_errno_names(void **state)
{
	static const struct {
		int value;
		const char *name;
	} cases[] = {
		{ENOENT, "ENOENT"},
		{EINVAL, "EINVAL"},
		{EBADMSG, "EBADMSG"},
		{EMSGSIZE, "EMSGSIZE"},
		{EPROTONOSUPPORT, "EPROTONOSUPPORT"},
		{EOPNOTSUPP, "EOPNOTSUPP"},
		{ECANCELED, "ECANCELED"},
		{EBUSY, "EBUSY"},
		{EDQUOT, "EDQUOT"},
		{EMFILE, "EMFILE"},
		{ENODEV, "ENODEV"},
		{EADDRINUSE, "EADDRINUSE"},
		{EADDRNOTAVAIL, "EADDRNOTAVAIL"},
		{ECONNREFUSED, "ECONNREFUSED"},
		{ETIMEDOUT, "ETIMEDOUT"},
		{EHOSTUNREACH, "EHOSTUNREACH"},
		{ENOTCONN, "ENOTCONN"},
		{ENOBUFS, "ENOBUFS"},
		{EAGAIN, "EAGAIN"},
		{ECONNRESET, "ECONNRESET"},
		{ENOMEM, "ENOMEM"},
		{EPERM, "EPERM"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("%s\n", cases[i].name);
		assert_string_equal(rdq_errno_name(cases[i].value), cases[i].name);
		assert_int_equal(rdq_errno_from_name(cases[i].name), cases[i].value);
	}
}

static void test_errno_name_edges(void **state)
{
	print_message("ENOTSUP is EOPNOTSUPP on Linux: the number gets the documented name\n");
	assert_int_equal(rdq_errno_from_name("ENOTSUP"), ENOTSUP);
	assert_string_equal(rdq_errno_name(ENOTSUP), "EOPNOTSUPP");

	print_message("numbers without a name\n");
	assert_string_equal(rdq_errno_name(0), "E?");
	assert_string_equal(rdq_errno_name(-ENOENT), "E?"); /* positive values only */
	assert_string_equal(rdq_errno_name(4000), "E?");

	print_message("names that are not errno names\n");
	assert_int_equal(rdq_errno_from_name("E?"), 0);
	assert_int_equal(rdq_errno_from_name(""), 0);
	assert_int_equal(rdq_errno_from_name("enoent"), 0);
	assert_int_equal(rdq_errno_from_name("NOENT"), 0);
	assert_int_equal(rdq_errno_from_name("ENOENT "), 0);
	assert_int_equal(rdq_errno_from_name("EWHATEVER"), 0);
}

/* UTF-8 repair and cutting */

#define FFFD RDQ_UTF8_REPLACEMENT

/* Whether jansson takes text as a JSON string: the check that matters for a reply. */
static bool json_accepts(const char *text, size_t len)
{
	json_t *s = json_stringn(text, len);

	json_decref(s);
	return s != NULL;
}

/* Prometheus text */

/* Collects rdq_prometheus_write's text; fails the write once limit bytes are in. */
struct collected {
	char text[8192];
	size_t len, limit;
	unsigned calls;
};

static int collect(void *ctx, const char *text, size_t len)
{
	struct collected *c = ctx;

	c->calls++;
	if (c->len + len > c->limit)
		return -ENOSPC;
	memcpy(c->text + c->len, text, len);
	c->len += len;
	c->text[c->len] = '\0';
	return 0;
}

static void write_prometheus(const char *json, struct collected *c)
{
	json_t *stats = json_loads(json, 0, NULL);

	assert_non_null(stats);
	*c = (struct collected){.limit = sizeof(c->text) - 1};
	assert_int_equal(rdq_prometheus_write(stats, collect, c), 0);
	json_decref(stats);
}

static void test_prometheus(void **state)
{
	/* Each case: stats, and lines its text must hold (whole lines), or must not. */
	static const struct {
		const char *name;
		const char *stats;
		const char *lines[6];
		const char *absent;
	} cases[] = {
		{"a counter and a gauge",
		 "{\"requests\": {\"received\": 7, \"pending\": 1}}",
		 {"# TYPE rdq_requests_received_total counter\n", "rdq_requests_received_total 7\n",
		  "# TYPE rdq_requests_pending gauge\n", "rdq_requests_pending 1\n"},
		 "untyped"},
		{"the histogram: cumulative, le in seconds, +Inf, sum and count",
		 "{\"loop\": {\"callbacks\": 6, \"max_us\": 1500000, \"sum_us\": 1500012,"
		 " \"histogram_us\": [1, 0, 2, 3]}}",
		 {"rdq_loop_callback_duration_seconds_bucket{le=\"0.000001\"} 1\n",
		  "rdq_loop_callback_duration_seconds_bucket{le=\"0.000004\"} 3\n",
		  "rdq_loop_callback_duration_seconds_bucket{le=\"+Inf\"} 6\n",
		  "rdq_loop_callback_duration_seconds_sum 1.500012\n",
		  "rdq_loop_callback_duration_seconds_count 6\n",
		  "rdq_loop_callback_duration_max_seconds 1.5\n"},
		 "le=\"0.000008\""},
		{"maps and a string become labels, escaped",
		 "{\"requests\": {\"by_status\": {\"ok\": 3, \"a\\\"b\\\\c\\nd\": 1}},"
		 " \"workers\": {\"sync_scope\": \"device\"}}",
		 {"rdq_requests_completed_by_status_total{status=\"ok\"} 3\n",
		  "rdq_requests_completed_by_status_total{status=\"a\\\"b\\\\c\\nd\"} 1\n",
		  "rdq_workers_sync_scope_info{scope=\"device\"} 1\n"},
		 NULL},
		{"entries of one name share one # TYPE, their samples together though another "
		 "field sits between them",
		 "{\"network\": {\"rejected_nofd\": 2, \"unannounced\": 4, \"rejected_other\": 5}}",
		 {"# TYPE rdq_network_rejected_total counter\n"
		  "rdq_network_rejected_total{reason=\"nofd\"} 2\n"
		  "rdq_network_rejected_total{reason=\"other\"} 5\n",
		  "rdq_network_unannounced_total 4\n"},
		 NULL},
		{"a field it does not know: untyped, not left out",
		 "{\"data\": {\"new-thing\": 4}, \"fresh\": 9, \"connections\": 2}",
		 {"# TYPE rdq_data_new_thing untyped\n", "rdq_data_new_thing 4\n",
		  "# TYPE rdq_fresh untyped\n", "rdq_fresh 9\n"},
		 "rdq_connections"},
	};
	struct collected c;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_prometheus(cases[i].stats, &c);
		for (size_t j = 0; j < ARRAY_SIZE(cases[i].lines) && cases[i].lines[j]; j++) {
			const char *at = strstr(c.text, cases[i].lines[j]);

			if (!at || (at != c.text && at[-1] != '\n'))
				fail_msg("%s: no line %s in:\n%s", cases[i].name, cases[i].lines[j],
					 c.text);
		}
		if (cases[i].absent && strstr(c.text, cases[i].absent))
			fail_msg("%s: %s in:\n%s", cases[i].name, cases[i].absent, c.text);
	}
}

/* Every metric has its # HELP and # TYPE, and the sink's error stops the writing. */
static void test_prometheus_headers_and_errors(void **state)
{
	json_t *stats = json_pack("{s:{s:i, s:i}, s:i}", "requests", "received", 1, "dropped", 2,
				  "endpoints", 3);
	struct collected c;
	unsigned calls;

	write_prometheus("{\"requests\": {\"received\": 1}, \"endpoints\": 3}", &c);
	assert_string_equal(c.text,
			    "# HELP rdq_requests_received_total Requests decoded from clients' "
			    "frames.\n"
			    "# TYPE rdq_requests_received_total counter\n"
			    "rdq_requests_received_total 1\n"
			    "# HELP rdq_endpoints Endpoints now: every user's, those peers made on "
			    "listeners among them.\n"
			    "# TYPE rdq_endpoints gauge\n"
			    "rdq_endpoints 3\n");

	c = (struct collected){.limit = 10};
	assert_int_equal(rdq_prometheus_write(stats, collect, &c), -ENOSPC);
	calls = c.calls;
	assert_true(calls > 0);
	c = (struct collected){.limit = sizeof(c.text) - 1};
	assert_int_equal(rdq_prometheus_write(stats, collect, &c), 0);
	assert_true(c.calls > calls); /* it stopped at the error, not at the end */
	json_decref(stats);
	stats = json_array();
	assert_int_equal(rdq_prometheus_write(stats, collect, &c), -EINVAL);
	json_decref(stats);
}

static void test_utf8_copy(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;  /* of in; 0: strlen */
		size_t size; /* of the output buffer */
		const char *out;
	} cases[] = {
		{"ASCII", "hello", 0, 64, "hello"},
		{"2, 3 and 4 bytes, whole", "\u00e9\u20ac\U0001F600", 0, 64,
		 "\u00e9\u20ac\U0001F600"},
		{"the largest code point", "\xF4\x8F\xBF\xBF", 0, 64, "\xF4\x8F\xBF\xBF"},
		{"empty", "", 0, 64, ""},

		/* A character cut short by the end of the input: a cut, dropped. */
		{"end cuts a 4-byte character after 2", "ab\xF0\x9F", 0, 64, "ab"},
		{"end cuts a 4-byte character after 3", "ab\xF0\x9F\x98", 0, 64, "ab"},
		{"end cuts a 2-byte character", "ab\xD2", 0, 64, "ab"},
		{"nothing but a cut character", "\xE2\x82", 0, 64, ""},

		/* Ill-formed bytes inside the text: one U+FFFD each maximal part. */
		{"jansson's parse error: D2 then a quote", "near '\"\\\xD2'", 0, 64,
		 "near '\"\\" FFFD "'"},
		{"a cut character, then more text", "A\xF0\x9F\"", 0, 64, "A" FFFD "\""},
		{"a lone continuation byte", "a\x89z", 0, 64, "a" FFFD "z"},
		{"C0 80: an overlong NUL", "\xC0\x80", 0, 64, FFFD FFFD},
		{"E0 80 80: an overlong 3-byte form", "\xE0\x80\x80", 0, 64, FFFD FFFD FFFD},
		{"ED A0 80: a surrogate", "\xED\xA0\x80", 0, 64, FFFD FFFD FFFD},
		{"F4 90 80 80: past U+10FFFF", "\xF4\x90\x80\x80", 0, 64, FFFD FFFD FFFD FFFD},
		{"F5, FF: never lead bytes", "\xF5\xFF", 0, 64, FFFD FFFD},
		{"a 2-byte lead before ASCII", "\xC3(", 0, 64, FFFD "("},
		{"a NUL byte", "a\0b", 3, 64, "a" FFFD "b"},
		{"U+FFFD itself is text", FFFD, 0, 64, FFFD},

		/* Too long: cut after the last whole character that fits (size counts the NUL). */
		{"fits exactly", "h\u00e9", 0, 4, "h\u00e9"},
		{"one byte short: the 2-byte character goes", "h\u00e9", 0, 3, "h"},
		{"a 4-byte character in 4 bytes: no room for the NUL", "\U0001F600", 0, 4, ""},
		{"a 4-byte character in 5 bytes", "\U0001F600x", 0, 5, "\U0001F600"},
		{"no room for a U+FFFD", "a\xFF", 0, 4, "a"},
		{"room for the NUL only", "abc", 0, 1, ""},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char out[64];
		size_t n;

		print_message("%s\n", cases[i].name);
		memset(out, 'x', sizeof(out));
		n = rdq_utf8_copy(out, cases[i].size, cases[i].in, len);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
		assert_true(n < cases[i].size);
		assert_true(json_accepts(out, n));
	}

	print_message("size 0: nothing written\n");
	{
		char out[4] = "xyz";

		assert_int_equal(rdq_utf8_copy(out, 0, "abc", 3), 0);
		assert_string_equal(out, "xyz");
	}
}

/* Every byte value at every place of a short text: the result is always a JSON string. */
static void test_utf8_copy_any_bytes(void **state)
{
	static const char *const texts[] = {"\u00e9", "\u20ac", "\U0001F600", "ab"};

	for (size_t t = 0; t < ARRAY_SIZE(texts); t++) {
		for (size_t at = 0; at <= strlen(texts[t]); at++) {
			for (unsigned b = 0; b < 256; b++) {
				char in[8], out[16];
				size_t len = strlen(texts[t]), n;

				memcpy(in, texts[t], at);
				in[at] = (char)b;
				memcpy(in + at + 1, texts[t] + at, len - at);
				n = rdq_utf8_copy(out, sizeof(out), in, len + 1);
				if (!json_accepts(out, n))
					fail_msg("%s with byte %02x at %zu", texts[t], b, at);
			}
		}
	}
}

/* What rdqd does with an op it does not know: quote it, cut by a precision. */
static void unknown_op_message(char err[RDQ_ERRMSG_MAX], const char *op)
{
	snprintf(err, RDQ_ERRMSG_MAX, "unknown op \"%.60s\" (docs/protocol.md lists them)", op);
}

/* The error object of a reply: errno name, code, and a message jansson accepted. */
static const char *assert_error_whole(json_t *reply, const char *name, int code)
{
	json_t *error = json_object_get(reply, "error");
	const char *message = json_string_value(json_object_get(error, "message"));
	size_t len = 0;
	uint8_t *buf;

	assert_non_null(reply);
	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_non_null(error);
	assert_string_equal(json_string_value(json_object_get(error, "errno")), name);
	assert_int_equal(json_integer_value(json_object_get(error, "code")), code);
	assert_non_null(message);
	assert_true(message[0] != '\0');
	/* And it goes on the wire. */
	buf = rdq_message_pack(reply, &len);
	assert_non_null(buf);
	assert_true(len <= RDQ_FRAME_HEADER + RDQ_MAX_MESSAGE);
	free(buf);
	return message;
}

/* A request body of 4 bytes, "\ and D2 89, makes jansson quote a lone D2 in its error. */
static void test_reply_error_bad_utf8_in_parse_error(void **state)
{
	static const char body[] = "\"\\\xD2\x89";
	struct rdq_request_msg msg;
	char err[RDQ_ERRMSG_MAX];
	json_t *reply;
	const char *message;

	assert_int_equal(rdq_request_decode(body, 4, &msg, err), -EBADMSG);
	assert_int_equal(msg.id, RDQ_NO_ID);
	assert_non_null(strstr(err, "malformed JSON"));
	assert_true(json_accepts(err, strlen(err)));

	reply = rdq_reply_error(msg.id, EBADMSG, err);
	message = assert_error_whole(reply, "EBADMSG", EBADMSG);
	assert_non_null(strstr(message, "malformed JSON"));
	assert_non_null(strstr(message, FFFD));
	assert_true(json_is_null(json_object_get(reply, "id")));
	json_decref(reply);
}

/* An unknown op of 58 "A" and an emoji: "%.60s" keeps two of the emoji's four bytes. */
static void test_reply_error_op_cut_in_a_character(void **state)
{
	char op[128], err[RDQ_ERRMSG_MAX], expect[RDQ_ERRMSG_MAX];
	json_t *reply;

	memset(op, 'A', 58);
	strcpy(op + 58, "\U0001F600");
	unknown_op_message(err, op);
	assert_false(json_accepts(err, strlen(err))); /* what rdqd hands over */

	reply = rdq_reply_error(7, EOPNOTSUPP, err);
	snprintf(expect, sizeof(expect),
		 "unknown op \"%.58s" FFFD "\" (docs/protocol.md lists them)", op);
	assert_string_equal(assert_error_whole(reply, "EOPNOTSUPP", EOPNOTSUPP), expect);
	assert_int_equal(json_integer_value(json_object_get(reply, "id")), 7);
	json_decref(reply);
}

static void test_reply_error_any_message(void **state)
{
	char *big = malloc(3 * RDQ_REPLY_MESSAGE_MAX);
	const char *message;
	json_t *reply;
	size_t len;

	print_message("ill-formed bytes only: U+FFFD\n");
	reply = rdq_reply_error(1, EINVAL, "\xFF");
	assert_string_equal(assert_error_whole(reply, "EINVAL", EINVAL), FFFD);
	json_decref(reply);

	print_message("nothing left but a cut character: strerror's\n");
	reply = rdq_reply_error(1, EINVAL, "\xF0\x9F");
	assert_string_equal(assert_error_whole(reply, "EINVAL", EINVAL), strerror(EINVAL));
	json_decref(reply);

	print_message("no message, an errno without a name: strerror's whole text\n");
	reply = rdq_reply_error(1, 59152, NULL);
	assert_string_equal(assert_error_whole(reply, "E?", 59152), "Unknown error 59152");
	json_decref(reply);

	print_message("empty: strerror's\n");
	reply = rdq_reply_error(1, EBUSY, "");
	assert_string_equal(assert_error_whole(reply, "EBUSY", EBUSY), strerror(EBUSY));
	json_decref(reply);

	print_message("too long: cut after a whole character\n");
	assert_non_null(big);
	/* Twice too long, in 2-byte characters. */
	for (size_t i = 0; i < RDQ_REPLY_MESSAGE_MAX; i++)
		memcpy(big + 2 * i, "\u00e9", 2);
	big[2 * RDQ_REPLY_MESSAGE_MAX] = '\0';
	reply = rdq_reply_error(1, EINVAL, big);
	message = assert_error_whole(reply, "EINVAL", EINVAL);
	len = strlen(message);
	assert_true(len <= RDQ_REPLY_MESSAGE_MAX - 1);
	assert_true(len >= RDQ_REPLY_MESSAGE_MAX - 2);
	assert_int_equal(len % 2, 0);
	assert_memory_equal(message, big, len);
	json_decref(reply);

	print_message("a long message of control characters still packs (\\u escapes)\n");
	memset(big, '\x01', 3 * RDQ_REPLY_MESSAGE_MAX - 1);
	big[3 * RDQ_REPLY_MESSAGE_MAX - 1] = '\0';
	reply = rdq_reply_error(1, EINVAL, big);
	assert_int_equal(strlen(assert_error_whole(reply, "EINVAL", EINVAL)),
			 RDQ_REPLY_MESSAGE_MAX - 1);
	json_decref(reply);
	free(big);
}

/* The argument readers' sentences stay whole when a long name fills them. */
static void test_arg_error_cut_whole(void **state)
{
	char name[200], err[RDQ_ERRMSG_MAX];
	json_t *args = json_object();
	uint64_t h;
	size_t len;

	/* "args." is 5 bytes: each 2-byte character then ends on an odd byte. */
	for (size_t i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\u00e9", 2);
	name[sizeof(name) - 2] = '\0';
	assert_int_equal(rdq_arg_handle(args, name, true, &h, err), -EINVAL);
	len = strlen(err);
	assert_true(len < RDQ_ERRMSG_MAX);
	assert_true(len >= RDQ_ERRMSG_MAX - 3);
	assert_true(json_accepts(err, len));
	assert_memory_equal(err, "args.\u00e9", 7);
	json_decref(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_read_header),
		cmocka_unit_test(test_frame_write_header),
		cmocka_unit_test(test_request_decode),
		cmocka_unit_test(test_request_decode_honours_len),
		cmocka_unit_test(test_request_decode_attachment),
		cmocka_unit_test(test_request_decode_messages),
		cmocka_unit_test(test_arg_handle),
		cmocka_unit_test(test_arg_int),
		cmocka_unit_test(test_arg_bool),
		cmocka_unit_test(test_arg_string),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_json_write),
		cmocka_unit_test(test_json_read),
		cmocka_unit_test(test_pack_round_trip),
		cmocka_unit_test(test_pack_sizes),
		cmocka_unit_test(test_errno_names),
		cmocka_unit_test(test_errno_name_edges),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_prometheus_headers_and_errors),
		cmocka_unit_test(test_utf8_copy),
		cmocka_unit_test(test_utf8_copy_any_bytes),
		cmocka_unit_test(test_reply_error_bad_utf8_in_parse_error),
		cmocka_unit_test(test_reply_error_op_cut_in_a_character),
		cmocka_unit_test(test_reply_error_any_message),
		cmocka_unit_test(test_arg_error_cut_whole),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
