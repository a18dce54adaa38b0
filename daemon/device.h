/* SPDX-License-Identifier: MIT */
/*
 * The RDMA devices: dev.show, and following devices as they come and go
 * (kernel uevents, then a rescan on a worker). rdma_cm's channel can only be
 * opened once a device is there, so the rescan opens it too and hands it to
 * whoever started the watch.
 */
#ifndef RDQD_DEVICE_H
#define RDQD_DEVICE_H

#include <stdbool.h>

struct device_list;
struct event;
struct rdma_event_channel;
struct rdqd;
struct request;

/*
 * What the device watch tells its subscriber, on the loop: the rdma_cm
 * channel it opened (once). Returns 0, or < 0 if the channel cannot be
 * watched (it is then closed, and RDMA stays unusable).
 */
typedef int device_channel_fn(struct rdqd *d, struct rdma_event_channel *channel);

/* What the device watch tells a second subscriber, on the loop: the usable devices changed. */
typedef void devices_changed_fn(struct rdqd *d);

/* The device watch's own state (d->device_watch); loop only. */
struct device_watch {
	device_channel_fn *channel_opened; /* the subscriber: cm.c's reader */
	devices_changed_fn *changed;	   /* or NULL: the listeners that wait (ep_wait.c) */
	struct event *uevent_event;	   /* the kernel says a device came or went */
	struct event *scan_timer;	   /* gathers a burst of uevents into one scan */
	int uevent_fd;
	struct device_list *spare_list; /* dev.show's last answer, kept for the next one */
	bool scan_queued;		/* a device_resync is on its way */
	bool scan_again;		/* devices changed again meanwhile */
};

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
 * channel opened now or later goes to channel_opened: the subscriber, which
 * uses this module, is told through the pointer it gave, and this module
 * names none above it.
 */
int device_watch_start(struct rdqd *d, device_channel_fn *channel_opened);
void device_watch_stop(struct rdqd *d);

/* Tells changed, from now on, each time the usable RDMA devices change. Loop or start-up. */
void device_watch_subscribe(struct rdqd *d, devices_changed_fn *changed);

#endif
