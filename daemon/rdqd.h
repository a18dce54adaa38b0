/* SPDX-License-Identifier: MIT */
/*
 * The daemon's shared state. One instance, owned by the loop thread; the
 * fields a worker may touch say so.
 */
#ifndef RDQD_RDQD_H
#define RDQD_RDQD_H

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/handle_table.h"
#include "engine/workers.h"
#include "request.h"

/* rdma_cm_event_type values counted in stats (rdma-core 44 has 17, from 0). */
#define CM_EVENT_TYPES 20
/* The signals rdqd handles: SIGTERM, SIGINT (shut down), SIGHUP (logged). */
#define RDQD_SIGNALS 3

struct rdma_event_channel;
struct request;
struct conn;

/* Object kinds in the handle table. */
enum object_kind {
	OBJ_EP = 1,
	OBJ_QP = 2,
};

/*
 * Which endpoints share one event queue (KMDF's synchronization scope):
 * their worker steps run one at a time, in the order the loop posted them.
 */
enum sync_scope {
	SYNC_ENDPOINT, /* each endpoint's steps in order; endpoints in parallel (default) */
	SYNC_DEVICE,   /* every endpoint's steps one at a time, daemon-wide */
	SYNC_NONE,     /* no order: any step may run beside another of its endpoint */
};

const char *sync_scope_name(enum sync_scope scope);

struct rdqd_options {
	const char *socket_path;
	unsigned workers;	/* 0: one per CPU */
	unsigned pool_prealloc; /* work items made at start */
	unsigned pool_cap;	/* 0: no cap */
	unsigned max_pending;	/* requests per connection */
	unsigned max_endpoints; /* per uid */
	unsigned max_clients;
	bool systemd; /* take the socket from systemd, notify READY=1 */
	enum sync_scope sync_scope;
	unsigned disconnect_timeout_ms; /* ep.disconnect's local deadline unless it sets one */
};

/* Loop-callback durations, in power-of-two microsecond buckets. */
#define LOOP_HIST_BUCKETS 16
struct loop_histogram {
	uint64_t count;
	uint64_t buckets[LOOP_HIST_BUCKETS]; /* [i]: < 2^i µs; the last: everything longer */
	uint64_t max_us;
};

struct rdqd_counters {
	uint64_t received;  /* requests decoded (with an id) */
	uint64_t rejected;  /* messages answered with an error before becoming requests */
	uint64_t replied;   /* replies written to a connection */
	uint64_t dropped;   /* replies whose connection had closed */
	uint64_t completed; /* requests completed, whatever the status */
	uint64_t pending;   /* requests not yet completed */
	uint64_t by_status[REQ_STATUS_BUCKETS]; /* by request_status_name */
	uint64_t cm_events;
	uint64_t cm_by_type[CM_EVENT_TYPES]; /* by enum rdma_cm_event_type */
	uint64_t cm_stale;		     /* events for an endpoint already gone */
	uint64_t device_removals; /* endpoints torn down because their device went away */
	uint64_t events_sent;
	uint64_t connections; /* open now */
	uint64_t accepted;    /* ever */
};

struct rdqd {
	struct event_base *base;
	struct rdqd_options opt;
	struct workers workers;
	/* With SYNC_DEVICE: the one event queue and state lock every endpoint shares. */
	struct work_serial device_serial;
	pthread_mutex_t device_lock;
	struct handle_table objects;   /* endpoints and QPs; thread-safe */
	struct handle_table conns;     /* client connections; loop only */
	struct rdma_event_channel *cm; /* NULL until an RDMA device and rdma_cm are there */
	char rdma_error[160];	       /* why RDMA is unusable now, or "" */
	json_t *devices;	       /* names of the RDMA devices usable now */
	struct event *cm_event;
	struct event *uevent_event; /* the kernel says a device came or went */
	struct event *scan_timer;   /* gathers a burst of uevents into one scan */
	int uevent_fd;
	struct event *done_event;
	struct event *listen_event;
	struct event *signal_events[RDQD_SIGNALS];
	struct event *watchdog_timer; /* WATCHDOG=1 to systemd, from the loop itself */
	struct event *shutdown_timer; /* bounds how long clients may take to read their replies */
	int listen_fd;
	bool listen_fd_ours; /* we made it (unlink on exit); false with socket activation */
	bool shutting_down;
	bool scan_queued; /* a device_resync is on its way */
	bool scan_again;  /* devices changed again meanwhile */
	uint64_t start_ms;
	uint64_t last_rid; /* the last request number given */
	struct rdqd_counters counters;
	struct loop_histogram hist;
};

/* Monotonic milliseconds. */
uint64_t now_ms(void);
uint64_t now_us(void);

/* Records a loop callback that started at start_us. */
void loop_histogram_record(struct rdqd *d, uint64_t start_us);

/* control.c: the control socket and its connections. */
int control_listen(struct rdqd *d);
void control_stop_accepting(struct rdqd *d);
/* Closes every client once its replies are written, or at once with force. */
void control_close_all(struct rdqd *d, bool force);
/* Sends msg (not stolen) to connection conn if it is still open. Returns 0 or -ENOENT. */
int control_send(struct rdqd *d, rdq_handle_t conn, const json_t *msg);
/* Sends an event (stolen) to each watching connection that may see objects of owner. */
void control_broadcast(struct rdqd *d, uid_t owner, json_t *event);
/* A request of conn completed: it may start another. */
void control_request_done(struct rdqd *d, rdq_handle_t conn);
/* The head of conn's list of pending requests, or NULL if conn closed. */
struct request **control_conn_requests(struct rdqd *d, rdq_handle_t conn);
unsigned control_connections(struct rdqd *d);
/* Turns events on or off for conn. */
void control_set_watch(struct rdqd *d, rdq_handle_t conn, bool on);
/* Calls fn for every pending request of every connection, until it returns false. */
void control_foreach_request(struct rdqd *d, bool (*fn)(struct request *req, void *arg), void *arg);

/* ops.c: request handlers. */
void ops_dispatch(struct rdqd *d, struct request *req);
/* Returns the op for a name, or NULL. */
const struct op *ops_find(const char *name);

/* cm.c: the rdma_cm event channel. */
/* Makes channel non-blocking and serves its events on the loop; d->cm becomes channel. */
int cm_attach(struct rdqd *d, struct rdma_event_channel *channel);
void cm_close(struct rdqd *d);

/* main.c: shutdown. */
void rdqd_shutdown(struct rdqd *d);
/* During shutdown: exits the loop once nothing is left to finish. */
void rdqd_check_exit(struct rdqd *d);

/* device.c: the RDMA devices. dev.show, on a worker. */
void device_show(struct rdqd *d, struct request *req);
/*
 * Reads the device lists again on a worker: after a device removal (so that
 * librdmacm lets the device go) and when uevents say devices changed. Opens
 * the rdma_cm channel once a device is there.
 */
void device_resync(struct rdqd *d);
/* At start (may block): reads the devices and starts watching uevents. */
int device_watch_start(struct rdqd *d);
void device_watch_stop(struct rdqd *d);

#endif
