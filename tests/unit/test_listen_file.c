/* SPDX-License-Identifier: MIT */
/*
 * The declared listeners' files (daemon/listen_file.c, on conf_file.c's
 * lines): what a good file declares, and for each mistake an administrator
 * may make, the error that names the file and the line. Then a folder:
 * which files count, and that a bad one is reported alone beside the good.
 * Files are written into a fresh temporary folder; nothing else is touched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "listen_file.h"
#include "local_addrs.h"
#include "protocol/ops_table.h"

static char folder[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", folder, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	snprintf(folder, sizeof(folder), "/tmp/rdq-listen-XXXXXX");
	return mkdtemp(folder) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", folder);
	return system(cmd) == 0 ? 0 : -1;
}

/* Reads folder/name.conf holding text: its status, with the error in err. */
static int read_one(const char *name, const char *text, struct listen_decl *out, char *err)
{
	char file[96], path[256];

	snprintf(file, sizeof(file), "%s.conf", name);
	snprintf(path, sizeof(path), "%s/%s", folder, file);
	write_file(file, text);
	err[0] = '\0';
	return listen_file_read(path, name, out, err, 320);
}

static void test_good_file(void **state)
{
	struct listen_decl d;
	struct sockaddr_in *in = (struct sockaddr_in *)&d.addr;
	char err[320];

	assert_int_equal(read_one("echo",
				  "# an echo service\n"
				  "address = 10.0.0.5:7500   # the service's\n"
				  "\n"
				  "mode = echo\n"
				  "max-connections = 64\n",
				  &d, err),
			 0);
	assert_string_equal(d.name, "echo");
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 7500);
	assert_int_equal(in->sin_addr.s_addr, inet_addr("10.0.0.5"));
	assert_int_equal(d.mode, RDQ_MODE_ECHO);
	assert_int_equal(d.max_connections, 64);
}

static void test_defaults_and_ipv6(void **state)
{
	struct listen_decl d;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&d.addr;
	char err[320];

	assert_int_equal(read_one("v6", "address = [fe80::1]:7600\n", &d, err), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 7600);
	assert_int_equal(d.max_connections, 1024);
	assert_int_equal(d.mode, RDQ_MODE_ECHO);
	/* A bare address: the protocol's default port. */
	assert_int_equal(read_one("bare", "address = 10.1.2.3\n", &d, err), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&d.addr)->sin_port), 7472);
}

/* allow and deny: each line adds its prefixes, IPv4 and IPv6, commas or blanks. */
static void test_address_rules(void **state)
{
	struct listen_decl d;
	char err[320], text[RDQ_PREFIX_STRLEN];

	assert_int_equal(read_one("ruled",
				  "address = 10.0.0.5:7500\n"
				  "deny = any\n"
				  "allow = 10.1.0.0/16, fd00:1::/64\n"
				  "allow = 192.168.7.7   # one more line, one more prefix\n",
				  &d, err),
			 0);
	assert_int_equal(d.rules.deny.n, 1);
	rdq_prefix_format(&d.rules.deny.v[0], text, sizeof(text));
	assert_string_equal(text, "any");
	assert_int_equal(d.rules.allow.n, 3);
	rdq_prefix_format(&d.rules.allow.v[1], text, sizeof(text));
	assert_string_equal(text, "fd00:1::/64");
	rdq_prefix_format(&d.rules.allow.v[2], text, sizeof(text));
	assert_string_equal(text, "192.168.7.7/32");
	/* None: every peer. */
	assert_int_equal(read_one("open", "address = 10.0.0.5\n", &d, err), 0);
	assert_false(rdq_peer_rules_any(&d.rules));
}

/* Each mistake, and the words its error must hold after "FOLDER/NAME.conf". */
static const struct bad_case {
	const char *what, *text, *says;
} bad_cases[] = {
	{"an unknown key", "address = 10.0.0.5:1\nport = 7\n", ":2: unknown key \"port\""},
	{"a name, not an address", "address = localhost:7472\n", ":1: address: \"localhost:7472\""},
	{"a port out of range", "address = 10.0.0.5:70000\n",
	 ":1: address: \"70000\" is not a port"},
	{"an IPv6 address without brackets and a port", "address = [fe80::1\n", ":1: address:"},
	{"a mode a declared listener cannot have", "address = 10.0.0.5\nmode = serve\n",
	 ":2: mode: \"serve\" is not a mode of a declared listener"},
	{"a key set twice", "address = 10.0.0.5\n\naddress = 10.0.0.6\n",
	 ":3: address is set again (first on line 1)"},
	{"no connections at all", "address = 10.0.0.5\nmax-connections = 0\n",
	 ":2: max-connections: \"0\" is not a number from 1 to 65536"},
	{"a line without =", "address 10.0.0.5\n",
	 ":1: \"address 10.0.0.5\" is not \"key = value\""},
	{"no address", "mode = echo\n", ".conf: no address"},
	{"a prefix too long", "address = 10.0.0.5\nallow = 10.0.0.0/33\n",
	 ":2: allow: \"10.0.0.0/33\" is not an address prefix"},
	{"a name where a prefix goes", "address = 10.0.0.5\ndeny = fd00::/8, example.com\n",
	 ":2: deny: \"example.com\" is not an address prefix"},
	{"more than 64 prefixes, over lines",
	 "address = 10.0.0.5\n"
	 "deny = 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 10.0.0.8\n"
	 "deny = 10.0.1.1 10.0.1.2 10.0.1.3 10.0.1.4 10.0.1.5 10.0.1.6 10.0.1.7 10.0.1.8\n"
	 "deny = 10.0.2.1 10.0.2.2 10.0.2.3 10.0.2.4 10.0.2.5 10.0.2.6 10.0.2.7 10.0.2.8\n"
	 "deny = 10.0.3.1 10.0.3.2 10.0.3.3 10.0.3.4 10.0.3.5 10.0.3.6 10.0.3.7 10.0.3.8\n"
	 "deny = 10.0.4.1 10.0.4.2 10.0.4.3 10.0.4.4 10.0.4.5 10.0.4.6 10.0.4.7 10.0.4.8\n"
	 "deny = 10.0.5.1 10.0.5.2 10.0.5.3 10.0.5.4 10.0.5.5 10.0.5.6 10.0.5.7 10.0.5.8\n"
	 "deny = 10.0.6.1 10.0.6.2 10.0.6.3 10.0.6.4 10.0.6.5 10.0.6.6 10.0.6.7 10.0.6.8\n"
	 "deny = 10.0.7.1 10.0.7.2 10.0.7.3 10.0.7.4 10.0.7.5 10.0.7.6 10.0.7.7 10.0.7.8\n"
	 "allow = 10.0.8.1\n"
	 "deny = 10.0.8.1\n",
	 ":11: deny: more than 64 address prefixes"},
};

