/* SPDX-License-Identifier: MIT */
/*
 * librdq's client API (<rdq/client.h>) against a real rdqd: synchronous and asynchronous
 * calls, timeouts, error replies, watch, and what a client sees when there is no daemon or
 * the daemon goes away.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <rdq/client.h>

#include "daemon_harness.h"

#define MANY 20000 /* async requests: their replies exceed rdqd's 1 MiB of back-pressure */

static struct {
	struct daemon d;
	struct rdq_client *c;
	bool rdma;
} fx;

/* A fresh client on the shared daemon. */
static struct rdq_client *connect_client(void)
{
	struct rdq_client *c = NULL;

	assert_int_equal(rdq_client_connect(fx.d.socket, &c), 0);
	assert_non_null(c);
	return c;
}

/* Names each of keys that obj lacks; returns how many. */
static int missing_keys(const json_t *obj, const char *what, const char *const *keys)
{
	int missing = 0;

	for (; *keys; keys++) {
		if (json_object_get(obj, *keys))
			continue;
		fprintf(stderr, "%s has no \"%s\" (docs/protocol.md lists it)\n", what, *keys);
		missing++;
	}
	return missing;
}

/* --- synchronous calls --- */

static void test_call_version(void **state)
{
	json_t *result = NULL;

	assert_int_equal(rdq_call(fx.c, "version", NULL, &result), 0);
	assert_string_equal(json_string_value(json_object_get(result, "version")), rdq_version());
	assert_int_equal(json_integer_value(json_object_get(result, "protocol")), 2);
	json_decref(result);
}

/* status has the fields docs/protocol.md lists; its pid is the daemon's. */
static void test_call_status(void **state)
{
	static const char *const keys[] = {"pid",     "uptime_ms", "rdma",
					   "devices", "endpoints", NULL};
	json_int_t devices, endpoints;
	json_t *result = NULL;
	int missing;

	assert_int_equal(rdq_call(fx.c, "status", NULL, &result), 0);
	assert_int_equal(json_integer_value(json_object_get(result, "pid")), fx.d.pid);
	assert_true(json_integer_value(json_object_get(result, "uptime_ms")) >= 0);
	assert_true(json_is_boolean(json_object_get(result, "rdma")));
	missing = missing_keys(result, "status", keys);
	devices = json_integer_value(json_object_get(result, "devices"));
	endpoints = json_integer_value(json_object_get(result, "endpoints"));
	json_decref(result);
	assert_int_equal(missing, 0);
	if (!fx.rdma)
		assert_int_equal(devices, 0);
	assert_int_equal(endpoints, 0);
}

/* stats has the groups and counters docs/protocol.md lists. */
static void test_call_stats(void **state)
{
	static const char *const top[] = {"requests",	 "pool",   "workers", "endpoints",
					  "connections", "events", "loop",    NULL};
	static const char *const requests[] = {"received", "replied", "pending", "by_status", NULL};
	static const char *const pool[] = {"size",   "free",	"in_use", "high_water",
					   "misses", "refused", NULL};
	static const char *const workers[] = {"threads",    "queued",	  "run", "deferred",
					      "serial_max", "sync_scope", NULL};
	static const char *const events[] = {"cm", "cm_stale", "sent", "by_type", NULL};
	static const char *const loop[] = {"callbacks", "histogram_us", NULL};
	json_int_t pending, connections;
	json_t *result = NULL;
	const char *scope;
	int missing;

	assert_int_equal(rdq_call(fx.c, "stats", NULL, &result), 0);
	/* All the groups are looked at before failing, to name every key missing. */
	missing = missing_keys(result, "stats", top) +
		  missing_keys(json_object_get(result, "requests"), "stats.requests", requests) +
		  missing_keys(json_object_get(result, "pool"), "stats.pool", pool) +
		  missing_keys(json_object_get(result, "workers"), "stats.workers", workers) +
		  missing_keys(json_object_get(result, "events"), "stats.events", events) +
		  missing_keys(json_object_get(result, "loop"), "stats.loop", loop);
	/* This request is pending while it answers. */
	pending =
		json_integer_value(json_object_get(json_object_get(result, "requests"), "pending"));
	connections = json_integer_value(json_object_get(result, "connections"));
	scope = json_string_value(
		json_object_get(json_object_get(result, "workers"), "sync_scope"));
	assert_int_equal(missing, 0);
	assert_true(pending >= 1);
	assert_true(connections >= 1);
	/* The harness starts rdqd without --sync-scope: the default. */
	assert_non_null(scope);
	assert_string_equal(scope, "endpoint");
	json_decref(result);
}

