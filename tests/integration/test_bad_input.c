/* SPDX-License-Identifier: MIT */
/*
 * Bad input, sent by hand over a raw socket to a real rdqd: every frame gets the error
 * docs/protocol.md promises, and neither the offending connection nor anyone else's suffers.
 *
 * After each case the raw connection must still answer a good `version` request, and a
 * second client (librdq) must still get its `status`: a bad client harms no one. The last
 * case checks that the daemon's counters balance after all of it.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <rdq/client.h>

#include "daemon_harness.h"

#define NULL_ID	     (-1)	 /* the reply's id must be JSON null */
#define FLOOD	     2000	 /* requests written before any reply is read */
#define PIPELINE     100	 /* requests in a single write */
#define HOG_LIMIT    (64u << 20) /* bytes a non-reading client may write before we call it a leak */
#define HOG_STUCK_MS 2000	 /* no room to write for this long: rdqd stopped reading us */
#define HOG_BATCH    64		 /* requests per write of the hog */
/*
 * What rdqd's memory may grow by over all the cases, once they are done: what
 * the allocator keeps for reuse (a few hundred KiB is usual). Thousands of
 * requests and hundreds of connections went through, so keeping a little of
 * each would show; so would the hog's 1 MiB of replies.
 */
#define BASELINE_RSS_SLACK_KIB 1024

static struct {
	struct daemon d;
	int raw;		  /* the misbehaving client */
	struct rdq_client *other; /* a well-behaved client that must keep being served */
	int64_t good_id;	  /* ids of the probe requests, apart from the cases' */
	bool rdma;		  /* the machine has RDMA: the ENODEV cases do not apply */
	int base_fds;		  /* rdqd's descriptors before the first case */
	long base_rss;		  /* and its memory (KiB) */
} fx;

/* --- helpers --- */

static json_t *read_reply(int fd)
{
	json_t *msg = NULL;
	int ret = raw_read_message(fd, HARNESS_REPLY_MS, &msg);

	if (ret < 0) {
		fprintf(stderr, "no reply: %s\n", strerror(-ret));
		daemon_dump_log(&fx.d);
	}
	assert_int_equal(ret, 0);
	return msg;
}

static void send_json(int fd, const char *text)
{
	assert_int_equal(raw_send_frame(fd, text, strlen(text)), 0);
}

/* Checks a reply's errno name, id (NULL_ID: null) and that its message has a word. */
static void check_reply(json_t *reply, const char *err, int64_t id, const char *mentions)
{
	if (strcmp(reply_errno(reply), err) != 0 ||
	    (id == NULL_ID ? !reply_id_is_null(reply) : reply_id(reply) != id) ||
	    (mentions && !strstr(reply_message(reply), mentions))) {
		char *text = json_dumps(reply, JSON_COMPACT);

		fprintf(stderr, "expected %s, id %lld, a message with \"%s\"; got %s\n", err,
			(long long)id, mentions ? mentions : "", text);
		free(text);
	}
	assert_string_equal(reply_errno(reply), err);
	if (id == NULL_ID)
		assert_true(reply_id_is_null(reply));
	else
		assert_int_equal(reply_id(reply), id);
	if (mentions)
		assert_non_null(strstr(reply_message(reply), mentions));
	/* An error is for a person to read: it says something. */
	if (strcmp(err, "ok") != 0)
		assert_true(strlen(reply_message(reply)) > 0);
}

static void expect_reply(int fd, const char *err, int64_t id, const char *mentions)
{
	json_t *reply = read_reply(fd);

	check_reply(reply, err, id, mentions);
	json_decref(reply);
}

/* The other client is still served. */
static void expect_other_served(void)
{
	json_t *result = NULL;
	int ret = rdq_call_timeout(fx.other, "status", NULL, HARNESS_REPLY_MS, &result);

	if (ret < 0)
		fprintf(stderr, "the other client: %s (%s)\n", strerror(-ret),
			rdq_client_error(fx.other));
	assert_int_equal(ret, 0);
	assert_non_null(json_object_get(result, "pid"));
	json_decref(result);
}

/* The raw connection still works, and so does everyone else's. */
static void expect_usable(int fd)
{
	char text[96];
	int64_t id = ++fx.good_id;

	snprintf(text, sizeof(text), "{\"v\":1,\"id\":%lld,\"op\":\"version\"}", (long long)id);
	send_json(fd, text);
	expect_reply(fd, "ok", id, NULL);
	expect_other_served();
}

/* --- one bad frame, one error reply --- */

