/* SPDX-License-Identifier: MIT */
/*
 * The rdma_cm event channel, on the loop: its events, acked at once, go to
 * the endpoint they are for (endpoint_cm_event).
 */
#ifndef RDQD_CM_H
#define RDQD_CM_H

struct rdma_event_channel;
struct rdqd;

/* Makes channel non-blocking and serves its events on the loop; d->cm becomes channel. */
int cm_attach(struct rdqd *d, struct rdma_event_channel *channel);
void cm_close(struct rdqd *d);

#endif
