/* SPDX-License-Identifier: MIT */
/*
 * The wire, outgoing: every reply and event rdqd writes, and every field
 * name in them (docs/protocol.md). The rest of rdqd hands plain C values to
 * this module, which writes compact JSON text straight into a buffer, with
 * no tree: one pass, no allocation.
 *
 * Each encoder writes into buf (size bytes) and returns the length the
 * whole text needs: more than size means it did not fit (the message is
 * too big for a frame), 0 that it could not be written at all.
 */
#ifndef RDQD_ENCODE_H
#define RDQD_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <infiniband/verbs.h>

#include "protocol/addr_prefix.h"
#include "protocol/stats_fields.h"

/* One endpoint as ep.show lists it. */
struct ep_view {
	uint64_t ep, qp, parent;
	const char *role, *state;
	char local[80], remote[80];
	uid_t owner;
	bool tied;
	uint64_t sent, received, echoed;
	bool listener;	  /* a listener: connections and max_connections follow */
	const char *mode; /* a listener's or an accepted endpoint's: "echo" or "serve"; else NULL */
	unsigned connections; /* a listener's peers now */
	unsigned max_connections;
	const char *name;   /* a declared listener's name, or NULL */
	const char *reason; /* a listener that waits or failed: why it does not listen; or NULL */
	uint32_t qp_num;    /* direct: its client's QP, once attached */
	int client_pid;	    /* direct: the process that owns its QP; else 0 */
	/*
	 * A listener's address rules, or NULL: their count in every row, the
	 * prefixes themselves when prefixes is set (ep.show of one endpoint: a
	 * page of rows with 128 prefixes each would not fit a message).
	 */
	const struct rdq_peer_rules *rules;
	bool prefixes;
};

/* One pending request as request.list lists it. */
struct request_view {
	uint64_t rid;
	int64_t id;
	const char *op, *state;
	uint64_t ep, age_ms;
	uid_t uid;
	bool mine;
};

/* One RDMA device as dev.show shows it. */
#define DEVICE_PORTS_MAX 8
#define DEVICE_GIDS_MAX	 8
struct port_view {
	int port;
	const char *state;
	int mtu;
	unsigned ngids;
	char gids[DEVICE_GIDS_MAX][46]; /* INET6_ADDRSTRLEN */
};

struct device_view {
	char name[64];
	const char *transport;
	int err; /* 0, or the errno of opening or querying it: then it has no ports */
	unsigned nports;
	struct port_view ports[DEVICE_PORTS_MAX];
};

/* A counter shown under a name that is data, not a field: a status bucket, an event type. */
struct named_count {
	const char *name;
	uint64_t value;
};

#define STATS_STATUS_BUCKETS 8
#define STATS_CM_TYPES	     32
#define STATS_HIST_BUCKETS   16

/*
 * The stats result: the daemon's counters, copied. value holds each
 * integer field (counter, gauge, seconds, covered) by its entry in
 * lib/protocol/stats_fields.h; the map, text and array fields have their
 * own members. encode.c takes every wire name from the table.
 */
struct stats_view {
	uint64_t value[RDQ_STATS_NFIELDS];
	struct named_count by_status[STATS_STATUS_BUCKETS]; /* requests.by_status */
	unsigned nstatus;
	struct named_count by_type[STATS_CM_TYPES]; /* events.by_type: only the types seen */
	unsigned ntypes;
	const char *sync_scope;			   /* workers.sync_scope */
	uint64_t histogram_us[STATS_HIST_BUCKETS]; /* loop.histogram_us */
	unsigned nbuckets;
};

/* The status result. */
struct status_view {
	int pid;
	uint64_t uptime_ms;
	bool rdma;
	const char *rdma_error;		/* written only when rdma is false */
	const char (*device_names)[64]; /* devices of them */
	unsigned devices;
	uint64_t endpoints, objects, connections;
};

