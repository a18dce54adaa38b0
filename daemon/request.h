/* SPDX-License-Identifier: MIT */
/*
 * A request: one message from a client, from decoding to its single reply.
 * rdq's IRP. Loop-thread object; a worker may carry it inside a
 * work item (state IN_FLIGHT), and then nobody else touches it until the
 * item comes back to the loop.
 */
#ifndef RDQD_REQUEST_H
#define RDQD_REQUEST_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/handle_table.h"

struct control_loan;
struct control_requests;
struct result;
struct rdq_op_spec;
struct rdqd;
struct request_queue;

enum request_state {
	REQ_NEW,    /* decoded; its handler is running on the loop */
	REQ_QUEUED, /* waiting on an endpoint's cancel-safe queue: cancel removes it */
	/*
	 * Past its queue, carried by a work item or by a send in flight: no
	 * longer cancelable; it completes when its carrier comes back. The
	 * protocol's request.list has always called it "dispatched".
	 */
	REQ_IN_FLIGHT,
	REQ_COMPLETED, /* answered (or dropped with its connection); about to be freed */
};

struct request {
	struct rdqd *d;
	uint64_t rid;	   /* the daemon's number for it: request.list shows it, cancel takes it */
	int64_t id;	   /* the client's request id */
	rdq_handle_t conn; /* the connection to answer, 0 once it closed */
	/*
	 * That connection's list of pending requests, which the request is on:
	 * how its reply finds the connection without a lookup. NULL once the
	 * connection closed (request_orphan clears it, on the loop, before the
	 * connection is freed); a worker carrying the request never touches it.
	 */
	struct control_requests *list;
	uint64_t start_ms; /* when it was decoded */
	uid_t uid;	   /* the client's uid, for ownership checks */
	pid_t pid;	   /* the client's pid: a direct endpoint's QP must be its own */
	const struct rdq_op_spec *op;
	int version; /* the protocol version it came in: its reply's form */
	enum request_state state;
	rdq_handle_t ep;    /* the endpoint it acts on, if any */
	rdq_handle_t qp;    /* the QP it acts on, if any */
	int64_t timeout_ms; /* op-specific deadline, 0: none */
	/*
	 * Set while IN_FLIGHT when the endpoint it acts on is destroyed for a
	 * reason its worker step cannot see (a device removal): the status to
	 * answer with, instead of the step's plain -ENOENT.
	 */
	int gone_status;
	struct event *deadline; /* timer when armed: QUEUED with a timeout */
	struct event
		*timer; /* its deadline's event, made once and kept while the object is reused */
	void (*on_deadline)(struct request *req); /* what the deadline does */
	bool in_flight_deadline; /* the deadline runs while IN_FLIGHT (a send in flight) */
	/* What a cancel does while it is QUEUED, or NULL: complete it with ECANCELED. */
	void (*on_cancel)(struct request *req, const char *message);
	struct request_queue *queue; /* the queue holding it while QUEUED */
	struct request *queue_prev, *queue_next;
	struct request *conn_prev, *conn_next; /* in its connection's list */
};

const char *request_state_name(enum request_state state);

/* Completions are counted by status in these buckets (stats' by_status). */
#define REQ_STATUS_BUCKETS 8
/* The name of bucket (less than REQ_STATUS_BUCKETS): "ok", an errno's name, or "other". */
const char *request_status_name(unsigned bucket);

/* A cancel-safe queue: requests wait here until dequeued or cancelled. Loop only. */
struct request_queue {
	struct request *head, *tail;
	unsigned count;
};

/*
 * Makes a request for a decoded message of connection conn; it joins conn's
 * list, requests. Returns NULL when out of memory.
 */
struct request *request_new(struct rdqd *d, rdq_handle_t conn, struct control_requests *requests,
			    uid_t uid, pid_t pid, int64_t id, int version,
			    const struct rdq_op_spec *op);

/* Frees the requests kept for reuse (at exit). */
void request_pool_drain(struct rdqd *d);

