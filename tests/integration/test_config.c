/* SPDX-License-Identifier: MIT */
/*
 * rdqd's configuration file: its values take effect, the command line
 * overrides them, a bad line stops rdqd (exit 2, the file and the line
 * named), --print-config says where each value came from, and SIGHUP
 * applies the live options, keeps everything on a bad file, and leaves the
 * rest for a restart. Each test has a daemon and a folder of its own.
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
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <rdq/client.h>

#include "daemon_harness.h"

static struct daemon d;

static int teardown(void **state)
{
	daemon_cleanup(&d);
	return 0;
}

/* How many times text is in rdqd's log. */
static unsigned log_count(const char *text)
{
	char *log = file_read(d.log);
	unsigned n = 0;

	for (const char *p = strstr(log, text); p; p = strstr(p + 1, text))
		n++;
	free(log);
	return n;
}

/* Waits until text is in rdqd's log n times (a reload's trace: it is handled on the loop). */
static void wait_log(const char *text, unsigned n)
{
	int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;

	while (log_count(text) < n) {
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "\"%s\" not %u time(s) in the log\n", text, n);
			daemon_dump_log(&d);
			fail();
		}
		poll(NULL, 0, 10);
	}
}

/* A status request on a new connection: "ok" or the errno name of its error. */
static char *status_errno(void)
{
	struct rdq_client *c = NULL;
	static char name[32];
	int ret;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	ret = rdq_call_timeout(c, "status", NULL, HARNESS_REPLY_MS, NULL);
	snprintf(name, sizeof(name), "%s", ret == 0 ? "ok" : ret == -EBUSY ? "EBUSY" : "other");
	rdq_client_close(c);
	return name;
}

/* stats' workers.sync_scope, as rdqd runs. */
static char *stats_sync_scope(void)
{
	struct rdq_client *c = NULL;
	json_t *stats = NULL;
	static char scope[32];

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call_timeout(c, "stats", NULL, HARNESS_REPLY_MS, &stats), 0);
	snprintf(scope, sizeof(scope), "%s",
		 json_string_value(
			 json_object_get(json_object_get(stats, "workers"), "sync_scope")));
	json_decref(stats);
	rdq_client_close(c);
	return scope;
}

/*
 * Runs rdqd with args (after RDQD) until it exits; returns its exit code,
 * with its stdout in DIR/out and its stderr in DIR/err, read into *out and
 * *err (free them; either pointer may be NULL).
 */
static int run(const char *const *args, char **out, char **err)
{
	const char *argv[16] = {getenv("RDQD")};
	char out_path[PATH_MAX], err_path[PATH_MAX];
	unsigned n = 1;
	int ret;

	for (; *args && n < 15; args++)
		argv[n++] = *args;
	snprintf(out_path, sizeof(out_path), "%s/out", d.dir);
	snprintf(err_path, sizeof(err_path), "%s/err", d.dir);
	ret = proc_run(argv, out_path, err_path, HARNESS_START_MS);
	if (out)
		*out = file_read(out_path);
	if (err)
		*err = file_read(err_path);
	return ret;
}

/* Makes the folder of a daemon that is not started, for tests that run rdqd to its exit. */
static int setup_folder(void **state)
{
	if (daemon_start(&d, NULL) < 0)
		return -1;
	return daemon_stop(&d) == 0 ? 0 : -1;
}

/* --- start-up --- */

/* The file's values are the running daemon's: its sync scope in stats, its log level in the log. */
static void test_file_values(void **state)
{
	assert_int_equal(daemon_start_config(&d, "sync-scope = device\nlog-level = warn\n", NULL),
			 0);
	assert_string_equal(stats_sync_scope(), "device");
	assert_int_equal(daemon_stop(&d), 0);
	/* At warn, not even "ready" (info) is logged. */
	assert_int_equal(log_count("<6>"), 0);
	assert_int_equal(log_count("<7>"), 0);
}

/* An option on the command line wins over the file's value of it; the file's others still count. */
static void test_command_line_overrides(void **state)
{
	static const char *const extra[] = {"--sync-scope", "none", NULL};

	assert_int_equal(daemon_start_config(&d, "sync-scope = device\nlog-level = warn\n", extra),
			 0);
	assert_string_equal(stats_sync_scope(), "none");
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(log_count("<6>"), 0);
}

