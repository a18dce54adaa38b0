/* SPDX-License-Identifier: MIT */
/*
 * Peers' address rules (lib/protocol/addr_prefix.c): what each way of
 * writing a prefix means, each mistake named, the bound on a list, and for
 * a table of peers the verdict systemd's IPAddressAllow=/IPAddressDeny=
 * would give: allow first, then deny, then admit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "protocol/addr_prefix.h"

/* A peer's address as rdma_cm reports it: an IPv4 or IPv6 socket address. */
static const struct sockaddr *peer(const char *text)
{
	static struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)&ss;
}

static int add(struct rdq_prefix_list *l, const char *text, char *err)
{
	return rdq_prefix_list_add(l, text, strlen(text), err, 200);
}

/* The list's prefixes as text, separated by one blank. */
static const char *shown(const struct rdq_prefix_list *l)
{
	static char out[RDQ_PREFIX_MAX * RDQ_PREFIX_STRLEN];
	size_t len = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < l->n; i++) {
		char one[RDQ_PREFIX_STRLEN];

		rdq_prefix_format(&l->v[i], one, sizeof(one));
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i ? " " : "", one);
	}
	return out;
}

/* Each way to write a prefix, and what it is read as (host bits cleared). */
static void test_parse(void **state)
{
	static const struct {
		const char *text, *means;
	} cases[] = {
		{"10.1.0.0/16", "10.1.0.0/16"},
		{"10.1.2.3/16", "10.1.0.0/16"}, /* host bits are not the network's */
		{"10.0.0.9", "10.0.0.9/32"},	/* bare: one address */
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"fd00:1::/64", "fd00:1::/64"},
		{"fd00::1", "fd00::1/128"},
		{"::/0", "::/0"},
		{"fd00::1:2:3/120", "fd00::1:2:0/120"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"}, /* IPv4-mapped: an IPv4 prefix */
		{"any", "any"},
		{"localhost", "127.0.0.0/8 ::1/128"},
		{"10.0.0.0/8,fd00::/8", "10.0.0.0/8 fd00::/8"},
		{" 10.0.0.0/8 ,, 192.168.0.0/16\t", "10.0.0.0/8 192.168.0.0/16"},
		{"", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rdq_prefix_list l = {0};
		char err[200] = "";

		if (add(&l, cases[i].text, err) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err);
		assert_string_equal(shown(&l), cases[i].means);
	}
}

/* Each mistake is EINVAL, names the word, and leaves the list as it was. */
static void test_bad_text(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "fd00::/129",  "10.0.0/8",      "10.0.0.0/", "/8",
		"10.0.0.0/8x", "10.0.0.0/-1", "10.0.0.0/0008", "anything",  "10.0.0.256",
		"fd00:::1",    "example.com", "10.0.0.0/8/8",  "[fd00::1]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rdq_prefix_list l = {0};
		char text[96], err[200] = "";

		assert_int_equal(add(&l, "10.0.0.0/8", err), 0);
		snprintf(text, sizeof(text), "192.168.0.0/16, %s", bad[i]);
		if (add(&l, text, err) != -EINVAL)
			fail_msg("\"%s\" was taken", bad[i]);
		if (!strstr(err, bad[i]))
			fail_msg("\"%s\": the error \"%s\" does not name it", bad[i], err);
		assert_string_equal(shown(&l), "10.0.0.0/8");
	}
}

/* RDQ_PREFIX_MAX a list, and E2BIG past it, whether in one text or added later. */
static void test_too_many(void **state)
{
	struct rdq_prefix_list l = {0};
	char text[RDQ_PREFIX_TEXT_MAX] = "", err[200];
	size_t len = 0;

	for (int i = 0; i < RDQ_PREFIX_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "10.0.%d.0/24 ", i);
	assert_true(len < RDQ_PREFIX_TEXT_MAX);
	assert_int_equal(add(&l, text, err), 0);
	assert_int_equal(l.n, RDQ_PREFIX_MAX);
	assert_int_equal(add(&l, "10.1.0.0/16", err), -E2BIG);
	assert_non_null(strstr(err, "more than 64"));
	assert_int_equal(l.n, RDQ_PREFIX_MAX);

	/* "localhost" is two: it does not fit beside RDQ_PREFIX_MAX - 1 others. */
	l.n = RDQ_PREFIX_MAX - 1;
	assert_int_equal(add(&l, "localhost", err), -E2BIG);
	assert_int_equal(l.n, RDQ_PREFIX_MAX - 1);
	assert_int_equal(add(&l, "any", err), 0);
	assert_int_equal(l.n, RDQ_PREFIX_MAX);

	/* A bad word after the 65th is still a count: E2BIG, the list untouched. */
	memset(&l, 0, sizeof(l));
	memcpy(text + len, "10.9.9.9", 9);
	assert_int_equal(add(&l, text, err), -E2BIG);
	assert_int_equal(l.n, 0);
}

