/* SPDX-License-Identifier: MIT */
/*
 * A real rdqd under conditions a client does not choose: input whose error
 * text is hard to quote, a daemon that does not accept connections, and a
 * daemon that turns clients away. In each the client must come back, in
 * bounded time, with an answer that says what happened.
 */
#include <errno.h>
#include <fcntl.h>
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

#define WAIT_MS	    500	  /* the timeout given to rdqctl and librdq */
#define WAIT_UPTO   2000  /* how long they may take to give up: the wait and some slack */
#define RUN_MS	    20000 /* a bound on one rdqctl run that should have ended long before */
#define BACKLOG_MAX 4096  /* more connections than any listen backlog holds */
#define FFFD	    "\xEF\xBF\xBD" /* U+FFFD, what stands for bytes that are not UTF-8 */
/*
 * A deaf client's requests: more than rdqd may read from it before it stops
 * (its 1 MiB of replies waiting is about 800 stats replies); rdqd that kept
 * reading would hold about 30 times this in replies.
 */
#define DEAF_WRITE_MAX (4u << 20)
#define DEAF_STUCK_MS  2000 /* no room to write for this long: rdqd stopped reading it */
/*
 * What a client that never reads may cost rdqd's memory while it is there:
 * its 1 MiB of replies waiting, the frame being read, and the allocator's
 * own slack around them (about 1.1 MiB in all is usual). Once it is gone, what
 * may stay is what the allocator keeps for reuse (100 to 300 KiB is usual):
 * less than one client's replies, and DEAF_ROUNDS of them kept would be
 * several times the bound.
 */
#define DEAF_RSS_SLACK_KIB  (3 * 1024)
#define AFTER_RSS_SLACK_KIB 1024
#define DEAF_ROUNDS	    3

static struct {
	struct daemon d; /* for the cases that need an ordinary rdqd */
	char out[128], err[128];
} fx;

/* --- helpers --- */

/* Runs rdqctl -s socket args..., its output in fx.out and fx.err; returns its exit status. */
static int run_rdqctl(const char *socket, const char *const *args, int64_t *took_ms)
{
	const char *argv[16] = {getenv("RDQCTL"), "-s", socket};
	int64_t start = harness_now_ms();
	unsigned n = 3;
	int ret;

	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	ret = proc_run(argv, fx.out, fx.err, RUN_MS);
	if (ret < 0)
		fail_msg("rdqctl still ran after %d ms", RUN_MS);
	*took_ms = harness_now_ms() - start;
	return ret;
}

/* Prints what rdqctl said, for a failing check. */
static void show_run(int status, int64_t took_ms)
{
	char *out = file_read(fx.out), *err = file_read(fx.err);

	fprintf(stderr, "rdqctl: exit %d after %lld ms\n--- stdout:\n%s--- stderr:\n%s---\n",
		status, (long long)took_ms, out, err);
	free(out);
	free(err);
}

/* Whether rdqctl's stderr contains text. */
static bool err_says(const char *text)
{
	char *err = file_read(fx.err);
	bool found = strstr(err, text) != NULL;

	free(err);
	return found;
}

/*
 * Fills the listen backlog of the socket at path, which nobody accepts on:
 * opens non-blocking connections until the next one would have to wait.
 * Returns how many it opened, their fds in fds.
 */
static int fill_backlog(const char *path, int *fds)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int n = 0;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	while (n < BACKLOG_MAX) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			/* EAGAIN: the backlog is full; a blocking connect would wait here. */
			assert_int_equal(errno, EAGAIN);
			close(fd);
			return n;
		}
		fds[n++] = fd;
	}
	fail_msg("%d connections and the backlog of %s is not full", n, path);
	return n;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* The error object of a reply: its errno name, a code, and a message that says something. */
