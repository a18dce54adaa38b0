/* SPDX-License-Identifier: MIT */
/*
 * rdqd's life: starting without RDMA, refusing a socket another daemon serves, replacing a
 * stale one, and stopping on SIGTERM/SIGINT (exit 0, promptly, socket file removed) whatever
 * its clients are doing. Each test has a daemon of its own.
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

#define STUCK_MS    2000	/* no room to write for this long: rdqd stopped reading us */
#define WRITE_LIMIT (64u << 20) /* bytes a non-reading client may write before we give up */

static struct daemon d;

static int setup(void **state)
{
	return daemon_start(&d, NULL);
}

static int teardown(void **state)
{
	daemon_cleanup(&d);
	return 0;
}

/* Signals rdqd and expects exit 0 within the stop deadline, with its socket file gone. */
static void expect_clean_exit(int sig)
{
	int ret;

	daemon_signal(&d, sig);
	ret = daemon_wait_exit(&d, HARNESS_STOP_MS);
	if (ret != 0) {
		fprintf(stderr, "rdqd: %s after %s (want exit 0 within %d ms)\n",
			ret < 0 ? "still running" : "exited badly", strsignal(sig),
			HARNESS_STOP_MS);
		daemon_dump_log(&d);
	}
	assert_int_equal(ret, 0);
	assert_false(path_exists(d.socket));
	assert_true(daemon_log_contains(&d, "rdqd stopped"));
	assert_false(daemon_log_has_sanitizer_report(&d));
}

static void expect_status(struct rdq_client *c)
{
	assert_int_equal(rdq_call_timeout(c, "status", NULL, HARNESS_REPLY_MS, NULL), 0);
}

/* --- starting --- */

/* Without RDMA rdqd still starts, says so in its log, and its status says rdma false. */
static void test_starts_without_rdma(void **state)
{
	struct rdq_client *c = NULL;
	json_t *status = NULL;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call(c, "status", NULL, &status), 0);
	if (json_is_true(json_object_get(status, "rdma"))) {
		json_decref(status);
		rdq_client_close(c);
		print_message("this machine has RDMA\n");
		skip();
	}
	assert_true(daemon_log_contains(&d, "no RDMA"));
	json_decref(status);
	rdq_client_close(c);
	expect_clean_exit(SIGTERM);
}

/* A second rdqd on a socket the first serves: it exits 1, and the first keeps serving. */
static void test_second_daemon_refused(void **state)
{
	const char *argv[] = {getenv("RDQD"), "-s", d.socket, "--no-config", NULL};
	struct rdq_client *c = NULL;
	char err[160];
	pid_t pid;

	snprintf(err, sizeof(err), "%s/second.log", d.dir);
	pid = proc_spawn(argv, err, err);
	assert_true(pid > 0);
	assert_int_equal(proc_wait(pid, HARNESS_START_MS), 1);
	{
		char *text = file_read(err);

		assert_non_null(strstr(text, "cannot serve"));
		free(text);
	}
	unlink(err);
	assert_true(path_exists(d.socket));
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	expect_status(c);
	rdq_client_close(c);
	expect_clean_exit(SIGTERM);
}

/* A socket file left by a daemon that died (nobody listens): the new rdqd replaces it. */
static void test_stale_socket_replaced(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct rdq_client *c = NULL;
	int fd;

	expect_clean_exit(SIGTERM);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", d.socket);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_true(path_exists(d.socket));

	assert_int_equal(daemon_spawn(&d, NULL), 0);
	assert_int_equal(daemon_wait_ready(&d, HARNESS_START_MS), 0);
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	expect_status(c);
	rdq_client_close(c);
	expect_clean_exit(SIGTERM);
}

/* Options: bad ones exit 2 without starting; -V prints the version. */
static void test_options(void **state)
{
	static const struct {
		const char *name;
		const char *args[3];
		int exit;
	} cases[] = {
		{"--workers with a word", {"--workers", "many"}, 2},
		{"an unknown option", {"--frobnicate"}, 2},
		{"a stray argument", {"extra"}, 2},
		{"--max-pending too large", {"--max-pending", "99999999999"}, 2},
		{"-V", {"-V"}, 0},
		{"--help", {"--help"}, 0},
		{"--systemd without a socket from systemd", {"--systemd"}, 1},
	};
	char out[160];

	snprintf(out, sizeof(out), "%s/options.out", d.dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[7] = {getenv("RDQD"), "-s", d.socket, "--no-config"};
		unsigned n = 4;

		for (unsigned k = 0; k < 3 && cases[i].args[k]; k++)
			argv[n++] = cases[i].args[k];
		print_message("%s\n", cases[i].name);
		assert_int_equal(proc_wait(proc_spawn(argv, out, out), HARNESS_START_MS),
				 cases[i].exit);
	}
	{
		char *text = file_read(out);

		assert_non_null(strstr(text, "rdqd 0.1.0"));
		/* Refused for the missing socket, not for the one in use. */
		assert_non_null(strstr(text, "--systemd: systemd passed no control socket"));
		free(text);
	}
	unlink(out);
	/* None of them touched the running daemon's socket. */
	assert_true(path_exists(d.socket));
	expect_clean_exit(SIGTERM);
}

/* Polls c's view of rdqd's open connections until it is n, by the deadline. */
static void wait_connections(struct rdq_client *c, json_int_t n)
{
	int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;

	for (;;) {
		json_t *stats = NULL;
		json_int_t now;

		assert_int_equal(rdq_call_timeout(c, "stats", NULL, HARNESS_REPLY_MS, &stats), 0);
		now = json_integer_value(json_object_get(stats, "connections"));
		json_decref(stats);
		if (now == n)
			return;
		assert_true(harness_now_ms() < deadline);
	}
}

