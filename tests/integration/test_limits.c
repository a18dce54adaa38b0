/* SPDX-License-Identifier: MIT */
/*
 * rdqd at its limits, run for real: out of file descriptors (a low
 * RLIMIT_NOFILE set on the running daemon), and the paths it is given. At
 * each limit rdqd says what happened, to the client and once in its log,
 * harms nothing it should not touch, and serves again as soon as it can.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon_harness.h"

#define CLIENTS	     40 /* connections made against a daemon with room for a few */
#define ROOM	     4	/* descriptors left to rdqd beyond those it holds at rest */
#define VERSION_BODY "{\"v\":1,\"id\":7,\"op\":\"version\"}"

static unsigned log_count(const struct daemon *d, const char *text)
{
	char *log = file_read(d->log);
	unsigned n = 0;

	for (const char *p = log; (p = strstr(p, text)); p += strlen(text))
		n++;
	free(log);
	return n;
}

/*
 * With room for ROOM more descriptors, CLIENTS clients connect at once: a
 * few are served, every other one gets an EMFILE reply saying rdqd is out of
 * descriptors (not a silent close, not a hang), the log says so once per
 * episode (not a line per attempt: the loop does not spin), and once the
 * clients are gone a new one is served again.
 */
static void test_out_of_descriptors(void **state)
{
	struct daemon d;
	struct rlimit low;
	int fds[CLIENTS], served = 0, refused = 0, base;
	unsigned episodes;
	json_t *msg;

	assert_int_equal(daemon_start(&d, NULL), 0);
	base = proc_settled_fd_count(d.pid);
	assert_true(base > 0);
	low = (struct rlimit){.rlim_cur = (rlim_t)(base + ROOM), .rlim_max = (rlim_t)(base + ROOM)};
	assert_int_equal(prlimit(d.pid, RLIMIT_NOFILE, &low, NULL), 0);

	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = raw_connect(d.socket);
		assert_true(fds[i] >= 0);
		/* A refused client may be closed already: its write may fail, its read may not. */
		raw_send_frame(fds[i], VERSION_BODY, strlen(VERSION_BODY));
	}
	for (int i = 0; i < CLIENTS; i++) {
		msg = NULL;
		if (raw_read_message(fds[i], HARNESS_REPLY_MS, &msg) < 0) {
			daemon_dump_log(&d);
			fail_msg("client %d got no answer at all", i);
		}
		if (strcmp(reply_errno(msg), "ok") == 0) {
			served++;
		} else {
			assert_string_equal(reply_errno(msg), "EMFILE");
			assert_true(reply_id_is_null(msg));
			assert_non_null(strstr(reply_message(msg), "out of file descriptors"));
			refused++;
		}
		json_decref(msg);
	}
	print_message("served %d, refused %d\n", served, refused);
	/* About ROOM served (rdqd's own descriptors at rest vary by one or two). */
	assert_true(served >= 1 && served <= 2 * ROOM);
	assert_int_equal(served + refused, CLIENTS);
	/*
	 * One warning per episode of shortage, not one per attempt (a spinning
	 * loop logged about a million a second). A descriptor rdqd freed on its
	 * own meanwhile may end an episode and start another.
	 */
	episodes = log_count(&d, "out of file descriptors");
	assert_true(episodes >= 1 && episodes <= 3);

	for (int i = 0; i < CLIENTS; i++)
		close(fds[i]);
	/* Served again: a new client's request is answered (the close may take a turn). */
	fds[0] = raw_connect(d.socket);
	assert_true(fds[0] >= 0);
	assert_int_equal(raw_send_frame(fds[0], VERSION_BODY, strlen(VERSION_BODY)), 0);
	msg = NULL;
	assert_int_equal(raw_read_message(fds[0], HARNESS_REPLY_MS, &msg), 0);
	assert_string_equal(reply_errno(msg), "ok");
	json_decref(msg);
	close(fds[0]);
	/* Every descriptor the attack cost comes back. */
	assert_int_equal(proc_wait_fd_count(d.pid, base, HARNESS_REPLY_MS), base);
	/* Each episode ends with one line, with its count of clients turned away. */
	assert_int_equal(log_count(&d, "out of file descriptors"), episodes);
	assert_int_equal(log_count(&d, "accepting clients"), episodes);

	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* Runs rdqd with argv (NULL-terminated, argv[0] ignored) and env, until it exits; its stderr in
 * log. */