static void check_error(json_t *reply, const char *name, int code, const char *mentions)
{
	json_t *error = json_object_get(reply, "error");

	if (!json_is_object(error) || strcmp(reply_errno(reply), name) != 0 ||
	    !strstr(reply_message(reply), mentions)) {
		char *text = json_dumps(reply, JSON_COMPACT);

		fprintf(stderr, "expected %s with a message about \"%s\"; got %s\n", name, mentions,
			text);
		free(text);
	}
	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_true(json_is_object(error));
	assert_string_equal(reply_errno(reply), name);
	assert_int_equal(json_integer_value(json_object_get(error, "code")), code);
	assert_non_null(strstr(reply_message(reply), mentions));
}

/* Sends one raw frame on a fresh connection to the fixture's rdqd and returns the reply. */
static json_t *ask_raw(const char *body, size_t len)
{
	json_t *reply = NULL;
	int fd = raw_connect(fx.d.socket);
	int ret;

	assert_true(fd >= 0);
	assert_int_equal(raw_send_frame(fd, body, len), 0);
	ret = raw_read_message(fd, HARNESS_REPLY_MS, &reply);
	if (ret < 0) {
		/* -EBADMSG here: the reply was not JSON jansson could read. */
		fprintf(stderr, "no readable reply: %s\n", strerror(-ret));
		daemon_dump_log(&fx.d);
	}
	assert_int_equal(ret, 0);
	close(fd);
	return reply;
}

/* --- error replies whose message quotes bytes that are not whole UTF-8 --- */

/* "\ and D2 89: jansson's parse error quotes a lone D2. */
static void test_parse_error_quotes_bad_utf8(void **state)
{
	static const char body[] = "\"\\\xD2\x89";
	json_t *reply = ask_raw(body, 4);

	check_error(reply, "EBADMSG", EBADMSG, "malformed JSON");
	assert_non_null(strstr(reply_message(reply), FFFD));
	assert_true(reply_id_is_null(reply));
	json_decref(reply);
}

/* An unknown op of 58 "A" and an emoji: rdqd quotes 60 bytes of it, half the emoji. */
static void test_unknown_op_cut_inside_a_character(void **state)
{
	char op[64], body[160];
	json_t *reply;

	memset(op, 'A', 58);
	strcpy(op + 58, "\xF0\x9F\x98\x80");
	snprintf(body, sizeof(body), "{\"v\":1,\"id\":9,\"op\":\"%s\"}", op);
	reply = ask_raw(body, strlen(body));

	check_error(reply, "EOPNOTSUPP", EOPNOTSUPP, "unknown op");
	assert_non_null(strstr(reply_message(reply), "AAAA"));
	assert_int_equal(reply_id(reply), 9);
	json_decref(reply);
}

/* --- a client that never reads: rdqd's cost is bounded, and goes when the client does --- */

/* Writes stats requests to fd, without reading, until rdqd stops taking them; bytes written. */
static size_t write_until_stuck(int fd)
{
	return raw_flood(fd, "{\"v\":1,\"id\":2,\"op\":\"stats\"}", DEAF_WRITE_MAX, DEAF_STUCK_MS,
			 NULL);
}

/* How many client connections rdqd counts now (stats), asked on a connection of its own. */
static json_int_t daemon_connections(struct rdq_client *c)
{
	json_t *stats = NULL;
	json_int_t n;

	assert_int_equal(rdq_call_timeout(c, "stats", NULL, HARNESS_REPLY_MS, &stats), 0);
	n = json_integer_value(json_object_get(stats, "connections"));
	json_decref(stats);
	return n;
}

/*
 * A client that watches for events, then sends requests and never reads a
 * reply: rdqd stops reading it once its replies pile up, so its memory
 * grows by a bounded amount, whatever the client sends; everyone else is
 * served meanwhile. When the client goes, rdqd's descriptors are back to
 * what they were, and its memory within the allocator's slack: three such
 * clients, one after the other, leave no more than one.
 */