/* rdqd's --sync-scope shows in stats as given; --disconnect-timeout is accepted with it. */
static void test_stats_sync_scope_option(void **state)
{
	static const char *const scopes[] = {"device", "none"};

	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		const char *const extra[] = {"--sync-scope", scopes[i], "--disconnect-timeout",
					     "1000", NULL};
		struct rdq_client *c = NULL;
		json_t *result = NULL;
		struct daemon d;

		assert_int_equal(daemon_start(&d, extra), 0);
		assert_int_equal(rdq_client_connect(d.socket, &c), 0);
		assert_int_equal(rdq_call(c, "stats", NULL, &result), 0);
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(result, "workers"), "sync_scope")),
				    scopes[i]);
		json_decref(result);
		rdq_client_close(c);
		assert_int_equal(daemon_stop(&d), 0);
		daemon_cleanup(&d);
	}
}

/*
 * --log-level: warn keeps info and debug lines out of the log (it comes after the harness's
 * -v, and the last one given counts); a level rdqd does not know stops it with a usage error.
 */
static void test_log_level_option(void **state)
{
	const char *const warn[] = {"--log-level", "warn", NULL};
	struct rdq_client *c = NULL;
	struct daemon d;
	char out[PATH_MAX], err[PATH_MAX];
	const char *bad[] = {getenv("RDQD"), "--no-config", "--log-level", "loud", NULL};
	char *text;

	assert_int_equal(daemon_start(&d, warn), 0);
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call(c, "version", NULL, NULL), 0);
	rdq_client_close(c);
	assert_int_equal(daemon_stop(&d), 0);
	assert_false(daemon_log_contains(&d, "<6>"));
	assert_false(daemon_log_contains(&d, "<7>"));

	snprintf(out, sizeof(out), "%s/out", d.dir);
	snprintf(err, sizeof(err), "%s/err", d.dir);
	assert_int_equal(proc_run(bad, out, err, HARNESS_REPLY_MS), 2);
	text = file_read(err);
	assert_non_null(strstr(text, "--log-level: \"loud\" is not err, warn, info or debug"));
	free(text);
	daemon_cleanup(&d);
}

/* A NULL result pointer is allowed: the caller wants only the status. */
static void test_call_without_result(void **state)
{
	assert_int_equal(rdq_call(fx.c, "version", NULL, NULL), 0);
}

/* --- error replies --- */

struct error_case {
	const char *name; /* the request it covers */
	const char *op;
	const char *args;     /* JSON, or NULL */
	int err;	      /* rdq_call's return: the negative errno */
	const char *mentions; /* a word rdq_client_error() must contain */
};

