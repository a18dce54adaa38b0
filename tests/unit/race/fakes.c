/* SPDX-License-Identifier: MIT */
/*
 * The fakes behind the race table (see fakes.h). No librdmacm, no
 * libibverbs: every rdma_* and QP call the endpoint code makes lands here.
 * Calls that may block in the real library check they run at PASSIVE level,
 * and loop-only calls that they run at DISPATCH level, so the level rules
 * are checked in every case too.
 */
#include "fakes.h"

#include <errno.h>
#include <stddef.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "encode.h"
#include "endpoint.h"
#include "engine/level.h"
#include "object.h"
#include "qp.h"
#include "qp_owner.h"
#include "rdqd.h"
#include "request.h"

struct fake_record fake;

static struct {
	fake_hook_fn fn;
	void *arg;
} hooks[FAKE_POINTS];

void fake_reset(void)
{
	/* The records a case made, and everything before them: not megabytes per case. */
	memset(fake.ids, 0, sizeof(fake.ids[0]) * fake.nids);
	memset(fake.qps, 0, sizeof(fake.qps[0]) * fake.nqps);
	memset(&fake, 0, offsetof(struct fake_record, qps));
	memset(hooks, 0, sizeof(hooks));
}

void fake_hook_set(enum fake_point at, fake_hook_fn fn, void *arg)
{
	hooks[at].fn = fn;
	hooks[at].arg = arg;
}

/* Runs the hook armed at this point, once: a step may reach it again later. */
static void hook_run(enum fake_point at)
{
	fake_hook_fn fn = hooks[at].fn;

	if (!fn)
		return;
	hooks[at].fn = NULL;
	fake.hooks_run++;
	fn(hooks[at].arg);
}

/* ----------------------------------------------------------------- faults */

static const char *const call_names[FAKE_CALLS] = {
	[FAKE_CREATE_ID] = "rdma_create_id",
	[FAKE_RESOLVE_ADDR] = "rdma_resolve_addr",
	[FAKE_RESOLVE_ROUTE] = "rdma_resolve_route",
	[FAKE_CONNECT] = "rdma_connect",
	[FAKE_ESTABLISH] = "rdma_establish",
	[FAKE_DISCONNECT] = "rdma_disconnect",
	[FAKE_BIND] = "rdma_bind_addr",
	[FAKE_LISTEN] = "rdma_listen",
	[FAKE_ACCEPT] = "rdma_accept",
	[FAKE_REJECT] = "rdma_reject",
	[FAKE_QP_CREATE] = "qp_create",
	[FAKE_QP_ATTR] = "rdma_init_qp_attr",
	[FAKE_QP_OWNER] = "qp_owner_pid",
	[FAKE_QP_READY] = "qp_ready",
	[FAKE_QP_TO_ERROR] = "qp_to_error",
};

const char *fake_call_name(enum fake_call call)
{
	return call < FAKE_CALLS ? call_names[call] : "?";
}

/* The error a simulator's fault gives this call (0: none); for rdma_* calls also errno. */
static int fault(enum fake_call call)
{
	int err = fake.fault ? fake.fault(call) : 0;

	if (err)
		errno = err;
	return err;
}

/* ---------------------------------------------------------------- rdma_cm */

/*
 * The record of an id, found by address only: a destroyed id's memory is
 * gone. Newest first, so that an address the allocator handed out again
 * finds the id that lives there now.
 */
static struct fake_id *id_record(const struct rdma_cm_id *id)
{
	for (unsigned i = fake.nids; i-- > 0;)
		if (fake.ids[i].id == id)
			return &fake.ids[i];
	return NULL;
}

/* The record of a live id; NULL (and counted) if the caller names a destroyed one. */
static struct fake_id *live_id(struct rdma_cm_id *id)
{
	struct fake_id *r = id_record(id);

	if (!r || r->destroys) {
		if (r)
			r->used_after_destroy++;
		else
			fake.unexpected++;
		return NULL;
	}
	return r;
}

/* The channel of ids rdma_cm makes for connection requests. */
static struct rdma_event_channel incoming_channel = {.fd = -1};

int rdma_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id, void *context,
		   enum rdma_port_space ps)
{
	struct rdma_cm_id *new_id;

	RDQ_PASSIVE_ONLY();
	if (fault(FAKE_CREATE_ID))
		return -1;
	if (fake.nids == FAKE_MAX_IDS) {
		fake.overflows++;
		errno = ENOMEM;
		return -1;
	}
	new_id = calloc(1, sizeof(*new_id));
	if (!new_id) {
		errno = ENOMEM;
		return -1;
	}
	new_id->channel = channel;
	new_id->context = context;
	new_id->ps = ps;
	fake.ids[fake.nids++].id = new_id;
	*id = new_id;
	return 0;
}