/* A missing default file is no error; a missing file named by --config is. */
static void test_missing_file(void **state)
{
	const char *const named[] = {"--config", "/nonexistent/rdqd.conf", "--print-config", NULL};
	char *err = NULL;

	assert_int_equal(run(named, NULL, &err), 2);
	assert_non_null(strstr(err, "rdqd: cannot read /nonexistent/rdqd.conf: No such file"));
	free(err);
}

/*
 * Each bad line stops rdqd before it serves: exit 2, and a message with the file and the line.
 * The line is never the first, so a line number that is always 1 would not pass.
 */
static void test_bad_lines(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *message;
	} cases[] = {
		{"# x\nfrobnicate = 1\n", 2, "unknown key \"frobnicate\""},
		{"# x\n\nmax-pending = abc\n", 3,
		 "max-pending: \"abc\" is not a number from 0 to 1048576"},
		{"# x\nmax-pending = 2000000\n", 2,
		 "max-pending: \"2000000\" is not a number from 0 to 1048576"},
		{"# x\nmax-message = 100\n", 2,
		 "max-message: \"100\" is not a number from 4096 to 1048576"},
		{"# x\nmax-pending 5\n", 2, "\"max-pending 5\" is not \"key = value\""},
		{"max-pending = 5\n# x\nmax-pending = 6\n", 3,
		 "max-pending is set again (first on line 1)"},
		{"# x\nsystemd = yes\n", 2, "systemd is an option of the command line only"},
		{"# x\nlog-level = loud\n", 2,
		 "log-level: \"loud\" is not err, warn, info or debug"},
		{"# x\nsync-scope =\n", 2, "sync-scope: \"\" is not endpoint, device or none"},
		{"# x\nmetrics = localhost:9464\n", 2,
		 "metrics: \"localhost:9464\" is not ADDR:PORT with a numeric address and a port "
		 "from 1 to 65535 (127.0.0.1:9464, [::1]:9464)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const args[] = {"-s", d.socket, "--config", d.config, NULL};
		char want[PATH_MAX + 512], *err = NULL;

		print_message("%s", cases[i].text);
		assert_int_equal(daemon_write_config(&d, cases[i].text), 0);
		assert_int_equal(run(args, NULL, &err), 2);
		snprintf(want, sizeof(want), "rdqd: %s:%u: %s\n", d.config, cases[i].line,
			 cases[i].message);
		if (!strstr(err, want))
			fprintf(stderr, "want: %sgot:  %s", want, err);
		assert_non_null(strstr(err, want));
		free(err);
		assert_false(path_exists(d.socket));
	}
}

/* --- --print-config --- */

/* Every value with its source; the output, as a file, gives the same values back. */
static void test_print_config(void **state)
{
	const char *const args[] = {"--config", d.config,	  "--max-pending",
				    "7",	"--print-config", NULL};
	char want[PATH_MAX + 64], pasted[PATH_MAX], *out = NULL, *again = NULL, *err = NULL;

	assert_int_equal(daemon_write_config(&d, "# limits\nsync-scope = device\n\n"
						 "log-level = warn  # quieter\nmax-pending = 9\n"),
			 0);
	assert_int_equal(run(args, &out, &err), 0);
	assert_string_equal(err, "");
	snprintf(want, sizeof(want), "\nsync-scope = device  # %s:2\n", d.config);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "\nlog-level = warn  # %s:4\n", d.config);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\nmax-pending = 7  # command line\n"));
	assert_non_null(strstr(out, "\nidle-timeout = 300  # default\n"));
	assert_non_null(strstr(out, "\npool = 14  # default (twice max-pending)\n"));
	/* Not the file's: a line saying so, as a comment. */
	assert_non_null(strstr(out, "\n# systemd: no (the command line only)\n"));

	/* Pasted into a file, the output is read back to the same values. */
	snprintf(pasted, sizeof(pasted), "%s/pasted.conf", d.dir);
	{
		FILE *f = fopen(pasted, "w");

		assert_non_null(f);
		fputs(out, f);
		fclose(f);
	}
	{
		const char *const args2[] = {"--config", pasted, "--print-config", NULL};

		free(err);
		assert_int_equal(run(args2, &again, &err), 0);
		assert_non_null(strstr(again, "\nmax-pending = 7  # "));
		assert_non_null(strstr(again, "\nsync-scope = device  # "));
		assert_non_null(strstr(again, "\nlog-level = warn  # "));
	}
	free(out);
	free(again);
	free(err);
}