static const struct error_case error_cases[] = {
	{"unknown endpoint", "ep.destroy", "{\"ep\":99}", -ENOENT, "99"},
	{"a handle no endpoint had", "ep.show", "{\"ep\":4294967297}", -ENOENT, "4294967297"},
	{"missing argument", "ep.destroy", NULL, -EINVAL, "args.ep"},
	{"argument of the wrong type", "ep.recv", "{\"ep\":1,\"timeout_ms\":\"soon\"}", -EINVAL,
	 "args.timeout_ms"},
	{"unknown op", "ep.teleport", NULL, -EOPNOTSUPP, "ep.teleport"},
	{"cancel of nothing", "cancel", "{\"req\":424242}", -ENOENT, "424242"},
	{"cancel of an unknown request number", "cancel", "{\"rid\":999999}", -ENOENT, "999999"},
	{"cancel with both req and rid", "cancel", "{\"req\":1,\"rid\":1}", -EINVAL, "args.rid"},
	{"cancel with neither req nor rid", "cancel", NULL, -EINVAL, "args.req"},
	{"cancel of request number 0", "cancel", "{\"rid\":0}", -EINVAL, "args.rid"},
	{"cancel with a rid of the wrong type", "cancel", "{\"rid\":\"17\"}", -EINVAL, "args.rid"},
	{"qp.destroy without qp", "qp.destroy", NULL, -EINVAL, "args.qp"},
	{"qp.destroy of qp 0", "qp.destroy", "{\"qp\":0}", -EINVAL, "args.qp"},
	{"qp.destroy of a qp that is a string", "qp.destroy", "{\"qp\":\"1\"}", -EINVAL, "args.qp"},
	{"qp.destroy of an unknown qp", "qp.destroy", "{\"qp\":12345}", -ENOENT, "12345"},
	{"qp.destroy of a handle no qp had", "qp.destroy", "{\"qp\":4294967297}", -ENOENT,
	 "4294967297"},
	{"dev.show without RDMA", "dev.show", NULL, -ENODEV, "RDMA"},
	{"ep.listen without RDMA", "ep.listen", "{\"addr\":\"127.0.0.1\",\"port\":7472}", -ENODEV,
	 "RDMA"},
	{"ep.connect without RDMA", "ep.connect", "{\"addr\":\"127.0.0.1\"}", -ENODEV, "RDMA"},
};

static void test_error_replies(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		json_t *result = (json_t *)1, *args = c->args ? json_loads(c->args, 0, NULL) : NULL;
		int ret;

		/* ENODEV holds only where there is no RDMA. */
		if (c->err == -ENODEV && fx.rdma) {
			json_decref(args);
			continue;
		}
		ret = rdq_call(fx.c, c->op, args, &result);
		print_message("%s: %d %s\n", c->name, ret, rdq_client_error(fx.c));
		assert_int_equal(ret, c->err);
		/* No result on an error, and the message is the daemon's. */
		assert_null(result);
		assert_non_null(strstr(rdq_client_error(fx.c), c->mentions));
	}
	/* A success clears nothing it should not: the next call works. */
	assert_int_equal(rdq_call(fx.c, "version", NULL, NULL), 0);
}

/* rdq_reply_status() and rdq_strerrno() read the same error from a raw reply. */
static void test_reply_status_helpers(void **state)
{
	const char *message = NULL;
	json_t *msg = NULL;
	int64_t id = 0;

	assert_int_equal(rdq_client_send(fx.c, "ep.destroy", json_pack("{s:i}", "ep", 99), &id), 0);
	assert_int_equal(rdq_client_next(fx.c, HARNESS_REPLY_MS, &msg), 0);
	assert_true(rdq_message_is_reply(msg, id));
	assert_false(rdq_message_is_event(msg));
	assert_int_equal(rdq_reply_status(msg, &message), -ENOENT);
	assert_non_null(message);
	assert_non_null(strstr(message, "99"));
	assert_string_equal(rdq_strerrno(ENOENT), "ENOENT");
	assert_string_equal(rdq_strerrno(EPROTONOSUPPORT), "EPROTONOSUPPORT");
	json_decref(msg);
}

/* --- request.list --- */

/*
 * request.list leaves itself out. Without RDMA no request stays pending (every op answers
 * at once or fails with ENODEV), so from a fresh connection the list is empty; and
 * request.list pipelined with other requests on a second connection still finds none of
 * them, since each is answered before the next is read.
 */
