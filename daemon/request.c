/* SPDX-License-Identifier: MIT */
#include "request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "control.h"
#include "engine/check.h"
#include "engine/level.h"
#include "engine/poison.h"
#include "encode.h"
#include "object.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "rdqd.h"

const char *request_state_name(enum request_state state)
{
	static const char *const names[] = {
		[REQ_NEW] = "new",
		[REQ_QUEUED] = "queued",
		[REQ_IN_FLIGHT] = "dispatched", /* the protocol's word since its first version */
		[REQ_COMPLETED] = "completed",
	};

	return names[state];
}

/*
 * The status buckets of stats' by_status: each bucket's name and the errno
 * values it counts (0 terminates; the first bucket is success, the last
 * everything else). One table, so that names and members cannot drift.
 */
static const struct {
	const char *name;
	int errnos[4];
} status_buckets[REQ_STATUS_BUCKETS] = {
	{"ok", {0}},
	{"ECANCELED", {ECANCELED}},
	{"ETIMEDOUT", {ETIMEDOUT}},
	{"ENOENT", {ENOENT}},
	{"EINVAL", {EINVAL, EBADMSG, EOPNOTSUPP}},
	{"ENODEV", {ENODEV}},
	{"ECONNRESET", {ECONNRESET, ENOTCONN}},
	{"other", {0}},
};

const char *request_status_name(unsigned bucket)
{
	return status_buckets[bucket].name;
}

/* The bucket a completion status (0 or a negative errno) counts in. */
static unsigned status_bucket(int status)
{
	if (status == 0)
		return 0;
	for (unsigned b = 1; b < REQ_STATUS_BUCKETS - 1; b++)
		for (unsigned i = 0; i < 4 && status_buckets[b].errnos[i]; i++)
			if (status_buckets[b].errnos[i] == -status)
				return b;
	return REQ_STATUS_BUCKETS - 1;
}

/*
 * Each connection keeps a list of its pending requests, so that closing it
 * finds them, cancel by id searches only its own, and its count bounds them.
 */
static void conn_list_add(struct request *req, struct control_requests *list)
{
	req->list = list;
	req->conn_prev = NULL;
	req->conn_next = list->head;
	if (list->head)
		list->head->conn_prev = req;
	list->head = req;
	list->count++;
}

static void conn_list_remove(struct request *req)
{
	struct control_requests *list = req->list;

	if (!list)
		return;
	if (req->conn_prev)
		req->conn_prev->conn_next = req->conn_next;
	else
		list->head = req->conn_next;
	if (req->conn_next)
		req->conn_next->conn_prev = req->conn_prev;
	req->conn_prev = req->conn_next = NULL;
	list->count--;
}

/*
 * Completed requests are kept for the next ones, up to REQUEST_SPARES: in
 * steady state a request costs no allocation of its own. Under ASan none
 * are kept, so that its quarantine still catches a request used after its
 * completion (a second completion is such a use).
 */
#ifdef RDQ_ASAN
#define REQUEST_SPARES 0
#else
#define REQUEST_SPARES 256
#endif

static struct request *request_alloc(struct rdqd *d)
{
	struct request *req = d->request_spares;
	struct event *timer;

	if (!req)
		return calloc(1, sizeof(*req));
	d->request_spares = req->conn_next;
	d->request_spare_count--;
	timer = req->timer;
	memset(req, 0, sizeof(*req));
	req->timer = timer;
	return req;
}

static void request_free(struct request *req)
{
	if (req->timer)
		event_free(req->timer);
	free(req);
}

static void request_release(struct rdqd *d, struct request *req)
{
	if (d->request_spare_count + 1 > REQUEST_SPARES) {
		request_free(req);
		return;
	}
	req->conn_next = d->request_spares;
	d->request_spares = req;
	d->request_spare_count++;
}

void request_pool_drain(struct rdqd *d)
{
	while (d->request_spares) {
		struct request *req = d->request_spares;

		d->request_spares = req->conn_next;
		request_free(req);
	}
	d->request_spare_count = 0;
}

struct request *request_new(struct rdqd *d, rdq_handle_t conn, struct control_requests *requests,
			    uid_t uid, pid_t pid, int64_t id, int version,
			    const struct rdq_op_spec *op)
{
	struct request *req = request_alloc(d);

	if (!req)
		return NULL;
	req->d = d;
	req->rid = ++d->last_rid;
	req->start_ms = now_ms();
	req->id = id;
	req->conn = conn;
	req->uid = uid;
	req->pid = pid;
	req->op = op;
	req->version = version;
	req->state = REQ_NEW;
	conn_list_add(req, requests);
	d->counters.received++;
	d->counters.pending++;
	return req;
}

/*
 * Sends the request's one reply: the result and, for a received message, its
 * bytes (lent to the output when loan is not NULL and the reply carries them
 * as an attachment; *lent says whether it took them); or the error. A reply
 * too big for a frame is answered with EMSGSIZE instead, never dropped.
 * Returns the status the client got.
 */
