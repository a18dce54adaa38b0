/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <stdint.h>

#include <rdma/rdma_cma.h>

#include "encode.h"
#include "endpoint.h"
#include "rdqd.h"
#include "request.h"
#include "shares.h"

static uint64_t seen_count(struct rdqd *d, uid_t uid, enum share_kind kind)
{
	return uid == 0 ? shares_total(d, kind) : shares_count(d, uid, kind);
}

uint64_t stats_seen_endpoints(struct rdqd *d, uid_t uid)
{
	return seen_count(d, uid, SHARE_ENDPOINTS) + seen_count(d, uid, SHARE_NETWORK_ENDPOINTS);
}

uint64_t stats_seen_objects(struct rdqd *d, uid_t uid)
{
	return stats_seen_endpoints(d, uid) + seen_count(d, uid, SHARE_QPS);
}

_Static_assert(REQ_STATUS_BUCKETS <= STATS_STATUS_BUCKETS, "stats_view: too few status buckets");
_Static_assert(CM_EVENT_TYPES <= STATS_CM_TYPES, "stats_view: too few event types");
_Static_assert(LOOP_HIST_BUCKETS <= STATS_HIST_BUCKETS, "stats_view: too few histogram buckets");

void stats_read(struct rdqd *d, uid_t uid, struct stats_view *s)
{
	const struct rdqd_counters *k = &d->counters;
	struct workers_stats w;

	workers_get_stats(&d->workers, &w);
	/* A stats request is still pending while it answers: it counts as received, not replied. */
	s->requests.received = k->received;
	s->requests.rejected = k->rejected;
	s->requests.replied = k->replied;
	s->requests.dropped = k->dropped;
	s->requests.completed = k->completed;
	s->requests.pending = k->pending;
	s->requests.nstatus = REQ_STATUS_BUCKETS;
	for (unsigned i = 0; i < REQ_STATUS_BUCKETS; i++)
		s->requests.by_status[i] =
			(struct named_count){request_status_name(i), k->by_status[i]};

	s->pool.size = w.pool_size;
	s->pool.free = w.pool_free;
	s->pool.in_use = w.in_use;
	s->pool.high_water = w.high_water;
	s->pool.misses = w.misses;
	s->pool.refused = w.refused;

	s->workers.threads = w.threads;
	s->workers.queued = w.queued;
	s->workers.run = w.run;
	s->workers.deferred = w.deferred;
	s->workers.serial_max = w.serial_max;
	s->workers.sync_scope = sync_scope_name(d->opt.sync_scope);

	s->endpoints = stats_seen_endpoints(d, uid);
	s->objects = stats_seen_objects(d, uid);
	s->connections = k->connections;

	s->clients.open = k->connections;
	s->clients.accepted = k->accepted;
	s->clients.refused = k->refused;
	s->clients.refused_nofd = k->refused_nofd;
	s->clients.idle_closed = k->idle_closed;

	s->events.cm = k->cm_events;
	s->events.cm_stale = k->cm_stale;
	s->events.sent = k->events_sent;
	s->events.lost = k->events_lost;
	s->events.ntypes = 0;
	for (unsigned i = 0; i < CM_EVENT_TYPES; i++)
		if (k->cm_by_type[i])
			s->events.by_type[s->events.ntypes++] = (struct named_count){
				rdma_event_str((enum rdma_cm_event_type)i), k->cm_by_type[i]};

	s->data.transport_failed = k->transport_failed;
	s->data.backlog_full = k->backlog_full;
	s->data.recv_discarded = k->recv_discarded;
	s->data.echo_waited = k->echo_waited;

	s->network.requests = k->net_requests;
	s->network.accepted = k->net_accepted;
	s->network.rejected_listener_full = k->net_rejected_listener_full;
	s->network.rejected_daemon_full = k->net_rejected_daemon_full;
	s->network.rejected_nofd = k->net_rejected_nofd;
	s->network.rejected_no_server = k->net_rejected_no_server;
	s->network.unannounced = k->net_unannounced;
	s->network.rejected_other = k->net_rejected_other;
	s->network.endpoints = shares_total(d, SHARE_NETWORK_ENDPOINTS);
	s->network.max_endpoints = d->opt.max_network_endpoints;

	s->loop.callbacks = d->hist.count;
	s->loop.max_us = d->hist.max_us;
	s->loop.sum_us = d->hist.sum_us;
	s->loop.nbuckets = LOOP_HIST_BUCKETS;
	for (unsigned i = 0; i < LOOP_HIST_BUCKETS; i++)
		s->loop.histogram_us[i] = d->hist.buckets[i];
}
