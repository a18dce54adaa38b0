/* SPDX-License-Identifier: MIT */
/*
 * The QP. Its resources are made, moved between states and destroyed on
 * workers (PASSIVE), since every verbs call for them may sleep in the kernel.
 * Its data path runs on the loop (DISPATCH): posting sends and receives and
 * polling the device's CQ never block.
 *
 * Every message leaves its receive slot as it arrives, and the slot goes
 * back to the shared receive queue at once: one slow endpoint never holds
 * the device's receive buffers. A message a waiting ep.recv takes is copied
 * once, into the reply; one that arrives first is copied once, into a
 * buffer it is held in, which its reply later lends to the connection's
 * output (qp_message_given_back brings the buffer back). A listener's endpoints echo each
 * message from a send slot; a connecting endpoint holds what it receives
 * until a client asks for it (ep.recv). Either holds at most --recv-backlog
 * messages: one more means its peer sends faster than the endpoint's
 * reader, and the endpoint fails with that reason rather than losing data.
 */
#include "qp.h"

#include <errno.h>
#include <stdarg.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "encode.h"
#include "engine/level.h"
#include "engine/poison.h"
#include "log.h"
#include "rdqd.h"
#include "request.h"
#include "verbs_device.h"

/* ------------------------------------------------ resources (workers) */

/* Takes the oldest held message off the QP (the caller frees it), or NULL. */
static struct qp_msg *held_pop(struct qp *qp)
{
	struct qp_msg *m = qp->held_head;

	if (!m)
		return NULL;
	qp->held_head = m->next;
	if (!qp->held_head)
		qp->held_tail = NULL;
	qp->held--;
	return m;
}

static void qp_release(struct object *obj)
{
	struct qp *qp = (struct qp *)obj;
	struct qp_msg *m;

	/* qp_teardown() has run by now: only memory is left. */
	while ((m = held_pop(qp)))
		free(m);
	free(qp);
}

/*
 * Retries of our own sends. rdma_cm takes both counts from the peer's
 * connection parameters, and 7 means "forever" (for RNR everywhere, for
 * transport retries on rxe): a peer that asks for that would let a send to
 * it, and the send slot it holds, wait for ever. Ours are capped here.
 */
#define QP_RETRY_MAX	 6
#define QP_RNR_RETRY_MAX 6

/* Moves the QP to state with the attributes rdma_cm computes for id. */
int qp_attr_from_cm(struct rdma_cm_id *id, enum ibv_qp_state state, struct ibv_qp_attr *attr,
		    int *mask)
{
	RDQ_PASSIVE_ONLY();
	*attr = (struct ibv_qp_attr){.qp_state = state};
	*mask = 0;
	if (rdma_init_qp_attr(id, attr, mask))
		return -errno;
	if ((*mask & IBV_QP_RETRY_CNT) && attr->retry_cnt > QP_RETRY_MAX)
		attr->retry_cnt = QP_RETRY_MAX;
	if ((*mask & IBV_QP_RNR_RETRY) && attr->rnr_retry > QP_RNR_RETRY_MAX)
		attr->rnr_retry = QP_RNR_RETRY_MAX;
	return 0;
}

static int modify_from_cm(struct qp *qp, struct rdma_cm_id *id, enum ibv_qp_state state)
{
	struct ibv_qp_attr attr;
	int mask, ret;

	RDQ_PASSIVE_ONLY();
	ret = qp_attr_from_cm(id, state, &attr, &mask);
	if (ret < 0)
		return ret;
	if (ibv_modify_qp(qp->qp, &attr, mask))
		return -errno;
	return 0;
}

