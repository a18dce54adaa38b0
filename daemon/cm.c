/* SPDX-License-Identifier: MIT */
/*
 * The channel's fd is non-blocking,
 * so rdma_get_cm_event never sleeps; events are drained in bounded batches.
 *
 * The ack rule: each event is acked exactly once, right after the loop has
 * copied what it needs and before it acts. A worker's rdma_destroy_id waits
 * until every event of its id is acked, and the loop never waits for a
 * worker, so this order cannot deadlock.
 */
#include "cm.h"

#include <errno.h>
#include <fcntl.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "clock.h"
#include "endpoint.h"
#include "log.h"
#include "rdqd.h"

#define CM_BATCH 64

/* The handle an event is for: a connect request's is its listener's. */
static rdq_handle_t event_handle(const struct rdma_cm_event *ev)
{
	struct rdma_cm_id *id = ev->event == RDMA_CM_EVENT_CONNECT_REQUEST ? ev->listen_id : ev->id;

	return (rdq_handle_t)(uintptr_t)id->context;
}

/*
 * What a peer that rejected our connect says in the REJ's private data, as
 * text: rdqd's own listeners put a reason there (admission.c), and so may
 * others. It comes from the network: only printable ASCII is kept, up to the
 * first NUL. "" when there is none.
 */
static void reject_reason(const struct rdma_cm_event *ev, char *buf, size_t size)
{
	const unsigned char *p = ev->param.conn.private_data;
	size_t n = 0;

	if (p && ev->event == RDMA_CM_EVENT_REJECTED)
		for (size_t i = 0; i < ev->param.conn.private_data_len && p[i] && n + 1 < size; i++)
			buf[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	buf[n] = '\0';
}

static void cm_ready(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();
	unsigned n;

	for (n = 0; n < CM_BATCH; n++) {
		struct rdma_cm_event *ev;
		char reason[160];
		struct rdma_cm_id *ev_id;
		rdq_handle_t h;
		int type, status;

		if (rdma_get_cm_event(d->cm, &ev)) {
			if (errno != EAGAIN)
				log_warn("rdma_get_cm_event: %s", strerror(errno));
			break;
		}
		type = ev->event;
		status = ev->status;
		h = event_handle(ev);
		ev_id = ev->id; /* the endpoint's, or a CONNECT_REQUEST's new one */
		/* Copied before the ack, which frees the event and its private data. */
		reject_reason(ev, reason, sizeof(reason));
		d->counters.cm_events++;
		if ((size_t)type < CM_EVENT_TYPES)
			d->counters.cm_by_type[type]++;
		log_debug("cm: %s status %d ep %llu", rdma_event_str(ev->event), status,
			  (unsigned long long)h);
		rdma_ack_cm_event(ev);
		endpoint_cm_event(d, h, type, status, ev_id, reason[0] ? reason : NULL);
	}
	/* More may be waiting: come back on the next turn, after other callbacks ran. */
	if (n == CM_BATCH)
		event_active(d->cm_event, EV_READ, 0);
	loop_histogram_record(d, start);
}

/* Makes channel non-blocking and serves its events on the loop; d->cm becomes channel. */
static int cm_attach(struct rdqd *d, struct rdma_event_channel *channel)
{
	int flags = fcntl(channel->fd, F_GETFL);

	if (flags < 0 || fcntl(channel->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	d->cm_event = event_new(d->base, channel->fd, EV_READ | EV_PERSIST, cm_ready, d);
	if (!d->cm_event)
		return -ENOMEM;
	event_add(d->cm_event, NULL);
	d->cm = channel;
	return 0;
}

int cm_start(struct rdqd *d)
{
	return device_watch_start(d, cm_attach);
}

void cm_close(struct rdqd *d)
{
	if (d->cm_event)
		event_free(d->cm_event);
	d->cm_event = NULL;
	if (d->cm)
		rdma_destroy_event_channel(d->cm);
	d->cm = NULL;
}