/*
 * --max-clients 2: a third client gets one EMFILE error (id null) and its socket closed; once
 * a client leaves, a new one is served again.
 */
static void test_max_clients(void **state)
{
	static const char *const extra[] = {"--max-clients", "2", NULL};
	struct rdq_client *a = NULL, *b = NULL, *later = NULL;
	json_t *msg = NULL;
	int fd;

	daemon_cleanup(&d);
	assert_int_equal(daemon_start(&d, extra), 0);
	/* The harness's probe of the socket has gone before the clients count. */
	assert_int_equal(rdq_client_connect(d.socket, &a), 0);
	wait_connections(a, 1);
	assert_int_equal(rdq_client_connect(d.socket, &b), 0);
	expect_status(b);

	fd = raw_connect(d.socket);
	assert_true(fd >= 0);
	assert_int_equal(raw_read_message(fd, HARNESS_REPLY_MS, &msg), 0);
	assert_string_equal(reply_errno(msg), "EMFILE");
	assert_true(reply_id_is_null(msg));
	json_decref(msg);
	msg = NULL;
	assert_int_equal(raw_read_message(fd, HARNESS_REPLY_MS, &msg), -ECONNRESET);
	close(fd);

	/* The two it has are still served; when one leaves, there is room again. */
	expect_status(a);
	rdq_client_close(b);
	wait_connections(a, 1);
	assert_int_equal(rdq_client_connect(d.socket, &later), 0);
	expect_status(later);
	rdq_client_close(later);
	rdq_client_close(a);
	expect_clean_exit(SIGTERM);
}

/* --- stopping --- */

static void test_sigterm_no_clients(void **state)
{
	expect_clean_exit(SIGTERM);
	/* Gone: a client finds no daemon. */
	assert_true(raw_connect(d.socket) == -ENOENT);
}

/* An idle librdq client: rdqd exits 0 promptly, and the client reads -ECONNRESET. */
static void test_sigterm_idle_client(void **state)
{
	struct rdq_client *c = NULL;
	json_t *msg = NULL;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	expect_status(c);
	expect_clean_exit(SIGTERM);
	assert_int_equal(rdq_client_next(c, HARNESS_REPLY_MS, &msg), -ECONNRESET);
	rdq_client_close(c);
}

static void test_sigint_idle_client(void **state)
{
	int fd = raw_connect(d.socket);

	assert_true(fd >= 0);
	expect_clean_exit(SIGINT);
	close(fd);
}

/* SIGHUP without a configuration file (the harness's --no-config) reloads nothing, stops nothing.
 */
static void test_sighup_keeps_serving(void **state)
{
	struct rdq_client *c = NULL;
	int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	daemon_signal(&d, SIGHUP);
	/* The signal is handled on the loop; wait for its trace in the log. */
	while (!daemon_log_contains(&d, "SIGHUP")) {
		assert_true(harness_now_ms() < deadline);
		expect_status(c);
	}
	expect_status(c);
	assert_int_equal(daemon_wait_exit(&d, 0), -1);
	rdq_client_close(c);
	expect_clean_exit(SIGTERM);
}

/* A client in the middle of a frame does not hold rdqd up. */
static void test_sigterm_client_mid_frame(void **state)
{
	static const char text[] = "{\"v\":1,\"id\":1,\"op\":\"status\"}";
	size_t n;
	uint8_t *frame = frame_build(text, sizeof(text) - 1, &n);
	int fd = raw_connect(d.socket);

	assert_true(fd >= 0);
	assert_non_null(frame);
	assert_int_equal(raw_write(fd, frame, n - 3, HARNESS_REPLY_MS), 0);
	free(frame);
	expect_clean_exit(SIGTERM);
	close(fd);
}

/* A client watching for events does not hold rdqd up. */
static void test_sigterm_watching_client(void **state)
{
	struct rdq_client *c = NULL;
	json_t *msg = NULL;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call(c, "watch", NULL, NULL), 0);
	expect_clean_exit(SIGTERM);
	/* Whatever came before the close, the stream ends in -ECONNRESET. */
	for (int i = 0; i < 16; i++) {
		int ret = rdq_client_next(c, HARNESS_REPLY_MS, &msg);

		json_decref(msg);
		msg = NULL;
		if (ret == -ECONNRESET)
			break;
		assert_int_equal(ret, 0);
	}
	rdq_client_close(c);
}

/*
 * A client that never reads its replies (rdqd's output to it piles up and back-pressure
 * stops reading it) cannot hold rdqd up either: SIGTERM still ends it promptly with 0.
 */
static void test_sigterm_client_never_reading(void **state)
{
	int fd = raw_connect(d.socket);
	bool stuck = false;

	assert_true(fd >= 0);
	raw_flood(fd, "{\"v\":1,\"id\":1,\"op\":\"stats\"}", WRITE_LIMIT, STUCK_MS, &stuck);
	assert_true(stuck);
	expect_clean_exit(SIGTERM);
	close(fd);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_starts_without_rdma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_daemon_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_no_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_idle_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigint_idle_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_keeps_serving, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_client_mid_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_watching_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_client_never_reading, setup, teardown),
	};

	return cmocka_run_group_tests_name("shutdown", tests, NULL, NULL);
}
