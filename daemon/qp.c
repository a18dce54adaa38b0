/* SPDX-License-Identifier: MIT */
/*
 * The QP. Its resources are made, moved between states and destroyed on
 * workers (PASSIVE), since every verbs call for them may sleep in the kernel.
 * Its data path runs on the loop (DISPATCH): posting sends and receives and
 * polling the CQ never block. A listener's endpoints echo every message; a
 * connecting endpoint keeps what it receives until a client asks for it
 * (ep.recv).
 */
#include "qp.h"

#include <errno.h>
#include <fcntl.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "engine/level.h"
#include "log.h"
#include "rdqd.h"
#include "request.h"

/* ------------------------------------------------ resources (workers) */

#define QP_CQ_DEPTH (QP_RECV_SLOTS + QP_SEND_SLOTS * 2)

static void qp_release(struct object *obj)
{
	struct qp *qp = (struct qp *)obj;

	/* qp_teardown() has run by now: only memory is left. */
	free(qp->buf);
	free(qp);
}

/* Moves the QP to state with the attributes rdma_cm computes for id. */
static int modify_from_cm(struct qp *qp, struct rdma_cm_id *id, enum ibv_qp_state state)
{
	struct ibv_qp_attr attr = {.qp_state = state};
	int mask = 0;

	RDQ_PASSIVE_ONLY();
	if (rdma_init_qp_attr(id, &attr, &mask))
		return -errno;
	if (ibv_modify_qp(qp->qp, &attr, mask))
		return -errno;
	return 0;
}

int qp_create(struct rdqd *d, struct rdma_cm_id *id, rdq_handle_t ep, uid_t owner, bool echo,
	      struct qp **out)
{
	struct ibv_qp_init_attr init = {
		.cap = {.max_send_wr = QP_SEND_SLOTS + QP_RECV_SLOTS,
			.max_recv_wr = QP_RECV_SLOTS,
			.max_send_sge = 1,
			.max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};
	size_t size = (size_t)(QP_RECV_SLOTS + QP_SEND_SLOTS) * QP_SLOT_SIZE;
	struct qp *qp;
	int ret;

	RDQ_PASSIVE_ONLY();
	if (!id->verbs)
		return -ENODEV;
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return -ENOMEM;
	atomic_init(&qp->obj.refs, 1);
	qp->obj.kind = OBJ_QP;
	qp->obj.owner = owner;
	qp->obj.release = qp_release;
	qp->d = d;
	qp->ep = ep;
	qp->echo = echo;

	ret = -ENOMEM;
	qp->buf = aligned_alloc(4096, size);
	if (!qp->buf)
		goto err;
	memset(qp->buf, 0, size);
	qp->pd = ibv_alloc_pd(id->verbs);
	if (!qp->pd)
		goto err_errno;
	qp->channel = ibv_create_comp_channel(id->verbs);
	if (!qp->channel)
		goto err_errno;
	/* The loop reads this channel: it must never block there. */
	if (fcntl(qp->channel->fd, F_SETFL, fcntl(qp->channel->fd, F_GETFL) | O_NONBLOCK) < 0)
		goto err_errno;
	qp->cq = ibv_create_cq(id->verbs, QP_CQ_DEPTH, NULL, qp->channel, 0);
	if (!qp->cq)
		goto err_errno;
	init.send_cq = qp->cq;
	init.recv_cq = qp->cq;
	qp->qp = ibv_create_qp(qp->pd, &init);
	if (!qp->qp)
		goto err_errno;
	qp->mr = ibv_reg_mr(qp->pd, qp->buf, size, IBV_ACCESS_LOCAL_WRITE);
	if (!qp->mr)
		goto err_errno;
	ret = modify_from_cm(qp, id, IBV_QPS_INIT);
	if (ret < 0)
		goto err;
	for (unsigned i = 0; i < QP_RECV_SLOTS; i++) {
		ret = qp_post_recv(qp, i);
		if (ret < 0)
			goto err;
	}
	if (ibv_req_notify_cq(qp->cq, 0)) {
		ret = -EIO;
		goto err;
	}
	*out = qp;
	return 0;

err_errno:
	ret = errno ? -errno : -EIO;
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
	if (qp->qp)
		ibv_destroy_qp(qp->qp);
	if (qp->mr)
		ibv_dereg_mr(qp->mr);
	if (qp->cq)
		ibv_destroy_cq(qp->cq);
	if (qp->channel)
		ibv_destroy_comp_channel(qp->channel);
	if (qp->pd)
		ibv_dealloc_pd(qp->pd);
	qp->qp = NULL;
	qp->mr = NULL;
	qp->cq = NULL;
	qp->channel = NULL;
	qp->pd = NULL;
}

/* ------------------------------------------------ the data path (loop) */

/* wr_id = kind << 16 | slot */
enum wr_kind {
	WR_RECV = 0,
	WR_SEND = 1, /* a client's ep.send */
	WR_ECHO = 2, /* an echo, sent straight from the receive slot */
};

#define WR_ID(kind, slot) ((uint64_t)(kind) << 16 | (slot))
#define WR_KIND(id)	  ((unsigned)((id) >> 16))
#define WR_SLOT(id)	  ((unsigned)((id)&0xffff))

static uint8_t *slot_addr(struct qp *qp, unsigned slot)
{
	return qp->buf + (size_t)slot * QP_SLOT_SIZE;
}

int qp_post_recv(struct qp *qp, unsigned slot)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)slot_addr(qp, slot),
		.length = QP_SLOT_SIZE,
		.lkey = qp->mr->lkey,
	};
	struct ibv_recv_wr wr = {.wr_id = WR_ID(WR_RECV, slot), .sg_list = &sge, .num_sge = 1};
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(qp->qp, &wr, &bad);
}