static int answer(struct request *req, int status, const struct result *result, const char *message,
		  const void *data, size_t len, const struct control_loan *loan, bool *lent)
{
	struct rdqd *d = req->d;
	char *body = control_body();
	bool attached =
		status == 0 && req->version > 1 && result && result->kind == RESULT_RECEIVED;
	size_t n = status == 0 ? encode_reply_ok(body, RDQ_MAX_MESSAGE, req->version, req->id,
						 result, data, len)
			       : encode_reply_error(body, RDQ_MAX_MESSAGE, req->version, req->id,
						    -status, message);
	int ret = -ENOSPC;

	if (attached && loan) {
		ret = control_reply_lent(req->list, n, loan);
		*lent = ret == 0;
	}
	/* Not lent (no loan, no room before it, no memory for the reference): copied. */
	if (ret < 0 && ret != -EMSGSIZE)
		ret = control_reply(req->list, n, attached ? data : NULL, len);
	if (ret == -EMSGSIZE) {
		status = -EMSGSIZE;
		n = encode_reply_error(body, RDQ_MAX_MESSAGE, req->version, req->id, EMSGSIZE,
				       "the reply would exceed the 64 KiB message limit; ask for "
				       "less (list operations take a limit and a cursor)");
		ret = control_reply(req->list, n, NULL, 0);
	}
	if (ret == 0)
		d->counters.replied++;
	else
		d->counters.dropped++;
	return status;
}

/* Completes req once; returns whether its reply took the loan's bytes (see answer). */
static bool complete(struct request *req, int status, const struct result *result,
		     const char *message, const void *data, size_t len,
		     const struct control_loan *loan)
{
	struct rdqd *d = req->d;
	bool lent = false;

	/*
	 * Exactly once is the contract. The request is freed below, so a second
	 * completion would be a use after free, not a state to check here: the race
	 * table, built with AddressSanitizer, reports it, and counts each request's replies.
	 */
	RDQ_DISPATCH_ONLY();
	if (req->state == REQ_QUEUED)
		request_dequeue(req);
	req->state = REQ_COMPLETED;
	if (req->deadline) {
		event_del(req->deadline);
		req->deadline = NULL;
	}
	if (req->list) {
		status = answer(req, status, result, message, data, len, loan, &lent);
		conn_list_remove(req);
	} else {
		d->counters.dropped++;
	}
	d->counters.completed++;
	d->counters.pending--;
	d->counters.by_status[status_bucket(status)]++;
	request_release(d, req);
	return lent;
}

void request_complete(struct request *req, int status, const struct result *result,
		      const char *message)
{
	complete(req, status, result, message, NULL, 0, NULL);
}

void request_complete_message(struct request *req, const void *data, size_t len)
{
	complete(req, 0, RESULT(RESULT_RECEIVED), NULL, data, len, NULL);
}

bool request_complete_lent(struct request *req, const struct control_loan *loan)
{
	return complete(req, 0, RESULT(RESULT_RECEIVED), NULL, loan->data, loan->len, loan);
}

void request_fail(struct request *req, int status, const char *fmt, ...)
{
	char message[RDQ_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	request_complete(req, status, NULL, message);
}

void request_fail_no_work_item(struct request *req, int err)
{
	if (err == -EBUSY)
		request_fail(req, err, "the daemon is out of work items (--pool-cap); try again");
	else
		request_fail(req, -ENOMEM, "out of memory");
}

static void deadline_fired(evutil_socket_t fd, short what, void *arg);

bool request_timer_of(const struct event *ev, uint64_t *rid)
{
	if (event_get_callback(ev) != deadline_fired)
		return false;
	*rid = ((const struct request *)event_get_callback_arg(ev))->rid;
	return true;
}

/* Arms req's deadline; the callback pointer rides in the request, the event's arg is it. */
static int arm_deadline(struct request *req, int64_t timeout_ms,
			void (*on_deadline)(struct request *req))
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

	/* Made once per request object and kept with it when it is reused: no allocation after. */
	if (!req->timer)
		req->timer = evtimer_new(req->d->base, deadline_fired, req);
	if (!req->timer)
		return -ENOMEM;
	req->deadline = req->timer;
	req->timeout_ms = timeout_ms;
	evtimer_add(req->deadline, &tv);
	req->on_deadline = on_deadline;
	return 0;
}

int request_deadline_in_flight(struct request *req, int64_t timeout_ms,
			       void (*on_deadline)(struct request *req))
{
	RDQ_CHECK(req->state == REQ_IN_FLIGHT && !req->deadline);
	req->in_flight_deadline = true;
	return arm_deadline(req, timeout_ms, on_deadline);
}

int request_enqueue(struct request_queue *q, struct request *req, int64_t timeout_ms,
		    void (*on_deadline)(struct request *req))
{
	RDQ_CHECK(req->state == REQ_NEW || req->state == REQ_IN_FLIGHT);
	if (timeout_ms > 0 && on_deadline && arm_deadline(req, timeout_ms, on_deadline) < 0)
		return -ENOMEM;
	req->queue = q;
	req->queue_next = NULL;
	req->queue_prev = q->tail;
	if (q->tail)
		q->tail->queue_next = req;
	else
		q->head = req;
	q->tail = req;
	q->count++;
	req->state = REQ_QUEUED;
	return 0;
}