int qp_create(struct rdqd *d, struct rdma_cm_id *id, rdq_handle_t ep, uid_t owner, bool echo,
	      qp_news_fn *news, struct qp **out)
{
	struct ibv_qp_init_attr init = {
		.cap = {.max_send_wr = QP_SEND_SLOTS, .max_send_sge = 1},
		.qp_type = IBV_QPT_RC,
	};
	struct qp *qp;
	int ret;

	RDQ_PASSIVE_ONLY();
	if (!id->verbs)
		return -ENODEV;
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return -ENOMEM;
	atomic_init(&qp->obj.refs, 1);
	atomic_init(&qp->torn_down, false);
	qp->obj.kind = OBJ_QP;
	qp->obj.owner = owner;
	qp->obj.release = qp_release;
	qp->d = d;
	qp->ep = ep;
	qp->news = news;
	qp->echo = echo;

	qp->dev = verbs_device_get(d, id->verbs);
	if (!qp->dev) {
		ret = errno ? -errno : -ENOMEM;
		goto err;
	}
	init.send_cq = qp->dev->cq;
	init.recv_cq = qp->dev->cq;
	init.srq = qp->dev->srq;
	qp->qp = ibv_create_qp(qp->dev->pd, &init);
	if (!qp->qp) {
		ret = errno ? -errno : -EIO;
		goto err;
	}
	/* In the map before it can receive: a message may come before the loop hears of it. */
	ret = verbs_device_map_add(qp->dev, qp);
	if (ret < 0) {
		ibv_destroy_qp(qp->qp);
		qp->qp = NULL;
		goto err;
	}
	ret = modify_from_cm(qp, id, IBV_QPS_INIT);
	if (ret < 0)
		goto err;
	*out = qp;
	return 0;

err:
	qp_teardown(qp);
	qp_release(&qp->obj);
	return ret;
}

void qp_discard(struct qp *qp)
{
	RDQ_PASSIVE_ONLY();
	qp_teardown(qp);
	object_unref(qp);
}

int qp_ready(struct qp *qp, struct rdma_cm_id *id)
{
	int ret;

	RDQ_PASSIVE_ONLY();
	ret = modify_from_cm(qp, id, IBV_QPS_RTR);
	if (ret == 0)
		ret = modify_from_cm(qp, id, IBV_QPS_RTS);
	return ret;
}

int qp_to_error(struct qp *qp)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};

	RDQ_PASSIVE_ONLY();
	return ibv_modify_qp(qp->qp, &attr, IBV_QP_STATE) ? -errno : 0;
}

void qp_teardown(struct qp *qp)
{
	RDQ_PASSIVE_ONLY();
	/* Tolerates a half-built QP: each part may be missing. */
	if (qp->qp) {
		verbs_device_map_remove(qp->dev, qp);
		ibv_destroy_qp(qp->qp);
		qp->qp = NULL;
	}
	/* Its send slots may be lent again: no work request of it is left. */
	atomic_store(&qp->torn_down, true);
	if (qp->dev)
		verbs_device_put(qp->dev);
	qp->dev = NULL;
}

/* ------------------------------------------------ the data path (loop) */

/*
 * A work request's id: a receive slot's index, or, with the top bit set, a
 * send slot's index (low 20 bits) and the generation of that loan: a
 * completion of an earlier loan (its QP destroyed meanwhile) is stale.
 */
#define WR_SEND_BIT	 (1ull << 63)
#define WR_SLOT_BITS	 20
#define WR_SEND(slot, g) (WR_SEND_BIT | (g) << WR_SLOT_BITS | (slot))
#define WR_SLOT(id)	 ((unsigned)((id) & ((1u << WR_SLOT_BITS) - 1)))
#define WR_GEN(id)	 (((id) & ~WR_SEND_BIT) >> WR_SLOT_BITS)
#define WR_GEN_MASK	 ((1ull << (63 - WR_SLOT_BITS)) - 1)

