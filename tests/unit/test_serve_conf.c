/* SPDX-License-Identifier: MIT */
/*
 * A served command's file (client/serve_conf.c, read by `rdqctl ep serve
 * --config FILE` for rdq-serve@.service): what a good file gives, the
 * defaults it leaves alone, how a command is cut into words, and for each
 * mistake an administrator may make, the error naming the file and line.
 * Files are written into a fresh temporary folder; nothing else is touched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "serve_conf.h"

#define DEFAULT_RUNNING 16
#define DEFAULT_TIMEOUT 30000

static char folder[64];
static char path[256];

static int setup(void **state)
{
	(void)state;
	snprintf(folder, sizeof(folder), "/tmp/rdq-serve-conf-XXXXXX");
	if (!mkdtemp(folder))
		return -1;
	snprintf(path, sizeof(path), "%s/upper.conf", folder);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(folder);
}

/* Writes text as the file and reads it, conf holding the defaults first. */
static int read_text(const char *text, struct serve_conf *conf, char *err, size_t err_size)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	memset(conf, 0, sizeof(*conf));
	conf->max_running = DEFAULT_RUNNING;
	conf->timeout_ms = DEFAULT_TIMEOUT;
	err[0] = '\0';
	return serve_conf_read(path, conf, err, err_size);
}

static void a_full_file_gives_every_key(void **state)
{
	struct serve_conf c;
	char err[512];

	(void)state;
	assert_int_equal(read_text("# the capitals service\n"
				   "\n"
				   "address = 10.0.0.1:7490   # where peers come\n"
				   "command = tr a-z A-Z\n"
				   "max-running = 4\n"
				   "timeout = 2500\n"
				   "direct = yes\n"
				   "wait-address = yes\n"
				   "allow = 10.0.0.0/8\n"
				   "allow = fd00::/8\n"
				   "deny = any\n",
				   &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.address, "10.0.0.1:7490");
	assert_non_null(c.argv);
	assert_string_equal(c.argv[0], "tr");
	assert_string_equal(c.argv[1], "a-z");
	assert_string_equal(c.argv[2], "A-Z");
	assert_null(c.argv[3]);
	assert_int_equal(c.max_running, 4);
	assert_int_equal(c.timeout_ms, 2500);
	assert_true(c.direct);
	assert_true(c.wait_address);
	/* Each allow line adds its prefixes: both lines are kept, in order. */
	assert_string_equal(c.allow, "10.0.0.0/8,fd00::/8");
	assert_string_equal(c.deny, "any");
	serve_conf_free(&c);
	assert_null(c.argv);
}

static void keys_left_out_keep_their_defaults(void **state)
{
	struct serve_conf c;
	char err[512];

	(void)state;
	assert_int_equal(read_text("address = 10.0.0.1\ncommand = cat\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_running, DEFAULT_RUNNING);
	assert_int_equal(c.timeout_ms, DEFAULT_TIMEOUT);
	assert_false(c.direct);
	assert_false(c.wait_address);
	assert_string_equal(c.allow, "");
	assert_string_equal(c.deny, "");
	serve_conf_free(&c);
}

/* Quotes keep blanks in a word, as a shell would; a '#' inside a word is no comment. */
static void a_command_is_cut_into_words(void **state)
{
	struct serve_conf c;
	char err[512];

	(void)state;
	assert_int_equal(read_text("address = 10.0.0.1\n"
				   "command = sh -c 'tr a-z A-Z | rev' \"two words\" a#b\n",
				   &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.argv[0], "sh");
	assert_string_equal(c.argv[1], "-c");
	assert_string_equal(c.argv[2], "tr a-z A-Z | rev");
	assert_string_equal(c.argv[3], "two words");
	assert_string_equal(c.argv[4], "a#b");
	assert_null(c.argv[5]);
	serve_conf_free(&c);
}

/* One mistake: the read fails with EINVAL and err names the file and what. */
static void fails_with(const char *text, const char *want)
{
	struct serve_conf c;
	char err[512], full[600];

	assert_int_equal(read_text(text, &c, err, sizeof(err)), -EINVAL);
	snprintf(full, sizeof(full), "%s%s", path, want);
	if (strcmp(err, full) != 0)
		fail_msg("for %s\ngot    [%s]\nwanted [%s]", text, err, full);
	/* Nothing is left to free: a second free is harmless. */
	assert_null(c.argv);
	serve_conf_free(&c);
}

static void each_mistake_is_named_by_its_line(void **state)
{
	(void)state;
	fails_with("address = 10.0.0.1\ncommand = cat\ncolour = blue\n",
		   ":3: unknown key \"colour\" (address, command, max-running, timeout, direct, "
		   "wait-address, allow, deny)");
	fails_with("address = 10.0.0.1\n\ncommand cat\n",
		   ":3: \"command cat\" is not \"key = value\"");
	fails_with("address = 10.0.0.1\ncommand = cat\naddress = 10.0.0.2\n",
		   ":3: address is set again (first on line 1)");
	fails_with("address = 10.0.0.1\ncommand = cat\nmax-running = 0\n",
		   ":3: max-running: \"0\" is not a number from 1 to 1024");
	fails_with("address = 10.0.0.1\ncommand = cat\ntimeout = soon\n",
		   ":3: timeout: \"soon\" is not a number from 1 to 2147483647");
	fails_with("address = 10.0.0.1\ncommand = cat\ndirect = true\n",
		   ":3: direct: \"true\" is not yes or no");
	fails_with("address = 10.0.0.1\ncommand = sh -c 'echo\n",
		   ":2: command: a ' that is not closed");
	fails_with("address =\ncommand = cat\n", ":1: address: \"\" is not ADDR[:PORT]");
	/* The command is read before the line that fails: it is freed, not leaked. */
	fails_with("command = cat\naddress = 10.0.0.1\ndeny = 10.0.0.300\n",
		   ":3: deny: \"10.0.0.300\" is not an address prefix (ADDR, ADDR/LEN, any or "
		   "localhost)");
}

static void a_file_without_address_or_command_says_which(void **state)
{
	(void)state;
	fails_with("command = cat\n", ": no address (address = ADDR[:PORT])");
	fails_with("address = 10.0.0.1\n", ": no command (command = COMMAND [ARGS...])");
}

static void a_missing_file_cannot_be_read(void **state)
{
	struct serve_conf c = {0};
	char err[512];

	(void)state;
	assert_int_equal(serve_conf_read("/nonexistent/rdq/serve.conf", &c, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "cannot read /nonexistent/rdq/serve.conf: No such file or "
				 "directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_full_file_gives_every_key),
		cmocka_unit_test(keys_left_out_keep_their_defaults),
		cmocka_unit_test(a_command_is_cut_into_words),
		cmocka_unit_test(each_mistake_is_named_by_its_line),
		cmocka_unit_test(a_file_without_address_or_command_says_which),
		cmocka_unit_test(a_missing_file_cannot_be_read),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
