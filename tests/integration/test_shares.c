/* SPDX-License-Identifier: MIT */
/*
 * Fair shares of a real rdqd's connections: one user cannot take them all
 * (--max-clients-per-user), the last few are root's, and a connection that
 * does nothing is closed after --idle-timeout, each time with a reply that
 * says why. Meanwhile others are served. The per-user cases run clients as
 * other uids, so they need root (and are skipped without it).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon_harness.h"

#define VERSION_BODY "{\"v\":1,\"id\":7,\"op\":\"version\"}"
/* Growth of rdqd's resident memory an attack may leave (allocator caches, not leaks). */
#define RSS_SLACK_KIB 4096
/* "Served promptly": a status round trip of another client while an attack goes on. */
#define PROMPT_MS 1000
#define MAX_CONNS 64

/* What one client connection got for a version request: "ok", or the errno name of its refusal. */
static const char *try_version(int fd, char *why, size_t size)
{
	static char name[32];
	json_t *msg = NULL;

	raw_send_frame(fd, VERSION_BODY, strlen(VERSION_BODY));
	if (raw_read_message(fd, HARNESS_REPLY_MS, &msg) < 0)
		return "no answer";
	snprintf(name, sizeof(name), "%s", reply_errno(msg));
	if (why)
		snprintf(why, size, "%s", reply_message(msg));
	json_decref(msg);
	return name;
}

/*
 * In a child running as uid: opens n connections, asks each for the version,
 * and writes how many were served, refused with EDQUOT and refused with
 * EMFILE to report; keeps them open until it is killed.
 */
static pid_t hold_as(uid_t uid, const char *socket, int n, int report)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
		_exit(99);
	{
		int fds[MAX_CONNS], counts[3] = {0};

		for (int i = 0; i < n; i++) {
			const char *got;

			fds[i] = raw_connect(socket);
			if (fds[i] < 0)
				_exit(98);
			got = try_version(fds[i], NULL, 0);
			counts[strcmp(got, "ok") == 0 ? 0 : strcmp(got, "EDQUOT") == 0 ? 1 : 2]++;
		}
		if (write(report, counts, sizeof(counts)) != sizeof(counts))
			_exit(97);
		for (;;)
			pause();
	}
}

struct holder {
	pid_t pid;
	int report[2];
	int counts[3]; /* served, EDQUOT, EMFILE */
};

static void holder_start(struct holder *h, uid_t uid, const struct daemon *d, int n)
{
	assert_int_equal(pipe(h->report), 0);
	h->pid = hold_as(uid, d->socket, n, h->report[1]);
	assert_true(h->pid > 0);
	assert_int_equal(read(h->report[0], h->counts, sizeof(h->counts)), sizeof(h->counts));
}

static void holder_release(struct holder *h)
{
	int status;

	/* Its connections close with it, as a client's do when it is killed. */
	kill(h->pid, SIGKILL);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFSIGNALED(status));
	close(h->report[0]);
	close(h->report[1]);
}

/* Lets other uids reach the daemon's socket (its folder is the test's own). */
static void open_to_everyone(const struct daemon *d)
{
	assert_int_equal(chmod(d->dir, 0755), 0);
	assert_int_equal(chmod(d->socket, 0666), 0);
}

/*
 * uid A opens 30 connections against --max-clients-per-user 10: 10 are
 * served, 20 refused with EDQUOT. Meanwhile uid B and root are served.
 */
