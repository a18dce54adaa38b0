/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <assert.h>
#include <stdbool.h>
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

/*
 * Each entry of the stats table is filled, or stats_read fails an
 * assertion: a field added to lib/protocol/stats_fields.h that nothing here
 * fills would otherwise go out as 0 without a word. Checked at run time
 * because C has no check that a list of assignments covers an enum. It
 * costs a few dozen flags per stats request, and builds with
 * assertions (the default, and the tests') trip it on the first one: the
 * race world's admission test, the compat and metrics tests all ask.
 */
struct fill {
	struct stats_view *s;
	bool done[RDQ_STATS_NFIELDS];
};

static void fill_value(struct fill *f, enum rdq_stats_field id, uint64_t value)
{
	f->s->value[id] = value;
	f->done[id] = true;
}

/* A field of its own member of the view: a map, a text, the histogram. */
static void fill_member(struct fill *f, enum rdq_stats_field id)
{
	f->done[id] = true;
}

static void fill_check(const struct fill *f)
{
	for (unsigned i = 0; i < RDQ_STATS_NFIELDS; i++)
		assert(f->done[i] && "stats_read fills every field of stats_fields.h");
}

void stats_read(struct rdqd *d, uid_t uid, struct stats_view *s)
{
	const struct rdqd_counters *k = &d->counters;
	struct fill f = {.s = s};
	struct workers_stats w;

	/* A stats request is still pending while it answers: it counts as received, not replied. */
	fill_value(&f, RDQ_STATS_ID(requests, received), k->received);
	fill_value(&f, RDQ_STATS_ID(requests, rejected), k->rejected);
	fill_value(&f, RDQ_STATS_ID(requests, replied), k->replied);
	fill_value(&f, RDQ_STATS_ID(requests, dropped), k->dropped);
	fill_value(&f, RDQ_STATS_ID(requests, completed), k->completed);
	fill_value(&f, RDQ_STATS_ID(requests, pending), k->pending);
	fill_value(&f, RDQ_STATS_ID(clients, open), k->connections);
	fill_value(&f, RDQ_STATS_ID(clients, accepted), k->accepted);
	fill_value(&f, RDQ_STATS_ID(clients, refused), k->refused);
	fill_value(&f, RDQ_STATS_ID(clients, refused_nofd), k->refused_nofd);
	fill_value(&f, RDQ_STATS_ID(clients, idle_closed), k->idle_closed);
	fill_value(&f, RDQ_STATS_ID(events, cm), k->cm_events);
	fill_value(&f, RDQ_STATS_ID(events, cm_stale), k->cm_stale);
	fill_value(&f, RDQ_STATS_ID(events, sent), k->events_sent);
	fill_value(&f, RDQ_STATS_ID(events, lost), k->events_lost);
	fill_value(&f, RDQ_STATS_ID(data, transport_failed), k->transport_failed);
	fill_value(&f, RDQ_STATS_ID(data, backlog_full), k->backlog_full);
	fill_value(&f, RDQ_STATS_ID(data, recv_discarded), k->recv_discarded);
	fill_value(&f, RDQ_STATS_ID(data, echo_waited), k->echo_waited);
	fill_value(&f, RDQ_STATS_ID(network, requests), k->net_requests);
	fill_value(&f, RDQ_STATS_ID(network, accepted), k->net_accepted);
	fill_value(&f, RDQ_STATS_ID(network, rejected_listener_full),
		   k->net_rejected_listener_full);
	fill_value(&f, RDQ_STATS_ID(network, rejected_daemon_full), k->net_rejected_daemon_full);
	fill_value(&f, RDQ_STATS_ID(network, rejected_nofd), k->net_rejected_nofd);
	fill_value(&f, RDQ_STATS_ID(network, rejected_no_server), k->net_rejected_no_server);
	fill_value(&f, RDQ_STATS_ID(network, unannounced), k->net_unannounced);
	fill_value(&f, RDQ_STATS_ID(network, rejected_other), k->net_rejected_other);
	fill_value(&f, RDQ_STATS_ID(, connections), k->connections);

	s->nstatus = REQ_STATUS_BUCKETS;
	for (unsigned i = 0; i < REQ_STATUS_BUCKETS; i++)
		s->by_status[i] = (struct named_count){request_status_name(i), k->by_status[i]};
	fill_member(&f, RDQ_STATS_ID(requests, by_status));

	s->ntypes = 0;
	for (unsigned i = 0; i < CM_EVENT_TYPES; i++)
		if (k->cm_by_type[i])
			s->by_type[s->ntypes++] = (struct named_count){
				rdma_event_str((enum rdma_cm_event_type)i), k->cm_by_type[i]};
	fill_member(&f, RDQ_STATS_ID(events, by_type));

	workers_get_stats(&d->workers, &w);
	fill_value(&f, RDQ_STATS_ID(pool, size), w.pool_size);
	fill_value(&f, RDQ_STATS_ID(pool, free), w.pool_free);
	fill_value(&f, RDQ_STATS_ID(pool, in_use), w.in_use);
	fill_value(&f, RDQ_STATS_ID(pool, high_water), w.high_water);
	fill_value(&f, RDQ_STATS_ID(pool, misses), w.misses);
	fill_value(&f, RDQ_STATS_ID(pool, refused), w.refused);
	fill_value(&f, RDQ_STATS_ID(workers, threads), w.threads);
	fill_value(&f, RDQ_STATS_ID(workers, queued), w.queued);
	fill_value(&f, RDQ_STATS_ID(workers, run), w.run);
	fill_value(&f, RDQ_STATS_ID(workers, deferred), w.deferred);
	fill_value(&f, RDQ_STATS_ID(workers, serial_max), w.serial_max);
	s->sync_scope = sync_scope_name(d->opt.sync_scope);
	fill_member(&f, RDQ_STATS_ID(workers, sync_scope));

	fill_value(&f, RDQ_STATS_ID(, endpoints), stats_seen_endpoints(d, uid));
	fill_value(&f, RDQ_STATS_ID(, objects), stats_seen_objects(d, uid));

	fill_value(&f, RDQ_STATS_ID(network, endpoints), shares_total(d, SHARE_NETWORK_ENDPOINTS));
	fill_value(&f, RDQ_STATS_ID(network, max_endpoints), d->opt.max_network_endpoints);

	fill_value(&f, RDQ_STATS_ID(loop, callbacks), d->hist.count);
	fill_value(&f, RDQ_STATS_ID(loop, max_us), d->hist.max_us);
	fill_value(&f, RDQ_STATS_ID(loop, sum_us), d->hist.sum_us);
	s->nbuckets = LOOP_HIST_BUCKETS;
	for (unsigned i = 0; i < LOOP_HIST_BUCKETS; i++)
		s->histogram_us[i] = d->hist.buckets[i];
	fill_member(&f, RDQ_STATS_ID(loop, histogram_us));

	fill_check(&f);
}
