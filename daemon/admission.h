/* SPDX-License-Identifier: MIT */
/*
 * Admission of the connections the network asks for. A peer's
 * CONNECT_REQUEST on one of our listeners becomes a passive endpoint only
 * while the listener holds fewer than its max_connections, rdqd fewer than
 * --max-network-endpoints passive endpoints, and rdqd has file descriptors
 * to spare. Each check reads a count kept as endpoints come and go (the
 * listener's children, the network's share in shares.c), so it costs the
 * same however many there are. Before them, the listener's address rules
 * (allow and deny prefixes, protocol/addr_prefix.h) may refuse the peer's
 * address: bounded lists, so that check too costs the same every time. A
 * request turned away is rejected through rdma_cm with a reason the peer
 * can read (ep_reject, on a worker), counted in stats (network), and logged
 * at most once a second. Loop only.
 */
#ifndef RDQD_ADMISSION_H
#define RDQD_ADMISSION_H

#include <stddef.h>

#include "engine/handle_table.h"

struct rdq_peer_rules;
struct rdqd;
struct sockaddr;

/*
 * The reason a rejected peer reads, with its NUL: IB CM's REJ carries 148
 * bytes of private data, which rdma_cm hands to the peer whole.
 */
#define ADMISSION_REASON_MAX 148

/* What becomes of a peer's connection request. */
enum admission {
	ADMIT,
	REFUSE_LISTENER_FULL, /* the listener holds its max_connections */
	REFUSE_DAEMON_FULL,   /* rdqd holds --max-network-endpoints passive endpoints */
	REFUSE_NOFD,	      /* rdqd is out of file descriptors */
	REFUSE_NO_SERVER,     /* a serve listener's client is not reading its announcements */
	REFUSE_OTHER,	      /* the listener is going away; no memory or objects left */
	REFUSE_PEER_RULE,     /* the listener's address rules refuse the peer's address */
};

/*
 * Whether listener, holding connections of its max now, may take one more
 * peer. If not, reason (size bytes) says why, for the peer.
 */
enum admission admission_check(struct rdqd *d, rdq_handle_t listener, unsigned connections,
			       unsigned max, char *reason, size_t size);

/*
 * Whether the listener's address rules (NULL: none) admit peer, the address
 * rdma_cm reports for the request. If not, reason (size bytes) names the
 * peer. At most 2 * RDQ_PREFIX_MAX comparisons, whatever else there is.
 */
enum admission admission_check_peer(const struct rdq_peer_rules *rules, const struct sockaddr *peer,
				    char *reason, size_t size);

/* A connection request was admitted: a passive endpoint was made for it. */
void admission_accepted(struct rdqd *d);

/* A connection request is rejected for why, the peer told reason: counted, and logged. */
void admission_rejected(struct rdqd *d, enum admission why, const char *reason);

/* Lets the log's timer go; once, at exit. */
void admission_fini(struct rdqd *d);

#endif