/* Posts a signalled send of len bytes at buffer slot, tagged with kind. */
static int post_send(struct qp *qp, enum wr_kind kind, unsigned tag, unsigned buf_slot,
		     uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)slot_addr(qp, buf_slot),
		.length = len,
		.lkey = qp->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = WR_ID(kind, tag),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	return -ibv_post_send(qp->qp, &wr, &bad);
}

int qp_post_send(struct qp *qp, const void *data, size_t len, struct request *req)
{
	unsigned s;
	int ret;

	RDQ_DISPATCH_ONLY();
	for (s = 0; s < QP_SEND_SLOTS && qp->send_busy[s]; s++)
		;
	if (s == QP_SEND_SLOTS)
		return -ENOBUFS;
	memcpy(slot_addr(qp, QP_RECV_SLOTS + s), data, len);
	ret = post_send(qp, WR_SEND, s, QP_RECV_SLOTS + s, (uint32_t)len);
	if (ret < 0)
		return ret;
	qp->send_busy[s] = true;
	qp->send_req[s] = req;
	request_dispatch(req);
	return 0;
}

void qp_abandon_send(struct qp *qp, const struct request *req)
{
	RDQ_DISPATCH_ONLY();
	for (unsigned s = 0; s < QP_SEND_SLOTS; s++)
		if (qp->send_req[s] == req)
			qp->send_req[s] = NULL; /* busy until the hardware reports the send */
}

static void send_done(struct qp *qp, const struct ibv_wc *wc)
{
	unsigned s = WR_SLOT(wc->wr_id);
	struct request *req = qp->send_req[s];

	qp->send_busy[s] = false;
	qp->send_req[s] = NULL;
	if (!req)
		return;
	if (wc->status == IBV_WC_SUCCESS) {
		qp->sent++;
		request_complete(req, 0, json_pack("{s:I}", "bytes", (json_int_t)wc->byte_len),
				 NULL);
	} else if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		qp->flushed++;
		request_complete(req, -ECONNRESET, NULL,
				 "the send was flushed: the connection went down first");
	} else {
		request_fail(req, -EIO, "the send failed: %s", ibv_wc_status_str(wc->status));
	}
}

