/* SPDX-License-Identifier: MIT */
/*
 * Each user's share of rdqd: the connections and objects a uid holds, kept
 * as counts so that a limit costs the same however much there is. No user
 * but root may hold more than --max-clients-per-user connections or
 * --max-endpoints endpoints, and the last few connections are root's alone,
 * so that one user can neither take everything nor lock out an
 * administrator. The endpoints that remote peers make on a user's listeners
 * are counted apart (SHARE_NETWORK_ENDPOINTS): the network does not spend
 * the user's own quota, and has limits of its own (admission.c). Loop only.
 */
#ifndef RDQD_SHARES_H
#define RDQD_SHARES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rdqd;

/* What is counted per uid. */
enum share_kind {
	SHARE_CONNECTIONS,
	SHARE_ENDPOINTS,	 /* the user's own: listeners and active endpoints */
	SHARE_NETWORK_ENDPOINTS, /* passive: made on the user's listeners for peers */
	SHARE_QPS,
	SHARE_KINDS,
};

struct uid_slot;

/* Counts per uid (an open-addressing table, shares.c), and everyone's. Loop only. */
struct uid_shares {
	struct uid_slot *slots;
	size_t cap, used;
	uint64_t total[SHARE_KINDS];
};

/* Connections kept for root: ROOT_RESERVE_DIV-th of --max-clients, at least one. */
#define ROOT_RESERVE_DIV 16

/*
 * Whether uid may open one more connection. Returns 0, or a negative errno
 * (-EMFILE: rdqd is full; -EDQUOT: this user holds its share) with a
 * sentence in why.
 */
int shares_check_connection(struct rdqd *d, uid_t uid, char *why, size_t size);

/* One more, or one less, of kind for uid. */
void shares_add(struct rdqd *d, uid_t uid, enum share_kind kind);
void shares_remove(struct rdqd *d, uid_t uid, enum share_kind kind);

/* How many of kind uid holds now. */
unsigned shares_count(struct rdqd *d, uid_t uid, enum share_kind kind);

/* How many of kind everyone holds. */
uint64_t shares_total(struct rdqd *d, enum share_kind kind);

void shares_fini(struct rdqd *d);

#endif
