/* SPDX-License-Identifier: MIT */
/*
 * Declared listeners (rdqd's listen-dir), without RDMA: a listener declared
 * on an address no interface has is shown waiting for it; a bad file stops
 * the start naming the file and the line; SIGHUP adds a new file's listener,
 * destroys a removed file's, and keeps the others, also when one of the
 * files has gone bad; a declared listener is rdqd's, so ep.destroy refuses
 * it. And ep.listen's wait_address: a listener made waiting, not failed.
 *
 * The addresses are from TEST-NET-1 (192.0.2.0/24, RFC 5737), which no host
 * has on an interface.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <rdq/client.h>

#include "daemon_harness.h"

static struct daemon d;
static char listen_dir[PATH_MAX];

static int setup(void **state)
{
	snprintf(listen_dir, sizeof(listen_dir), "/tmp/rdq-it-listen-XXXXXX");
	return mkdtemp(listen_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	daemon_cleanup(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", listen_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void declare(const char *name, const char *text)
{
	char path[PATH_MAX + 80];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.conf", listen_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void undeclare(const char *name)
{
	char path[PATH_MAX + 80];

	snprintf(path, sizeof(path), "%s/%s.conf", listen_dir, name);
	assert_int_equal(unlink(path), 0);
}

static int start(void)
{
	const char *extra[] = {"--listen-dir", listen_dir, NULL};

	return daemon_start(&d, extra);
}

/* ep.show's rows (a new reference), on a connection of its own. */
static json_t *endpoints(void)
{
	struct rdq_client *c = NULL;
	json_t *result = NULL, *rows;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call_timeout(c, "ep.show", NULL, HARNESS_REPLY_MS, &result), 0);
	rows = json_incref(json_object_get(result, "endpoints"));
	json_decref(result);
	rdq_client_close(c);
	return rows;
}

/* The row of declared listener name, or NULL (borrowed from rows). */
static json_t *row_named(json_t *rows, const char *name)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row)
	{
		const char *n = json_string_value(json_object_get(row, "name"));

		if (n && strcmp(n, name) == 0)
			return row;
	}
	return NULL;
}

static const char *text_of(json_t *row, const char *key)
{
	const char *s = json_string_value(json_object_get(row, key));

	return s ? s : "";
}

/* Waits until declared listener name is there (want) or not, and returns its handle (or 0). */
static json_int_t wait_declared(const char *name, bool want)
{
	int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;

	for (;;) {
		json_t *rows = endpoints(), *row = row_named(rows, name);
		json_int_t ep = row ? json_integer_value(json_object_get(row, "ep")) : 0;

		json_decref(rows);
		if ((ep != 0) == want)
			return ep;
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "listener %s is %s\n", name,
				want ? "missing" : "still there");
			daemon_dump_log(&d);
			fail();
		}
		poll(NULL, 0, 20);
	}
}

static void test_missing_address_waits(void **state)
{
	json_t *rows, *row;

	declare("echo", "# an echo service\naddress = 192.0.2.7:7500\nmax-connections = 8\n");
	assert_int_equal(start(), 0);
	rows = endpoints();
	row = row_named(rows, "echo");
	assert_non_null(row);
	assert_string_equal(text_of(row, "role"), "listener");
	assert_string_equal(text_of(row, "mode"), "echo");
	assert_string_equal(text_of(row, "state"), "waiting");
	assert_string_equal(text_of(row, "local"), "192.0.2.7:7500");
	assert_string_equal(text_of(row, "reason"),
			    "for the address: 192.0.2.7:7500 is on no interface");
	assert_int_equal(json_integer_value(json_object_get(row, "max_connections")), 8);
	/* rdqd's own: no user's, and not tied to a client. */
	assert_int_equal(json_integer_value(json_object_get(row, "owner")), 0);
	assert_false(json_is_true(json_object_get(row, "tied")));
	json_decref(rows);
	assert_int_equal(daemon_stop(&d), 0);
}

/* No one's quota pays for it, no one may destroy it, and a client's leaving leaves it. */
static void test_rdqds_own(void **state)
{
	struct rdq_client *c = NULL;
	json_t *result = NULL;
	json_int_t ep;

	declare("echo", "address = 192.0.2.7:7500\n");
	assert_int_equal(start(), 0);
	ep = wait_declared("echo", true);
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call_timeout(c, "ep.destroy", json_pack("{s:I}", "ep", ep),
					  HARNESS_REPLY_MS, &result),
			 -EPERM);
	assert_non_null(strstr(rdq_client_error(c), "declared listener echo"));
	rdq_client_close(c);
	/* Its client, if it had one, has gone: it stays, the same endpoint. */
	assert_int_equal(wait_declared("echo", true), ep);
	assert_int_equal(daemon_stop(&d), 0);
}

