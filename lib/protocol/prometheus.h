/* SPDX-License-Identifier: MIT */
/*
 * rdqd's counters in the Prometheus text exposition format (version 0.0.4),
 * made from the stats reply's object: rdqctl stats --prometheus and rdqd's
 * metrics endpoint both write it here, so the two cannot drift apart.
 */
#ifndef RDQ_PROTOCOL_PROMETHEUS_H
#define RDQ_PROTOCOL_PROMETHEUS_H

#include <jansson.h>
#include <stddef.h>

/* The Content-Type of the text rdq_prometheus_write() makes. */
#define RDQ_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Where the text goes: called with each piece in order; returns 0, or a
 * negative errno to stop the writing, which then returns it.
 */
typedef int (*rdq_text_sink)(void *ctx, const char *text, size_t len);

/*
 * Writes stats (the result of op stats, docs/protocol.md) as Prometheus
 * text to sink: every counter and gauge, with # HELP and # TYPE lines, the
 * status and event-type maps as labels, and the loop histogram as a
 * histogram in seconds. A numeric field this module does not know yet is
 * written as an untyped metric rather than left out. Fields missing from
 * stats are left out. Returns 0, -EINVAL if stats is not an object, or what
 * sink returned.
 */
int rdq_prometheus_write(const json_t *stats, rdq_text_sink sink, void *ctx);

/* The same, from the stats object's JSON text (len bytes); -EINVAL if it is not JSON. */
int rdq_prometheus_write_text(const char *json, size_t len, rdq_text_sink sink, void *ctx);

#endif