int rdma_destroy_id(struct rdma_cm_id *id)
{
	struct fake_id *r = id_record(id);

	RDQ_PASSIVE_ONLY();
	if (!r) {
		fake.unexpected++;
		return 0;
	}
	/* A second destroy is counted, not done: the case reports it instead of crashing. */
	if (r->destroys++ == 0)
		free(id);
	return 0;
}

/* The steps of connecting succeed at once; the cases play rdma_cm's answers themselves. */
int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src_addr, struct sockaddr *dst_addr,
		      int timeout_ms)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (fault(FAKE_RESOLVE_ADDR))
		return -1;
	if (r)
		r->resolve_addrs++;
	return 0;
}

int rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (fault(FAKE_RESOLVE_ROUTE))
		return -1;
	if (r)
		r->resolve_routes++;
	return 0;
}

int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	hook_run(FAKE_AT_CONNECT);
	if (fault(FAKE_CONNECT))
		return -1;
	if (r)
		r->connects++;
	return 0;
}

int rdma_establish(struct rdma_cm_id *id)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (fault(FAKE_ESTABLISH))
		return -1;
	if (r)
		r->establishes++;
	return 0;
}

int rdma_disconnect(struct rdma_cm_id *id)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (r)
		r->disconnects++;
	hook_run(FAKE_AT_DREQ);
	if (fake.disconnect_error) {
		errno = fake.disconnect_error;
		return -1;
	}
	return fault(FAKE_DISCONNECT) ? -1 : 0;
}

int rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	RDQ_PASSIVE_ONLY();
	live_id(id);
	if (fake.bind_error) {
		errno = fake.bind_error;
		return -1;
	}
	return fault(FAKE_BIND) ? -1 : 0;
}

int rdma_listen(struct rdma_cm_id *id, int backlog)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (fault(FAKE_LISTEN))
		return -1;
	if (r) {
		fake.listens++;
		r->listens++;
	}
	return 0;
}

int rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (r)
		r->accepts++;
	hook_run(FAKE_AT_ACCEPT);
	return fault(FAKE_ACCEPT) ? -1 : 0;
}

int rdma_reject(struct rdma_cm_id *id, const void *private_data, uint8_t private_data_len)
{
	struct fake_id *r;

	RDQ_PASSIVE_ONLY();
	r = live_id(id);
	if (r) {
		size_t n = private_data_len < sizeof(r->reject_data) ? private_data_len
								     : sizeof(r->reject_data) - 1;

		r->rejects++;
		r->reject_len = private_data_len;
		memset(r->reject_data, 0, sizeof(r->reject_data));
		if (private_data)
			memcpy(r->reject_data, private_data, n);
	}
	return fault(FAKE_REJECT) ? -1 : 0;
}

struct rdma_cm_id *fake_incoming_id(void)
{
	enum rdq_level level = rdq_level_current();
	struct rdma_cm_id *id = NULL;

	/* rdma_cm made it (as a worker would call it: the fake checks the level). */
	rdq_level_set(RDQ_LEVEL_PASSIVE);
	if (rdma_create_id(&incoming_channel, &id, NULL, RDMA_PS_TCP) == 0) {
		fake.incoming++;
		fake.ids[fake.nids - 1].incoming = true;
	}
	rdq_level_set(level);
	return id;
}

const char *rdma_event_str(enum rdma_cm_event_type event)
{
	return "a fake rdma_cm event";
}

/* ------------------------------------------------------------- QP module */

/* What fake_qp_release needs to find the record of the QP it frees. */
struct qp_box {
	struct qp qp;
	unsigned index; /* in fake.qps */
};

/* The record of a QP the code under test still holds (so not yet freed). */
static struct fake_qp *qp_record(const struct qp *qp)
{
	for (unsigned i = fake.nqps; i-- > 0;)
		if (fake.qps[i].qp == qp && !fake.qps[i].released)
			return &fake.qps[i];
	fake.unexpected++;
	return NULL;
}

static void fake_qp_release(struct object *obj)
{
	struct qp_box *box = (struct qp_box *)obj;

	/* The teardown ran first (or the verbs QP is leaked here, and ASan says so). */
	fake.qps[box->index].released++;
	free(box);
}