/* A bad file stops the start (exit 2), naming the file and the line; the line is not the first. */
static void test_bad_file_stops_start(void **state)
{
	const char *argv[] = {
		getenv("RDQD"), "-s", "/tmp/rdq-it-never.sock", "--no-config", "--listen-dir",
		listen_dir,	NULL};
	char want[PATH_MAX + 64], err[PATH_MAX + 8], *text;

	declare("good", "address = 192.0.2.7:7500\n");
	declare("bad", "address = 192.0.2.8:7500\n# a comment\nport = 7500\n");
	snprintf(err, sizeof(err), "%s/err", listen_dir);
	assert_int_equal(proc_run(argv, NULL, err, HARNESS_START_MS), 2);
	text = file_read(err);
	snprintf(want, sizeof(want), "rdqd: %s/bad.conf:3: unknown key \"port\"", listen_dir);
	if (!strstr(text, want))
		fail_msg("\"%s\" does not say \"%s\"", text, want);
	free(text);
	unlink(err);
}

static void test_reload_adds_and_removes(void **state)
{
	json_t *rows, *row;
	json_int_t kept;

	declare("first", "address = 192.0.2.7:7500\n");
	declare("second", "address = 192.0.2.8:7500\n");
	assert_int_equal(start(), 0);
	kept = wait_declared("first", true);
	wait_declared("second", true);

	declare("third", "address = [2001:db8::3]:7600\n");
	undeclare("second");
	daemon_signal(&d, SIGHUP);
	wait_declared("third", true);
	wait_declared("second", false);
	rows = endpoints();
	row = row_named(rows, "third");
	assert_string_equal(text_of(row, "state"), "waiting");
	assert_string_equal(text_of(row, "local"), "[2001:db8::3]:7600");
	assert_string_equal(text_of(row, "reason"),
			    "for the address: [2001:db8::3]:7600 is on no interface");
	/* The unchanged one is the same endpoint: left alone. */
	assert_int_equal(json_integer_value(json_object_get(row_named(rows, "first"), "ep")), kept);
	json_decref(rows);

	/* A changed file: its listener is made again, as the file now says. */
	declare("first", "address = 192.0.2.7:7501\n");
	daemon_signal(&d, SIGHUP);
	while (wait_declared("first", true) == kept)
		poll(NULL, 0, 20);
	rows = endpoints();
	assert_string_equal(text_of(row_named(rows, "first"), "local"), "192.0.2.7:7501");
	json_decref(rows);
	assert_int_equal(daemon_stop(&d), 0);
}

/* ep.show of one endpoint (a new reference to its row). */
static json_t *endpoint(json_int_t ep)
{
	struct rdq_client *c = NULL;
	json_t *result = NULL, *row;

	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call_timeout(c, "ep.show", json_pack("{s:I}", "ep", ep),
					  HARNESS_REPLY_MS, &result),
			 0);
	row = json_incref(json_array_get(json_object_get(result, "endpoints"), 0));
	json_decref(result);
	rdq_client_close(c);
	return row;
}

/* The log says text, within the harness's time. */
static void wait_log(const char *text)
{
	int64_t deadline = harness_now_ms() + HARNESS_REPLY_MS;

	while (!daemon_log_contains(&d, text)) {
		if (harness_now_ms() >= deadline) {
			daemon_dump_log(&d);
			fail_msg("the log does not say \"%s\"", text);
		}
		poll(NULL, 0, 20);
	}
}

/*
 * A reload that changes only a file's allow and deny keeps its listener (the
 * same endpoint, so its connections too) and gives it the new rules.
 */
/*
 * Listener ep (which must still be there) shows count prefixes in all, and
 * the index-th of its list is text (list NULL: the count alone).
 */
static void assert_rules(json_int_t ep, json_int_t count, const char *list, size_t index,
			 const char *text)
{
	json_t *row = endpoint(ep);

	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "rules")), count);
	if (list)
		assert_string_equal(
			json_string_value(json_array_get(json_object_get(row, list), index)), text);
	json_decref(row);
}

static void test_reload_rules_keep_the_listener(void **state)
{
	json_int_t ep;

	declare("ruled", "address = 192.0.2.7:7500\ndeny = any\n");
	assert_int_equal(start(), 0);
	ep = wait_declared("ruled", true);
	assert_rules(ep, 1, "deny", 0, "any");

	declare("ruled", "address = 192.0.2.7:7500\ndeny = any\nallow = 10.1.0.0/16, fd00::/8\n");
	daemon_signal(&d, SIGHUP);
	wait_log("listener ruled: new address rules");
	assert_true(daemon_log_contains(&d, "0 changed, 1 with new address rules"));
	/* The same endpoint, with the new rules. */
	assert_rules(ep, 3, "allow", 1, "fd00::/8");

	/* A bad prefix on reload: logged with its line, the rules stay as they were. */
	declare("ruled", "address = 192.0.2.7:7500\ndeny = 10.0.0.0/40\n");
	daemon_signal(&d, SIGHUP);
	wait_log("ruled.conf:2: deny: \"10.0.0.0/40\" is not an address prefix");
	assert_rules(ep, 3, NULL, 0, NULL);
	assert_int_equal(daemon_stop(&d), 0);
}