static void test_per_user_share(void **state)
{
	const char *extra[] = {"--max-clients", "40", "--max-clients-per-user", "10", NULL};
	struct holder a, b;
	struct daemon d;
	char why[160];
	long rss;
	int fd, base;

	if (geteuid() != 0)
		skip();
	assert_int_equal(daemon_start(&d, extra), 0);
	open_to_everyone(&d);
	base = proc_settled_fd_count(d.pid);
	rss = proc_rss_kib(d.pid);

	holder_start(&a, 61001, &d, 30);
	print_message("uid A: served %d, EDQUOT %d, EMFILE %d\n", a.counts[0], a.counts[1],
		      a.counts[2]);
	assert_int_equal(a.counts[0], 10);
	assert_int_equal(a.counts[1], 20);
	assert_int_equal(a.counts[2], 0);

	/* Another user, and root, are served while A holds its share. */
	holder_start(&b, 61002, &d, 3);
	assert_int_equal(b.counts[0], 3);
	fd = raw_connect(d.socket);
	assert_true(fd >= 0);
	assert_string_equal(try_version(fd, NULL, 0), "ok");
	close(fd);

	/* The refusal says why. */
	holder_release(&b);
	fd = -1;
	{
		struct holder a2;

		holder_start(&a2, 61001, &d, 1);
		assert_int_equal(a2.counts[1], 1);
		holder_release(&a2);
	}
	holder_release(&a);

	/* Once A closed its connections, it is served again. */
	holder_start(&a, 61001, &d, 2);
	assert_int_equal(a.counts[0], 2);
	holder_release(&a);
	(void)why;
	/* The flood cost nothing that stays: descriptors back, memory about where it was. */
	assert_int_equal(proc_wait_fd_count(d.pid, base, HARNESS_REPLY_MS), base);
	print_message("rdqd's RSS %ld KiB before, %ld KiB after\n", rss, proc_rss_kib(d.pid));
	assert_true(proc_rss_kib(d.pid) < rss + RSS_SLACK_KIB);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * --max-clients 16 keeps its last one for root: a user with a share as large
 * as the daemon gets 15 and is refused the 16th (EMFILE), which root still
 * gets; then even root is refused.
 */
static void test_root_reserve(void **state)
{
	const char *extra[] = {"--max-clients", "16", "--max-clients-per-user", "100", NULL};
	struct holder a;
	struct daemon d;
	char why[160];
	int fd, fd2;

	if (geteuid() != 0)
		skip();
	assert_int_equal(daemon_start(&d, extra), 0);
	open_to_everyone(&d);

	holder_start(&a, 61003, &d, 16);
	assert_int_equal(a.counts[0], 15);
	assert_int_equal(a.counts[2], 1);

	fd = raw_connect(d.socket);
	assert_true(fd >= 0);
	assert_string_equal(try_version(fd, NULL, 0), "ok");
	fd2 = raw_connect(d.socket);
	assert_true(fd2 >= 0);
	assert_string_equal(try_version(fd2, why, sizeof(why)), "EMFILE");
	assert_non_null(strstr(why, "too many clients"));
	close(fd2);
	close(fd);
	holder_release(&a);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * --idle-timeout 1: a connection that does nothing gets ETIMEDOUT with id
 * null saying so, then the close; one that watches stays, and so does one
 * that keeps asking.
 */
static void test_idle_timeout(void **state)
{
	const char *extra[] = {"--idle-timeout", "1", NULL};
	const char *watch = "{\"v\":1,\"id\":1,\"op\":\"watch\",\"args\":{\"on\":true}}";
	int idle, watcher, busy;
	struct daemon d;
	json_t *msg = NULL;
	int64_t until;

	assert_int_equal(daemon_start(&d, extra), 0);
	idle = raw_connect(d.socket);
	watcher = raw_connect(d.socket);
	busy = raw_connect(d.socket);
	assert_true(idle >= 0 && watcher >= 0 && busy >= 0);
	assert_int_equal(raw_send_frame(watcher, watch, strlen(watch)), 0);
	assert_int_equal(raw_read_message(watcher, HARNESS_REPLY_MS, &msg), 0);
	json_decref(msg);

	/* For 2.5 s (past the timeout twice) the busy one asks every 200 ms. */
	until = harness_now_ms() + 2500;
	while (harness_now_ms() < until) {
		assert_string_equal(try_version(busy, NULL, 0), "ok");
		usleep(200 * 1000);
	}
	/* The idle one was told, then closed. */
	msg = NULL;
	assert_int_equal(raw_read_message(idle, HARNESS_REPLY_MS, &msg), 0);
	assert_string_equal(reply_errno(msg), "ETIMEDOUT");
	assert_true(reply_id_is_null(msg));
	assert_non_null(strstr(reply_message(msg), "idle"));
	json_decref(msg);
	msg = NULL;
	assert_int_equal(raw_read_message(idle, HARNESS_REPLY_MS, &msg), -ECONNRESET);
	/* The watcher is still served. */
	assert_string_equal(try_version(watcher, NULL, 0), "ok");
	close(idle);
	close(watcher);
	close(busy);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * A slow client dribbles a frame, one byte every 50 ms for 2 s: rdqd keeps
 * the partial frame and waits, and meanwhile another client's requests are
 * each answered within PROMPT_MS. When the slow one leaves, its descriptor
 * comes back.
 */
static void test_slow_client(void **state)
{
	struct daemon d;
	char frame[300];
	int slow, other, base, len;
	int64_t until;

	assert_int_equal(daemon_start(&d, NULL), 0);
	base = proc_settled_fd_count(d.pid);
	len = snprintf(frame + 4, sizeof(frame) - 4,
		       "{\"v\":1,\"id\":9,\"op\":\"version\",\"args\":{\"pad\":\"%0200d\"}}", 0);
	frame[0] = 0;
	frame[1] = 0;
	frame[2] = (char)(len >> 8);
	frame[3] = (char)len;
	slow = raw_connect(d.socket);
	other = raw_connect(d.socket);
	assert_true(slow >= 0 && other >= 0);

	until = harness_now_ms() + 2000;
	for (int i = 0; harness_now_ms() < until && i < len + 4 - 1; i++) {
		int64_t start = harness_now_ms();

		assert_int_equal(raw_write(slow, frame + i, 1, HARNESS_REPLY_MS), 0);
		if (i % 4 == 0) {
			assert_string_equal(try_version(other, NULL, 0), "ok");
			assert_true(harness_now_ms() - start < PROMPT_MS);
		}
		usleep(50 * 1000);
	}
	close(slow);
	close(other);
	assert_int_equal(proc_wait_fd_count(d.pid, base, HARNESS_REPLY_MS), base);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_user_share),
		cmocka_unit_test(test_root_reserve),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_slow_client),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("shares", tests, NULL, NULL);
}