static struct rdq_peer_rules rules(const char *allow, const char *deny)
{
	struct rdq_peer_rules r = {0};
	char err[200];

	assert_int_equal(add(&r.allow, allow, err), 0);
	assert_int_equal(add(&r.deny, deny, err), 0);
	return r;
}

/* A table of rules and peers, and systemd's verdict for each. */
static void test_verdicts(void **state)
{
	static const struct {
		const char *allow, *deny, *peer;
		bool admitted;
	} cases[] = {
		/* No rules: everyone. */
		{"", "", "10.0.0.9", true},
		{"", "", "fd00::9", true},
		/* "Only 10.1/16": deny any, allow the prefix. */
		{"10.1.0.0/16", "any", "10.1.200.3", true},
		{"10.1.0.0/16", "any", "10.2.0.1", false},
		{"10.1.0.0/16", "any", "fd00::1", false},
		{"10.1.0.0/16", "any", "::ffff:10.1.0.7", true}, /* mapped: as IPv4 */
		{"10.1.0.0/16", "any", "::ffff:10.2.0.7", false},
		/* Deny one address, admit the rest. */
		{"", "10.0.0.9", "10.0.0.9", false},
		{"", "10.0.0.9", "10.0.0.10", true},
		{"", "10.0.0.9/32", "::ffff:10.0.0.9", false},
		/* Allow wins over deny, whatever the order or the lengths. */
		{"10.0.0.9", "10.0.0.0/8", "10.0.0.9", true},
		{"10.0.0.0/8", "10.0.0.9", "10.0.0.9", true},
		/* Families apart: an IPv6 deny does not touch IPv4 peers, nor /0 of the other. */
		{"", "::/0", "10.0.0.1", true},
		{"", "::/0", "fd00::1", false},
		{"", "0.0.0.0/0", "fd00::1", true},
		{"", "0.0.0.0/0", "10.0.0.1", false},
		/* IPv6 prefixes, on a bit inside a byte. */
		{"fd00:0:0:1::/63", "any", "fd00:0:0:1::5", true},
		{"fd00:0:0:1::/63", "any", "fd00::5", true},
		{"fd00:0:0:1::/63", "any", "fd00:0:0:2::5", false},
		{"fd00::1", "any", "fd00::1", true},
		{"fd00::1", "any", "fd00::2", false},
		/* /20 on IPv4, inside the third byte. */
		{"", "10.16.0.0/20", "10.16.15.255", false},
		{"", "10.16.0.0/20", "10.16.16.0", true},
		{"localhost", "any", "127.3.2.1", true},
		{"localhost", "any", "::1", true},
		{"localhost", "any", "10.0.0.1", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rdq_peer_rules r = rules(cases[i].allow, cases[i].deny);

		if (rdq_peer_rules_admit(&r, peer(cases[i].peer)) != cases[i].admitted)
			fail_msg("allow \"%s\" deny \"%s\": peer %s should be %s", cases[i].allow,
				 cases[i].deny, cases[i].peer,
				 cases[i].admitted ? "admitted" : "refused");
	}
	/* No rules at all, and a peer of no known family, under rules that deny any. */
	struct rdq_peer_rules deny_any = rules("", "any");
	struct sockaddr none = {.sa_family = AF_UNSPEC};

	assert_true(rdq_peer_rules_admit(NULL, peer("10.0.0.1")));
	assert_true(rdq_peer_rules_admit(&deny_any, &none));
}

/* Rules compare by their prefixes, so that a reload knows when they changed. */
static void test_equal(void **state)
{
	struct rdq_peer_rules a = rules("10.0.0.0/8", "any");
	struct rdq_peer_rules b = rules("10.1.2.3/8", "any"); /* the same network */
	struct rdq_peer_rules c = rules("10.0.0.0/9", "any");
	struct rdq_peer_rules none = {0};

	assert_true(rdq_peer_rules_equal(&a, &b));
	assert_false(rdq_peer_rules_equal(&a, &c));
	assert_true(rdq_peer_rules_equal(NULL, &none));
	assert_false(rdq_peer_rules_equal(NULL, &a));
	assert_false(rdq_peer_rules_any(&none));
	assert_true(rdq_peer_rules_any(&a));
}

/* The peer's address as the reason names it: a mapped one as IPv4. */
static void test_peer_format(void **state)
{
	char buf[64];

	rdq_peer_format(peer("::ffff:10.0.0.9"), buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.9");
	rdq_peer_format(peer("fd00::9"), buf, sizeof(buf));
	assert_string_equal(buf, "fd00::9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),	 cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_too_many), cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_equal),	 cmocka_unit_test(test_peer_format),
	};

	return cmocka_run_group_tests_name("addr_prefix", tests, NULL, NULL);
}