static void deadline_fired(evutil_socket_t fd, short what, void *arg)
{
	struct request *req = arg;
	uint64_t start = now_us();
	struct rdqd *d = req->d;

	/*
	 * Only a queued request, or one in flight that asked for it, has an armed
	 * deadline: dequeuing and completion disarm it.
	 */
	RDQ_CHECK(req->state == REQ_QUEUED ||
		  (req->state == REQ_IN_FLIGHT && req->in_flight_deadline));
	req->on_deadline(req);
	loop_histogram_record(d, start);
}

void request_dequeue(struct request *req)
{
	struct request_queue *q = req->queue;

	RDQ_CHECK(req->state == REQ_QUEUED && q);
	if (req->queue_prev)
		req->queue_prev->queue_next = req->queue_next;
	else
		q->head = req->queue_next;
	if (req->queue_next)
		req->queue_next->queue_prev = req->queue_prev;
	else
		q->tail = req->queue_prev;
	q->count--;
	req->queue = NULL;
	req->queue_prev = req->queue_next = NULL;
	req->state = REQ_NEW;
	if (req->deadline) {
		event_del(req->deadline);
		req->deadline = NULL;
	}
}

void request_on_cancel(struct request *req,
		       void (*on_cancel)(struct request *req, const char *message))
{
	req->on_cancel = on_cancel;
}

/* A cancel of a queued request (by number or by id). */
static void cancel(struct request *req, const char *message)
{
	RDQ_CHECK(req->state == REQ_QUEUED);
	if (req->on_cancel)
		req->on_cancel(req, message);
	else
		request_complete(req, -ECANCELED, NULL, message);
}

struct request *request_queue_pop(struct request_queue *q)
{
	struct request *req = q->head;

	if (req)
		request_dequeue(req);
	return req;
}

void request_set_in_flight(struct request *req)
{
	RDQ_CHECK(req->state == REQ_NEW);
	req->state = REQ_IN_FLIGHT;
}

void request_queue_fail_all(struct request_queue *q, int status, const char *message)
{
	struct request *req;

	while ((req = request_queue_pop(q)))
		request_complete(req, status, NULL, message);
}

void request_orphan(struct request *req)
{
	/* The list is going away with its connection; forget the links. */
	req->conn = 0;
	req->list = NULL;
	req->conn_prev = req->conn_next = NULL;
	/* As a cancel: a connect being made is abandoned, not finished for nobody. */
	if (req->state == REQ_QUEUED)
		cancel(req, "the client's connection closed");
}

void request_orphan_all(struct control_requests *list)
{
	struct request *req = list->head, *next;

	list->head = NULL;
	list->count = 0;
	for (; req; req = next) {
		next = req->conn_next;
		request_orphan(req);
	}
}

struct foreach_ctx {
	bool (*fn)(struct request *req, void *arg);
	void *arg;
	bool stop;
};

static bool list_each(struct control_requests *list, void *arg)
{
	struct foreach_ctx *ctx = arg;

	for (struct request *req = list->head; req && !ctx->stop; req = req->conn_next)
		ctx->stop = !ctx->fn(req, ctx->arg);
	return !ctx->stop;
}

void request_foreach(struct rdqd *d, bool (*fn)(struct request *req, void *arg), void *arg)
{
	struct foreach_ctx ctx = {.fn = fn, .arg = arg};

	control_foreach_requests(d, list_each, &ctx);
}

struct rid_search {
	uint64_t rid;
	uid_t uid;
	const struct request *self;
	struct request *found;
};

static bool rid_matches(struct request *req, void *arg)
{
	struct rid_search *s = arg;

	if (req == s->self || req->rid != s->rid || !object_visible(req->uid, s->uid))
		return true;
	s->found = req;
	return false;
}

int request_cancel_rid(struct rdqd *d, uid_t uid, uint64_t rid, const struct request *self,
		       enum request_state *state)
{
	struct rid_search s = {.rid = rid, .uid = uid, .self = self};

	request_foreach(d, rid_matches, &s);
	if (!s.found)
		return -ENOENT;
	*state = s.found->state;
	/* Dequeued: its completion is under way and will come, with its own status. */
	if (s.found->state != REQ_QUEUED)
		return -EALREADY;
	cancel(s.found, "cancelled by a client");
	return 0;
}

unsigned request_cancel_id(struct rdqd *d, rdq_handle_t conn, int64_t id, struct request *self)
{
	struct control_requests *list = control_requests(d, conn);
	struct request *req, *next;
	unsigned n = 0;

	RDQ_DISPATCH_ONLY();
	for (req = list ? list->head : NULL; req; req = next) {
		next = req->conn_next;
		/* Only a request still on a queue can be cancelled; a dequeued one runs to its end.
		 */
		if (req != self && req->id == id && req->state == REQ_QUEUED) {
			cancel(req, "cancelled by the client");
			n++;
		}
	}
	return n;
}
