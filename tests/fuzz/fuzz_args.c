/* SPDX-License-Identifier: MIT */
/*
 * The argument readers over decoded args. The input is the text of a
 * request's "args"; each reader runs on every key it has and on the names
 * rdqd's ops use, with each range an op gives. A reader accepts exactly the
 * values of its type and range, leaves the output alone when it refuses or
 * the argument is absent, and a refusal names the argument in a sentence
 * that can go into an error reply.
 */
#include <errno.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "{\"v\":1,\"id\":1,\"op\":\"fuzz\",\"args\":"

static const char *const op_names[] = {
	"ep",	      "qp",   "addr", "port", "backlog", "max_connections",
	"timeout_ms", "tied", "data", "wait", "on",	 "req",
	"rid",	      "",     NULL,
};

static const struct {
	int64_t min, max, def;
} ranges[] = {
	{1, 65535, 7472},	   /* port */
	{0, 3600000, 5000},	   /* timeout_ms */
	{1, 4096, 64},		   /* backlog */
	{1, 65536, 1024},	   /* max_connections */
	{INT64_MIN, INT64_MAX, 0}, /* every integer */
	{0, 0, 0},		   /* one value */
};

/* A refusal: -EINVAL and a sentence that names the argument. */
static void check_refusal(int ret, const char err[RDQ_ERRMSG_MAX])
{
	json_t *reply;

	FUZZ_CHECK(ret == -EINVAL);
	fuzz_check_errmsg(err);
	FUZZ_CHECK(strncmp(err, "args.", 5) == 0);
	reply = rdq_reply_error(3, EINVAL, err);
	fuzz_check_error_reply(reply, 3, EINVAL);
	json_decref(reply);
}

static void read_handle(json_t *args, const char *name, json_t *value, bool absent)
{
	for (int required = 0; required < 2; required++) {
		char err[RDQ_ERRMSG_MAX];
		uint64_t out = 99;
		int ret = rdq_arg_handle(args, name, required, &out, err);

		if (absent && !required) {
			FUZZ_CHECK(ret == 0 && out == 99);
		} else if (!absent && json_is_integer(value) && json_integer_value(value) > 0) {
			FUZZ_CHECK(ret == 0);
			FUZZ_CHECK(out == (uint64_t)json_integer_value(value));
		} else {
			check_refusal(ret, err);
			FUZZ_CHECK(out == 99);
		}
	}
}

static void read_int(json_t *args, const char *name, json_t *value, bool absent)
{
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		char err[RDQ_ERRMSG_MAX];
		int64_t out = -99;
		int ret = rdq_arg_int(args, name, ranges[i].min, ranges[i].max, ranges[i].def, &out,
				      err);

		if (absent) {
			FUZZ_CHECK(ret == 0 && out == ranges[i].def);
		} else if (json_is_integer(value) && json_integer_value(value) >= ranges[i].min &&
			   json_integer_value(value) <= ranges[i].max) {
			FUZZ_CHECK(ret == 0 && out == json_integer_value(value));
		} else {
			check_refusal(ret, err);
		}
	}
}

static void read_bool(json_t *args, const char *name, json_t *value, bool absent)
{
	for (int def = 0; def < 2; def++) {
		char err[RDQ_ERRMSG_MAX];
		bool out = !def;
		int ret = rdq_arg_bool(args, name, def, &out, err);

		if (absent)
			FUZZ_CHECK(ret == 0 && out == (bool)def);
		else if (json_is_boolean(value))
			FUZZ_CHECK(ret == 0 && out == json_is_true(value));
		else
			check_refusal(ret, err);
	}
}

static void read_string(json_t *args, const char *name, json_t *value, bool absent)
{
	for (int required = 0; required < 2; required++) {
		char err[RDQ_ERRMSG_MAX];
		const char *out = NULL;
		size_t len = 12345;
		int ret = rdq_arg_string(args, name, required, &out, &len, err);

		if (absent && !required) {
			FUZZ_CHECK(ret == 0 && out == NULL && len == 12345);
		} else if (!absent && json_is_string(value)) {
			FUZZ_CHECK(ret == 0);
			FUZZ_CHECK(out == json_string_value(value));
			FUZZ_CHECK(len == json_string_length(value));
		} else {
			check_refusal(ret, err);
			FUZZ_CHECK(out == NULL);
		}
	}
}

static void read_all(json_t *args, const char *name)
{
	json_t *value = json_object_get(args, name);
	bool absent = value == NULL || json_is_null(value);

	read_handle(args, name, value, absent);
	read_int(args, name, value, absent);
	read_bool(args, name, value, absent);
	read_string(args, name, value, absent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rdq_request_msg msg;
	char err[RDQ_ERRMSG_MAX];
	const char *key;
	json_t *value;
	char *body;

	/* The input is the args: wrapped in a request, decoded as rdqd decodes one. */
	body = malloc(strlen(PREFIX) + size + 1);
	if (!body)
		return 0;
	memcpy(body, PREFIX, strlen(PREFIX));
	memcpy(body + strlen(PREFIX), data, size);
	body[strlen(PREFIX) + size] = '}';
	if (rdq_request_decode(body, strlen(PREFIX) + size + 1, &msg, err) < 0) {
		free(body);
		return 0;
	}

	json_object_foreach(msg.args, key, value) read_all(msg.args, key);
	for (const char *const *name = op_names; *name; name++)
		read_all(msg.args, *name);

	rdq_request_msg_clear(&msg);
	free(body);
	return 0;
}