/* Reports the QP's first failure to its endpoint (now, or once it is active). */
static void qp_fail(struct qp *qp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void qp_fail(struct qp *qp, int status, const char *fmt, ...)
{
	va_list ap;

	if (qp->failed)
		return;
	qp->failed = true;
	qp->fail_status = status;
	va_start(ap, fmt);
	vsnprintf(qp->fail_why, sizeof(qp->fail_why), fmt, ap);
	va_end(ap);
	if (qp->active)
		qp->news(qp->d, qp->ep, status, qp->fail_why, NULL, 0);
}

/* What a failed send completion says, for a person. */
static int send_failure(enum ibv_wc_status status, const char **why)
{
	switch (status) {
	case IBV_WC_RETRY_EXC_ERR:
		*why = "the transport gave up: the peer acknowledged nothing through every retry";
		return -ETIMEDOUT;
	case IBV_WC_RNR_RETRY_EXC_ERR:
		*why = "the peer is not receiving (RNR): it posted no receive through every retry";
		return -ENOBUFS;
	case IBV_WC_REM_INV_REQ_ERR:
		*why = "the peer refused the message (remote invalid request: larger than its "
		       "receive buffer?)";
		return -EMSGSIZE;
	case IBV_WC_REM_OP_ERR:
		*why = "the peer failed the message (remote operation error: larger than its "
		       "receive buffer, or its QP failed)";
		return -EREMOTEIO;
	case IBV_WC_REM_ACCESS_ERR:
		*why = "the peer failed the message (remote access error)";
		return -EREMOTEIO;
	default:
		*why = ibv_wc_status_str(status);
		return -EIO;
	}
}

/* Posts a signalled send of len bytes from device send slot slot. */
static int post_send(struct qp *qp, unsigned slot, uint32_t len)
{
	struct verbs_device *v = qp->dev;
	struct ibv_sge sge = {
		.addr = (uintptr_t)verbs_device_slot(v, v->recv_slots + slot),
		.length = len,
		.lkey = v->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = WR_SEND(slot, v->sends[slot].gen & WR_GEN_MASK),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	return -ibv_post_send(qp->qp, &wr, &bad);
}

/*
 * Lends a send slot to a free tag of the QP, copies data in and posts it.
 * Returns the tag, -ENOBUFS when the QP or the device has no room, or
 * another -errno.
 */
static int send_from_slot(struct qp *qp, const void *data, uint32_t len, bool echo)
{
	struct verbs_device *v = qp->dev;
	unsigned tag;
	int slot, ret;

	if (qp->sends_out == QP_SEND_SLOTS)
		return -ENOBUFS;
	for (tag = 0; qp->send_busy[tag]; tag++)
		;
	slot = verbs_device_lend_send(v, qp, (uint8_t)tag, echo);
	if (slot < 0)
		return -ENOBUFS;
	memcpy(verbs_device_slot(v, v->recv_slots + (unsigned)slot), data, len);
	ret = post_send(qp, (unsigned)slot, len);
	if (ret < 0) {
		verbs_device_return_send(v, (unsigned)slot);
		return ret;
	}
	qp->send_busy[tag] = true;
	qp->send_slot[tag] = (uint16_t)slot;
	qp->send_len[tag] = len;
	qp->sends_out++;
	return (int)tag;
}

/*
 * The QP's echo found no free send slot on its device: it waits, in order,
 * for the next one that comes back (its own sends in flight wake it anyway).
 */
static void wait_for_slot(struct qp *qp)
{
	if (qp->sends_out == QP_SEND_SLOTS || list_linked(&qp->waiting))
		return;
	list_push_back(&qp->dev->waiting, &qp->waiting);
	qp->d->counters.echo_waited++;
}

/* Echoes held messages while the QP and its device have room. */
static void echo_held(struct qp *qp)
{
	struct qp_msg *m;
	int ret;

	while ((m = qp->held_head) && qp->active && !qp->failed) {
		ret = send_from_slot(qp, m->data, m->len, true);
		if (ret == -ENOBUFS) {
			/* No slot on the device (the QP's own sends wake it otherwise). */
			wait_for_slot(qp);
			return;
		}
		qp_message_done(qp->d, held_pop(qp));
		if (ret < 0) {
			qp_fail(qp, ret, "cannot post the echo: %s", strerror(-ret));
			return;
		}
	}
}

/*
 * Send slots came back: the echoes that waited longest for one go out, for
 * as long as slots are free. A QP on the list may have nothing left to echo
 * by now (its own completions sent its messages); stopping at it would
 * leave the QPs behind it waiting for a completion that may never come.
 * Each turn takes a QP off the list for good or uses up the free slots (a
 * QP that finds none goes back to the end), so the loop ends.
 */
static void wake_waiting(struct verbs_device *v)
{
	while (v->waiting.first && v->sends_free) {
		struct qp *qp = list_entry(v->waiting.first, struct qp, waiting);

		list_remove(&v->waiting, &qp->waiting);
		echo_held(qp);
	}
}

/* Holds a copy of a message for ep.recv or a later echo; fails the QP past the backlog. */
static void hold(struct qp *qp, const uint8_t *data, uint32_t len)
{
	struct qp_msg *m;

	if (qp->held >= qp->d->opt.recv_backlog) {
		qp->d->counters.backlog_full++;
		if (qp->echo)
			qp_fail(qp, -ENOBUFS,
				"the peer sends faster than it takes its echoes back: %u messages "
				"held (--recv-backlog)",
				qp->held);
		else
			qp_fail(qp, -ENOBUFS,
				"%u messages arrived unread: the local client does not read them "
				"(--recv-backlog)",
				qp->held);
		return;
	}
	m = qp_message_new(qp->d, len);
	if (!m) {
		qp_fail(qp, -ENOMEM, "out of memory for a received message of %u bytes", len);
		return;
	}
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	if (qp->held_tail)
		qp->held_tail->next = m;
	else
		qp->held_head = m;
	qp->held_tail = m;
	qp->held++;
}

static void message_arrived(struct qp *qp, const uint8_t *data, uint32_t len)
{
	if (qp->retired || qp->failed) {
		/* Its endpoint is going away, or the connection already failed. */
		qp->d->counters.recv_discarded++;
		return;
	}
	qp->received++;
	if (qp->echo && qp->active && !qp->held_head) {
		int ret = send_from_slot(qp, data, len, true);

		if (ret >= 0)
			return;
		if (ret != -ENOBUFS) {
			qp_fail(qp, ret, "cannot post the echo: %s", strerror(-ret));
			return;
		}
		wait_for_slot(qp);
	}
	/* A receive already waiting takes it straight from the receive buffer: one copy. */
	if (!qp->echo && qp->active && !qp->held_head &&
	    qp->news(qp->d, qp->ep, 0, NULL, data, len))
		return;
	hold(qp, data, len);
	if (!qp->echo && qp->active && !qp->failed)
		qp->news(qp->d, qp->ep, 0, NULL, NULL, 0);
}

static void recv_completed(struct verbs_device *v, const struct ibv_wc *wc)
{
	unsigned slot = (unsigned)wc->wr_id;
	struct qp *qp = verbs_device_map_lookup(v, wc->qp_num);

	if (wc->status == IBV_WC_SUCCESS) {
		if (qp)
			message_arrived(qp, verbs_device_slot(v, slot), wc->byte_len);
		else
			v->d->counters.recv_discarded++; /* its QP was destroyed meanwhile */
	} else if (wc->status != IBV_WC_WR_FLUSH_ERR) {
		/* rxe reports a message longer than the buffer as a local QP operation error. */
		if (qp && wc->status == IBV_WC_LOC_LEN_ERR)
			qp_fail(qp, -EMSGSIZE,
				"the peer sent a message larger than the largest allowed, %u bytes "
				"(--max-message)",
				v->d->opt.max_message);
		else if (qp)
			qp_fail(qp, -EIO,
				"a receive failed: %s (as a message larger than the largest "
				"allowed, %u bytes (--max-message), does)",
				ibv_wc_status_str(wc->status), v->d->opt.max_message);
	}
	object_unref(qp);
	/* Flushed receives belong to a shared queue being destroyed: they stay down. */
	if (wc->status != IBV_WC_WR_FLUSH_ERR && verbs_device_post_recv(v, slot) < 0)
		log_warn("%s: cannot repost a shared receive", v->device->name);
}

static void send_completed(struct verbs_device *v, const struct ibv_wc *wc)
{
	unsigned slot = WR_SLOT(wc->wr_id), tag;
	struct send_slot *s;
	struct request *req;
	const char *why;
	struct qp *qp;
	bool echo;
	int status;

	s = slot < v->send_slots ? &v->sends[slot] : NULL;
	if (!s || !s->qp || (s->gen & WR_GEN_MASK) != WR_GEN(wc->wr_id)) {
		return; /* a loan whose QP was destroyed; the slot went back then */
	}
	qp = s->qp;
	tag = s->tag;
	echo = s->echo;
	if (s->orphan) {
		/* Its QP was deactivated: nobody waits for this send any more. */
		verbs_device_return_send(v, slot);
		wake_waiting(v);
		return;
	}
	verbs_device_return_send(v, slot);
	req = qp->send_req[tag];
	qp->send_req[tag] = NULL;
	qp->send_busy[tag] = false;
	qp->sends_out--;
	if (wc->status == IBV_WC_SUCCESS) {
		if (echo)
			qp->echoed++;
		else
			qp->sent++;
		if (req)
			request_complete(req, 0,
					 RESULT(RESULT_SENT, .sent = {qp->send_len[tag], true}),
					 NULL);
	} else if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		qp->flushed++;
		if (req)
			request_complete(req, -ECONNRESET, NULL,
					 "the send was flushed: the connection went down first");
	} else {
		status = send_failure(wc->status, &why);
		if (req)
			request_fail(req, status, "the send failed: %s", why);
		qp_fail(qp, status, "%s", why);
	}
	if (qp->echo)
		echo_held(qp);
	wake_waiting(v);
}

static void device_cq_ready(evutil_socket_t fd, short what, void *arg)
{
	struct verbs_device *v = arg;
	uint64_t start = now_us();
	struct ibv_cq *cq;
	struct ibv_wc wc[32];
	void *context;
	int n;

	/* Ack each event as it is read: ibv_destroy_cq (on a worker) waits for the acks. */
	while (ibv_get_cq_event(v->channel, &cq, &context) == 0)
		ibv_ack_cq_events(cq, 1);
	ibv_req_notify_cq(v->cq, 0);
	/* Bounded: completions beyond these wait for the next turn of the loop. */
	for (unsigned round = 0; round < 8; round++) {
		n = ibv_poll_cq(v->cq, 32, wc);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			if (wc[i].wr_id & WR_SEND_BIT)
				send_completed(v, &wc[i]);
			else
				recv_completed(v, &wc[i]);
		}
		if (n < 32)
			break;
		if (round == 7)
			event_active(v->cq_event, EV_READ, 0);
	}
	if (v->orphans)
		verbs_device_sweep_orphans(v);
	loop_histogram_record(v->d, start);
}

