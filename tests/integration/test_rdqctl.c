/* SPDX-License-Identifier: MIT */
/*
 * The rdqctl binary against a real rdqd: what it prints and its exit status
 * (0 ok, 1 rdqd answered with an error, 2 usage error, 3 rdqd unreachable).
 */
#include <errno.h>
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

#define RUN_MS 20000 /* a bound on one rdqctl run; its own reply wait is 10 s */

static struct {
	struct daemon d;
	char refused[108]; /* a socket file nobody listens on */
	char missing[108]; /* a path with no file */
	char out[128], err[128];
	int refused_fd;
	bool rdma;
} fx;

enum where {
	DAEMON,	       /* -s the running daemon's socket */
	NO_FILE,       /* -s a path where nothing exists */
	REFUSED,       /* -s a socket file no one listens on */
	NO_SOCKET_OPT, /* no -s: for commands that never reach rdqd */
};

struct ctl_case {
	const char *name; /* the command line it covers */
	enum where where;
	const char *args[12]; /* after the -s option */
	int exit;	      /* the exit status */
	const char *out;      /* stdout contains this, or NULL */
	const char *err;      /* stderr contains this, or NULL */
	bool json;	      /* stdout is one JSON object */
};

/* Succeeds, printing out on stdout. */
#define OK(n, w, o, ...)                                                                           \
	{                                                                                          \
		.name = n, .where = w, .exit = 0, .out = o, .args = { __VA_ARGS__ }                \
	}
