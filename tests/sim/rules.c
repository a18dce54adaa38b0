/* SPDX-License-Identifier: MIT */
/*
 * Listeners' address rules in the simulator. A listener asks for one of a
 * few rule sets; each peer's connection request comes from one of a few
 * addresses; a table written by hand says which peers each set admits. A
 * peer the rules refuse must never be accepted, and a reject that names the
 * rules must be one of those: the verdict is rdqd's, the table the model's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>
#include <string.h>

#include "fakes.h"
#include "sim.h"

/* The rule sets a listener may ask for (0: none), as ep.listen's allow and deny. */
static const struct {
	const char *allow, *deny;
} sets[RULE_SETS] = {
	{NULL, NULL},
	{"10.1.0.0/16", "any"},	    /* only 10.1/16 */
	{NULL, "10.9.0.0/16, ::1"}, /* all but 10.9/16 and ::1 */
};

/* Where peers come from; ::ffff:10.1.9.9 is an IPv4 peer written in IPv6, as the rules see it. */
static const char *const peers[] = {"10.1.2.3", "10.9.0.7", "fd00::5", "::ffff:10.1.9.9"};
#define NPEERS (sizeof(peers) / sizeof(peers[0]))

/* admits[set][peer]: what each set must do with each peer. */
static const bool admits[RULE_SETS][NPEERS] = {
	{true, true, true, true},
	{true, false, false, true},
	{true, false, true, true},
};

enum verdict { UNKNOWN, ADMITTED, REFUSED };

struct ruled {
	rdq_handle_t ep;
	int set;
};

static struct ruled listeners[SIM_MAX_HANDLES];
static unsigned nlisteners;
static unsigned char expected[FAKE_MAX_IDS]; /* enum verdict, per recorded id */
static unsigned touched;

void rules_reset(void)
{
	nlisteners = 0;
	memset(expected, 0, touched);
	touched = 0;
}

void rules_pick(json_t *listen_args, struct sent *s)
{
	int set = (int)rng_below(&sim.rng, RULE_SETS);

	s->rules = set;
	if (sets[set].allow)
		json_object_set_new(listen_args, "allow", json_string(sets[set].allow));
	if (sets[set].deny)
		json_object_set_new(listen_args, "deny", json_string(sets[set].deny));
}

void rules_listener(rdq_handle_t ep, int set)
{
	if (nlisteners < SIM_MAX_HANDLES)
		listeners[nlisteners++] = (struct ruled){ep, set};
}

static int set_of(rdq_handle_t listener)
{
	for (unsigned i = 0; i < nlisteners; i++)
		if (listeners[i].ep == listener)
			return listeners[i].set;
	return -1; /* its reply is not read yet: its rules are not known here */
}

void rules_peer(unsigned index, rdq_handle_t listener, struct rdma_cm_id *id)
{
	unsigned p = rng_below(&sim.rng, NPEERS);
	struct sockaddr_storage *to = &id->route.addr.dst_storage;
	int set = set_of(listener);

	memset(to, 0, sizeof(*to));
	if (strchr(peers[p], ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)to;

		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, peers[p], &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)to;

		a->sin_family = AF_INET;
		inet_pton(AF_INET, peers[p], &a->sin_addr);
	}
	if (index >= FAKE_MAX_IDS)
		return;
	expected[index] = set < 0 ? UNKNOWN : admits[set][p] ? ADMITTED : REFUSED;
	if (index + 1 > touched)
		touched = index + 1;
	trace("peer %s for listener %llu: %s", peers[p], (unsigned long long)listener,
	      set < 0	       ? "its rules unknown"
	      : admits[set][p] ? "its rules admit it"
			       : "refused");
}

void rules_check(void)
{
	static const char why[] = "is refused by the listener's address rules";

	for (unsigned i = 0; i < touched && i < fake.nids; i++) {
		const struct fake_id *f = &fake.ids[i];
		bool says_rules = f->rejects && strstr(f->reject_data, why);

		if (expected[i] == REFUSED && f->accepts)
			sim_fail("rdma_cm_id #%u: a peer its listener's rules refuse was accepted",
				 i);
		if (expected[i] == ADMITTED && says_rules)
			sim_fail(
				"rdma_cm_id #%u: a peer its listener's rules admit was told \"%s\"",
				i, f->reject_data);
	}
}
