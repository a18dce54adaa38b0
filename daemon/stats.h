/* SPDX-License-Identifier: MIT */
/*
 * The daemon's counters as the stats reply carries them (docs/protocol.md,
 * stats): one builder, for op stats and for the metrics endpoint, so that
 * the two cannot show different things.
 */
#ifndef RDQD_STATS_H
#define RDQD_STATS_H

#include <jansson.h>
#include <sys/types.h>

struct rdqd;

/*
 * Of the daemon's objects, what uid is shown: root everyone's, any other
 * user its own (docs/protocol.md, "What a user sees"). Endpoints count both
 * the user's own and those peers made on its listeners; objects add its QPs.
 */
json_int_t stats_seen_endpoints(struct rdqd *d, uid_t uid);
json_int_t stats_seen_objects(struct rdqd *d, uid_t uid);

/*
 * The stats object as uid is shown it, new (the caller owns it), or NULL
 * without memory. Loop only; it reads counters, not objects, so its cost
 * does not grow with what the daemon holds.
 */
json_t *stats_build(struct rdqd *d, uid_t uid);

#endif