/* The "key = value" lines of --print-config's output. */
static unsigned count_keys(const char *printed)
{
	unsigned n = 0;

	for (const char *line = printed; line && *line; line = strchr(line, '\n'), line += !!line)
		n += line[0] != '#' && line[0] != '\n';
	return n;
}

/* The values of --print-config's output, without the comments; one "key = value\n" a line. */
static char *values_of(const char *printed)
{
	char *copy = strdup(printed), *out = calloc(1, strlen(printed) + 1), *line, *save = NULL;

	assert_non_null(copy);
	assert_non_null(out);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strstr(line, "  #");

		/* The socket's default depends on who runs the test, listen-dir's on the prefix. */
		if (line[0] == '#' || strncmp(line, "socket =", 8) == 0 ||
		    strncmp(line, "listen-dir =", 12) == 0)
			continue;
		if (hash)
			*hash = '\0';
		strcat(out, line);
		strcat(out, "\n");
	}
	free(copy);
	return out;
}

/*
 * The installed example (etc/rdqd.conf) lists every key the file takes, commented out, with
 * its default: uncommented, it is a valid file giving the values rdqd has without one.
 */
static void test_example_file(void **state)
{
	const char *const bare[] = {"--no-config", "--print-config", NULL};
	const char *const example[] = {"--config", d.config, "--print-config", NULL};
	char path[PATH_MAX], *text, *uncommented, *p, *defaults = NULL, *from_example = NULL;
	char *want, *got;
	unsigned keys = 0;

	snprintf(path, sizeof(path), "%s/etc/rdqd.conf", getenv("RDQ_SOURCE_ROOT"));
	text = file_read(path);
	assert_true(text[0] != '\0');
	/* "#key = value" lines become "key = value"; the prose stays comments ("# ..."). */
	uncommented = calloc(1, strlen(text) + 1);
	assert_non_null(uncommented);
	for (p = text; *p;) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p + 1) : strlen(p);

		if (p[0] == '#' && p[1] >= 'a' && p[1] <= 'z') {
			strncat(uncommented, p + 1, len - 1);
			keys++;
		} else {
			strncat(uncommented, p, len);
		}
		p += len;
	}
	assert_int_equal(daemon_write_config(&d, uncommented), 0);
	assert_int_equal(run(bare, &defaults, NULL), 0);
	assert_int_equal(run(example, &from_example, NULL), 0);
	want = values_of(defaults);
	got = values_of(from_example);
	assert_string_equal(got, want);
	/* Every key of --print-config's is in the example (socket too). */
	assert_int_equal(keys, count_keys(defaults));
	free(want);
	free(got);
	free(defaults);
	free(from_example);
	free(uncommented);
	free(text);
}

/* --- SIGHUP --- */

/*
 * A reload applies the live options at once: debug lines appear, and max-pending 0 refuses the
 * next request with EBUSY. Each change is logged.
 */
static void test_reload_live(void **state)
{
	assert_int_equal(daemon_start_config(&d, "log-level = info\n", NULL), 0);
	assert_string_equal(status_errno(), "ok");
	assert_int_equal(log_count("<7>"), 0);

	assert_int_equal(daemon_write_config(&d, "log-level = debug\nmax-pending = 0\n"), 0);
	daemon_signal(&d, SIGHUP);
	wait_log("reloaded ", 1);
	assert_int_equal(log_count("reload: max-pending 256 -> 0"), 1);
	assert_int_equal(log_count("reload: log-level info -> debug"), 1);
	assert_int_equal(log_count("2 option(s) changed"), 1);
	/* A new client is a debug line now; its request is one too many. */
	assert_string_equal(status_errno(), "EBUSY");
	assert_true(log_count("<7>") > 0);
	assert_int_equal(daemon_stop(&d), 0);
}

/*
 * A bad file on reload changes nothing, not even its good lines' values; the error names the
 * file and the line. Once the file is mended, the next SIGHUP applies it.
 */