static void test_deaf_watcher(void **state)
{
	static const char watch[] = "{\"v\":1,\"id\":1,\"op\":\"watch\"}";
	struct rdq_client *other = NULL;
	long base_rss, peak_rss, after_rss;
	int base_fds, after_fds;
	struct daemon d;
	bool asan;

	daemon_plain_allocator();
	assert_int_equal(daemon_start(&d, NULL), 0);
	assert_int_equal(rdq_client_connect(d.socket, &other), 0);
	assert_int_equal(daemon_connections(other), 1);
	base_fds = proc_settled_fd_count(d.pid);
	base_rss = proc_rss_kib(d.pid);
	assert_true(base_fds > 0 && base_rss > 0);
	asan = proc_sanitized(d.pid);
	if (asan)
		print_message("rdqd runs under AddressSanitizer: its leak check stands for the "
			      "memory bounds\n");

	for (int round = 0; round < DEAF_ROUNDS; round++) {
		int deaf = raw_connect(d.socket);
		size_t written;

		assert_true(deaf >= 0);
		assert_int_equal(raw_send_frame(deaf, watch, sizeof(watch) - 1), 0);
		written = write_until_stuck(deaf);
		peak_rss = proc_rss_kib(d.pid);
		print_message(
			"a deaf watcher wrote %zu bytes; rdqd's memory %ld KiB, %ld at rest\n",
			written, peak_rss, base_rss);
		assert_true(asan || peak_rss <= base_rss + DEAF_RSS_SLACK_KIB);
		assert_true(written < DEAF_WRITE_MAX);
		/* Everyone else is served meanwhile. */
		assert_int_equal(daemon_connections(other), 2);
		close(deaf);
		for (int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;
		     daemon_connections(other) != 1;)
			assert_true(harness_now_ms() < deadline);
	}
	after_fds = proc_settled_fd_count(d.pid);
	after_rss = proc_rss_kib(d.pid);
	print_message("once they are gone: %d descriptors (%d before), %ld KiB\n", after_fds,
		      base_fds, after_rss);
	assert_int_equal(after_fds, base_fds);
	assert_true(asan || after_rss <= base_rss + AFTER_RSS_SLACK_KIB);

	rdq_client_close(other);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* --- a daemon that does not accept: connecting is bounded by the timeout --- */

/* rdqd stopped with its listen backlog full: rdqctl -t gives up on connecting. */
static void test_rdqctl_connect_times_out(void **state)
{
	static const char *const args[] = {"-t", "500", "status", NULL};
	static int fds[BACKLOG_MAX];
	struct daemon d;
	int64_t took;
	int n, status;

	assert_int_equal(daemon_start(&d, NULL), 0);
	assert_int_equal(daemon_pause(&d), 0);
	n = fill_backlog(d.socket, fds);

	status = run_rdqctl(d.socket, args, &took);
	if (status != 3 || took > WAIT_UPTO || !err_says("ETIMEDOUT"))
		show_run(status, took);
	assert_int_equal(status, 3);
	assert_true(took >= WAIT_MS - 50);
	assert_true(took <= WAIT_UPTO);
	assert_true(err_says("did not take the connection within 500 ms (ETIMEDOUT)"));

	close_all(fds, n);
	daemon_resume(&d);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* librdq: a socket that listens but never accepts, backlog full. */
static void test_librdq_connect_times_out(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	static int fds[BACKLOG_MAX];
	struct rdq_client *c = NULL;
	int lfd, n, ret;
	pid_t pid;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/silent.sock", fx.d.dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	n = fill_backlog(addr.sun_path, fds);

	/* In a child: a connect that is not bounded must fail this test, not hang it. */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int64_t start = harness_now_ms(), took;

		ret = rdq_client_connect_timeout(addr.sun_path, WAIT_MS, &c);
		took = harness_now_ms() - start;
		if (ret != -ETIMEDOUT || c)
			fprintf(stderr, "rdq_client_connect_timeout: %d, not -ETIMEDOUT\n", ret);
		else if (took < WAIT_MS - 50 || took > WAIT_UPTO)
			fprintf(stderr, "rdq_client_connect_timeout: gave up after %lld ms\n",
				(long long)took);
		else
			_exit(0);
		_exit(1);
	}
	ret = proc_wait(pid, RUN_MS);
	if (ret < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, RUN_MS);
		fail_msg("rdq_client_connect_timeout still waited after %d ms", RUN_MS);
	}
	assert_int_equal(ret, 0);

	print_message("with room in the backlog, the same call connects\n");
	close_all(fds, n);
	close(lfd);
	unlink(addr.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(rdq_client_connect_timeout(addr.sun_path, WAIT_MS, &c), 0);
	rdq_client_close(c);
	close(lfd);
	unlink(addr.sun_path);
}

/* --- a daemon that turns clients away: the client says why --- */

/*
 * Starts rdqd --max-clients 1 in d and takes its one place with a raw
 * connection, returned. The probe connection of daemon_start() may still
 * count for a moment after it closed: then ours is turned away, and we retry.
 */
static int start_full_daemon(struct daemon *d)
{
	static const char *const extra[] = {"--max-clients", "1", NULL};
	static const char version[] = "{\"v\":1,\"id\":1,\"op\":\"version\"}";
	int64_t deadline;

	assert_int_equal(daemon_start(d, extra), 0);
	deadline = harness_now_ms() + HARNESS_START_MS;
	for (;;) {
		int fd = raw_connect(d->socket);
		json_t *reply = NULL;

		assert_true(fd >= 0);
		assert_int_equal(raw_send_frame(fd, version, strlen(version)), 0);
		if (raw_read_message(fd, HARNESS_REPLY_MS, &reply) == 0 &&
		    strcmp(reply_errno(reply), "ok") == 0) {
			json_decref(reply);
			return fd;
		}
		json_decref(reply);
		close(fd);
		assert_true(harness_now_ms() < deadline);
	}
}

/*
 * rdqctl ARGS against a full rdqd: status 1 (rdqd answered, with an error)
 * and rdqd's reason, want, on stderr, never "is rdqd running".
 */
static void expect_rdqctl_turned_away(const char *const *args, const char *want)
{
	struct daemon d;
	int64_t took;
	int held = start_full_daemon(&d);
	int status = run_rdqctl(d.socket, args, &took);

	if (status != 1 || !err_says("too many clients"))
		show_run(status, took);
	assert_int_equal(status, 1);
	assert_true(err_says(want));
	assert_true(err_says("EMFILE"));
	assert_false(err_says("is rdqd running"));

	close(held);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_rdqctl_turned_away(void **state)
{
	static const char *const args[] = {"status", NULL};

	expect_rdqctl_turned_away(args, "too many clients");
}

/* rdqctl monitor turned away by a full rdqd: its reason, status 1, as other commands. */
static void test_rdqctl_monitor_turned_away(void **state)
{
	static const char *const args[] = {"monitor", "--count", "1", NULL};

	expect_rdqctl_turned_away(args, "rdqd closed the connection: too many clients");
}

/*
 * rdqctl monitor, already watching, when rdqd sends an error with a null id
 * and closes the connection: rdqd's reason, status 1, not "is rdqd
 * running?". rdqd turns clients away as they connect, so a socket of the
 * test's own plays rdqd here: it answers watch, sends an event, then the
 * error, and closes.
 */
static void test_rdqctl_monitor_farewell(void **state)
{
	static const char farewell[] = "{\"v\":1,\"id\":null,\"ok\":false,\"error\":{"
				       "\"errno\":\"EMFILE\",\"code\":24,"
				       "\"message\":\"too many clients\"}}";
	static const char event[] = "{\"v\":1,\"event\":\"ep.destroyed\",\"ep\":3}";
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *argv[] = {getenv("RDQCTL"), "-s", addr.sun_path, "monitor", NULL};
	struct pollfd pfd = {.events = POLLIN};
	json_t *req = NULL;
	char reply[96], *out;
	int lfd, fd, status;
	pid_t pid;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/farewell.sock", fx.d.dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	unlink(fx.out);
	unlink(fx.err);
	pid = proc_spawn(argv, fx.out, fx.err);
	assert_true(pid > 0);

	pfd.fd = lfd;
	assert_int_equal(poll(&pfd, 1, HARNESS_REPLY_MS), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(raw_read_message(fd, HARNESS_REPLY_MS, &req), 0);
	assert_string_equal(json_string_value(json_object_get(req, "op")), "watch");
	snprintf(reply, sizeof(reply), "{\"v\":1,\"id\":%lld,\"ok\":true,\"result\":{}}",
		 (long long)reply_id(req));
	json_decref(req);
	assert_int_equal(raw_send_frame(fd, reply, strlen(reply)), 0);
	assert_int_equal(raw_send_frame(fd, event, strlen(event)), 0);
	assert_int_equal(raw_send_frame(fd, farewell, strlen(farewell)), 0);
	close(fd);

	status = proc_wait(pid, RUN_MS);
	if (status < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, RUN_MS);
		fail_msg("rdqctl monitor still ran after %d ms", RUN_MS);
	}
	if (status != 1 || !err_says("too many clients"))
		show_run(status, 0);
	assert_int_equal(status, 1);
	out = file_read(fx.out);
	assert_non_null(strstr(out, "ep.destroyed ep 3"));
	free(out);
	assert_true(err_says("rdqd closed the connection: too many clients (EMFILE)"));
	assert_false(err_says("is rdqd running"));

	close(lfd);
	unlink(addr.sun_path);
}

/* librdq: the call fails with rdqd's errno and its message. */
static void test_librdq_turned_away(void **state)
{
	struct rdq_client *c = NULL;
	json_t *result = NULL;
	struct daemon d;
	int held = start_full_daemon(&d);
	int ret;

	print_message("refused while the call waits for its reply\n");
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	ret = rdq_call_timeout(c, "status", NULL, HARNESS_REPLY_MS, &result);
	if (ret != -EMFILE)
		fprintf(stderr, "rdq_call: %s (%s)\n", strerror(-ret), rdq_client_error(c));
	assert_int_equal(ret, -EMFILE);
	assert_null(result);
	assert_non_null(strstr(rdq_client_error(c), "too many clients"));
	assert_non_null(strstr(rdq_client_error(c), "EMFILE"));
	rdq_client_close(c);

	print_message("refused and closed before the request is written\n");
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	{
		/* rdqd's close shows as a hang-up; what it sent before is still to be read. */
		struct pollfd pfd = {.fd = rdq_client_fd(c), .events = POLLRDHUP};

		assert_int_equal(poll(&pfd, 1, HARNESS_REPLY_MS), 1);
	}
	ret = rdq_call_timeout(c, "status", NULL, HARNESS_REPLY_MS, &result);
	if (ret != -EMFILE)
		fprintf(stderr, "rdq_call: %s (%s)\n", strerror(-ret), rdq_client_error(c));
	assert_int_equal(ret, -EMFILE);
	assert_non_null(strstr(rdq_client_error(c), "too many clients"));
	rdq_client_close(c);

	close(held);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* --- the fixture --- */

static int group_setup(void **state)
{
	if (daemon_start(&fx.d, NULL) < 0)
		return -1;
	snprintf(fx.out, sizeof(fx.out), "%s/out", fx.d.dir);
	snprintf(fx.err, sizeof(fx.err), "%s/err", fx.d.dir);
	return 0;
}

static int group_teardown(void **state)
{
	int ret = daemon_stop(&fx.d);

	unlink(fx.out);
	unlink(fx.err);
	daemon_cleanup(&fx.d);
	return ret == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_error_quotes_bad_utf8),
		cmocka_unit_test(test_unknown_op_cut_inside_a_character),
		cmocka_unit_test(test_deaf_watcher),
		cmocka_unit_test(test_rdqctl_connect_times_out),
		cmocka_unit_test(test_librdq_connect_times_out),
		cmocka_unit_test(test_rdqctl_turned_away),
		cmocka_unit_test(test_librdq_turned_away),
		cmocka_unit_test(test_rdqctl_monitor_turned_away),
		cmocka_unit_test(test_rdqctl_monitor_farewell),
	};

	return cmocka_run_group_tests_name("hostile", tests, group_setup, group_teardown);
}