static void test_request_list(void **state)
{
	struct rdq_client *a = connect_client(), *b = connect_client();
	json_t *result = NULL, *msg = NULL, *list;
	int64_t ids[3];

	assert_int_equal(rdq_call(a, "request.list", NULL, &result), 0);
	list = json_object_get(result, "requests");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 0);
	json_decref(result);

	/* Arguments are not looked at: an empty object is as good as none. */
	assert_int_equal(rdq_call(a, "request.list", json_object(), &result), 0);
	assert_int_equal(json_array_size(json_object_get(result, "requests")), 0);
	json_decref(result);

	assert_int_equal(rdq_client_send(b, "status", NULL, &ids[0]), 0);
	assert_int_equal(rdq_client_send(b, "request.list", NULL, &ids[1]), 0);
	assert_int_equal(rdq_client_send(b, "request.list", NULL, &ids[2]), 0);
	assert_int_equal(rdq_call(a, "request.list", NULL, &result), 0);
	assert_int_equal(json_array_size(json_object_get(result, "requests")), 0);
	json_decref(result);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rdq_client_next(b, HARNESS_REPLY_MS, &msg), 0);
		assert_true(rdq_message_is_reply(msg, ids[i]));
		assert_int_equal(rdq_reply_status(msg, NULL), 0);
		if (i > 0)
			assert_int_equal(json_array_size(json_object_get(
						 json_object_get(msg, "result"), "requests")),
					 0);
		json_decref(msg);
	}
	rdq_client_close(a);
	rdq_client_close(b);
}

/*
 * cancel by rid looks at the pending requests of every connection of the uid; a request
 * already answered is no longer there. Without RDMA nothing stays pending, so every number
 * handed out so far gives ENOENT (rids count requests from 1: at most stats' "received" of
 * them exist), and the connection that asked stays usable.
 */
static void test_cancel_rid_of_completed(void **state)
{
	struct rdq_client *a = connect_client(), *b = connect_client();
	json_t *stats = NULL;
	json_int_t received;

	assert_int_equal(rdq_call(a, "stats", NULL, &stats), 0);
	received =
		json_integer_value(json_object_get(json_object_get(stats, "requests"), "received"));
	json_decref(stats);
	assert_true(received >= 1);
	for (json_int_t rid = received; rid >= 1 && rid > received - 64; rid--) {
		assert_int_equal(rdq_call(b, "cancel", json_pack("{s:I}", "rid", rid), NULL),
				 -ENOENT);
		assert_non_null(strstr(rdq_client_error(b), "no pending request"));
	}
	assert_int_equal(rdq_call(b, "version", NULL, NULL), 0);
	rdq_client_close(a);
	rdq_client_close(b);
}

/* --- asynchronous calls --- */

/* Several requests sent, then their replies read in whatever order they come. */
static void test_send_then_next_any_order(void **state)
{
	static const char *const ops[] = {"version", "status",	   "stats",
					  "ep.show", "no.such.op", "watch"};
	enum { N = sizeof(ops) / sizeof(ops[0]) };
	struct rdq_client *c = connect_client();
	int64_t ids[N];
	bool seen[N] = {false};

	for (int i = 0; i < N; i++) {
		assert_int_equal(rdq_client_send(c, ops[i], NULL, &ids[i]), 0);
		/* Ids count up from 1 on a new client. */
		assert_int_equal(ids[i], i + 1);
	}
	for (int k = 0; k < N; k++) {
		json_t *msg = NULL;
		int i;

		assert_int_equal(rdq_client_next(c, HARNESS_REPLY_MS, &msg), 0);
		for (i = 0; i < N && !rdq_message_is_reply(msg, ids[i]); i++)
			;
		assert_true(i < N);
		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(rdq_reply_status(msg, NULL),
				 strcmp(ops[i], "no.such.op") == 0 ? -EOPNOTSUPP : 0);
		json_decref(msg);
	}
	/* Nothing more: one reply per request. */
	{
		json_t *msg = NULL;

		assert_int_equal(rdq_client_next(c, 0, &msg), -EAGAIN);
		assert_null(msg);
	}
	rdq_client_close(c);
}