/* Like the real one: a new object, one reference (the caller's), not published. */
int qp_create(struct rdqd *d, struct rdma_cm_id *id, rdq_handle_t ep, uid_t owner, bool echo,
	      qp_news_fn *news, struct qp **out)
{
	struct qp_box *box;

	RDQ_PASSIVE_ONLY();
	if (!live_id(id))
		return -EINVAL;
	if (fake.qp_create_error)
		return -fake.qp_create_error;
	if (fault(FAKE_QP_CREATE))
		return -errno;
	if (fake.nqps == FAKE_MAX_QPS) {
		fake.overflows++;
		return -ENOMEM;
	}
	box = calloc(1, sizeof(*box));
	if (!box)
		return -ENOMEM;
	/* The verbs QP: only its number is read (for the connection parameters). */
	box->qp.qp = calloc(1, sizeof(*box->qp.qp));
	if (!box->qp.qp) {
		free(box);
		return -ENOMEM;
	}
	box->qp.qp->qp_num = 0x100 + fake.nqps * (fake.qp_stride ? fake.qp_stride : 1);
	box->index = fake.nqps;
	fake.qps[fake.nqps].qp_num = box->qp.qp->qp_num;
	atomic_init(&box->qp.obj.refs, 1);
	box->qp.obj.kind = OBJ_QP;
	box->qp.obj.owner = owner;
	box->qp.obj.release = fake_qp_release;
	box->qp.d = d;
	box->qp.ep = ep;
	box->qp.echo = echo;
	box->qp.news = news;
	if (fake.qp_made && fake.qp_made(&box->qp) < 0) {
		free(box->qp.qp);
		free(box);
		return -ENOMEM;
	}
	fake.qps[fake.nqps].qp = &box->qp;
	fake.nqps++;
	*out = &box->qp;
	return 0;
}

/* Like the real one, on the loop: the table takes the reference; the record learns the handle. */
int qp_publish(struct rdqd *d, struct qp *qp)
{
	struct fake_qp *r = qp_record(qp);
	int ret;

	RDQ_DISPATCH_ONLY();
	ret = object_publish(d, qp);
	if (ret == 0 && r)
		r->handle = qp->obj.handle;
	return ret;
}

void qp_discard(struct qp *qp)
{
	RDQ_PASSIVE_ONLY();
	qp_teardown(qp);
	object_unref(qp);
}

int qp_attr_from_cm(struct rdma_cm_id *id, enum ibv_qp_state state, struct ibv_qp_attr *attr,
		    int *mask)
{
	(void)id;
	if (fault(FAKE_QP_ATTR))
		return -errno;
	*attr = (struct ibv_qp_attr){.qp_state = state};
	*mask = IBV_QP_STATE;
	return 0;
}

/*
 * A QP is the asking client's (the race world's clients are this process),
 * unless the case says another process made it.
 */
int qp_owner_pid(const char *ibdev_name, uint32_t qp_num, pid_t *pid)
{
	(void)ibdev_name;
	RDQ_PASSIVE_ONLY();
	fake.owner_checks++;
	if (fault(FAKE_QP_OWNER))
		return -errno;
	*pid = fake.qp_owner ? fake.qp_owner : getpid();
	if (fake.foreign_qps && qp_num >= fake.foreign_qps)
		*pid = FAKE_OTHER_PROCESS;
	return 0;
}

int qp_ready(struct qp *qp, struct rdma_cm_id *id)
{
	RDQ_PASSIVE_ONLY();
	live_id(id);
	if (fault(FAKE_QP_READY))
		return -errno;
	return qp->qp ? 0 : -EINVAL;
}

int qp_to_error(struct qp *qp)
{
	struct fake_qp *r = qp_record(qp);

	RDQ_PASSIVE_ONLY();
	if (r)
		r->to_error++;
	/* The racing event happens while this worker is inside the step. */
	hook_run(FAKE_AT_QP_ERROR);
	/* Now the modify reaches the verbs QP: it must still exist. */
	if (!qp->qp) {
		if (r)
			r->error_on_freed++;
		return -EINVAL;
	}
	return fault(FAKE_QP_TO_ERROR) ? -errno : 0;
}

void qp_teardown(struct qp *qp)
{
	struct fake_qp *r = qp_record(qp);

	RDQ_PASSIVE_ONLY();
	if (r)
		r->teardowns++;
	if (fake.qp_gone && qp->qp)
		fake.qp_gone(qp);
	while (qp->held_head) {
		struct qp_msg *m = qp->held_head;

		qp->held_head = m->next;
		free(m);
	}
	qp->held_tail = NULL;
	qp->held = 0;
	free(qp->qp);
	qp->qp = NULL;
}

/* The data path: no completion channel, so nothing to watch; the reference is the real one's. */
int qp_activate(struct qp *qp)
{
	struct fake_qp *r = qp_record(qp);

	RDQ_DISPATCH_ONLY();
	if (r)
		r->activations++;
	object_ref(qp);
	qp->active = true;
	return 0;
}