struct frame_case {
	const char *name;     /* the input it covers */
	const char *body;     /* the frame's bytes */
	size_t len;	      /* their number (bodies may hold a NUL) */
	const char *err;      /* the reply's errno name */
	const char *alt_err;  /* another the contract allows, or NULL */
	int64_t id;	      /* the reply's id, or NULL_ID */
	const char *mentions; /* a word the message must contain, or NULL */
};

#define BODY(s) s, sizeof(s) - 1

static const struct frame_case frame_cases[] = {
	/* Framing and JSON. */
	{"malformed JSON (trailing comma)", BODY("{\"v\":1,\"id\":1,\"op\":\"version\",}"),
	 "EBADMSG", NULL, NULL_ID, NULL},
	{"truncated JSON", BODY("{\"v\":1,\"id\":2,\"op\":\"vers"), "EBADMSG", NULL, NULL_ID, NULL},
	{"not JSON at all", BODY("hello, rdqd"), "EBADMSG", NULL, NULL_ID, NULL},
	{"JSON after a valid object (trailing garbage)",
	 BODY("{\"v\":1,\"id\":3,\"op\":\"version\"} x"), "EBADMSG", NULL, NULL_ID, NULL},
	{"a NUL byte inside the JSON", BODY("{\"v\":1,\"id\":4,\0\"op\":\"version\"}"), "EBADMSG",
	 NULL, NULL_ID, NULL},
	{"invalid UTF-8 in a string", BODY("{\"v\":1,\"id\":5,\"op\":\"\xff\xfe\"}"), "EBADMSG",
	 NULL, NULL_ID, NULL},
	{"JSON that is an array, not an object", BODY("[1,2,3]"), "EBADMSG", NULL, NULL_ID,
	 "object"},
	{"JSON that is a string, not an object", BODY("\"version\""), "EBADMSG", NULL, NULL_ID,
	 NULL},
	{"JSON null", BODY("null"), "EBADMSG", NULL, NULL_ID, NULL},

	/* The envelope: id, v, op, args. */
	{"id missing: the reply's id is null", BODY("{\"v\":1,\"op\":\"version\"}"), "EBADMSG",
	 NULL, NULL_ID, "id"},
	{"id negative", BODY("{\"v\":1,\"id\":-7,\"op\":\"version\"}"), "EBADMSG", NULL, NULL_ID,
	 "id"},
	{"id a string", BODY("{\"v\":1,\"id\":\"7\",\"op\":\"version\"}"), "EBADMSG", NULL, NULL_ID,
	 "id"},
	{"id a fraction", BODY("{\"v\":1,\"id\":7.5,\"op\":\"version\"}"), "EBADMSG", NULL, NULL_ID,
	 "id"},
	{"id beyond 64 bits", BODY("{\"v\":1,\"id\":18446744073709551616,\"op\":\"version\"}"),
	 "EBADMSG", NULL, NULL_ID, NULL},
	/* protocol.md: v "must be 1, else EPROTONOSUPPORT"; a missing v may count as malformed. */
	{"v missing: the id is still echoed", BODY("{\"id\":10,\"op\":\"version\"}"),
	 "EPROTONOSUPPORT", "EBADMSG", 10, NULL},
	{"v = 3", BODY("{\"v\":3,\"id\":11,\"op\":\"version\"}"), "EPROTONOSUPPORT", NULL, 11, "3"},
	{"v = 0", BODY("{\"v\":0,\"id\":12,\"op\":\"version\"}"), "EPROTONOSUPPORT", NULL, 12,
	 NULL},
	{"op missing", BODY("{\"v\":1,\"id\":13}"), "EBADMSG", NULL, 13, "op"},
	{"op not a string", BODY("{\"v\":1,\"id\":14,\"op\":42}"), "EBADMSG", NULL, 14, "op"},
	{"unknown op, named in the message", BODY("{\"v\":1,\"id\":15,\"op\":\"ep.frobnicate\"}"),
	 "EOPNOTSUPP", NULL, 15, "ep.frobnicate"},
	{"op of a different case", BODY("{\"v\":1,\"id\":16,\"op\":\"VERSION\"}"), "EOPNOTSUPP",
	 NULL, 16, NULL},
	{"args an array", BODY("{\"v\":1,\"id\":17,\"op\":\"ep.show\",\"args\":[1]}"), "EINVAL",
	 NULL, 17, "args"},
	{"args a string", BODY("{\"v\":1,\"id\":18,\"op\":\"version\",\"args\":\"x\"}"), "EINVAL",
	 NULL, 18, "args"},

	/* Arguments of the wrong type or out of range: EINVAL naming the argument. */
	{"ep as a string",
	 BODY("{\"v\":1,\"id\":20,\"op\":\"ep.destroy\",\"args\":{\"ep\":\"3\"}}"), "EINVAL", NULL,
	 20, "args.ep"},
	{"ep zero (no handle is 0)",
	 BODY("{\"v\":1,\"id\":21,\"op\":\"ep.destroy\",\"args\":{\"ep\":0}}"), "EINVAL", NULL, 21,
	 "args.ep"},
	{"ep negative", BODY("{\"v\":1,\"id\":22,\"op\":\"ep.show\",\"args\":{\"ep\":-1}}"),
	 "EINVAL", NULL, 22, "args.ep"},
	{"port as a string",
	 BODY("{\"v\":1,\"id\":23,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"port\":\"7472\"}}"),
	 "EINVAL", NULL, 23, "args.port"},
	{"port 0",
	 BODY("{\"v\":1,\"id\":24,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"port\":0}}"),
	 "EINVAL", NULL, 24, "args.port"},
	{"port 70000",
	 BODY("{\"v\":1,\"id\":25,\"op\":\"ep.connect\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"port\":70000}}"),
	 "EINVAL", NULL, 25, "args.port"},
	{"timeout_ms negative (ep.recv)",
	 BODY("{\"v\":1,\"id\":26,\"op\":\"ep.recv\",\"args\":{\"ep\":1,\"timeout_ms\":-1}}"),
	 "EINVAL", NULL, 26, "args.timeout_ms"},
	{"timeout_ms negative (ep.connect)",
	 BODY("{\"v\":1,\"id\":27,\"op\":\"ep.connect\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"timeout_ms\":-5}}"),
	 "EINVAL", NULL, 27, "args.timeout_ms"},
	{"tied not a boolean",
	 BODY("{\"v\":1,\"id\":28,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"tied\":1}}"),
	 "EINVAL", NULL, 28, "args.tied"},
	{"watch on not a boolean",
	 BODY("{\"v\":1,\"id\":29,\"op\":\"watch\",\"args\":{\"on\":\"yes\"}}"), "EINVAL", NULL, 29,
	 "args.on"},
	{"addr empty", BODY("{\"v\":1,\"id\":30,\"op\":\"ep.listen\",\"args\":{\"addr\":\"\"}}"),
	 "EINVAL", NULL, 30, "args.addr"},

	/* Required arguments left out: EINVAL naming the one missing. */
	{"ep.destroy without ep", BODY("{\"v\":1,\"id\":40,\"op\":\"ep.destroy\",\"args\":{}}"),
	 "EINVAL", NULL, 40, "args.ep"},
	{"ep.destroy without args at all", BODY("{\"v\":1,\"id\":41,\"op\":\"ep.destroy\"}"),
	 "EINVAL", NULL, 41, "args.ep"},
	{"ep.listen without addr", BODY("{\"v\":1,\"id\":42,\"op\":\"ep.listen\",\"args\":{}}"),
	 "EINVAL", NULL, 42, "args.addr"},
	{"ep.send without data", BODY("{\"v\":1,\"id\":43,\"op\":\"ep.send\",\"args\":{\"ep\":1}}"),
	 "EINVAL", NULL, 43, "args.data"},
	{"ep.send without ep",
	 BODY("{\"v\":1,\"id\":44,\"op\":\"ep.send\",\"args\":{\"data\":\"hi\"}}"), "EINVAL", NULL,
	 44, "args.ep"},
	{"cancel without req", BODY("{\"v\":1,\"id\":45,\"op\":\"cancel\"}"), "EINVAL", NULL, 45,
	 "args.req"},
	{"ep given as null counts as missing",
	 BODY("{\"v\":1,\"id\":46,\"op\":\"ep.destroy\",\"args\":{\"ep\":null}}"), "EINVAL", NULL,
	 46, "args.ep"},

	/* Handles that name nothing: ENOENT. */
	{"unknown handle (ep.destroy 99)",
	 BODY("{\"v\":1,\"id\":50,\"op\":\"ep.destroy\",\"args\":{\"ep\":99}}"), "ENOENT", NULL, 50,
	 "99"},
	{"unknown handle (ep.show 99)",
	 BODY("{\"v\":1,\"id\":51,\"op\":\"ep.show\",\"args\":{\"ep\":99}}"), "ENOENT", NULL, 51,
	 "99"},
	{"unknown handle (ep.recv 99)",
	 BODY("{\"v\":1,\"id\":52,\"op\":\"ep.recv\",\"args\":{\"ep\":99,\"timeout_ms\":0}}"),
	 "ENOENT", NULL, 52, "99"},
	{"unknown handle (ep.send 99)",
	 BODY("{\"v\":1,\"id\":53,\"op\":\"ep.send\",\"args\":{\"ep\":99,\"data\":\"x\"}}"),
	 "ENOENT", NULL, 53, "99"},
	{"unknown handle (ep.disconnect 99)",
	 BODY("{\"v\":1,\"id\":54,\"op\":\"ep.disconnect\",\"args\":{\"ep\":99}}"), "ENOENT", NULL,
	 54, "99"},
	{"a handle past the ids rdqd gives (2^32 + 1: not read as 1)",
	 BODY("{\"v\":1,\"id\":55,\"op\":\"ep.destroy\",\"args\":{\"ep\":4294967297}}"), "ENOENT",
	 NULL, 55, "4294967297"},
	{"the largest handle",
	 BODY("{\"v\":1,\"id\":56,\"op\":\"ep.show\",\"args\":{\"ep\":9223372036854775807}}"),
	 "ENOENT", NULL, 56, NULL},
	{"cancel of a request that is not pending",
	 BODY("{\"v\":1,\"id\":57,\"op\":\"cancel\",\"args\":{\"req\":12345}}"), "ENOENT", NULL, 57,
	 NULL},

	/* ep.listen's max_connections: 1 to 65536, checked before anything else happens. */
	{"ep.listen max_connections 0",
	 BODY("{\"v\":1,\"id\":47,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"max_connections\":0}}"),
	 "EINVAL", NULL, 47, "args.max_connections"},
	{"ep.listen max_connections past 65536",
	 BODY("{\"v\":1,\"id\":48,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"max_connections\":65537}}"),
	 "EINVAL", NULL, 48, "args.max_connections"},
	{"ep.listen max_connections not a number",
	 BODY("{\"v\":1,\"id\":49,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"max_connections\":\"many\"}}"),
	 "EINVAL", NULL, 49, "args.max_connections"},

	/* RDMA operations on a machine without RDMA: ENODEV with a message. */
	{"ep.listen without RDMA",
	 BODY("{\"v\":1,\"id\":60,\"op\":\"ep.listen\",\"args\":{\"addr\":\"127.0.0.1\","
	      "\"port\":7472}}"),
	 "ENODEV", NULL, 60, "RDMA"},
	{"ep.connect without RDMA",
	 BODY("{\"v\":1,\"id\":61,\"op\":\"ep.connect\",\"args\":{\"addr\":\"127.0.0.1\"}}"),
	 "ENODEV", NULL, 61, "RDMA"},
	{"dev.show without RDMA", BODY("{\"v\":1,\"id\":62,\"op\":\"dev.show\"}"), "ENODEV", NULL,
	 62, "RDMA"},

	/* Oddities that are still good requests. */
	{"id 0 is a valid id", BODY("{\"v\":1,\"id\":0,\"op\":\"version\"}"), "ok", NULL, 0, NULL},
	{"the largest id", BODY("{\"v\":1,\"id\":9223372036854775807,\"op\":\"version\"}"), "ok",
	 NULL, 9223372036854775807LL, NULL},
	{"unknown fields are ignored",
	 BODY("{\"v\":1,\"id\":70,\"op\":\"version\",\"extra\":{\"a\":[1]}}"), "ok", NULL, 70,
	 NULL},
	{"whitespace around the object", BODY(" \n\t{\"v\":1,\"id\":71,\"op\":\"status\"}\r\n "),
	 "ok", NULL, 71, NULL},
};

