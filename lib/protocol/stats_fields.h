/* SPDX-License-Identifier: MIT */
/*
 * The fields of the stats result (docs/protocol.md, stats), in one table:
 * rdqd's encoder writes the wire names from it, in its order; the
 * Prometheus writer makes its metrics from it; rdqd's counters name the
 * entry each one feeds; the unit tests check docs/protocol.md's stats row
 * against it. A new field is one line here.
 *
 * RDQ_STATS_FIELDS(X) calls X(group, field, kind, metric, label, help) for
 * each field, in wire order:
 *   group   the object it sits in, or empty for a field at the top;
 *   field   its name in that object;
 *   kind    how it is written and what metric it becomes (enum
 *           rdq_stats_kind without its prefix);
 *   metric  its Prometheus name, NULL for COVERED; fields of one name make
 *           one metric family, wherever they are, with the first one's help;
 *   label   the field's own label in that family (name="value"), or for MAP
 *           and INFO the label's name, or NULL;
 *   help    the metric's # HELP text, NULL for COVERED.
 * group and field are bare words (#group is "" at the top), so that each
 * entry also names a constant: RDQ_STATS_ID(requests, received).
 */
#ifndef RDQ_PROTOCOL_STATS_FIELDS_H
#define RDQ_PROTOCOL_STATS_FIELDS_H

/* What a field holds on the wire, and how it becomes metrics. */
enum rdq_stats_kind {
	RDQ_STATS_COUNTER,   /* an integer: a count of events since rdqd started */
	RDQ_STATS_GAUGE,     /* an integer: a level now, which may go down */
	RDQ_STATS_SECONDS,   /* an integer in µs; a gauge in seconds */
	RDQ_STATS_MAP,	     /* an object of integers, by the key its label names */
	RDQ_STATS_INFO,	     /* a string; a gauge of 1 with it as its label */
	RDQ_STATS_HISTOGRAM, /* an array of bucket counts; loop.sum_us is its sum */
	RDQ_STATS_COVERED,   /* an integer no metric shows: part of the histogram, or shown twice */
};

#define RDQ_STATS_HELP_NETWORK_REJECTED "Connection requests from remote peers rejected, by reason."