static void test_bad_files_name_file_and_line(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char want[320], err[320];
		struct listen_decl d;

		snprintf(want, sizeof(want), "%s/bad%zu", folder, i);
		print_message("%s\n", c->what);
		assert_int_equal(read_one(want + strlen(folder) + 1, c->text, &d, err), -EINVAL);
		/* The error starts with the file's path, then says what is wrong where. */
		strcat(want, ".conf");
		assert_memory_equal(err, want, strlen(want));
		if (!strstr(err, c->says))
			fail_msg("%s: \"%s\" does not say \"%s\"", c->what, err, c->says);
	}
}

static void test_folder(void **state)
{
	struct listen_dir dir;
	char err[320], path[128], sub[128];

	/* A folder of its own: the cases above left their files in the first. */
	snprintf(sub, sizeof(sub), "%s/listen.d", folder);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(folder + strlen(folder), sizeof(folder) - strlen(folder), "/listen.d");
	write_file("b-good.conf", "address = 10.0.0.7:7472\n");
	write_file("a-bad.conf", "address = 10.0.0.7:7472\nmode = direct\n");
	write_file("notes.txt", "not a listener\n");
	write_file(".hidden.conf", "nonsense\n");
	write_file("bad name!.conf", "address = 10.0.0.7:7472\n");
	write_file("echo.conf.dpkg-old", "nonsense\n");
	assert_int_equal(listen_dir_read(folder, &dir, err, sizeof(err)), 0);
	/* Sorted by name: "a-bad", "b-good", "bad name!"; the others are not listeners' files. */
	assert_int_equal(dir.n, 3);
	assert_int_equal(dir.v[0].status, -EINVAL);
	assert_string_equal(dir.v[0].decl.name, "a-bad");
	assert_non_null(strstr(dir.v[0].err, "a-bad.conf:2: mode"));
	assert_int_equal(dir.v[1].status, 0);
	assert_string_equal(dir.v[1].decl.name, "b-good");
	assert_int_equal(dir.v[2].status, -EINVAL);
	assert_non_null(strstr(dir.v[2].err, "bad name!.conf: a listener's name"));
	listen_dir_free(&dir);

	/* A folder that does not exist declares no listener, and is no error. */
	snprintf(path, sizeof(path), "%s/none", folder);
	assert_int_equal(listen_dir_read(path, &dir, err, sizeof(err)), 0);
	assert_int_equal(dir.n, 0);
	listen_dir_free(&dir);
	*strrchr(folder, '/') = '\0';
}

static void test_equal(void **state)
{
	struct listen_decl a, b;
	char err[320];

	assert_int_equal(read_one("same", "address = 10.0.0.8:1\n", &a, err), 0);
	assert_int_equal(
		read_one("same", "max-connections = 1024\naddress = 10.0.0.8:1\n", &b, err), 0);
	assert_true(listen_decl_equal(&a, &b));
	assert_int_equal(read_one("same", "address = 10.0.0.8:2\n", &b, err), 0);
	assert_false(listen_decl_equal(&a, &b));
	/* Rules apart: the same listener, whose rules are told apart on their own. */
	assert_int_equal(read_one("same", "address = 10.0.0.8:1\ndeny = any\n", &b, err), 0);
	assert_true(listen_decl_equal(&a, &b));
	assert_false(rdq_peer_rules_equal(&a.rules, &b.rules));
	assert_int_equal(read_one("same", "deny = any\naddress = 10.0.0.8:1\n", &a, err), 0);
	assert_true(rdq_peer_rules_equal(&a.rules, &b.rules));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_defaults_and_ipv6),
		cmocka_unit_test(test_address_rules),
		cmocka_unit_test(test_bad_files_name_file_and_line),
		cmocka_unit_test(test_folder),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