static void run_frame_case(void **state)
{
	const struct frame_case *c = *state;
	json_t *reply;

	/* ENODEV holds only where rdqd found no RDMA device. */
	if (strcmp(c->err, "ENODEV") == 0 && fx.rdma) {
		print_message("this machine has RDMA: %s does not apply\n", c->name);
		skip();
	}
	assert_int_equal(raw_send_frame(fx.raw, c->body, c->len), 0);
	reply = read_reply(fx.raw);
	/* Where the contract allows another answer, the id must still be right. */
	if (c->alt_err && strcmp(reply_errno(reply), c->alt_err) == 0)
		check_reply(reply, c->alt_err, c->id, c->mentions);
	else
		check_reply(reply, c->err, c->id, c->mentions);
	json_decref(reply);
	expect_usable(fx.raw);
}

/* --- the stream: frames cut, glued, oversized, and too many --- */

/* A zero-length frame is EBADMSG with id null, and the next frame is read normally. */
static void test_zero_length_frame(void **state)
{
	assert_int_equal(raw_send_header(fx.raw, 0), 0);
	expect_reply(fx.raw, "EBADMSG", NULL_ID, NULL);
	expect_usable(fx.raw);
}

/* 65537 bytes declared and sent: EMSGSIZE (id null); the body is skipped, not parsed. */
static void test_oversize_frame_sent(void **state)
{
	size_t len = 65537;
	char *body = malloc(len);

	assert_non_null(body);
	/* A body that would be a good request if rdqd parsed it: it must not. */
	memset(body, ' ', len);
	memcpy(body, "{\"v\":1,\"id\":900,\"op\":\"version\"}", 31);
	assert_int_equal(raw_send_frame(fx.raw, body, len), 0);
	free(body);
	expect_reply(fx.raw, "EMSGSIZE", NULL_ID, "65537");
	expect_usable(fx.raw);
}