static void recv_done(struct qp *qp, const struct ibv_wc *wc)
{
	unsigned slot = WR_SLOT(wc->wr_id);

	if (wc->status != IBV_WC_SUCCESS) {
		/* Flushes after the QP went to error are normal: the slot is simply retired. */
		if (wc->status == IBV_WC_WR_FLUSH_ERR)
			qp->flushed++;
		else
			log_warn("qp %llu: receive failed: %s", (unsigned long long)qp->obj.handle,
				 ibv_wc_status_str(wc->status));
		return;
	}
	qp->received++;
	if (qp->echo) {
		/* The echo goes out of the receive slot itself; the slot is reposted after. */
		if (post_send(qp, WR_ECHO, slot, slot, wc->byte_len) < 0)
			qp_post_recv(qp, slot);
		return;
	}
	qp->rx_len[slot] = wc->byte_len;
	qp->rx_ring[(qp->rx_head + qp->rx_count) % QP_RECV_SLOTS] = (uint8_t)slot;
	qp->rx_count++;
	qp->d->qp_event(qp->d, qp->ep, 0, NULL);
}

static void echo_done(struct qp *qp, const struct ibv_wc *wc)
{
	if (wc->status == IBV_WC_SUCCESS) {
		qp->echoed++;
		qp_post_recv(qp, WR_SLOT(wc->wr_id));
	} else {
		qp->flushed++;
	}
}

static void cq_ready(evutil_socket_t fd, short what, void *arg)
{
	struct qp *qp = arg;
	uint64_t start = now_us();
	struct ibv_cq *cq;
	struct ibv_wc wc[16];
	void *context;
	int n;

	/* Ack each event as it is read: ibv_destroy_cq (on a worker) waits for the acks. */
	while (ibv_get_cq_event(qp->channel, &cq, &context) == 0)
		ibv_ack_cq_events(cq, 1);
	ibv_req_notify_cq(qp->cq, 0);
	/* Bounded: completions beyond these wait for the next turn of the loop. */
	for (unsigned round = 0; round < 8; round++) {
		n = ibv_poll_cq(qp->cq, 16, wc);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			switch (WR_KIND(wc[i].wr_id)) {
			case WR_RECV:
				recv_done(qp, &wc[i]);
				break;
			case WR_SEND:
				send_done(qp, &wc[i]);
				break;
			case WR_ECHO:
				echo_done(qp, &wc[i]);
				break;
			}
		}
		if (n < 16)
			break;
		if (round == 7)
			event_active(qp->cq_event, EV_READ, 0);
	}
	loop_histogram_record(qp->d, start);
}

int qp_publish(struct rdqd *d, struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
	return object_publish(d, qp);
}

int qp_activate(struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
	qp->cq_event = event_new(qp->d->base, qp->channel->fd, EV_READ | EV_PERSIST, cq_ready, qp);
	if (!qp->cq_event)
		return -ENOMEM;
	event_add(qp->cq_event, NULL);
	object_ref(qp);
	qp->active = true;
	/* Completions that came before the loop watched the channel. */
	event_active(qp->cq_event, EV_READ, 0);
	return 0;
}

void qp_deactivate(struct qp *qp, int status)
{
	RDQ_DISPATCH_ONLY();
	if (!qp->active)
		return;
	qp->active = false;
	event_free(qp->cq_event);
	qp->cq_event = NULL;
	for (unsigned s = 0; s < QP_SEND_SLOTS; s++) {
		struct request *req = qp->send_req[s];

		qp->send_req[s] = NULL;
		if (req)
			request_complete(req, status, NULL,
					 "the endpoint went away before the send completed");
	}
	object_unref(qp);
}

/* Messages are text in JSON; bytes that are not UTF-8 are given as hex instead. */
static json_t *message_json(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char hex[QP_SLOT_SIZE * 2 + 1];
	json_t *text = json_stringn((const char *)data, len);

	if (text)
		return json_pack("{s:o, s:I}", "data", text, "bytes", (json_int_t)len);
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[data[i] >> 4];
		hex[2 * i + 1] = digits[data[i] & 15];
	}
	hex[2 * len] = 0;
	return json_pack("{s:s, s:I}", "hex", hex, "bytes", (json_int_t)len);
}

int qp_take_message(struct qp *qp, json_t **out, size_t *len)
{
	unsigned slot;

	RDQ_DISPATCH_ONLY();
	if (!qp->rx_count)
		return 0;
	slot = qp->rx_ring[qp->rx_head];
	qp->rx_head = (qp->rx_head + 1) % QP_RECV_SLOTS;
	qp->rx_count--;
	*len = qp->rx_len[slot];
	*out = message_json(slot_addr(qp, slot), *len);
	qp_post_recv(qp, slot);
	return 1;
}