/* The fd polls readable once a reply is there. */
static void test_fd_polls_readable(void **state)
{
	struct rdq_client *c = connect_client();
	struct pollfd pfd = {.fd = rdq_client_fd(c), .events = POLLIN};
	json_t *msg = NULL;
	int64_t id;

	assert_true(pfd.fd >= 0);
	assert_int_equal(rdq_client_send(c, "version", NULL, &id), 0);
	assert_int_equal(poll(&pfd, 1, HARNESS_REPLY_MS), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(rdq_client_next(c, 0, &msg), 0);
	assert_true(rdq_message_is_reply(msg, id));
	json_decref(msg);
	rdq_client_close(c);
}

/* The next message: a reply to one of the ids 1..MANY, none seen before. The caller decrefs it. */
static json_t *next_unseen_reply(struct rdq_client *c, bool *seen, int64_t *id)
{
	json_t *msg = NULL;

	assert_int_equal(rdq_client_next(c, HARNESS_REPLY_MS, &msg), 0);
	*id = json_integer_value(json_object_get(msg, "id"));
	assert_true(*id >= 1 && *id <= MANY);
	assert_false(seen[*id]);
	seen[*id] = true;
	return msg;
}

/*
 * Many requests sent without reading: rdqd stops reading a client whose replies pile up, so
 * the library must read while it writes. Every reply arrives, once.
 */
static void test_send_many_without_reading(void **state)
{
	struct rdq_client *c = connect_client();
	bool *seen = calloc(MANY + 1, sizeof(*seen));
	int64_t id;

	assert_non_null(seen);
	for (int i = 1; i <= MANY; i++) {
		assert_int_equal(rdq_client_send(c, "status", NULL, &id), 0);
		assert_int_equal(id, i);
	}
	for (int k = 0; k < MANY; k++) {
		json_t *msg = next_unseen_reply(c, seen, &id);

		assert_int_equal(rdq_reply_status(msg, NULL), 0);
		json_decref(msg);
	}
	free(seen);
	rdq_client_close(c);
}

/* A request too large to frame is refused locally, and the client stays usable. */
static void test_send_too_large(void **state)
{
	size_t len = 70000;
	char *data = malloc(len + 1);
	int64_t id = -1;

	assert_non_null(data);
	memset(data, 'a', len);
	data[len] = '\0';
	assert_int_equal(rdq_client_send(fx.c, "ep.send",
					 json_pack("{s:i, s:s}", "ep", 1, "data", data), &id),
			 -EMSGSIZE);
	assert_int_equal(id, -1);
	assert_true(strlen(rdq_client_error(fx.c)) > 0);
	free(data);
	assert_int_equal(rdq_call(fx.c, "version", NULL, NULL), 0);
}

/*
 * Version 2 requests pipelined on one connection: each is answered once, in
 * version 2, and an attachment rdqd cannot use is refused by the op, not by
 * the stream.
 */
static void test_pipelined_version2(void **state)
{
	static const uint8_t bytes[] = {0, 1, 0xff, 0};
	struct rdq_client *c = connect_client();
	bool *seen = calloc(MANY + 1, sizeof(*seen));
	const void *data;
	size_t len;
	int64_t id;

	assert_non_null(seen);
	for (int i = 1; i <= MANY; i++) {
		/* Odd ones send bytes to an endpoint that is not there. */
		if (i % 2)
			assert_int_equal(rdq_client_send_data(c, "ep.send",
							      json_pack("{s:i}", "ep", 99), bytes,
							      sizeof(bytes), &id),
					 0);
		else
			assert_int_equal(rdq_client_send_data(c, "version", NULL, NULL, 0, &id), 0);
		assert_int_equal(id, i);
	}
	for (int k = 0; k < MANY; k++) {
		json_t *msg = next_unseen_reply(c, seen, &id);

		assert_int_equal(json_integer_value(json_object_get(msg, "v")), 2);
		assert_int_equal(rdq_reply_status(msg, NULL), id % 2 ? -ENOENT : 0);
		assert_false(rdq_message_data(msg, &data, &len));
		json_decref(msg);
	}
	free(seen);
	/* The binary calls say why they fail. */
	assert_int_equal(rdq_ep_send(c, 99, bytes, sizeof(bytes), RDQ_SEND_WAIT, 0), -ENOENT);
	assert_non_null(strstr(rdq_client_error(c), "no endpoint 99"));
	assert_int_equal(rdq_ep_recv(c, 99, 0, (void **)&data, &len), -ENOENT);
	assert_null(data);
	assert_int_equal(rdq_ep_send(c, 99, bytes, RDQ_MAX_DATA + 1, 0, 0), -EMSGSIZE);
	rdq_client_close(c);
}

/* --- timeouts --- */

/* A reply within the bound: like rdq_call(). */
static void test_call_timeout_answered(void **state)
{
	json_t *result = NULL;

	assert_int_equal(rdq_call_timeout(fx.c, "status", NULL, HARNESS_REPLY_MS, &result), 0);
	assert_non_null(json_object_get(result, "pid"));
	json_decref(result);
}

/*
 * No reply within the bound (the daemon is stopped): -ETIMEDOUT. The late reply, once the
 * daemon runs again, is discarded: it is neither taken for the next call's reply nor handed
 * to rdq_client_next().
 */
static void test_call_timeout_expires(void **state)
{
	struct rdq_client *c = connect_client();
	json_t *result = (json_t *)1, *msg = NULL;

	assert_int_equal(daemon_pause(&fx.d), 0);
	assert_int_equal(rdq_call_timeout(c, "status", NULL, 200, &result), -ETIMEDOUT);
	daemon_resume(&fx.d);
	assert_null(result);
	assert_non_null(strstr(rdq_client_error(c), "status"));

	/* rdqd answers in order on one connection: the late reply comes before this one's. */
	assert_int_equal(rdq_call_timeout(c, "version", NULL, HARNESS_REPLY_MS, &result), 0);
	assert_non_null(json_object_get(result, "version"));
	json_decref(result);
	assert_int_equal(rdq_client_next(c, 0, &msg), -EAGAIN);
	rdq_client_close(c);
}

/* --- watch --- */

/* watch on and off are acknowledged; without RDMA no event comes. */
static void test_watch(void **state)
{
	struct rdq_client *c = connect_client();
	json_t *result = NULL, *msg = NULL;

	assert_int_equal(rdq_call(c, "watch", NULL, &result), 0);
	json_decref(result);
	/* Requests that make no object make no event. */
	assert_int_equal(rdq_call(c, "ep.destroy", json_pack("{s:i}", "ep", 99), NULL), -ENOENT);
	assert_int_equal(rdq_call(c, "status", NULL, NULL), 0);
	assert_int_equal(rdq_client_next(c, 0, &msg), -EAGAIN);
	assert_null(msg);
	assert_int_equal(rdq_call(c, "watch", json_pack("{s:b}", "on", 0), NULL), 0);
	assert_int_equal(rdq_call(c, "watch", json_pack("{s:s}", "on", "maybe"), NULL), -EINVAL);
	rdq_client_close(c);
}

/* --- connecting --- */

/* Where no daemon listens, connect says so with -ENOENT or -ECONNREFUSED. */
static void test_connect_no_daemon(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct rdq_client *c = NULL;
	char path[128];
	int fd;

	/* No file at all. */
	snprintf(path, sizeof(path), "%s/nobody.sock", fx.d.dir);
	assert_int_equal(rdq_client_connect(path, &c), -ENOENT);
	assert_null(c);

	/* A socket file nobody listens on (a daemon that died). */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/dead.sock", fx.d.dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(rdq_client_connect(addr.sun_path, &c), -ECONNREFUSED);
	assert_null(c);
	close(fd);
	unlink(addr.sun_path);

	/* A path longer than a socket address holds. */
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(rdq_client_connect(path, &c), -ENAMETOOLONG);
	assert_null(c);
}

/* rdq_client_close() accepts NULL. */
static void test_close_null(void **state)
{
	rdq_client_close(NULL);
}

/* The default path: /run/rdq for root, else under $XDG_RUNTIME_DIR. */
static void test_default_socket_path(void **state)
{
	char buf[108], tiny[4];

	assert_int_equal(rdq_default_socket_path(buf, sizeof(buf)), 0);
	if (geteuid() == 0) {
		assert_string_equal(buf, "/run/rdq/rdqd.sock");
	} else {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		char want[108];

		if (xdg && xdg[0] == '/')
			snprintf(want, sizeof(want), "%s/rdq/rdqd.sock", xdg);
		else
			snprintf(want, sizeof(want), "/tmp/rdq-%u/rdqd.sock", (unsigned)geteuid());
		assert_string_equal(buf, want);
	}
	assert_int_equal(rdq_default_socket_path(tiny, sizeof(tiny)), -ENAMETOOLONG);
}

/* --- the daemon going away --- */

/*
 * SIGTERM while a client is connected and idle: its next read says -ECONNRESET, later calls
 * too, and rdqd exits 0.
 */
static void test_daemon_goes_away(void **state)
{
	struct daemon d;
	struct rdq_client *c = NULL;
	json_t *msg = NULL;

	assert_int_equal(daemon_start(&d, NULL), 0);
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call(c, "status", NULL, NULL), 0);

	daemon_signal(&d, SIGTERM);
	assert_int_equal(rdq_client_next(c, HARNESS_STOP_MS, &msg), -ECONNRESET);
	assert_null(msg);
	assert_non_null(strstr(rdq_client_error(c), "closed"));
	assert_int_equal(rdq_call(c, "status", NULL, NULL), -ECONNRESET);
	assert_int_equal(daemon_wait_exit(&d, HARNESS_STOP_MS), 0);
	assert_false(daemon_log_has_sanitizer_report(&d));
	rdq_client_close(c);
	daemon_cleanup(&d);
}