/* An oversize frame, then a good request in the same write: the good one is answered. */
/*
 * A frame over rdqd's limit (64 KiB of JSON, a NUL, --max-message bytes) is
 * skipped unread; one within it whose JSON alone is over 64 KiB is read and
 * refused. Both answer EMSGSIZE, and the request after each is served.
 */
static void test_oversize_frame_then_request(void **state)
{
	static const char good[] = "{\"v\":1,\"id\":901,\"op\":\"version\"}";
	static const size_t bigs[] = {200000, 70000};

	for (size_t i = 0; i < sizeof(bigs) / sizeof(bigs[0]); i++) {
		size_t big = bigs[i], n1, n2;
		char *body = malloc(big);
		uint8_t *f1, *f2, *both;

		assert_non_null(body);
		memset(body, ' ', big); /* JSON's whitespace: no NUL, so all of it is JSON */
		f1 = frame_build(body, big, &n1);
		f2 = frame_build(good, sizeof(good) - 1, &n2);
		both = malloc(n1 + n2);
		assert_non_null(f1);
		assert_non_null(f2);
		assert_non_null(both);
		memcpy(both, f1, n1);
		memcpy(both + n1, f2, n2);
		assert_int_equal(raw_write(fx.raw, both, n1 + n2, HARNESS_REPLY_MS), 0);
		expect_reply(fx.raw, "EMSGSIZE", NULL_ID, i == 0 ? "exceeds the limit" : "JSON");
		expect_reply(fx.raw, "ok", 901, NULL);
		free(body);
		free(f1);
		free(f2);
		free(both);
	}
	expect_usable(fx.raw);
}