static int run_rdqd(const char *const *args, const char *log)
{
	const char *argv[16] = {getenv("RDQD"), "--no-config"};
	pid_t pid;
	int n = 2;

	for (; args && *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = proc_spawn(argv, NULL, log);
	assert_true(pid > 0);
	return proc_wait(pid, HARNESS_START_MS);
}

/*
 * `rdqd -s PATH` where PATH is a regular file: rdqd refuses to start, says
 * why, and the file is untouched (it used to be unlinked as a stale socket).
 */
static void test_socket_path_is_a_file(void **state)
{
	char dir[] = "/tmp/rdq-limits-XXXXXX", path[96], log[96];
	const char *content = "precious data\n";
	char *after;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rdqd.sock", dir);
	snprintf(log, sizeof(log), "%s/rdqd.log", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);

	assert_int_equal(run_rdqd((const char *[]){"-s", path, NULL}, log), 1);
	after = file_read(path);
	assert_string_equal(after, content);
	free(after);
	after = file_read(log);
	assert_non_null(strstr(after, "exists and is not a socket"));
	free(after);
	unlink(path);
	unlink(log);
	rmdir(dir);
}

/*
 * Starts program (its arguments after it, NULL-terminated) as uid, with no
 * XDG_RUNTIME_DIR (so the /tmp/rdq-UID fallback), its stderr in err.
 */
static pid_t spawn_as(uid_t uid, const char *err, const char *const *cmd)
{
	static char ids[32];
	const char *argv[24] = {"/usr/bin/setpriv", "--reuid", ids,  "--regid",	       ids,
				"--clear-groups",   "env",     "-u", "XDG_RUNTIME_DIR"};
	size_t n = 9;
	pid_t pid;

	snprintf(ids, sizeof(ids), "%u", (unsigned)uid);
	for (; *cmd && n < 23; cmd++)
		argv[n++] = *cmd;
	argv[n] = NULL;
	unlink(err);
	pid = proc_spawn(argv, NULL, err);
	assert_true(pid > 0);
	return pid;
}

/* Runs rdqd as uid until it exits or says it is ready; then stops it. Returns its exit code. */
static int run_as(uid_t uid, const char *log, bool *served)
{
	int64_t deadline = harness_now_ms() + HARNESS_START_MS;
	pid_t pid = spawn_as(uid, log, (const char *[]){getenv("RDQD"), "--no-config", NULL});
	char *out;
	int ret;

	*served = false;
	while ((ret = proc_wait(pid, 20)) < 0 && harness_now_ms() < deadline) {
		out = file_read(log);
		*served = strstr(out, " ready") != NULL;
		free(out);
		if (*served)
			break;
	}
	if (ret < 0) {
		kill(pid, SIGTERM);
		ret = proc_wait(pid, HARNESS_STOP_MS);
	}
	return ret;
}

/*
 * The per-user fallback folder /tmp/rdq-UID (no XDG_RUNTIME_DIR) must be the
 * user's own: rdqd refuses a folder another user owns, or one others may
 * write, saying which, and serves in a folder that is the user's alone.
 * Needs root, to run rdqd as another user.
 */
static void test_fallback_folder_must_be_private(void **state)
{
	/* A uid no account on the test machine has; one per run, as runs may overlap. */
	const uid_t uid = 64000 + (uid_t)(getpid() % 1000);
	char dir[64], sock[96], log[64];
	bool served;
	char *out;

	if (geteuid() != 0)
		skip();
	snprintf(dir, sizeof(dir), "/tmp/rdq-%u", (unsigned)uid);
	snprintf(log, sizeof(log), "/tmp/rdq-limits-%u.log", (unsigned)uid);
	snprintf(sock, sizeof(sock), "%s/rdqd.sock", dir);
	unlink(sock);
	rmdir(dir);

	/* Someone else's folder (root's), where the user's socket would go. */
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(run_as(uid, log, &served), 1);
	assert_false(served);
	out = file_read(log);
	assert_non_null(strstr(out, "belongs to uid 0"));
	free(out);

	/* The user's, but writable by everyone. */
	assert_int_equal(chown(dir, uid, uid), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(run_as(uid, log, &served), 1);
	assert_false(served);
	out = file_read(log);
	assert_non_null(strstr(out, "writable by others"));
	free(out);

	/* The user's alone: served, and stopped cleanly. */
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(run_as(uid, log, &served), 0);
	assert_true(served);

	unlink(sock);
	rmdir(dir);
	unlink(log);
}

/*
 * A socket that listens at path and that every user may connect to, as
 * someone else could put in a folder they control. Never accepts: a client
 * that connected stays in its backlog, for accepted() to find.
 */
static int listen_at(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Whether a client connected to the listening socket lfd (and takes it out of the backlog). */
static bool accepted(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return false;
	}
	close(fd);
	return true;
}

/* Runs `rdqctl -t 500 status` as uid with no XDG_RUNTIME_DIR, its stderr in err; its exit code. */
static int rdqctl_as(uid_t uid, const char *err)
{
	pid_t pid =
		spawn_as(uid, err, (const char *[]){getenv("RDQCTL"), "-t", "500", "status", NULL});
	int ret = proc_wait(pid, HARNESS_REPLY_MS);

	if (ret < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, HARNESS_STOP_MS);
		fail_msg("rdqctl still ran after %d ms", HARNESS_REPLY_MS);
	}
	return ret;
}

/* rdqctl as uid refuses its default folder: status 3, the rule it breaks, no connection. */
static void check_refused(uid_t uid, int lfd, const char *err, const char *rule)
{
	int status = rdqctl_as(uid, err);
	char *out = file_read(err);

	if (status != 3 || !strstr(out, rule))
		fprintf(stderr, "rdqctl: exit %d, expected 3 and \"%s\"; stderr:\n%s", status, rule,
			out);
	assert_int_equal(status, 3);
	assert_non_null(strstr(out, rule));
	assert_non_null(strstr(out, "refusing to use it"));
	free(out);
	assert_false(accepted(lfd));
}

/* The folder test_client_refuses_foreign_folder makes, removed by its teardown even if it fails. */
static struct {
	char dir[64];  /* /tmp/rdq-UID */
	char real[80]; /* where the folder is moved while dir is a link to it */
	char err[64];  /* rdqctl's stderr */
	int lfd;       /* the socket listening in the folder, or -1 */
} folder = {.lfd = -1};

static int remove_folder(void **state)
{
	char path[128];

	if (folder.lfd >= 0)
		close(folder.lfd);
	folder.lfd = -1;
	snprintf(path, sizeof(path), "%s/rdqd.sock", folder.real);
	unlink(path);
	rmdir(folder.real);
	snprintf(path, sizeof(path), "%s/rdqd.sock", folder.dir);
	unlink(path);
	unlink(folder.dir);
	rmdir(folder.dir);
	unlink(folder.err);
	return 0;
}

/*
 * rdqctl's default folder /tmp/rdq-UID (no XDG_RUNTIME_DIR) must be the
 * user's own, as rdqd's: in a folder another user owns, one others may
 * write, or a link, rdqctl refuses, says which rule the folder breaks, and
 * does not talk to the socket listening there. In a folder that is the
 * user's alone it connects to that same socket. Needs root, to run rdqctl as
 * another user.
 */
static void test_client_refuses_foreign_folder(void **state)
{
	/* A uid no account has, apart from the one test_fallback_folder_must_be_private uses. */
	const uid_t uid = 65000 + (uid_t)(getpid() % 500);
	char sock[96];

	if (geteuid() != 0)
		skip();
	snprintf(folder.dir, sizeof(folder.dir), "/tmp/rdq-%u", (unsigned)uid);
	snprintf(folder.real, sizeof(folder.real), "%s.real", folder.dir);
	snprintf(folder.err, sizeof(folder.err), "/tmp/rdq-limits-%u.err", (unsigned)uid);
	snprintf(sock, sizeof(sock), "%s/rdqd.sock", folder.dir);
	remove_folder(NULL);

	/* Someone else's folder (root's), with a socket anyone may connect to. */
	assert_int_equal(mkdir(folder.dir, 0755), 0);
	folder.lfd = listen_at(sock);
	check_refused(uid, folder.lfd, folder.err, "belongs to uid 0");

	/* The user's, but writable by everyone. */
	assert_int_equal(chown(folder.dir, uid, uid), 0);
	assert_int_equal(chmod(folder.dir, 0777), 0);
	check_refused(uid, folder.lfd, folder.err, "writable by others");

	/* A link to a folder that is the user's alone: the link itself could be anyone's. */
	assert_int_equal(chmod(folder.dir, 0700), 0);
	assert_int_equal(rename(folder.dir, folder.real), 0);
	assert_int_equal(symlink(folder.real, folder.dir), 0);
	check_refused(uid, folder.lfd, folder.err, "is not a folder");
	assert_int_equal(unlink(folder.dir), 0);
	assert_int_equal(rename(folder.real, folder.dir), 0);

	/* The user's alone: rdqctl connects to the same socket (and gets no answer from it). */
	assert_int_equal(rdqctl_as(uid, folder.err), 3);
	assert_true(accepted(folder.lfd));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_descriptors),
		cmocka_unit_test(test_socket_path_is_a_file),
		cmocka_unit_test(test_fallback_folder_must_be_private),
		cmocka_unit_test_teardown(test_client_refuses_foreign_folder, remove_folder),
	};

	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