/* On reload a bad file is logged with its line, and every listener stays, its own included. */
static void test_reload_bad_file_keeps_the_others(void **state)
{
	char want[PATH_MAX + 64];
	json_int_t first, second;
	int64_t deadline;
	json_t *rows;

	declare("first", "address = 192.0.2.7:7500\n");
	declare("second", "address = 192.0.2.8:7500\n");
	assert_int_equal(start(), 0);
	first = wait_declared("first", true);
	second = wait_declared("second", true);

	declare("second", "address = 192.0.2.8:7500\nmode = serve\n");
	declare("third", "address = 192.0.2.9:7500\n");
	daemon_signal(&d, SIGHUP);
	wait_declared("third", true);
	snprintf(want, sizeof(want), "%s/second.conf:2: mode: \"serve\" is not a mode", listen_dir);
	deadline = harness_now_ms() + HARNESS_REPLY_MS;
	while (!daemon_log_contains(&d, want)) {
		if (harness_now_ms() >= deadline) {
			daemon_dump_log(&d);
			fail_msg("the log does not say \"%s\"", want);
		}
		poll(NULL, 0, 20);
	}
	assert_true(daemon_log_contains(&d, "listener second stays as it was"));
	rows = endpoints();
	assert_int_equal(json_integer_value(json_object_get(row_named(rows, "first"), "ep")),
			 first);
	assert_int_equal(json_integer_value(json_object_get(row_named(rows, "second"), "ep")),
			 second);
	json_decref(rows);
	/* rdqd still runs: a bad file on reload stops nothing. */
	assert_int_equal(daemon_stop(&d), 0);
}

/* ep.listen with wait_address: made waiting, not failed; a name is refused, it must be numeric. */
static void test_listen_wait_address(void **state)
{
	struct rdq_client *c = NULL;
	json_t *result = NULL;

	assert_int_equal(start(), 0);
	assert_int_equal(rdq_client_connect(d.socket, &c), 0);
	assert_int_equal(rdq_call_timeout(c, "ep.listen",
					  json_pack("{s:s, s:i, s:b}", "addr", "192.0.2.9", "port",
						    7700, "wait_address", 1),
					  HARNESS_REPLY_MS, &result),
			 0);
	assert_string_equal(text_of(result, "state"), "waiting");
	assert_true(json_integer_value(json_object_get(result, "ep")) > 0);
	json_decref(result);
	result = NULL;
	/* Without wait_address the same address fails, as it always did (no RDMA here). */
	assert_true(rdq_call_timeout(c, "ep.listen",
				     json_pack("{s:s, s:i}", "addr", "192.0.2.9", "port", 7700),
				     HARNESS_REPLY_MS, &result) < 0);
	assert_int_equal(
		rdq_call_timeout(c, "ep.listen",
				 json_pack("{s:s, s:b}", "addr", "localhost", "wait_address", 1),
				 HARNESS_REPLY_MS, &result),
		-EINVAL);
	/* Address rules: a bad prefix is EINVAL, too many E2BIG, good ones are the listener's. */
	assert_int_equal(rdq_call_timeout(c, "ep.listen",
					  json_pack("{s:s, s:i, s:b, s:s}", "addr", "192.0.2.9",
						    "port", 7701, "wait_address", 1, "deny",
						    "10.0.0.0/8 10.0.0.0/33"),
					  HARNESS_REPLY_MS, &result),
			 -EINVAL);
	assert_non_null(strstr(rdq_client_error(c), "deny: \"10.0.0.0/33\""));
	assert_int_equal(rdq_call_timeout(c, "ep.listen",
					  json_pack("{s:s, s:i, s:b, s:s, s:s}", "addr",
						    "192.0.2.9", "port", 7701, "wait_address", 1,
						    "allow", "::ffff:10.1.0.0/112", "deny", "any"),
					  HARNESS_REPLY_MS, &result),
			 0);
	{
		json_t *row = endpoint(json_integer_value(json_object_get(result, "ep")));

		assert_string_equal(
			json_string_value(json_array_get(json_object_get(row, "allow"), 0)),
			"10.1.0.0/16");
		json_decref(row);
	}
	json_decref(result);
	rdq_client_close(c);
	assert_int_equal(daemon_stop(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_address_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdqds_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_stops_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_adds_and_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_rules_keep_the_listener, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload_bad_file_keeps_the_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listen_wait_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