/* Exactly RDQ_MAX_MESSAGE (65536) bytes is still a message. */
static void test_largest_frame_accepted(void **state)
{
	size_t len = 65536;
	char *body = malloc(len);
	int n;

	assert_non_null(body);
	n = snprintf(body, len, "{\"v\":1,\"id\":902,\"op\":\"version\",\"pad\":\"");
	memset(body + n, 'x', len - (size_t)n - 2);
	memcpy(body + len - 2, "\"}", 2);
	assert_int_equal(raw_send_frame(fx.raw, body, len), 0);
	free(body);
	expect_reply(fx.raw, "ok", 902, NULL);
	expect_usable(fx.raw);
}

/* A request written one byte per write: rdqd waits for the whole frame. */
static void test_frame_split_byte_by_byte(void **state)
{
	static const char text[] = "{\"v\":1,\"id\":903,\"op\":\"status\"}";
	size_t n;
	uint8_t *frame = frame_build(text, sizeof(text) - 1, &n);

	assert_non_null(frame);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(raw_write(fx.raw, frame + i, 1, HARNESS_REPLY_MS), 0);
		/* A round trip of the other client lets rdqd's loop see the piece on its own. */
		if (i % 4 == 0)
			expect_other_served();
	}
	free(frame);
	expect_reply(fx.raw, "ok", 903, NULL);
	expect_usable(fx.raw);
}

/* A frame cut inside its header, and one cut inside its body, each completed later. */
static void test_frame_split_in_header_and_body(void **state)
{
	static const char text[] = "{\"v\":1,\"id\":904,\"op\":\"version\"}";
	size_t n;
	uint8_t *frame = frame_build(text, sizeof(text) - 1, &n);

	assert_non_null(frame);
	assert_int_equal(raw_write(fx.raw, frame, 2, HARNESS_REPLY_MS), 0);
	expect_other_served();
	assert_int_equal(raw_write(fx.raw, frame + 2, 10, HARNESS_REPLY_MS), 0);
	expect_other_served();
	assert_int_equal(raw_write(fx.raw, frame + 12, n - 12, HARNESS_REPLY_MS), 0);
	free(frame);
	expect_reply(fx.raw, "ok", 904, NULL);
	expect_usable(fx.raw);
}

