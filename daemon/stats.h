/* SPDX-License-Identifier: MIT */
/*
 * The daemon's counters as the stats reply carries them (docs/protocol.md,
 * stats): one reader, for op stats and for the metrics endpoint, so that
 * the two cannot show different things.
 */
#ifndef RDQD_STATS_H
#define RDQD_STATS_H

#include <stdint.h>
#include <sys/types.h>

struct rdqd;
struct stats_view;

/*
 * Of the daemon's objects, what uid is shown: root everyone's, any other
 * user its own (docs/protocol.md, "What a user sees"). Endpoints count both
 * the user's own and those peers made on its listeners; objects add its QPs.
 */
uint64_t stats_seen_endpoints(struct rdqd *d, uid_t uid);
uint64_t stats_seen_objects(struct rdqd *d, uid_t uid);

/*
 * Copies the counters as uid is shown them into out (encode.h). Loop only;
 * it reads counters, not objects, so its cost does not grow with what the
 * daemon holds.
 */
void stats_read(struct rdqd *d, uid_t uid, struct stats_view *out);

#endif