/*
 * Answers the request once and frees it: with result (encode.h; read before
 * this returns; NULL for an empty object) when status is 0, else with the
 * negative errno status and message (NULL: strerror). Removes it from any
 * queue and its connection. Completing a request twice is a bug, never a
 * client's fault: the race table catches it.
 */
void request_complete(struct request *req, int status, const struct result *result,
		      const char *message);

/*
 * Completes the request with a received message of len bytes (copied): in
 * protocol version 2 they are the reply's attachment, in version 1 text (or
 * hex) in its JSON.
 */
void request_complete_message(struct request *req, const void *data, size_t len);

/*
 * Completes the request with a received message whose buffer the reply may
 * keep instead of copying it (control_loan, control.h). Returns true when it
 * did: the buffer is the connection's output's until loan->give_back; false
 * when it is still the caller's (a version 1 reply, which carries the bytes
 * as text, a client gone, or no room or memory to lend them).
 */
bool request_complete_lent(struct request *req, const struct control_loan *loan);

/* Formats the message of an error completion. */
void request_fail(struct request *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fails req because no work item could be had: err -EBUSY (the pool's cap) or -ENOMEM. */
void request_fail_no_work_item(struct request *req, int err);

/*
 * Puts a request on a queue (state QUEUED); with timeout_ms > 0 arms a
 * deadline that calls on_deadline(req) on the loop. Returns 0 or -ENOMEM.
 */
int request_enqueue(struct request_queue *q, struct request *req, int64_t timeout_ms,
		    void (*on_deadline)(struct request *req));

/*
 * Makes a cancel of req (while QUEUED) call on_cancel, which must complete
 * it, instead of completing it with ECANCELED: for a request whose end ends
 * more than itself (a cancelled ep.connect abandons its endpoint).
 */
void request_on_cancel(struct request *req,
		       void (*on_cancel)(struct request *req, const char *message));

/*
 * Arms a deadline for an IN_FLIGHT request whose carrier may never come back
 * (a send the hardware keeps retrying): on_deadline(req) runs on the loop and
 * must complete it. Completion disarms it. Returns 0 or -ENOMEM.
 */
int request_deadline_in_flight(struct request *req, int64_t timeout_ms,
			       void (*on_deadline)(struct request *req));

/* Removes a QUEUED request from its queue; it is no longer cancelable. */
void request_dequeue(struct request *req);

/* Takes the oldest request off q (dequeued), or NULL. */
struct request *request_queue_pop(struct request_queue *q);

/* Marks a request IN_FLIGHT: a work item (or a send) carries it now. */
void request_set_in_flight(struct request *req);

/* Completes every request on q with status and message. */
void request_queue_fail_all(struct request_queue *q, int status, const char *message);

/*
 * The connection closed: queued requests complete with ECANCELED, the others
 * lose their way to answer (their reply is dropped when they complete).
 */
void request_orphan(struct request *req);

/*
 * cancel by id: completes with ECANCELED every queued request of connection
 * conn with this client id (never self). Returns how many.
 */
unsigned request_cancel_id(struct rdqd *d, rdq_handle_t conn, int64_t id, struct request *self);

/*
 * cancel by number: finds the pending request rid that uid may see (never
 * self). A queued one completes with ECANCELED: returns 0. Returns -EALREADY
 * for one past its queue (it completes on its own; *state says where it is),
 * -ENOENT when there is none.
 */
int request_cancel_rid(struct rdqd *d, uid_t uid, uint64_t rid, const struct request *self,
		       enum request_state *state);

/* request_orphan for each request of a connection's list, which ends up empty. */
void request_orphan_all(struct control_requests *list);

/*
 * Calls fn for every pending request of every open connection, until it
 * returns false. fn must not complete requests: the lists may not change
 * while it runs.
 */
void request_foreach(struct rdqd *d, bool (*fn)(struct request *req, void *arg), void *arg);

/*
 * Whether ev is a request's deadline timer, and whose (its number in *rid):
 * for a simulator that names every timer, even an orphaned request's.
 */
bool request_timer_of(const struct event *ev, uint64_t *rid);

#endif