/* Builds one request of the mixed kinds the pipelining and flood tests send; returns its errno. */
static const char *mixed_request(int64_t id, char *text, size_t size)
{
	switch (id % 4) {
	case 0:
		snprintf(text, size, "{\"v\":1,\"id\":%lld,\"op\":\"version\"}", (long long)id);
		return "ok";
	case 1:
		snprintf(text, size, "{\"v\":1,\"id\":%lld,\"op\":\"status\"}", (long long)id);
		return "ok";
	case 2:
		snprintf(text, size, "{\"v\":1,\"id\":%lld,\"op\":\"no.such.op\"}", (long long)id);
		return "EOPNOTSUPP";
	default:
		snprintf(text, size,
			 "{\"v\":1,\"id\":%lld,\"op\":\"ep.destroy\",\"args\":{\"ep\":99}}",
			 (long long)id);
		return "ENOENT";
	}
}

/* Writes n mixed requests (ids base+1..base+n) in one buffer; the caller reads the replies. */
static void write_mixed(int fd, int64_t base, unsigned n)
{
	size_t cap = (size_t)n * 96, len = 0;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	for (unsigned i = 1; i <= n; i++) {
		char text[92];
		size_t flen;
		uint8_t *frame;

		mixed_request(base + i, text, sizeof(text));
		frame = frame_build(text, strlen(text), &flen);
		assert_non_null(frame);
		assert_true(len + flen <= cap);
		memcpy(buf + len, frame, flen);
		len += flen;
		free(frame);
	}
	assert_int_equal(raw_write(fd, buf, len, HARNESS_REPLY_MS), 0);
	free(buf);
}

/* Reads n replies to ids base+1..base+n in any order: each exactly once, with its errno. */
static void read_mixed(int fd, int64_t base, unsigned n)
{
	bool *seen = calloc(n + 1, sizeof(*seen));

	assert_non_null(seen);
	for (unsigned k = 0; k < n; k++) {
		json_t *reply = read_reply(fd);
		int64_t id = reply_id(reply);
		char text[92];

		assert_true(id > base && id <= base + (int64_t)n);
		assert_false(seen[id - base]);
		seen[id - base] = true;
		assert_string_equal(reply_errno(reply), mixed_request(id, text, sizeof(text)));
		json_decref(reply);
	}
	free(seen);
}

/* Many requests in one write: all answered, each id once. */
static void test_pipelined_requests(void **state)
{
	write_mixed(fx.raw, 1000, PIPELINE);
	read_mixed(fx.raw, 1000, PIPELINE);
	expect_usable(fx.raw);
}

/* 2000 requests written before any reply is read: every one answered exactly once. */
static void test_flood(void **state)
{
	write_mixed(fx.raw, 10000, FLOOD);
	/* While the flood's replies wait, the other client is served. */
	expect_other_served();
	read_mixed(fx.raw, 10000, FLOOD);
	expect_usable(fx.raw);
}

/*
 * A client that writes without ever reading: once its replies pile up, rdqd stops reading it
 * (back-pressure) instead of growing, and keeps serving everyone else. When the client reads
 * at last, every request it wrote is answered exactly once.
 */
static void test_back_pressure(void **state)
{
	int hog = raw_connect(fx.d.socket);
	size_t cap = HOG_BATCH * 64, len = 0, off = 0, written = 0;
	uint8_t *batch = malloc(cap);
	int64_t next_id = 1;
	bool stuck = false;
	bool *seen;

	assert_true(hog >= 0);
	assert_non_null(batch);
	while (!stuck && written < HOG_LIMIT) {
		struct pollfd pfd = {.fd = hog, .events = POLLOUT};
		ssize_t n;

		if (off == len) {
			len = off = 0;
			for (unsigned i = 0; i < HOG_BATCH; i++) {
				char text[64];
				size_t flen;
				uint8_t *frame;

				snprintf(text, sizeof(text),
					 "{\"v\":1,\"id\":%lld,\"op\":\"status\"}",
					 (long long)next_id++);
				frame = frame_build(text, strlen(text), &flen);
				assert_non_null(frame);
				memcpy(batch + len, frame, flen);
				len += flen;
				free(frame);
			}
		}
		n = send(hog, batch + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			written += (size_t)n;
			continue;
		}
		assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
		if (poll(&pfd, 1, HOG_STUCK_MS) == 0)
			stuck = true;
	}
	/* Stuck before the limit: rdqd stopped reading this client rather than buffer it all. */
	if (!stuck)
		fprintf(stderr, "rdqd read %zu bytes from a client that never reads\n", written);
	assert_true(stuck);

	/* Meanwhile everyone else is served. */
	expect_other_served();
	expect_usable(fx.raw);

	/* The hog reads at last: the rest of its batch goes through, and all are answered. */
	seen = calloc((size_t)next_id, sizeof(*seen));
	assert_non_null(seen);
	for (int64_t answered = 0; answered < next_id - 1;) {
		struct pollfd pfd = {.fd = hog, .events = POLLIN | (off < len ? POLLOUT : 0)};
		json_t *reply;
		int64_t id;

		assert_true(poll(&pfd, 1, HARNESS_REPLY_MS) > 0);
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(hog, batch + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n > 0)
				off += (size_t)n;
		}
		if (!(pfd.revents & POLLIN))
			continue;
		reply = read_reply(hog);
		id = reply_id(reply);
		assert_string_equal(reply_errno(reply), "ok");
		assert_true(id >= 1 && id < next_id);
		assert_false(seen[id]);
		seen[id] = true;
		answered++;
		json_decref(reply);
	}
	free(seen);
	free(batch);
	expect_usable(hog);
	close(hog);
	expect_usable(fx.raw);
}

