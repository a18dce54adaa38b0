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
 * because the fills are of two kinds, the loop made from RDQD_COUNTERS and
 * the values read by hand below, and C has no check that assignments cover
 * an enum. It costs a few dozen flags per stats request, and builds with
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
#define COPY_COUNTER(member, group, field) fill_value(&f, RDQ_STATS_ID(group, field), k->member);
	RDQD_COUNTERS(COPY_COUNTER)
#undef COPY_COUNTER
	/* connections is clients.open, shown at the top as well (as status shows it). */
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
