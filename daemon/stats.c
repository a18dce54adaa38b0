/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <stdint.h>

#include <rdma/rdma_cma.h>

#include "endpoint.h"
#include "rdqd.h"
#include "request.h"
#include "shares.h"

static json_int_t seen_count(struct rdqd *d, uid_t uid, enum share_kind kind)
{
	return (json_int_t)(uid == 0 ? shares_total(d, kind) : shares_count(d, uid, kind));
}

json_int_t stats_seen_endpoints(struct rdqd *d, uid_t uid)
{
	return seen_count(d, uid, SHARE_ENDPOINTS) + seen_count(d, uid, SHARE_NETWORK_ENDPOINTS);
}

json_int_t stats_seen_objects(struct rdqd *d, uid_t uid)
{
	return stats_seen_endpoints(d, uid) + seen_count(d, uid, SHARE_QPS);
}

/* A counter of stats: its name in the reply, and its value now. */
struct stat_field {
	const char *name;
	uint64_t value;
};

#define STAT_FIELDS(...)                                                                           \
	stat_object((const struct stat_field[]){__VA_ARGS__},                                      \
		    sizeof((const struct stat_field[]){__VA_ARGS__}) / sizeof(struct stat_field))

/* An object of the counters in fields, in their order (docs/protocol.md, stats). */
static json_t *stat_object(const struct stat_field *fields, size_t n)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < n; i++)
		json_object_set_new(obj, fields[i].name, json_integer((json_int_t)fields[i].value));
	return obj;
}

json_t *stats_build(struct rdqd *d, uid_t uid)
{
	struct rdqd_counters *k = &d->counters;
	struct workers_stats w;
	json_t *requests, *workers, *events, *loop, *by_status = json_object(),
						    *hist = json_array(), *cm = json_object();
	json_t *result;

	workers_get_stats(&d->workers, &w);
	for (unsigned i = 0; i < REQ_STATUS_BUCKETS; i++)
		json_object_set_new(by_status, request_status_name(i),
				    json_integer((json_int_t)k->by_status[i]));
	for (unsigned i = 0; i < LOOP_HIST_BUCKETS; i++)
		json_array_append_new(hist, json_integer((json_int_t)d->hist.buckets[i]));
	for (unsigned i = 0; i < CM_EVENT_TYPES; i++)
		if (k->cm_by_type[i])
			json_object_set_new(cm, rdma_event_str((enum rdma_cm_event_type)i),
					    json_integer((json_int_t)k->cm_by_type[i]));

	/* A stats request is still pending while it answers: it counts as received, not replied. */
	requests = STAT_FIELDS({"received", k->received}, {"rejected", k->rejected},
			       {"replied", k->replied}, {"dropped", k->dropped},
			       {"completed", k->completed}, {"pending", k->pending});
	json_object_set_new(requests, "by_status", by_status);
	workers = STAT_FIELDS({"threads", w.threads}, {"queued", w.queued}, {"run", w.run},
			      {"deferred", w.deferred}, {"serial_max", w.serial_max});
	json_object_set_new(workers, "sync_scope", json_string(sync_scope_name(d->opt.sync_scope)));
	events = STAT_FIELDS({"cm", k->cm_events}, {"cm_stale", k->cm_stale},
			     {"sent", k->events_sent}, {"lost", k->events_lost});
	json_object_set_new(events, "by_type", cm);
	loop = STAT_FIELDS({"callbacks", d->hist.count}, {"max_us", d->hist.max_us},
			   {"sum_us", d->hist.sum_us});
	json_object_set_new(loop, "histogram_us", hist);

	result = json_object();
	if (!result)
		return NULL;
	json_object_set_new(result, "requests", requests);
	json_object_set_new(result, "pool",
			    STAT_FIELDS({"size", w.pool_size}, {"free", w.pool_free},
					{"in_use", w.in_use}, {"high_water", w.high_water},
					{"misses", w.misses}, {"refused", w.refused}));
	json_object_set_new(result, "workers", workers);
	json_object_set_new(result, "endpoints", json_integer(stats_seen_endpoints(d, uid)));
	json_object_set_new(result, "objects", json_integer(stats_seen_objects(d, uid)));
	json_object_set_new(result, "connections", json_integer((json_int_t)k->connections));
	json_object_set_new(result, "clients",
			    STAT_FIELDS({"open", k->connections}, {"accepted", k->accepted},
					{"refused", k->refused}, {"refused_nofd", k->refused_nofd},
					{"idle_closed", k->idle_closed}));
	json_object_set_new(result, "events", events);
	json_object_set_new(result, "data",
			    STAT_FIELDS({"transport_failed", k->transport_failed},
					{"backlog_full", k->backlog_full},
					{"recv_discarded", k->recv_discarded},
					{"echo_waited", k->echo_waited}));
	/*
	 * Daemon-wide, like the other shared limits: requests = accepted + the
	 * rejected; endpoints is the passive endpoints now, against max_endpoints.
	 */
	json_object_set_new(result, "network",
			    STAT_FIELDS({"requests", k->net_requests},
					{"accepted", k->net_accepted},
					{"rejected_listener_full", k->net_rejected_listener_full},
					{"rejected_daemon_full", k->net_rejected_daemon_full},
					{"rejected_nofd", k->net_rejected_nofd},
					{"rejected_no_server", k->net_rejected_no_server},
					{"unannounced", k->net_unannounced},
					{"rejected_other", k->net_rejected_other},
					{"endpoints", shares_total(d, SHARE_NETWORK_ENDPOINTS)},
					{"max_endpoints", d->opt.max_network_endpoints}));
	json_object_set_new(result, "loop", loop);
	return result;
}
