/* SPDX-License-Identifier: MIT */
/*
 * rdqd's plain counters, each one uint64_t of struct rdqd_counters (rdqd.h)
 * that the loop counts in, and the stats field it is shown as
 * (lib/protocol/stats_fields.h). RDQD_COUNTERS(X) calls
 * X(member, group, field) for each: rdqd.h makes the members from it and
 * stats.c copies them all with one loop made from it; an entry that names
 * no field of the table does not compile. What is not one counter shown as
 * one field (counts by status or type, a counter stats does not show)
 * stays in struct rdqd_counters by hand.
 */
#ifndef RDQD_COUNTERS_H
#define RDQD_COUNTERS_H

/* clang-format off */
#define RDQD_COUNTERS(X) \
	/* requests decoded (with an id) */ \
	X(received, requests, received) \
	/* messages answered with an error before becoming requests */ \
	X(rejected, requests, rejected) \
	/* replies written to a connection */ \
	X(replied, requests, replied) \
	/* replies whose connection had closed */ \
	X(dropped, requests, dropped) \
	/* requests completed, whatever the status */ \
	X(completed, requests, completed) \
	/* requests not yet completed */ \
	X(pending, requests, pending) \
	/* open now; stats shows it at the top too */ \
	X(connections, clients, open) \
	/* accepted, ever */ \
	X(accepted, clients, accepted) \
	/* turned away at once: --max-clients, --max-clients-per-user */ \
	X(refused, clients, refused) \
	/* turned away because rdqd was out of descriptors */ \
	X(refused_nofd, clients, refused_nofd) \
	/* closed for being idle (--idle-timeout) */ \
	X(idle_closed, clients, idle_closed) \
	X(cm_events, events, cm) \
	/* events for an endpoint already gone */ \
	X(cm_stale, events, cm_stale) \
	X(events_sent, events, sent) \
	/* events not sent to a watcher that did not read them */ \
	X(events_lost, events, lost) \
	/* endpoints whose QP failed: RNR, retries, remote errors */ \
	X(transport_failed, data, transport_failed) \
	/* endpoints failed with --recv-backlog messages unread */ \
	X(backlog_full, data, backlog_full) \
	/* messages that arrived for a QP already going away */ \
	X(recv_discarded, data, recv_discarded) \
	/* echoes that waited for a free send slot of their device */ \
	X(echo_waited, data, echo_waited) \
	/* \
	 * Peers' connection requests on our listeners (admission.c): each one is \
	 * accepted (a passive endpoint is made for it) or rejected, for one reason. \
	 */ \
	X(net_requests, network, requests) \
	X(net_accepted, network, accepted) \
	/* the listener held its max_connections */ \
	X(net_rejected_listener_full, network, rejected_listener_full) \
	/* --max-network-endpoints were up */ \
	X(net_rejected_daemon_full, network, rejected_daemon_full) \
	/* rdqd was out of file descriptors */ \
	X(net_rejected_nofd, network, rejected_nofd) \
	/* a serve listener's client could not be told */ \
	X(net_rejected_no_server, network, rejected_no_server) \
	/* served connections closed once made: their client was gone */ \
	X(net_unannounced, network, unannounced) \
	/* the listener was going; no memory or objects left */ \
	X(net_rejected_other, network, rejected_other) \
	/* the listener's address rules refused the peer's address */ \
	X(net_rejected_by_rule, network, rejected_by_rule) \
	/* direct endpoints connected when their client's connection closed */ \
	X(direct_dropped, direct, dropped)
/* clang-format on */

#endif