/* What a successful request answers: one kind per shape of result. */
enum result_kind {
	RESULT_EMPTY,	      /* {} */
	RESULT_VERSION,	      /* version */
	RESULT_STATUS,	      /* status */
	RESULT_STATS,	      /* stats */
	RESULT_DEVICES,	      /* dev.show */
	RESULT_LISTENING,     /* ep.listen */
	RESULT_CONNECTED,     /* ep.connect */
	RESULT_SENT,	      /* ep.send */
	RESULT_RECEIVED,      /* ep.recv, ep.sendrecv: the bytes follow */
	RESULT_DISCONNECTED,  /* ep.disconnect with wait */
	RESULT_DISCONNECTING, /* ep.disconnect without */
	RESULT_WATCHING,      /* watch */
	RESULT_CANCELLED,     /* cancel */
	RESULT_ENDPOINTS,     /* ep.show: a page */
	RESULT_REQUESTS,      /* request.list: a page */
	RESULT_RESOLVED,      /* ep.resolve */
	RESULT_ATTACHED,      /* ep.attach: the QP's attributes, step by step */
	RESULT_ESTABLISHED,   /* ep.establish */
};

/*
 * Moves a direct endpoint's client makes its QP take, in order, each with
 * the attributes and mask rdma_cm gave for it: INIT (ep.resolve, ep.request),
 * then RTR and RTS (ep.attach).
 */
#define QP_STEPS_MAX 2
struct qp_steps {
	struct ibv_qp_attr attr[QP_STEPS_MAX];
	int mask[QP_STEPS_MAX];
	unsigned n;
};

struct result {
	enum result_kind kind;
	union {
		const struct status_view *status;
		const struct stats_view *stats;
		struct {
			const struct device_view *list;
			unsigned n;
		} devices;
		struct {
			uint64_t ep;
			const char *mode;
			const char *state; /* a listener that waits: "listening" or "waiting"; else
					      NULL */
		} listening;
		struct {
			uint64_t ep, qp;
		} connected;
		struct {
			uint64_t ep;
			const char *device;
			int port;
			const struct qp_steps *init; /* one step: INIT */
		} resolved;
		struct {
			uint64_t ep;
			uint32_t qp_num;
			const struct qp_steps *steps;
		} attached;
		uint64_t established; /* the endpoint */
		struct {
			uint64_t bytes;
			bool completed;
		} sent;
		int disconnected; /* the status rdma_cm reported */
		bool watching;
		unsigned cancelled;
		struct {
			const void *rows; /* struct ep_view or struct request_view */
			size_t n;
			bool more; /* then next is the cursor for the page after */
			uint64_t next;
		} page;
	};
};

/* A result made on the spot: RESULT(RESULT_SENT, .sent = {len, false}). */
#define RESULT(...) (&(const struct result){.kind = __VA_ARGS__})

/*
 * A success reply to request id in protocol version `version`. For
 * RESULT_RECEIVED, data holds the message's len bytes: version 1 carries
 * them in the JSON (text, or hex when not UTF-8), version 2 announces them
 * as the attachment the caller sends after the text. result NULL: {}.
 */
size_t encode_reply_ok(char *buf, size_t size, int version, int64_t id, const struct result *result,
		       const void *data, size_t len);

/*
 * An error reply: a positive errno value and a message (NULL or empty:
 * strerror's), made valid UTF-8 and cut to RDQ_REPLY_MESSAGE_MAX - 1 bytes.
 * id RDQ_NO_ID: null.
 */
size_t encode_reply_error(char *buf, size_t size, int version, int64_t id, int err,
			  const char *message);

/* The stats object alone, as the metrics endpoint turns it into Prometheus text. */
size_t encode_stats(char *buf, size_t size, const struct stats_view *stats);

/* The events (docs/protocol.md, Events). */
enum event_kind {
	EVENT_EP_ESTABLISHED,  /* ep, qp */
	EVENT_EP_DISCONNECTED, /* ep, status */
	EVENT_EP_ERROR,	       /* ep, errno and message of status; reason if not NULL */
	EVENT_EP_DESTROYED,    /* ep */
	EVENT_EP_ACCEPTED,     /* ep, listener, qp, peer, local */
	EVENT_EP_REQUEST,      /* ep, listener, device, port, peer, local: a direct listener's */
	EVENT_EP_FLUSH,	       /* ep, status: a direct endpoint's client must flush its QP */
	EVENT_QP_DESTROYED,    /* qp, ep */
	EVENT_EVENTS_LOST,     /* count */
};

struct event_view {
	enum event_kind kind;
	uint64_t ep, qp, listener;
	int status;	    /* 0 or a negative errno */
	const char *reason; /* EVENT_EP_ERROR: what rdqd knows of why, or NULL */
	const char *peer, *local;
	const char *device;
	int port;
	const struct qp_steps *init; /* EVENT_EP_REQUEST: the QP's INIT step */
	uint64_t count;
};

size_t encode_event(char *buf, size_t size, const struct event_view *event);

#endif