/* A client that leaves with half a frame written, or with replies unread, harms no one. */
static void test_clients_leaving_midway(void **state)
{
	static const char text[] = "{\"v\":1,\"id\":1,\"op\":\"status\"}";
	int half = raw_connect(fx.d.socket), unread = raw_connect(fx.d.socket);
	size_t n;
	uint8_t *frame = frame_build(text, sizeof(text) - 1, &n);

	assert_true(half >= 0);
	assert_true(unread >= 0);
	assert_non_null(frame);
	assert_int_equal(raw_write(half, frame, n / 2, HARNESS_REPLY_MS), 0);
	assert_int_equal(raw_write(unread, frame, n, HARNESS_REPLY_MS), 0);
	expect_other_served();
	close(half);
	close(unread);
	free(frame);
	expect_usable(fx.raw);
}

/* Clients connecting and closing at once, many times: rdqd forgets each one. */
static void test_many_short_connections(void **state)
{
	json_t *stats = NULL;

	for (int i = 0; i < 200; i++) {
		int fd = raw_connect(fx.d.socket);

		assert_true(fd >= 0);
		if (i % 2)
			expect_usable(fd);
		close(fd);
	}
	/* Closing is seen by rdqd eventually: poll its count of connections with a deadline. */
	for (int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;;) {
		assert_int_equal(
			rdq_call_timeout(fx.other, "stats", NULL, HARNESS_REPLY_MS, &stats), 0);
		if (json_integer_value(json_object_get(stats, "connections")) == 2)
			break;
		json_decref(stats);
		stats = NULL;
		assert_true(harness_now_ms() < deadline);
	}
	json_decref(stats);
	expect_usable(fx.raw);
}

/*
 * After all of the above, the counters balance: every message that came in was answered,
 * dropped, or is pending, and the only pending request is the stats request itself.
 */
/* The request counters of a stats reply. */
struct request_counts {
	json_int_t received, rejected, replied, dropped, pending, completed, by_status_sum;
};

static struct request_counts request_counts(void)
{
	struct request_counts c = {0};
	json_t *stats = NULL, *req, *value;
	const char *key;

	assert_int_equal(rdq_call_timeout(fx.other, "stats", NULL, HARNESS_REPLY_MS, &stats), 0);
	req = json_object_get(stats, "requests");
	c.received = json_integer_value(json_object_get(req, "received"));
	c.rejected = json_integer_value(json_object_get(req, "rejected"));
	c.replied = json_integer_value(json_object_get(req, "replied"));
	c.dropped = json_integer_value(json_object_get(req, "dropped"));
	c.pending = json_integer_value(json_object_get(req, "pending"));
	c.completed = json_integer_value(json_object_get(req, "completed"));
	json_object_foreach(json_object_get(req, "by_status"), key, value)
	{
		c.by_status_sum += json_integer_value(value);
	}
	json_decref(stats);
	return c;
}

/* What every stats reply must say, whatever came before: the counters balance. */
static void expect_balanced(const struct request_counts *c)
{
	print_message("received %lld rejected %lld replied %lld dropped %lld pending %lld\n",
		      (long long)c->received, (long long)c->rejected, (long long)c->replied,
		      (long long)c->dropped, (long long)c->pending);
	assert_int_equal(c->pending, 1); /* the stats request itself */
	assert_int_equal(c->received + c->rejected, c->replied + c->dropped + c->pending);
	assert_int_equal(c->completed, c->received - c->pending);
	assert_int_equal(c->by_status_sum, c->completed);
}

/*
 * The counters balance, and count this test's own traffic exactly: six
 * requests that succeed, one that fails, and two frames rejected before they
 * became requests, between two stats requests. It does not depend on what
 * the tests before it did.
 */