/* Nothing arrives before activation here: no message, no failure. */
void qp_catch_up(struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
}

void qp_deactivate(struct qp *qp, int status)
{
	struct fake_qp *r = qp_record(qp);

	RDQ_DISPATCH_ONLY();
	if (!qp->active)
		return;
	if (r)
		r->deactivations++;
	qp->active = false;
	for (unsigned s = 0; s < QP_SEND_SLOTS; s++) {
		struct request *req = qp->send_req[s];

		qp->send_req[s] = NULL;
		qp->send_busy[s] = false;
		if (req)
			request_complete(req, status, NULL, "the endpoint went away");
	}
	object_unref(qp);
}

/* Like the real one: the send rides a slot until it completes, which it never does here. */
int qp_post_send(struct qp *qp, const void *data, size_t len, struct request *req)
{
	RDQ_DISPATCH_ONLY();
	for (unsigned s = 0; s < QP_SEND_SLOTS; s++) {
		if (!qp->send_busy[s]) {
			qp->send_busy[s] = true;
			qp->send_req[s] = req;
			qp->send_len[s] = (uint32_t)len;
			if (req)
				request_set_in_flight(req);
			fake.sends++;
			return 0;
		}
	}
	return -ENOBUFS;
}

void qp_abandon_send(struct qp *qp, const struct request *req)
{
	RDQ_DISPATCH_ONLY();
	for (unsigned s = 0; s < QP_SEND_SLOTS; s++)
		if (qp->send_req[s] == req)
			qp->send_req[s] = NULL;
}

void qp_message_done(struct rdqd *d, struct qp_msg *m)
{
	free(m);
}

void qp_message_given_back(const void *frame, size_t len, void *arg)
{
	free(arg);
}

/* The messages a simulator made arrive (fake_message_arrives); none in the race tables. */
struct qp_msg *qp_take_message(struct qp *qp)
{
	struct qp_msg *m = qp->held_head;

	RDQ_DISPATCH_ONLY();
	if (!m)
		return NULL;
	qp->held_head = m->next;
	if (!qp->held_head)
		qp->held_tail = NULL;
	qp->held--;
	return m;
}

bool fake_message_arrives(struct qp *qp, const void *data, uint32_t len)
{
	struct qp_msg *m;

	RDQ_DISPATCH_ONLY();
	/* None held before it: a waiting receive may take it from the buffer, as qp.c offers. */
	if (!qp->held && qp->news(qp->d, qp->ep, 0, NULL, data, len))
		return true;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return false;
	memset(m, 0, sizeof(*m));
	m->d = qp->d;
	m->len = m->cap = len;
	memcpy(m->data, data, len);
	if (qp->held_tail)
		qp->held_tail->next = m;
	else
		qp->held_head = m;
	qp->held_tail = m;
	if (qp->held++)
		qp->news(qp->d, qp->ep, 0, NULL, NULL, 0);
	return true;
}

bool fake_send_completes(struct qp *qp, int status)
{
	RDQ_DISPATCH_ONLY();
	for (unsigned s = 0; s < QP_SEND_SLOTS; s++) {
		struct request *req = qp->send_req[s];

		if (!qp->send_busy[s])
			continue;
		qp->send_req[s] = NULL;
		qp->send_busy[s] = false;
		/* As qp.c's completion: success, flushed, or an error that fails the QP. */
		if (status == 0 && req)
			request_complete(
				req, 0, RESULT(RESULT_SENT, .sent = {qp->send_len[s], true}), NULL);
		else if (status == -ECONNRESET && req)
			request_complete(req, -ECONNRESET, NULL,
					 "the send was flushed: the connection went down first");
		else if (status < 0 && status != -ECONNRESET) {
			if (req)
				request_fail(req, status, "the send failed: %s", "simulated");
			qp->news(qp->d, qp->ep, status, "a send failed (simulated)", NULL, 0);
		}
		return true;
	}
	return false;
}

/* ------------------------------------------------------------ devices */

/* device.c's: after a device removal, librdmacm re-reads its devices. Counted. */
void device_resync(struct rdqd *d)
{
	RDQ_DISPATCH_ONLY();
	fake.resyncs++;
}

/* No case asks to list devices. */
void device_show(struct rdqd *d, struct request *req)
{
	RDQ_DISPATCH_ONLY();
	fake.unexpected++;
	request_fail(req, -ENODEV, "the race table has no devices");
}

/* ----------------------------------------------------------- queries */

struct fake_qp *fake_qp_by_handle(rdq_handle_t h)
{
	for (unsigned i = 0; i < fake.nqps; i++)
		if (fake.qps[i].handle == h)
			return &fake.qps[i];
	return NULL;
}
