/* SPDX-License-Identifier: MIT */
/*
 * Events to the connections that watch: each event encoded once, whatever
 * the number of watchers, and copied to each that may see its object. A
 * watcher that does not read costs rdqd a count, not memory: past the
 * output limit its events are counted lost, and it is told how many
 * (events.lost) before anything newer once it reads again. An event for
 * one connection (ep.accepted) is refused, not queued, when it cannot go.
 */
#include "control.h"

#include <errno.h>

#include "control_internal.h"
#include "encode.h"
#include "engine/list.h"
#include "object.h"
#include "protocol/frame.h"
#include "rdqd.h"

bool control_can_announce(struct rdqd *d, rdq_handle_t h)
{
	struct conn *c = conn_get(d, h);

	return c && !c->closing && conn_output_length(c) < OUTPUT_HIGH;
}

int control_announce(struct rdqd *d, rdq_handle_t h, size_t len)
{
	struct conn *c = conn_get(d, h);
	int ret;

	if (!c || c->closing)
		return -ENOENT;
	if (conn_output_length(c) >= OUTPUT_HIGH)
		return -ENOBUFS;
	ret = conn_write_frame(c, control_body(), len, NULL, 0);
	if (ret == 0)
		d->counters.events_sent++;
	return ret;
}

struct broadcast_ctx {
	uid_t owner;
	size_t len; /* of the event, encoded once in control_body() */
	uint64_t sent;
};

void conn_report_lost_events(struct conn *c)
{
	char text[96]; /* its own: control_body() holds the event being broadcast */
	struct event_view lost = {.kind = EVENT_EVENTS_LOST, .count = c->events_lost};

	if (!c->events_lost || conn_output_length(c) >= OUTPUT_LOW)
		return;
	if (conn_write_frame(c, text, encode_event(text, sizeof(text), &lost), NULL, 0) == 0)
		c->events_lost = 0;
}

static void broadcast_one(struct conn *c, struct broadcast_ctx *b)
{
	if (c->closing || !object_visible(b->owner, c->uid))
		return;
	/*
	 * A watcher that does not read must not make rdqd hold its events
	 * without bound: past the output limit they are counted, not kept, and
	 * it gets "events.lost" when it reads again.
	 */
	conn_report_lost_events(c);
	if (c->events_lost || conn_output_length(c) >= OUTPUT_HIGH) {
		c->events_lost++;
		c->d->counters.events_lost++;
	} else if (conn_write_frame(c, control_body(), b->len, NULL, 0) == 0) {
		b->sent++;
	}
}

void control_broadcast(struct rdqd *d, uid_t owner, const struct event_view *event)
{
	struct broadcast_ctx b = {.owner = owner};

	/* Only the watchers: an event costs nothing per connection that does not watch. */
	if (!d->watchers.first)
		return;
	/* Encoded once, whatever the number of watchers; each gets a copy of the bytes. */
	b.len = encode_event(control_body(), RDQ_MAX_MESSAGE, event);
	for (struct list_node *n = d->watchers.first, *next; n; n = next) {
		next = n->next;
		broadcast_one(list_entry(n, struct conn, watching), &b);
	}
	d->counters.events_sent += b.sent;
}

void control_set_watch(struct rdqd *d, rdq_handle_t h, bool on)
{
	struct conn *c = conn_get(d, h);

	if (!c || c->watch == on)
		return;
	c->watch = on;
	if (on)
		list_push_front(&d->watchers, &c->watching);
	else
		list_remove(&d->watchers, &c->watching);
}
