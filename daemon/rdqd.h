/* SPDX-License-Identifier: MIT */
/*
 * The daemon's shared state: one instance, owned by the loop thread; the
 * fields a worker may touch say so. Data only: each module's functions are
 * declared in its own header.
 */
#ifndef RDQD_RDQD_H
#define RDQD_RDQD_H

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "counters.h"
#include "engine/handle_table.h"
#include "engine/list.h"
#include "addr_watch.h"
#include "declared.h"
#include "device.h"
#include "local_addrs.h"
#include "engine/workers.h"
#include "request.h"
#include "shares.h"

/* rdma_cm_event_type values counted in stats (rdma-core 44 has 17, from 0). */
#define CM_EVENT_TYPES 20
/* The RDMA devices status names: more are used, but not listed there. */
#define RDQD_DEVICES_MAX     32
#define RDQD_DEVICE_NAME_MAX 64 /* IBV_SYSFS_NAME_MAX */
/* Buckets of the listeners that wait, by their address's hash. */
#define RDQD_LISTEN_WAIT_BUCKETS 64
/* The signals rdqd handles: SIGTERM, SIGINT (shut down), SIGHUP (reload). */
#define RDQD_SIGNALS 3

struct control_handlers;
struct evhttp;
struct settings;
struct rdma_event_channel;
struct verbs_device;
struct conn;
struct ep;

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

struct rdqd_options {
	const char *socket_path;
	bool socket_default;	/* no --socket: the path every client finds by itself */
	unsigned workers;	/* 0: one per CPU */
	unsigned pool_prealloc; /* work items made at start */
	unsigned pool_cap;	/* 0: no cap */
	unsigned max_pending;	/* requests per connection */
	unsigned max_endpoints; /* per uid: its own, not those peers made on its listeners */
	unsigned max_network_endpoints; /* passive endpoints, daemon-wide */
	unsigned max_clients;
	unsigned max_clients_per_user;	/* any uid but root */
	unsigned idle_timeout_s;	/* close a connection idle this long; 0: never */
	bool systemd;			/* take the socket from systemd, notify READY=1 */
	unsigned sync_scope;		/* enum sync_scope */
	unsigned disconnect_timeout_ms; /* ep.disconnect's local deadline unless it sets one */
	unsigned max_message;		/* bytes in one RDMA message, either way */
	unsigned recv_backlog;		/* received messages an endpoint holds unread */
	unsigned send_slots;		/* send buffers per device; 0: 8 MiB of them */
	const char *metrics;		/* ADDR:PORT of the metrics endpoint; "": not served */
	const char *listen_dir;		/* the declared listeners' folder; "": none */
	unsigned log_level;		/* LOG_ERR to LOG_DEBUG: the least urgent priority logged */
};

/* Loop-callback durations, in power-of-two microsecond buckets. */
#define LOOP_HIST_BUCKETS 16
struct loop_histogram {
	uint64_t count;
	uint64_t buckets[LOOP_HIST_BUCKETS]; /* [i]: < 2^i µs; the last: everything longer */
	uint64_t max_us;
	uint64_t sum_us; /* of every callback, each in whole µs: the histogram's mean */
};

/* What rdqd counts; stats.c shows it (docs/protocol.md, stats). */
struct rdqd_counters {
#define RDQD_COUNTER_MEMBER(member, group, field) uint64_t member;
	RDQD_COUNTERS(RDQD_COUNTER_MEMBER) /* counters.h: one each, shown as one stats field */
#undef RDQD_COUNTER_MEMBER
	uint64_t by_status[REQ_STATUS_BUCKETS]; /* by request_status_name */
	uint64_t cm_by_type[CM_EVENT_TYPES];	/* by enum rdma_cm_event_type */
	uint64_t device_removals; /* endpoints torn down because their device went away */
};

struct rdqd {
	struct event_base *base;
	struct rdqd_options opt;
	struct workers workers;
	/* With SYNC_DEVICE: the one event queue and state lock every endpoint shares. */
	struct work_serial device_serial;
	pthread_mutex_t device_lock;
	struct handle_table objects; /* endpoints and QPs; thread-safe */
	struct handle_table conns;   /* client connections; loop only */
	/* Of struct conn: the connections that asked for events (control_events.c); loop only. */
	struct list watchers;
	/* What the QPs of each RDMA device share (verbs_device.c); under verbs_lock. */
	struct verbs_device *verbs_devices;
	pthread_mutex_t verbs_lock;
	const struct control_handlers *control_handlers; /* what a frame or a close leads to */
	struct uid_shares uid_shares;			 /* loop only */
	struct rdma_event_channel *cm;	  /* NULL until an RDMA device and rdma_cm are there */
	struct device_watch device_watch; /* device.c's */
	struct addr_watch addr_watch;	  /* addr_watch.c's: the host's addresses as they change */
	struct local_addrs local_addrs;	  /* the IP addresses on the host's interfaces now */
	/*
	 * Listeners that wait for their address (ep_wait.c): all of them, and by
	 * a hash of their address, so an address's event finds its own. Loop only.
	 */
	struct list listen_waits;
	struct list listen_wait_buckets[RDQD_LISTEN_WAIT_BUCKETS];
	/* The declared listeners (listen.d, declared.c): by name, each with its endpoint. */
	struct declared_set declared;
	struct qp_msg *msg_spares; /* messages' buffers kept for reuse (qp.c); loop only */
	unsigned msg_spare_count;
	char rdma_error[160]; /* why RDMA is unusable now, or "" */
	/* Names of the RDMA devices usable now (the first RDQD_DEVICES_MAX of them). */
	char device_names[RDQD_DEVICES_MAX][RDQD_DEVICE_NAME_MAX];
	unsigned ndevices;
	struct event *cm_event;
	struct event *done_event;
	struct event *listen_event;
	struct event *signal_events[RDQD_SIGNALS];
	struct event *watchdog_timer; /* WATCHDOG=1 to systemd, from the loop itself */
	struct event *shutdown_timer; /* bounds how long clients may take to read their replies */
	struct evhttp *metrics_http;  /* the metrics endpoint (metrics.c), or NULL */
	int listen_fd;
	bool listen_fd_ours; /* we made it (unlink on exit); false with socket activation */
	/*
	 * Out of descriptors: a spare one, given up to accept a client only to
	 * tell it so; and a timer that resumes accepting when not even that
	 * could be done.
	 */
	int spare_fd;
	struct event *accept_timer;
	unsigned accept_backoff_ms;
	bool fd_starved;	  /* in an episode of EMFILE/ENFILE; logged once each */
	uint64_t starved_refused; /* clients turned away in this episode */
	/*
	 * Rejected connection requests are logged at most once a second
	 * (admission.c): the first at once, the rest summed by this timer.
	 */
	struct event *reject_log_timer;
	uint64_t rejects_unlogged; /* since the last line */
	char reject_last[160];	   /* the latest one's reason */
	bool shutting_down;
	/* Where the options came from, for SIGHUP's reload (reload.c). */
	struct settings *settings;
	bool reload_queued; /* a reload's file read is out on a worker */
	bool reload_again;  /* SIGHUP came again meanwhile */
	uint64_t start_ms;
	uint64_t last_rid;		/* the last request number given */
	struct request *request_spares; /* completed requests kept for reuse (request.c) */
	unsigned request_spare_count;
	struct rdqd_counters counters;
	struct loop_histogram hist;
};

#endif