int qp_publish(struct rdqd *d, struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
	return object_publish(d, qp);
}

int qp_activate(struct qp *qp)
{
	struct verbs_device *v = qp->dev;

	RDQ_DISPATCH_ONLY();
	if (!v->cq_event) {
		v->cq_event = event_new(qp->d->base, v->channel->fd, EV_READ | EV_PERSIST,
					device_cq_ready, v);
		if (!v->cq_event)
			return -ENOMEM;
		event_add(v->cq_event, NULL);
		/* Completions that came before the loop watched the channel. */
		event_active(v->cq_event, EV_READ, 0);
	}
	object_ref(qp);
	qp->active = true;
	return 0;
}

void qp_catch_up(struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
	if (!qp->active)
		return;
	if (qp->failed)
		qp->news(qp->d, qp->ep, qp->fail_status, qp->fail_why, NULL, 0);
	else if (qp->echo)
		echo_held(qp);
	else if (qp->held)
		qp->news(qp->d, qp->ep, 0, NULL, NULL, 0);
}

void qp_deactivate(struct qp *qp, int status)
{
	RDQ_DISPATCH_ONLY();
	if (!qp->active)
		return;
	qp->active = false;
	qp->retired = true;
	list_remove(&qp->dev->waiting, &qp->waiting);
	/* The hardware may still read these slots: they come back at completion or teardown. */
	verbs_device_orphan_sends(qp->dev, qp);
	for (unsigned t = 0; t < QP_SEND_SLOTS; t++) {
		struct request *req = qp->send_req[t];

		qp->send_req[t] = NULL;
		qp->send_busy[t] = false;
		if (req)
			request_complete(req, status, NULL,
					 "the endpoint went away before the send completed");
	}
	qp->sends_out = 0;
	object_unref(qp);
}

int qp_post_send(struct qp *qp, const void *data, size_t len, struct request *req)
{
	int tag;

	RDQ_DISPATCH_ONLY();
	if (qp->failed)
		return -ENOTCONN;
	tag = send_from_slot(qp, data, (uint32_t)len, false);
	if (tag < 0)
		return tag;
	qp->send_req[tag] = req;
	if (req)
		request_set_in_flight(req);
	return 0;
}

void qp_abandon_send(struct qp *qp, const struct request *req)
{
	RDQ_DISPATCH_ONLY();
	for (unsigned t = 0; t < QP_SEND_SLOTS; t++)
		if (qp->send_req[t] == req)
			qp->send_req[t] = NULL; /* lent until the hardware reports the send */
}

struct qp_msg *qp_take_message(struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
	return held_pop(qp);
}