/* clang-format off */
#define RDQ_STATS_FIELDS(X) \
	X(requests, received, COUNTER, "rdq_requests_received_total", NULL, \
	  "Requests decoded from clients' frames.") \
	X(requests, rejected, COUNTER, "rdq_requests_rejected_total", NULL, \
	  "Messages answered with an error before they became requests.") \
	X(requests, replied, COUNTER, "rdq_requests_replied_total", NULL, \
	  "Replies written to a client connection.") \
	X(requests, dropped, COUNTER, "rdq_requests_dropped_total", NULL, \
	  "Replies not written because their connection had closed.") \
	X(requests, completed, COUNTER, "rdq_requests_completed_total", NULL, \
	  "Requests completed, whatever their status.") \
	X(requests, pending, GAUGE, "rdq_requests_pending", NULL, \
	  "Requests not yet completed, a stats request among them.") \
	X(requests, by_status, MAP, "rdq_requests_completed_by_status_total", "status", \
	  "Requests completed, by status: ok, an errno name, or other.") \
	X(pool, size, GAUGE, "rdq_pool_items", NULL, "Work items made.") \
	X(pool, free, GAUGE, "rdq_pool_free_items", NULL, "Work items in the pool, unused.") \
	X(pool, in_use, GAUGE, "rdq_pool_in_use_items", NULL, \
	  "Work items out of the pool: queued, running or returning.") \
	X(pool, high_water, GAUGE, "rdq_pool_in_use_high_water_items", NULL, \
	  "The most work items in use at once since rdqd started.") \
	X(pool, misses, COUNTER, "rdq_pool_misses_total", NULL, \
	  "Times the pool was empty and a work item was made.") \
	X(pool, refused, COUNTER, "rdq_pool_refused_total", NULL, \
	  "Work items refused because --pool-cap were in use (EBUSY).") \
	X(workers, threads, GAUGE, "rdq_worker_threads", NULL, "Worker threads.") \
	X(workers, queued, GAUGE, "rdq_workers_queued_items", NULL, \
	  "Steps waiting for a worker now.") \
	X(workers, run, COUNTER, "rdq_workers_run_total", NULL, "Steps run on worker threads.") \
	X(workers, deferred, COUNTER, "rdq_workers_deferred_total", NULL, \
	  "Steps posted behind another step of the same event queue.") \
	X(workers, serial_max, GAUGE, "rdq_workers_serial_max_items", NULL, \
	  "The most steps that waited on one event queue at once since rdqd started.") \
	X(workers, sync_scope, INFO, "rdq_workers_sync_scope_info", "scope", \
	  "The synchronization scope (--sync-scope), as a label.") \
	X(, endpoints, GAUGE, "rdq_endpoints", NULL, \
	  "Endpoints now: every user's, those peers made on listeners among them.") \
	X(, objects, GAUGE, "rdq_objects", NULL, "Endpoints and QPs now.") \
	/* The same count as clients.open, which is shown. */ \
	X(, connections, COVERED, NULL, NULL, NULL) \
	X(clients, open, GAUGE, "rdq_clients_open", NULL, "Client connections open now.") \
	X(clients, accepted, COUNTER, "rdq_clients_accepted_total", NULL, \
	  "Client connections accepted.") \
	X(clients, refused, COUNTER, "rdq_clients_refused_total", NULL, \
	  "Client connections turned away by --max-clients or --max-clients-per-user.") \
	X(clients, refused_nofd, COUNTER, "rdq_clients_refused_nofd_total", NULL, \
	  "Client connections turned away because rdqd was out of file descriptors.") \
	X(clients, idle_closed, COUNTER, "rdq_clients_idle_closed_total", NULL, \
	  "Client connections closed for being idle (--idle-timeout).") \
	X(events, cm, COUNTER, "rdq_events_cm_total", NULL, "rdma_cm events read.") \
	X(events, cm_stale, COUNTER, "rdq_events_cm_stale_total", NULL, \
	  "rdma_cm events for an endpoint already gone.") \
	X(events, sent, COUNTER, "rdq_events_sent_total", NULL, "Events sent to watchers.") \
	X(events, lost, COUNTER, "rdq_events_lost_total", NULL, \
	  "Events not sent to a watcher that was not reading.") \
	X(events, by_type, MAP, "rdq_events_cm_by_type_total", "type", \
	  "rdma_cm events read, by type.") \
	X(data, transport_failed, COUNTER, "rdq_data_transport_failed_total", NULL, \
	  "Connections that failed under an endpoint.") \
	X(data, backlog_full, COUNTER, "rdq_data_backlog_full_total", NULL, \
	  "Connections failed because --recv-backlog messages waited unread.") \
	X(data, recv_discarded, COUNTER, "rdq_data_recv_discarded_total", NULL, \
	  "Messages that arrived for a QP already going away.") \
	X(data, echo_waited, COUNTER, "rdq_data_echo_waited_total", NULL, \
	  "Echoes that waited for a free send slot of their device.") \
	/* Daemon-wide: requests = accepted + the rejected; endpoints now, of max_endpoints. */ \
	X(network, requests, COUNTER, "rdq_network_requests_total", NULL, \
	  "Connection requests from remote peers.") \
	X(network, accepted, COUNTER, "rdq_network_accepted_total", NULL, \
	  "Connection requests from remote peers that became endpoints.") \
	X(network, rejected_listener_full, COUNTER, "rdq_network_rejected_total", \
	  "reason=\"listener_full\"", RDQ_STATS_HELP_NETWORK_REJECTED) \
	X(network, rejected_daemon_full, COUNTER, "rdq_network_rejected_total", \
	  "reason=\"daemon_full\"", RDQ_STATS_HELP_NETWORK_REJECTED) \
	X(network, rejected_nofd, COUNTER, "rdq_network_rejected_total", "reason=\"nofd\"", \
	  RDQ_STATS_HELP_NETWORK_REJECTED) \
	X(network, rejected_no_server, COUNTER, "rdq_network_rejected_total", \
	  "reason=\"no_server\"", RDQ_STATS_HELP_NETWORK_REJECTED) \
	X(network, unannounced, COUNTER, "rdq_network_unannounced_total", NULL, \
	  "Served connections closed as soon as made: " \
	  "the client serving the listener was gone.") \
	X(network, rejected_other, COUNTER, "rdq_network_rejected_total", "reason=\"other\"", \
	  RDQ_STATS_HELP_NETWORK_REJECTED) \
	X(network, rejected_by_rule, COUNTER, "rdq_network_rejected_total", "reason=\"rule\"", \
	  RDQ_STATS_HELP_NETWORK_REJECTED) \
	X(network, endpoints, GAUGE, "rdq_network_endpoints", NULL, \
	  "Endpoints remote peers made on listeners, now.") \
	X(network, max_endpoints, GAUGE, "rdq_network_endpoints_max", NULL, \
	  "The most endpoints remote peers may make (--max-network-endpoints).") \
	X(direct, dropped, COUNTER, "rdq_direct_dropped_total", NULL, \
	  "Direct endpoints whose client went while they were connected: their ids " \
	  "were destroyed, which disconnects their peers.") \
	/* loop.callbacks counts what the histogram's buckets add up to: its count is theirs. */ \
	X(loop, callbacks, COVERED, NULL, NULL, NULL) \
	X(loop, max_us, SECONDS, "rdq_loop_callback_duration_max_seconds", NULL, \
	  "The longest loop callback since rdqd started.") \
	X(loop, sum_us, COVERED, NULL, NULL, NULL) \
	X(loop, histogram_us, HISTOGRAM, "rdq_loop_callback_duration_seconds", NULL, \
	  "How long the loop's callbacks took.")
/* clang-format on */

/* The constant that names an entry: RDQ_STATS_ID(requests, received), RDQ_STATS_ID(, objects). */
#define RDQ_STATS_ID(group, field) RDQ_STATS_##group##_##field

#define RDQ_STATS_ENUM_ENTRY_(group, field, kind, metric, label, help) RDQ_STATS_ID(group, field),

/* The entries, numbered in wire order. */
enum rdq_stats_field { RDQ_STATS_FIELDS(RDQ_STATS_ENUM_ENTRY_) RDQ_STATS_NFIELDS };

#endif
