/* SPDX-License-Identifier: MIT */
/*
 * QP resources: made, moved between states and destroyed on workers, since
 * every verbs call here may sleep in the kernel.
 */
#include "qp.h"

#include <errno.h>
#include <fcntl.h>
#include <rdma/rdma_cma.h>
#include <stdlib.h>
#include <string.h>

#include "engine/level.h"
#include "rdqd.h"

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

	if (rdma_init_qp_attr(id, &attr, &mask))
		return -errno;
	if (ibv_modify_qp(qp->qp, &attr, mask))
		return -errno;
	return 0;
}

int qp_create(struct rdqd *d, struct rdma_cm_id *id, rdq_handle_t ep, uid_t owner, bool echo,
	      rdq_handle_t *out)
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
	ret = handle_table_insert(&d->objects, qp, OBJ_QP, &qp->obj.handle);
	if (ret < 0)
		goto err;
	*out = qp->obj.handle;
	return 0;

err_errno:
	ret = errno ? -errno : -EIO;
err:
	qp_teardown(qp);
	qp_release(&qp->obj);
	return ret;
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
