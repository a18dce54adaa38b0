/* SPDX-License-Identifier: MIT */
/*
 * The rdma_cm event channel, on the loop: its events, acked at once, go to
 * the endpoint they are for (endpoint_cm_event).
 */
#ifndef RDQD_CM_H
#define RDQD_CM_H

struct rdma_event_channel;
struct rdqd;

/*
 * At start (may block): subscribes to the device watch (device.c), which
 * reads the devices and gives this module the rdma_cm channel once one can
 * be opened; its events are then served on the loop. Returns 0 or -errno.
 */
int cm_start(struct rdqd *d);
void cm_close(struct rdqd *d);

#endif
