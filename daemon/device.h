/* SPDX-License-Identifier: MIT */
/*
 * The RDMA devices: dev.show, and following devices as they come and go
 * (kernel uevents, then a rescan on a worker). rdma_cm's channel can only be
 * opened once a device is there, so the rescan opens it too and hands it to
 * whoever started the watch.
 */
#ifndef RDQD_DEVICE_H
#define RDQD_DEVICE_H

struct rdma_event_channel;
struct rdqd;
struct request;

/* dev.show: describes every device, on a worker. */
void device_show(struct rdqd *d, struct request *req);

/*
 * Reads the device lists again on a worker: after a device removal (so that
 * librdmacm lets the device go) and when uevents say devices changed. Opens
 * the rdma_cm channel once a device is there.
 */
void device_resync(struct rdqd *d);

/*
 * At start (may block): reads the devices and starts watching uevents. A
 * channel opened now or later goes to attach (the loop's rdma_cm reader).
 */
int device_watch_start(struct rdqd *d,
		       int (*attach)(struct rdqd *d, struct rdma_event_channel *channel));
void device_watch_stop(struct rdqd *d);

#endif