static void test_stats_balance(void **state)
{
	struct request_counts before = request_counts(), after;

	expect_balanced(&before);
	for (int i = 0; i < 3; i++)
		expect_usable(fx.raw);
	send_json(fx.raw, "{\"v\":1,\"id\":77,\"op\":\"ep.show\",\"args\":{\"ep\":999}}");
	expect_reply(fx.raw, "ENOENT", 77, NULL);
	send_json(fx.raw, "not json");
	expect_reply(fx.raw, "EBADMSG", NULL_ID, NULL);
	send_json(fx.raw, "{\"v\":1,\"id\":78}");
	expect_reply(fx.raw, "EBADMSG", 78, "op");
	after = request_counts();
	expect_balanced(&after);
	/* Three versions and three statuses (expect_usable), one ep.show, the second stats. */
	assert_int_equal(after.received - before.received, 8);
	assert_int_equal(after.rejected - before.rejected, 2);
	/* The first stats, and all of the above but the second stats, still pending. */
	assert_int_equal(after.completed - before.completed, 8);
}

/*
 * After every case above (with the two connections of the fixture still
 * open): rdqd holds the descriptors it held before the first, and its memory
 * is within the allocator's slack of what it was.
 */
static void test_back_to_baseline(void **state)
{
	int fds;
	long rss;

	/* The short connections' closes are seen by rdqd eventually: wait for the count. */
	fds = proc_wait_fd_count(fx.d.pid, fx.base_fds, HARNESS_REPLY_MS);
	rss = proc_rss_kib(fx.d.pid);
	print_message("rdqd: %d descriptors (%d before the cases), %ld KiB (%ld before)\n", fds,
		      fx.base_fds, rss, fx.base_rss);
	assert_int_equal(fds, fx.base_fds);
	if (proc_sanitized(fx.d.pid))
		print_message("rdqd runs under AddressSanitizer: its leak check stands for the "
			      "memory bound\n");
	else
		assert_true(rss <= fx.base_rss + BASELINE_RSS_SLACK_KIB);
}

/* --- the fixture --- */

static int group_setup(void **state)
{
	json_t *status = NULL;

	/* The last case measures rdqd's memory: as the allocator keeps it in service. */
	daemon_plain_allocator();
	if (daemon_start(&fx.d, NULL) < 0)
		return -1;
	fx.raw = raw_connect(fx.d.socket);
	if (fx.raw < 0 || rdq_client_connect(fx.d.socket, &fx.other) < 0 ||
	    rdq_call_timeout(fx.other, "status", NULL, HARNESS_REPLY_MS, &status) < 0) {
		daemon_dump_log(&fx.d);
		return -1;
	}
	fx.rdma = json_is_true(json_object_get(status, "rdma"));
	json_decref(status);
	fx.base_fds = proc_settled_fd_count(fx.d.pid);
	fx.base_rss = proc_rss_kib(fx.d.pid);
	return 0;
}

static int group_teardown(void **state)
{
	int ret;

	rdq_client_close(fx.other);
	if (fx.raw >= 0)
		close(fx.raw);
	ret = daemon_stop(&fx.d);
	if (ret != 0) {
		fprintf(stderr, "rdqd exited with %d after SIGTERM, not 0\n", ret);
		daemon_dump_log(&fx.d);
	}
	daemon_cleanup(&fx.d);
	return ret == 0 ? 0 : -1;
}

static const struct CMUnitTest stream_tests[] = {
	cmocka_unit_test(test_zero_length_frame),
	cmocka_unit_test(test_oversize_frame_sent),
	cmocka_unit_test(test_oversize_frame_then_request),
	cmocka_unit_test(test_largest_frame_accepted),
	cmocka_unit_test(test_frame_split_byte_by_byte),
	cmocka_unit_test(test_frame_split_in_header_and_body),
	cmocka_unit_test(test_pipelined_requests),
	cmocka_unit_test(test_flood),
	cmocka_unit_test(test_back_pressure),
	cmocka_unit_test(test_clients_leaving_midway),
	cmocka_unit_test(test_many_short_connections),
	/* Last: it counts everything the others sent. */
	cmocka_unit_test(test_stats_balance),
	cmocka_unit_test(test_back_to_baseline),
};

int main(void)
{
	enum {
		NFRAME = sizeof(frame_cases) / sizeof(frame_cases[0]),
		NSTREAM = sizeof(stream_tests) / sizeof(stream_tests[0])
	};
	struct CMUnitTest tests[NFRAME + NSTREAM];

	/* One cmocka test per frame case, named by the input it covers. */
	for (size_t i = 0; i < NFRAME; i++)
		tests[i] = (struct CMUnitTest){.name = frame_cases[i].name,
					       .test_func = run_frame_case,
					       .initial_state = (void *)&frame_cases[i]};
	for (size_t i = 0; i < NSTREAM; i++)
		tests[NFRAME + i] = stream_tests[i];
	return _cmocka_run_group_tests("bad_input", tests, NFRAME + NSTREAM, group_setup,
				       group_teardown);
}