static void test_reload_bad_file_keeps_old(void **state)
{
	char want[PATH_MAX + 64];

	assert_int_equal(daemon_start_config(&d, "log-level = info\n", NULL), 0);
	assert_int_equal(daemon_write_config(&d, "max-pending = 0\nlog-level = debug\n"
						 "max-pending = 1\n"),
			 0);
	daemon_signal(&d, SIGHUP);
	wait_log("the running settings stay", 1);
	snprintf(want, sizeof(want), "reload: %s:3: max-pending is set again (first on line 1)",
		 d.config);
	assert_int_equal(log_count(want), 1);
	assert_string_equal(status_errno(), "ok");
	assert_int_equal(log_count("<7>"), 0);

	assert_int_equal(daemon_write_config(&d, "max-pending = 0\n"), 0);
	daemon_signal(&d, SIGHUP);
	wait_log("reloaded ", 1);
	assert_string_equal(status_errno(), "EBUSY");
	/* Still running, and it stops cleanly. */
	assert_int_equal(daemon_stop(&d), 0);
}

/*
 * On reload the command line still wins over the file, and an option that cannot change live
 * is left as it is, with a warning that names it.
 */
static void test_reload_command_line_and_restart_only(void **state)
{
	static const char *const extra[] = {"--log-level", "info", NULL};
	char want[PATH_MAX + 512];

	assert_int_equal(daemon_start_config(&d, "sync-scope = device\n", extra), 0);
	assert_int_equal(daemon_write_config(&d, "sync-scope = none\nlog-level = debug\n"
						 "max-pending = 1\n"),
			 0);
	daemon_signal(&d, SIGHUP);
	wait_log("reloaded ", 1);
	snprintf(want, sizeof(want),
		 "sync-scope changed in %s (none, running with device); takes effect on restart",
		 d.config);
	assert_int_equal(log_count(want), 1);
	assert_string_equal(stats_sync_scope(), "device");
	/* max-pending came through (test_reload_live sees its effect); log-level did not. */
	assert_int_equal(log_count("reload: max-pending 256 -> 1"), 1);
	assert_int_equal(log_count("reload: log-level"), 0);
	assert_int_equal(log_count("<7>"), 0);
	assert_int_equal(log_count("1 option(s) changed"), 1);
	assert_int_equal(daemon_stop(&d), 0);
}

/* Sends a status request on the raw connection fd; returns its reply's errno name ("ok"). */
static const char *raw_status(int fd)
{
	static const char body[] = "{\"v\":1,\"id\":1,\"op\":\"status\"}";
	static char name[32];
	json_t *msg = NULL;

	if (raw_send_frame(fd, body, sizeof(body) - 1) < 0 ||
	    raw_read_message(fd, HARNESS_REPLY_MS, &msg) < 0)
		return "closed";
	snprintf(name, sizeof(name), "%s", reply_errno(msg));
	json_decref(msg);
	return name;
}

/*
 * idle-timeout reaches the connections already open, at their next message: one opened under
 * 0 (never) is closed a second after it asks once more under 1; one opened under 1 is not
 * closed once 0 is back, past its old deadline.
 */
static void test_reload_idle_timeout(void **state)
{
	json_t *msg = NULL;
	int before, during;

	assert_int_equal(daemon_start_config(&d, "idle-timeout = 0\n", NULL), 0);
	before = raw_connect(d.socket);
	assert_true(before >= 0);
	assert_string_equal(raw_status(before), "ok");

	assert_int_equal(daemon_write_config(&d, "idle-timeout = 1\n"), 0);
	daemon_signal(&d, SIGHUP);
	wait_log("reloaded ", 1);
	assert_string_equal(raw_status(before), "ok");
	assert_int_equal(raw_read_message(before, HARNESS_REPLY_MS, &msg), 0);
	assert_string_equal(reply_errno(msg), "ETIMEDOUT");
	json_decref(msg);
	close(before);

	/* during's clock runs out in a second unless 0 stops it at its next message. */
	during = raw_connect(d.socket);
	assert_true(during >= 0);
	assert_int_equal(daemon_write_config(&d, "idle-timeout = 0\n"), 0);
	daemon_signal(&d, SIGHUP);
	wait_log("reloaded ", 2);
	assert_string_equal(raw_status(during), "ok");
	poll(NULL, 0, 1500);
	assert_string_equal(raw_status(during), "ok");
	close(during);
	assert_int_equal(daemon_stop(&d), 0);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_file_values, teardown),
		cmocka_unit_test_teardown(test_command_line_overrides, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_print_config, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_example_file, setup_folder, teardown),
		cmocka_unit_test_teardown(test_reload_live, teardown),
		cmocka_unit_test_teardown(test_reload_bad_file_keeps_old, teardown),
		cmocka_unit_test_teardown(test_reload_command_line_and_restart_only, teardown),
		cmocka_unit_test_teardown(test_reload_idle_timeout, teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
