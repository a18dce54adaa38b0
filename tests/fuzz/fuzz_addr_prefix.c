/* SPDX-License-Identifier: MIT */
/*
 * rdq_prefix_list_add() on any bytes, as ep.listen's allow and deny or a
 * file's line bring them: it takes them (at most RDQ_PREFIX_MAX prefixes,
 * each a network with no host bits) or refuses them, EINVAL or E2BIG with
 * a message, the list as it was. What it took writes back as text that
 * reads again as the same prefixes, and each matches its own network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "protocol/addr_prefix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The prefix's network as a peer's socket address: mapped, for IPv4, one time in two. */
static const struct sockaddr *network_of(const struct rdq_prefix *p, bool mapped,
					 struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (p->family == AF_INET && !mapped) {
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, p->addr, 4);
	} else if (p->family == AF_INET) {
		in6->sin6_family = AF_INET6;
		in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], p->addr, 4);
	} else {
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, p->addr, 16);
	}
	return (const struct sockaddr *)ss;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rdq_prefix_list l = {0}, again = {0};
	char err[200], text[RDQ_PREFIX_STRLEN];
	int ret;

	/* A list that holds some already: what is refused must leave them. */
	FUZZ_CHECK(rdq_prefix_list_add(&l, "10.0.0.0/8", 10, err, sizeof(err)) == 0);
	ret = rdq_prefix_list_add(&l, (const char *)data, size, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -E2BIG);
	if (ret < 0) {
		FUZZ_CHECK(l.n == 1);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
		return 0;
	}
	FUZZ_CHECK(l.n >= 1 && l.n <= RDQ_PREFIX_MAX);
	for (unsigned i = 0; i < l.n; i++) {
		const struct rdq_prefix *p = &l.v[i];
		struct sockaddr_storage ss;

		FUZZ_CHECK(p->family == AF_UNSPEC || p->family == AF_INET || p->family == AF_INET6);
		FUZZ_CHECK(p->len <= (p->family == AF_INET ? 32 : 128));
		rdq_prefix_format(p, text, sizeof(text));
		FUZZ_CHECK(strlen(text) < sizeof(text) - 1);
		again.n = 0;
		FUZZ_CHECK(rdq_prefix_list_add(&again, text, strlen(text), err, sizeof(err)) == 0);
		FUZZ_CHECK(again.n == 1 && again.v[0].family == p->family &&
			   again.v[0].len == p->len &&
			   memcmp(again.v[0].addr, p->addr, sizeof(p->addr)) == 0);
		if (p->family != AF_UNSPEC) {
			struct rdq_peer_rules deny = {.deny = again};

			FUZZ_CHECK(rdq_prefix_list_match(&again, network_of(p, i % 2, &ss)));
			FUZZ_CHECK(!rdq_peer_rules_admit(&deny, network_of(p, i % 2, &ss)));
		}
	}
	return 0;
}