/* --- the fixture --- */

static int group_setup(void **state)
{
	json_t *status = NULL;

	if (daemon_start(&fx.d, NULL) < 0)
		return -1;
	if (rdq_client_connect(fx.d.socket, &fx.c) < 0 ||
	    rdq_call(fx.c, "status", NULL, &status) < 0) {
		daemon_dump_log(&fx.d);
		return -1;
	}
	fx.rdma = json_is_true(json_object_get(status, "rdma"));
	json_decref(status);
	return 0;
}

static int group_teardown(void **state)
{
	int ret;

	rdq_client_close(fx.c);
	ret = daemon_stop(&fx.d);
	if (ret != 0) {
		fprintf(stderr, "rdqd exited with %d after SIGTERM, not 0\n", ret);
		daemon_dump_log(&fx.d);
	}
	daemon_cleanup(&fx.d);
	return ret == 0 ? 0 : -1;
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_version),
		cmocka_unit_test(test_call_status),
		cmocka_unit_test(test_call_stats),
		cmocka_unit_test(test_stats_sync_scope_option),
		cmocka_unit_test(test_log_level_option),
		cmocka_unit_test(test_call_without_result),
		cmocka_unit_test(test_error_replies),
		cmocka_unit_test(test_reply_status_helpers),
		cmocka_unit_test(test_request_list),
		cmocka_unit_test(test_cancel_rid_of_completed),
		cmocka_unit_test(test_send_then_next_any_order),
		cmocka_unit_test(test_fd_polls_readable),
		cmocka_unit_test(test_send_many_without_reading),
		cmocka_unit_test(test_send_too_large),
		cmocka_unit_test(test_pipelined_version2),
		cmocka_unit_test(test_call_timeout_answered),
		cmocka_unit_test(test_call_timeout_expires),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_connect_no_daemon),
		cmocka_unit_test(test_close_null),
		cmocka_unit_test(test_default_socket_path),
		cmocka_unit_test(test_daemon_goes_away),
	};

	return cmocka_run_group_tests_name("client_api", tests, group_setup, group_teardown);
}