/* Succeeds, printing one JSON object that contains o. */
#define OK_JSON(n, o, ...)                                                                         \
	{                                                                                          \
		.name = n, .where = DAEMON, .exit = 0, .out = o, .json = true, .args = {           \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}
/* Fails with exit status x, saying e on stderr. */
#define FAILS(n, w, x, e, ...)                                                                     \
	{                                                                                          \
		.name = n, .where = w, .exit = x, .err = e, .args = { __VA_ARGS__ }                \
	}

static const struct ctl_case cases[] = {
	/* Success: 0. */
	OK("version", DAEMON, "rdqd 0.1.0 (protocol 2)", "version"),
	OK("version shows the client's half too", DAEMON, "rdqctl 0.1.0", "version"),
	OK_JSON("version -j", "\"protocol\"", "-j", "version"),
	OK("status", DAEMON, "pid", "status"),
	OK_JSON("status -j", "\"uptime_ms\"", "-j", "status"),
	OK_JSON("stats -j is valid JSON", "\"requests\"", "-j", "stats"),
	OK_JSON("stats -j -p is valid JSON, indented", "\n  ", "-j", "-p", "stats"),
	OK("stats (text)", DAEMON, "requests", "stats"),
	OK("ep show on an empty daemon: the header only", DAEMON, "EP", "ep", "show"),
	OK_JSON("ep show -j on an empty daemon: no endpoints", "\"endpoints\":[]", "-j", "ep",
		"show"),
	OK("ep sh: a unique prefix", DAEMON, "EP", "ep", "sh"),
	OK("ep alone: show is the default", DAEMON, "EP", "ep"),
	OK("vers: a prefix of version", DAEMON, "rdqd 0.1.0", "vers"),
	OK("stats with --timeout 0 (wait forever)", DAEMON, "requests", "-t", "0", "stats"),
	OK("stats (text) shows the workers' order counters", DAEMON, "deferred 0", "stats"),
	OK("stats (text) shows the sync scope", DAEMON, "sync_scope endpoint", "stats"),
	OK("request list on an idle daemon: the header only", DAEMON,
	   "RID  ID  OP  STATE  EP  AGE  MINE\n", "request", "list"),
	OK("request alone: list is the default", DAEMON, "RID", "request"),
	OK("req: a prefix of request", DAEMON, "RID", "req"),
	OK_JSON("request list -j: none pending, the list itself left out", "{\"requests\":[]}",
		"-j", "request", "list"),

	/* help at each level: 0, usage on stdout, no daemon needed. */
	OK("help", NO_SOCKET_OPT, "Usage: rdqctl", "help"),
	OK("-h", NO_SOCKET_OPT, "Usage: rdqctl", "-h"),
	OK("--help", NO_SOCKET_OPT, "Usage: rdqctl", "--help"),
	OK("ep help", NO_SOCKET_OPT, "Usage: rdqctl ep", "ep", "help"),
	OK("dev help", NO_SOCKET_OPT, "Usage: rdqctl dev", "dev", "help"),
	OK("ep show help", NO_SOCKET_OPT, "Usage: rdqctl ep show", "ep", "show", "help"),
	OK("ep destroy --help", NO_SOCKET_OPT, "Usage: rdqctl ep destroy", "ep", "destroy",
	   "--help"),
	OK("stats -h", NO_SOCKET_OPT, "Usage: rdqctl stats", "stats", "-h"),
	OK("monitor help", NO_SOCKET_OPT, "Usage: rdqctl monitor", "monitor", "help"),
	OK("request help", NO_SOCKET_OPT, "Usage: rdqctl request", "request", "help"),
	OK("request list help", NO_SOCKET_OPT, "Usage: rdqctl request list", "request", "list",
	   "help"),
	OK("qp help", NO_SOCKET_OPT, "Usage: rdqctl qp", "qp", "help"),
	OK("qp destroy --help", NO_SOCKET_OPT, "Usage: rdqctl qp destroy", "qp", "destroy",
	   "--help"),
	OK("cancel help", NO_SOCKET_OPT, "Usage: rdqctl cancel", "cancel", "help"),
	OK("cancel -h", NO_SOCKET_OPT, "Usage: rdqctl cancel", "cancel", "-h"),
	OK("help lists the new objects", NO_SOCKET_OPT, "cancel RID", "help"),

	/* rdqd answers with an error: 1, its errno name on stderr. */
	FAILS("ep destroy 99: ENOENT", DAEMON, 1, "ENOENT", "ep", "destroy", "99"),
	FAILS("ep destroy of a handle no endpoint had: ENOENT", DAEMON, 1, "ENOENT", "ep",
	      "destroy", "4294967297"),
	FAILS("ep show 99: ENOENT", DAEMON, 1, "ENOENT", "ep", "show", "99"),
	FAILS("ep recv 99: ENOENT", DAEMON, 1, "ENOENT", "ep", "recv", "99", "--timeout", "0"),
	FAILS("ep send 99 of bytes: ENOENT", DAEMON, 1, "ENOENT", "ep", "send", "99", "bytes"),
	FAILS("ep send @FILE that is not there", NO_SOCKET_OPT, 2, "cannot open /nonexistent/x",
	      "ep", "send", "1", "@/nonexistent/x"),
	FAILS("ep recv --out without FILE", NO_SOCKET_OPT, 2, "--out needs a value", "ep", "recv",
	      "1", "--out"),
	FAILS("ep recv 99 --out: ENOENT, nothing written", DAEMON, 1, "ENOENT", "ep", "recv", "99",
	      "--timeout", "0", "--out", "/nonexistent/x"),
	FAILS("cancel 999999: ENOENT", DAEMON, 1, "ENOENT", "cancel", "999999"),
	FAILS("cancel -j 999999: ENOENT", DAEMON, 1, "no pending request 999999", "-j", "cancel",
	      "999999"),
	FAILS("ca: a prefix of cancel", DAEMON, 1, "ENOENT", "ca", "999999"),
	FAILS("qp destroy 12345: ENOENT", DAEMON, 1, "ENOENT", "qp", "destroy", "12345"),
	FAILS("qp destroy of a handle past 32 bits: ENOENT", DAEMON, 1, "no QP 4294967297", "qp",
	      "destroy", "4294967297"),
	FAILS("qp d: a prefix of destroy", DAEMON, 1, "ENOENT", "qp", "d", "12345"),
	/* rdqctl passes any 64-bit QP handle on (rdqd's stay below 2^31); no endpoint 99. */
	FAILS("ep disconnect --qp takes a handle", DAEMON, 1, "no endpoint 99", "ep", "disconnect",
	      "99", "--qp", "4294967298"),
	/* Without RDMA (the ENODEV cases are skipped where there is some). */
	FAILS("dev show without RDMA: ENODEV", DAEMON, 1, "ENODEV", "dev", "show"),
	FAILS("dev alone without RDMA: ENODEV", DAEMON, 1, "ENODEV", "dev"),
	FAILS("ep listen without RDMA: ENODEV", DAEMON, 1, "ENODEV", "ep", "listen",
	      "127.0.0.1:7472"),
	FAILS("ep connect without RDMA: ENODEV", DAEMON, 1, "ENODEV", "ep", "connect", "127.0.0.1"),
	/* Address rules: rdqd reads them first, so a bad prefix is named even without RDMA. */
	FAILS("ep listen --deny and --allow, again and in lists, reach rdqd", DAEMON, 1, "ENODEV",
	      "ep", "listen", "127.0.0.1", "--deny", "any", "--allow", "10.1.0.0/16,fd00::/8",
	      "--allow", "::1"),
	FAILS("ep listen --allow with a bad prefix: EINVAL, naming it", DAEMON, 1,
	      "allow: \"10.0.0.0/33\" is not an address prefix", "ep", "listen", "127.0.0.1",
	      "--allow", "10.0.0.0/8", "--allow", "10.0.0.0/33"),
	FAILS("ep serve --deny with a bad prefix: EINVAL, naming it", DAEMON, 1,
	      "deny: \"bogus\" is not an address prefix", "ep", "serve", "127.0.0.1", "--deny",
	      "bogus", "--", "cat"),
	FAILS("ep listen --allow without a PREFIX", NO_SOCKET_OPT, 2, "--allow needs a value", "ep",
	      "listen", "127.0.0.1", "--allow"),
	/*
	 * Every option becomes an argument the op takes (a build that is not a release
	 * aborts rdqctl on any other): each command with all its options reaches rdqd.
	 */
	FAILS("ep listen with its number options reaches rdqd", DAEMON, 1, "ENODEV", "ep", "listen",
	      "127.0.0.1:7000", "--backlog", "5", "--max-connections", "9"),
	FAILS("ep listen --tied reaches rdqd", DAEMON, 1, "ENODEV", "ep", "listen", "127.0.0.1",
	      "--tied"),
	FAILS("ep connect with every option reaches rdqd", DAEMON, 1, "ENODEV", "ep", "connect",
	      "127.0.0.1:7000", "--timeout", "5", "--tied"),
	FAILS("ep send with every option reaches rdqd", DAEMON, 1, "ENOENT", "ep", "send", "99",
	      "bytes", "--wait", "--timeout", "5"),
	FAILS("ep disconnect with --qp and --timeout reaches rdqd", DAEMON, 1, "ENOENT", "ep",
	      "disconnect", "99", "--qp", "3", "--timeout", "5"),
	FAILS("ep disconnect --wait reaches rdqd", DAEMON, 1, "ENOENT", "ep", "disconnect", "99",
	      "--wait"),
	/* rdqd checks the arguments first: the option reached it and passed. */
	FAILS("ep listen --max-connections reaches rdqd", DAEMON, 1, "ENODEV", "ep", "listen",
	      "127.0.0.1:7472", "--max-connections", "65536"),
	OK("ep help names --max-connections", NO_SOCKET_OPT, "[--max-connections N]", "ep", "help"),
	/* ep serve: the listener is asked for before anything runs; the command's options pass. */
	FAILS("ep serve without RDMA: ENODEV", DAEMON, 1, "ENODEV", "ep", "serve", "127.0.0.1:7473",
	      "--", "cat"),
	FAILS("ep serve: what follows -- is the command's", DAEMON, 1, "ENODEV", "ep", "serve",
	      "127.0.0.1", "--", "tr", "-d", "x"),
	OK("ep serve help", NO_SOCKET_OPT, "Usage: rdqctl ep serve", "ep", "serve", "help"),
	OK("ep help lists serve", NO_SOCKET_OPT, "serve ADDR[:PORT]", "ep", "help"),
	FAILS("ep serve without a command", NO_SOCKET_OPT, 2, "no command", "ep", "serve",
	      "127.0.0.1"),
	FAILS("ep serve with nothing after --", NO_SOCKET_OPT, 2, "no command", "ep", "serve",
	      "127.0.0.1", "--"),
	FAILS("ep serve without an address", NO_SOCKET_OPT, 2, "missing", "ep", "serve", "--",
	      "cat"),
	FAILS("ep serve --max-running 0", NO_SOCKET_OPT, 2, "from 1 to 1024", "ep", "serve",
	      "127.0.0.1", "--max-running", "0", "--", "cat"),
	FAILS("ep serve --timeout 0", NO_SOCKET_OPT, 2, "--timeout", "ep", "serve", "127.0.0.1",
	      "--timeout", "0", "--", "cat"),
	FAILS("ep se: ambiguous (send, serve)", NO_SOCKET_OPT, 2, "ambiguous", "ep", "se"),
	OK("stats (text) shows the network's counters", DAEMON, "rejected_listener_full 0",
	   "stats"),
	OK_JSON("stats -j: the network's limit", "\"max_endpoints\":16384", "-j", "stats"),

	/* Usage errors: 2, before any daemon is asked. */
	FAILS("no arguments", NO_SOCKET_OPT, 2, "Usage: rdqctl", NULL),
	FAILS("unknown command", NO_SOCKET_OPT, 2, "unknown command", "frobnicate"),
	FAILS("unknown ep command", NO_SOCKET_OPT, 2, "unknown command", "ep", "frobnicate"),
	FAILS("st: ambiguous (stats, status)", NO_SOCKET_OPT, 2, "ambiguous", "st"),
	FAILS("ep s: ambiguous (send, show)", NO_SOCKET_OPT, 2, "ambiguous", "ep", "s"),
	FAILS("e s: the object's prefix is unique, the command's is not", NO_SOCKET_OPT, 2,
	      "ambiguous", "e", "s"),
	FAILS("unknown option", NO_SOCKET_OPT, 2, "unknown option", "--frobnicate", "version"),
	FAILS("-t without a number", NO_SOCKET_OPT, 2, "-t", "-t", "soon", "version"),
	FAILS("-s without a value", NO_SOCKET_OPT, 2, "needs a value", "-s"),
	FAILS("ep destroy without EP", NO_SOCKET_OPT, 2, "missing", "ep", "destroy"),
	FAILS("ep destroy of a word", NO_SOCKET_OPT, 2, "handle", "ep", "destroy", "abc"),
	FAILS("ep destroy 0 (no handle is 0)", NO_SOCKET_OPT, 2, "handle", "ep", "destroy", "0"),
	FAILS("ep destroy with two handles", NO_SOCKET_OPT, 2, "unexpected", "ep", "destroy", "1",
	      "2"),
	FAILS("version with an argument", NO_SOCKET_OPT, 2, "unexpected", "version", "now"),
	FAILS("ep listen with a bad port", NO_SOCKET_OPT, 2, "port", "ep", "listen",
	      "1.2.3.4:http"),
	FAILS("ep recv --timeout negative", NO_SOCKET_OPT, 2, "--timeout", "ep", "recv", "1",
	      "--timeout", "-1"),
	FAILS("ep disconnect --qp 0 (no handle is 0)", NO_SOCKET_OPT, 2, "--qp", "ep", "disconnect",
	      "1", "--qp", "0"),
	FAILS("ep listen --max-connections 0", NO_SOCKET_OPT, 2, "from 1 to 65536", "ep", "listen",
	      "127.0.0.1", "--max-connections", "0"),
	FAILS("ep listen --max-connections past 65536", NO_SOCKET_OPT, 2, "from 1 to 65536", "ep",
	      "listen", "127.0.0.1", "--max-connections", "65537"),
	FAILS("cancel without RID", NO_SOCKET_OPT, 2, "missing", "cancel"),
	FAILS("cancel abc", NO_SOCKET_OPT, 2, "not a request number", "cancel", "abc"),
	FAILS("cancel 0 (no request is 0)", NO_SOCKET_OPT, 2, "not a request number", "cancel",
	      "0"),
	FAILS("cancel -5", NO_SOCKET_OPT, 2, "unknown option", "cancel", "-5"),
	FAILS("cancel with two RIDs", NO_SOCKET_OPT, 2, "unexpected", "cancel", "1", "2"),
	FAILS("request list with an argument", NO_SOCKET_OPT, 2, "unexpected", "request", "list",
	      "1"),
	FAILS("unknown request command", NO_SOCKET_OPT, 2, "unknown command", "request", "drop"),
	FAILS("qp alone: no default command", NO_SOCKET_OPT, 2, "Usage: rdqctl qp", "qp"),
	FAILS("qp destroy without QP", NO_SOCKET_OPT, 2, "missing", "qp", "destroy"),
	FAILS("qp destroy abc", NO_SOCKET_OPT, 2, "handle", "qp", "destroy", "abc"),
	FAILS("qp show: unknown", NO_SOCKET_OPT, 2, "unknown command", "qp", "show"),

	/* No daemon: 3. */
	FAILS("version with no socket file", NO_FILE, 3, "is rdqd running", "version"),
	OK("-V needs no daemon", NO_FILE, "rdqctl 0.1.0 (librdq 0.1.0)", "-V"),
	OK("--version needs no daemon", NO_FILE, "rdqctl 0.1.0", "--version"),
	FAILS("status with no socket file", NO_FILE, 3, "ENOENT", "status"),
	FAILS("stats on a socket no one listens on", REFUSED, 3, "ECONNREFUSED", "stats"),
	FAILS("ep show on a socket no one listens on", REFUSED, 3, "is rdqd running", "ep", "show"),
	FAILS("request list with no socket file", NO_FILE, 3, "is rdqd running", "request"),
	FAILS("cancel on a socket no one listens on", REFUSED, 3, "ECONNREFUSED", "cancel", "7"),
	FAILS("qp destroy with no socket file", NO_FILE, 3, "ENOENT", "qp", "destroy", "7"),
};

/* Runs rdqctl [-s PATH] args...; returns its exit status, output in fx.out and fx.err. */
static int run(enum where where, const char *const *args)
{
	const char *argv[16];
	unsigned n = 0;
	int ret;

	argv[n++] = getenv("RDQCTL");
	assert_non_null(argv[0]);
	if (where != NO_SOCKET_OPT) {
		argv[n++] = "-s";
		if (where == DAEMON)
			argv[n++] = fx.d.socket;
		else if (where == REFUSED)
			argv[n++] = fx.refused;
		else
			argv[n++] = fx.missing;
	}
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	ret = proc_run(argv, fx.out, fx.err, RUN_MS);
	assert_true(ret >= 0);
	return ret;
}

static void run_case(void **state)
{
	const struct ctl_case *c = *state;
	char *out, *err;
	int ret;

	if (c->err && strcmp(c->err, "ENODEV") == 0 && fx.rdma) {
		print_message("this machine has RDMA: %s does not apply\n", c->name);
		skip();
	}
	ret = run(c->where, c->args);
	out = file_read(fx.out);
	err = file_read(fx.err);
	if (ret != c->exit || (c->out && !strstr(out, c->out)) || (c->err && !strstr(err, c->err)))
		fprintf(stderr, "exit %d (want %d)\n--- stdout:\n%s--- stderr:\n%s---\n", ret,
			c->exit, out, err);
	assert_int_equal(ret, c->exit);
	if (c->out)
		assert_non_null(strstr(out, c->out));
	if (c->err)
		assert_non_null(strstr(err, c->err));
	if (c->json) {
		json_error_t jerr;
		json_t *doc = json_loads(out, 0, &jerr);

		if (!json_is_object(doc))
			fprintf(stderr, "not one JSON object: %s (%s)\n", out, jerr.text);
		assert_true(json_is_object(doc));
		json_decref(doc);
	}
	/* A sanitized build's reports would otherwise pass unseen on a failing path. */
	assert_null(strstr(err, "runtime error:"));
	assert_null(strstr(err, "Sanitizer"));
	/* Success prints no error; a failure says why on stderr, not stdout. */
	if (c->exit == 0)
		assert_string_equal(err, "");
	else
		assert_true(strlen(err) > 0);
	free(out);
	free(err);
}

/* --- ep serve --config: the file's allow and deny --- */

/* Writes text to fx.d.dir/name, its path in path. */
static void conf_file(const char *name, const char *text, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", fx.d.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/*
 * A serve file's allow and deny: a bad prefix is named with its line (exit
 * 2, before rdqd is asked); good ones, on lines of their own and again,
 * reach rdqd (which here, without RDMA, says ENODEV).
 */
static void test_serve_config_rules(void **state)
{
	char path[PATH_MAX], want[PATH_MAX + 80], *err;
	const char *args[] = {"ep", "serve", "--config", path, NULL};

	conf_file("bad-rules.conf",
		  "address = 127.0.0.1:7473\ncommand = cat\ndeny = any\nallow = 10.0.0.0/33\n",
		  path, sizeof(path));
	assert_int_equal(run(DAEMON, args), 2);
	err = file_read(fx.err);
	snprintf(want, sizeof(want), "%s:4: allow: \"10.0.0.0/33\" is not an address prefix", path);
	if (!strstr(err, want))
		fail_msg("stderr \"%s\" does not say \"%s\"", err, want);
	free(err);

	conf_file("rules.conf",
		  "address = 127.0.0.1:7473\ncommand = cat\ndeny = any\nallow = 10.1.0.0/16\n"
		  "allow = fd00::/8, 192.0.2.1\n",
		  path, sizeof(path));
	if (fx.rdma)
		skip();
	assert_int_equal(run(DAEMON, args), 1);
	err = file_read(fx.err);
	assert_non_null(strstr(err, "ENODEV"));
	free(err);
}

/* --- monitor: runs until interrupted --- */

/* Starts `rdqctl -s PATH monitor` and waits until it has installed its SIGTERM handler. */
static pid_t start_monitor(const char *socket)
{
	const char *argv[] = {getenv("RDQCTL"), "-s", socket, "monitor", NULL};
	int64_t deadline = harness_now_ms() + RUN_MS;
	pid_t pid;

	unlink(fx.out);
	unlink(fx.err);
	pid = proc_spawn(argv, fx.out, fx.err);
	assert_true(pid > 0);
	/* monitor catches SIGTERM only once watch is acknowledged: then it is listening. */
	while (!proc_catches(pid, SIGTERM)) {
		assert_true(harness_now_ms() < deadline);
		assert_int_equal(proc_wait(pid, 10), -1);
	}
	return pid;
}

/* SIGTERM ends monitor cleanly: exit 0. */
static void test_monitor_interrupted(void **state)
{
	pid_t pid = start_monitor(fx.d.socket);

	kill(pid, SIGTERM);
	assert_int_equal(proc_wait(pid, RUN_MS), 0);
}

/* The daemon going away under monitor: exit 3, and rdqd exits 0. */
static void test_monitor_daemon_goes_away(void **state)
{
	struct daemon d;
	pid_t pid;
	char *err;

	assert_int_equal(daemon_start(&d, NULL), 0);
	pid = start_monitor(d.socket);
	daemon_signal(&d, SIGTERM);
	assert_int_equal(proc_wait(pid, RUN_MS), 3);
	err = file_read(fx.err);
	assert_non_null(strstr(err, "is rdqd running"));
	free(err);
	assert_int_equal(daemon_wait_exit(&d, HARNESS_STOP_MS), 0);
	assert_false(daemon_log_has_sanitizer_report(&d));
	daemon_cleanup(&d);
}

/* --- the fixture --- */

static int group_setup(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct rdq_client *c = NULL;
	json_t *status = NULL;

	if (daemon_start(&fx.d, NULL) < 0)
		return -1;
	snprintf(fx.out, sizeof(fx.out), "%s/out", fx.d.dir);
	snprintf(fx.err, sizeof(fx.err), "%s/err", fx.d.dir);
	snprintf(fx.missing, sizeof(fx.missing), "%s/nobody.sock", fx.d.dir);
	snprintf(fx.refused, sizeof(fx.refused), "%s/dead.sock", fx.d.dir);
	/* Bound but not listening: connect() is refused, as for a daemon that died. */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fx.refused);
	fx.refused_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fx.refused_fd < 0 || bind(fx.refused_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	if (rdq_client_connect(fx.d.socket, &c) < 0 || rdq_call(c, "status", NULL, &status) < 0)
		return -1;
	fx.rdma = json_is_true(json_object_get(status, "rdma"));
	json_decref(status);
	rdq_client_close(c);
	return 0;
}

static int group_teardown(void **state)
{
	int ret = daemon_stop(&fx.d);

	close(fx.refused_fd);
	unlink(fx.refused);
	unlink(fx.out);
	unlink(fx.err);
	daemon_cleanup(&fx.d);
	return ret == 0 ? 0 : -1;
}

int main(void)
{
	enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
	struct CMUnitTest tests[NCASES + 3];

	/* One cmocka test per command line, named by what it covers. */
	for (size_t i = 0; i < NCASES; i++)
		tests[i] = (struct CMUnitTest){.name = cases[i].name,
					       .test_func = run_case,
					       .initial_state = (void *)&cases[i]};
	tests[NCASES] = (struct CMUnitTest)cmocka_unit_test(test_monitor_interrupted);
	tests[NCASES + 1] = (struct CMUnitTest)cmocka_unit_test(test_monitor_daemon_goes_away);
	tests[NCASES + 2] = (struct CMUnitTest)cmocka_unit_test(test_serve_config_rules);
	return _cmocka_run_group_tests("rdqctl", tests, NCASES + 3, group_setup, group_teardown);
}
