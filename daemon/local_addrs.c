/* SPDX-License-Identifier: MIT */
#include "local_addrs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool local_addr_of(const struct sockaddr_storage *ss, struct local_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = (unsigned char)ss->ss_family;
	if (ss->ss_family == AF_INET)
		memcpy(out->bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(out->bytes, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	else
		return false;
	return true;
}

static int compare(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct local_addr));
}

/* Where a is, or would go: the first element not below it. */
static unsigned lower_bound(const struct local_addrs *s, const struct local_addr *a)
{
	unsigned lo = 0, hi = s->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (compare(&s->v[mid], a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool is_wildcard(const struct local_addr *a)
{
	static const unsigned char zero[16];

	return memcmp(a->bytes, zero, sizeof(zero)) == 0;
}

bool local_addrs_has(const struct local_addrs *s, const struct local_addr *a)
{
	unsigned i;

	if (is_wildcard(a))
		return true;
	i = lower_bound(s, a);
	return i < s->n && compare(&s->v[i], a) == 0;
}

int local_addrs_add(struct local_addrs *s, const struct local_addr *a)
{
	unsigned i = lower_bound(s, a);

	if (i < s->n && compare(&s->v[i], a) == 0)
		return 0;
	if (s->n == s->cap) {
		unsigned cap = s->cap ? 2 * s->cap : 16;
		struct local_addr *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = *a;
	s->n++;
	return 1;
}

bool local_addrs_remove(struct local_addrs *s, const struct local_addr *a)
{
	unsigned i = lower_bound(s, a);

	if (i >= s->n || compare(&s->v[i], a) != 0)
		return false;
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
	return true;
}

void local_addrs_clear(struct local_addrs *s)
{
	free(s->v);
	*s = (struct local_addrs){0};
}

int local_addr_from(const char *host, int port, struct sockaddr_storage *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

int local_addr_parse(const char *text, int default_port, struct sockaddr_storage *out, char *err,
		     size_t err_size)
{
	const char *whole = text;
	char host[64];
	const char *port_text = NULL, *colon = strrchr(text, ':');
	size_t len = strlen(text);
	long port = default_port;
	char *end;

	if (text[0] == '[') {
		/* [IPV6] or [IPV6]:PORT */
		const char *close = strchr(text, ']');

		if (!close || (close[1] && close[1] != ':'))
			goto bad;
		len = (size_t)(close - text - 1);
		text++;
		port_text = close[1] ? close + 2 : NULL;
	} else if (colon && strchr(text, ':') == colon) {
		/* One colon: IPv4:PORT. More: a bare IPv6 address. */
		len = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (len == 0 || len >= sizeof(host))
		goto bad;
	memcpy(host, text, len);
	host[len] = '\0';
	if (port_text) {
		port = strtol(port_text, &end, 10);
		if (!*port_text || *end || port < 1 || port > 65535) {
			snprintf(err, err_size, "\"%s\" is not a port from 1 to 65535", port_text);
			return -EINVAL;
		}
	}
	if (local_addr_from(host, (int)port, out) == 0)
		return 0;
bad:
	snprintf(err, err_size,
		 "\"%.80s\" is not a numeric ADDR:PORT (IPv4 as 10.0.0.1:7472, IPv6 as "
		 "[fe80::1]:7472)",
		 whole);
	return -EINVAL;
}
