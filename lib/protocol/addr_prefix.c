/* SPDX-License-Identifier: MIT */
#include "addr_prefix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Clears the bits past len, so that equal networks compare equal and match by bytes. */
static void clear_host_bits(struct rdq_prefix *p)
{
	unsigned bytes = p->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; i++) {
		unsigned first = i * 8;

		if (first >= p->len)
			p->addr[i] = 0;
		else if (first + 8 > p->len)
			p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - first)));
	}
}

/* A length of 1 to 3 digits, at most max. */
static int parse_len(const char *s, unsigned max, uint8_t *out)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 3)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

/* One prefix (NUL-terminated) into out[0..*n). */
static int parse_one(char *word, struct rdq_prefix *out, unsigned *n)
{
	struct rdq_prefix p = {0};
	char *slash;

	if (strcmp(word, "any") == 0) {
		out[(*n)++] = (struct rdq_prefix){.family = AF_UNSPEC};
		return 0;
	}
	if (strcmp(word, "localhost") == 0) {
		out[*n] = (struct rdq_prefix){.family = AF_INET, .len = 8, .addr = {127}};
		out[*n + 1] = (struct rdq_prefix){.family = AF_INET6, .len = 128};
		out[*n + 1].addr[15] = 1;
		*n += 2;
		return 0;
	}
	slash = strchr(word, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, word, p.addr) == 1) {
		p.family = AF_INET;
		p.len = 32;
	} else if (inet_pton(AF_INET6, word, p.addr) == 1) {
		p.family = AF_INET6;
		p.len = 128;
	} else {
		return -EINVAL;
	}
	if (slash && parse_len(slash + 1, p.len, &p.len) < 0)
		return -EINVAL;
	/* ::ffff:a.b.c.d/LEN (LEN >= 96) is an IPv4 prefix, as the peers it would match are. */
	if (p.family == AF_INET6 && p.len >= 96 && memcmp(p.addr, v4_mapped, 12) == 0) {
		memmove(p.addr, p.addr + 12, 4);
		memset(p.addr + 4, 0, 12);
		p.family = AF_INET;
		p.len = (uint8_t)(p.len - 96);
	}
	clear_host_bits(&p);
	out[(*n)++] = p;
	return 0;
}

int rdq_prefix_list_add(struct rdq_prefix_list *list, const char *text, size_t len, char *err,
			size_t err_size)
{
	/* Room for one more than the list holds: "localhost" adds two at once. */
	struct rdq_prefix scratch[RDQ_PREFIX_MAX + 2];
	unsigned n = list->n;
	size_t i = 0;

	memcpy(scratch, list->v, list->n * sizeof(list->v[0]));
	while (i < len) {
		char word[RDQ_PREFIX_STRLEN];
		size_t start;

		while (i < len && is_separator(text[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_separator(text[i]))
			i++;
		if (i - start >= sizeof(word) || memchr(text + start, '\0', i - start)) {
			snprintf(err, err_size, "\"%.*s\" is not an address prefix",
				 (int)(i - start), text + start);
			return -EINVAL;
		}
		memcpy(word, text + start, i - start);
		word[i - start] = '\0';
		if (n >= RDQ_PREFIX_MAX ||
		    (n + 1 >= RDQ_PREFIX_MAX && !strcmp(word, "localhost"))) {
			snprintf(err, err_size, "more than %d address prefixes", RDQ_PREFIX_MAX);
			return -E2BIG;
		}
		if (parse_one(word, scratch, &n) < 0) {
			snprintf(err, err_size,
				 "\"%.*s\" is not an address prefix (ADDR, ADDR/LEN, any or "
				 "localhost)",
				 (int)(i - start), text + start);
			return -EINVAL;
		}
	}
	memcpy(list->v, scratch, n * sizeof(list->v[0]));
	list->n = n;
	return 0;
}

/* The peer's address as a prefix's bytes: an IPv4-mapped one as IPv4. 0: AF_UNSPEC. */
static int peer_bytes(const struct sockaddr *peer, const uint8_t **bytes)
{
	if (peer->sa_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)(const void *)peer)
				 ->sin_addr;
		return AF_INET;
	}
	if (peer->sa_family == AF_INET6) {
		const uint8_t *a =
			((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr.s6_addr;

		if (memcmp(a, v4_mapped, 12) == 0) {
			*bytes = a + 12;
			return AF_INET;
		}
		*bytes = a;
		return AF_INET6;
	}
	return AF_UNSPEC;
}

static bool prefix_match(const struct rdq_prefix *p, int family, const uint8_t *a)
{
	unsigned whole = p->len / 8, rest = p->len % 8;

	if (p->family == AF_UNSPEC)
		return true;
	if (p->family != family || memcmp(p->addr, a, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ p->addr[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool rdq_prefix_list_match(const struct rdq_prefix_list *list, const struct sockaddr *peer)
{
	const uint8_t *a = NULL;
	int family = peer_bytes(peer, &a);

	if (family == AF_UNSPEC)
		return false;
	for (unsigned i = 0; i < list->n; i++)
		if (prefix_match(&list->v[i], family, a))
			return true;
	return false;
}

bool rdq_peer_rules_admit(const struct rdq_peer_rules *rules, const struct sockaddr *peer)
{
	if (!rules || rdq_prefix_list_match(&rules->allow, peer))
		return true;
	return !rdq_prefix_list_match(&rules->deny, peer);
}

bool rdq_peer_rules_any(const struct rdq_peer_rules *rules)
{
	return rules && (rules->allow.n || rules->deny.n);
}

static bool list_equal(const struct rdq_prefix_list *a, const struct rdq_prefix_list *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (a->v[i].family != b->v[i].family || a->v[i].len != b->v[i].len ||
		    memcmp(a->v[i].addr, b->v[i].addr, sizeof(a->v[i].addr)) != 0)
			return false;
	return true;
}

bool rdq_peer_rules_equal(const struct rdq_peer_rules *a, const struct rdq_peer_rules *b)
{
	static const struct rdq_peer_rules none;

	a = a ? a : &none;
	b = b ? b : &none;
	return list_equal(&a->allow, &b->allow) && list_equal(&a->deny, &b->deny);
}

void rdq_prefix_format(const struct rdq_prefix *p, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (p->family == AF_UNSPEC) {
		snprintf(buf, size, "any");
		return;
	}
	inet_ntop(p->family, p->addr, host, sizeof(host));
	snprintf(buf, size, "%s/%u", host, p->len);
}

void rdq_peer_format(const struct sockaddr *peer, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const uint8_t *a = NULL;
	int family = peer_bytes(peer, &a);

	if (family != AF_UNSPEC)
		inet_ntop(family, a, host, sizeof(host));
	snprintf(buf, size, "%s", host);
}
