/* SPDX-License-Identifier: MIT */
/*
 * The blocking steps of an endpoint's life, run on workers (PASSIVE level).
 * Each finds its endpoint (and QP) again by handle: between the loop
 * queueing the item and a worker running it, either may have been
 * destroyed, and then the step does nothing but say so (-ENOENT).
 * The endpoint's event queue runs its steps one at a time, in order (with
 * sync scope endpoint or device); ep->lock guards the rdma_cm_id and the QP
 * against a step running beside another (sync scope none) and the teardown.
 */
#include "endpoint.h"

#include <errno.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/level.h"
#include "engine/workers.h"
#include "qp.h"
#include "rdqd.h"

/* Connection parameters for both sides: retry forever on receiver-not-ready. */
static void conn_param_init(struct rdma_conn_param *p, uint32_t qp_num)
{
	memset(p, 0, sizeof(*p));
	p->qp_num = qp_num;
	p->responder_resources = 1;
	p->initiator_depth = 1;
	p->retry_count = 7;
	p->rnr_retry_count = 7;
}

/* Finds the item's endpoint and takes its lock; NULL (status -ENOENT) if gone. */
static struct ep *ep_get_locked(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct ep *ep = handle_table_lookup(&d->objects, item->handle, OBJ_EP);

	if (!ep) {
		item->status = -ENOENT;
		return NULL;
	}
	pthread_mutex_lock(&ep->lock);
	if (ep->dead) {
		/* Found before it was unpublished, locked after its teardown. */
		pthread_mutex_unlock(&ep->lock);
		object_unref(ep);
		item->status = -ENOENT;
		return NULL;
	}
	return ep;
}

static void ep_put_unlock(struct ep *ep)
{
	pthread_mutex_unlock(&ep->lock);
	object_unref(ep);
}

/* Resolves a numeric or named address; getaddrinfo may block, hence here. */
static int resolve(const char *addr, int port, bool passive, struct addrinfo **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
	char service[8];
	int ret;

	snprintf(service, sizeof(service), "%d", port);
	ret = getaddrinfo(addr && *addr ? addr : NULL, service, &hints, out);
	if (ret == EAI_SYSTEM)
		return -errno;
	return ret ? -EADDRNOTAVAIL : 0;
}

static void save_addrs(struct rdma_cm_id *id, struct ep_work_args *a)
{
	memcpy(&a->local, rdma_get_local_addr(id), sizeof(struct sockaddr_in6));
	memcpy(&a->remote, rdma_get_peer_addr(id), sizeof(struct sockaddr_in6));
}

/* Destroys a QP made by a step that then failed: it never reached the loop. */
static void qp_discard(struct rdqd *d, rdq_handle_t h)
{
	struct qp *qp = handle_table_remove(&d->objects, h);

	if (!qp)
		return;
	qp_teardown(qp);
	object_unref(qp);
}

/*
 * Resolves the item's address and makes the endpoint's rdma_cm_id; on success
 * *ai is the address (freeaddrinfo it). Called under ep->lock.
 */
static int create_id(struct work_item *item, bool passive, struct rdma_cm_id **id,
		     struct addrinfo **ai)
{
	struct rdqd *d = item->ctx;
	struct ep_work_args *a = item->data;
	int ret;

	ret = resolve(a->addr, a->port, passive, ai);
	if (ret < 0)
		return ret;
	/* The id's context is the endpoint's handle, never a pointer to it. */
	if (rdma_create_id(d->cm, id, (void *)(uintptr_t)item->handle, RDMA_PS_TCP)) {
		ret = -errno;
		freeaddrinfo(*ai);
		*ai = NULL;
	}
	return ret;
}

void ep_work_listen(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct rdma_cm_id *id = NULL;
	struct addrinfo *ai = NULL;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	ret = create_id(item, true, &id, &ai);
	if (ret == 0 && (rdma_bind_addr(id, ai->ai_addr) || rdma_listen(id, a->backlog))) {
		ret = -errno;
		rdma_destroy_id(id);
	} else if (ret == 0) {
		ep->id = id;
		save_addrs(id, a);
	}
	if (ai)
		freeaddrinfo(ai);
	item->status = ret;
	ep_put_unlock(ep);
}

void ep_work_resolve_addr(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct rdma_cm_id *id = NULL;
	struct addrinfo *ai = NULL;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	ret = create_id(item, false, &id, &ai);
	if (ret == 0) {
		ep->id = id;
		/* Asynchronous: ADDR_RESOLVED or ADDR_ERROR comes to the loop. */
		if (rdma_resolve_addr(id, NULL, ai->ai_addr, (int)a->timeout_ms))
			ret = -errno;
		freeaddrinfo(ai);
	}
	item->status = ret;
	ep_put_unlock(ep);
}

void ep_work_resolve_route(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	item->status = rdma_resolve_route(ep->id, (int)a->timeout_ms) ? -errno : 0;
	ep_put_unlock(ep);
}

void ep_work_connect(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct rdma_conn_param param;
	rdq_handle_t qph = 0;
	struct qp *qp;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	ret = qp_create(d, ep->id, item->handle, ep->obj.owner, false, &qph);
	if (ret < 0)
		goto out;
	qp = handle_table_lookup(&d->objects, qph, OBJ_QP);
	conn_param_init(&param, qp->qp->qp_num);
	object_unref(qp);
	save_addrs(ep->id, item->data);
	if (rdma_connect(ep->id, &param)) {
		ret = -errno;
		qp_discard(d, qph);
		qph = 0;
	}
out:
	item->handle2 = qph;
	item->status = ret;
	ep_put_unlock(ep);
}

void ep_work_establish(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct qp *qp;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	qp = handle_table_lookup(&d->objects, item->handle2, OBJ_QP);
	if (!qp) {
		ret = -ENOENT;
		goto out;
	}
	ret = qp_ready(qp, ep->id);
	/* rdma_establish sends the RTU: the passive side then reports ESTABLISHED. */
	if (ret == 0 && rdma_establish(ep->id))
		ret = -errno;
	object_unref(qp);
out:
	item->status = ret;
	ep_put_unlock(ep);
}

void ep_work_accept(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct ep_work_args *a = item->data;
	struct rdma_conn_param param;
	rdq_handle_t qph = 0;
	struct qp *qp = NULL;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	ret = qp_create(d, ep->id, item->handle, ep->obj.owner, true, &qph);
	if (ret < 0)
		goto reject;
	qp = handle_table_lookup(&d->objects, qph, OBJ_QP);
	ret = qp_ready(qp, ep->id);
	if (ret < 0)
		goto reject;
	conn_param_init(&param, qp->qp->qp_num);
	if (rdma_accept(ep->id, &param)) {
		ret = -errno;
		goto reject;
	}
	save_addrs(ep->id, a);
	object_unref(qp);
	item->handle2 = qph;
	item->status = 0;
	ep_put_unlock(ep);
	return;

reject:
	rdma_reject(ep->id, NULL, 0);
	object_unref(qp);
	if (qph)
		qp_discard(d, qph);
	item->status = ret;
	ep_put_unlock(ep);
}

void ep_work_reject(struct work_item *item)
{
	struct rdma_cm_id *id = item->data;

	RDQ_PASSIVE_ONLY();
	/* A connection request whose listener is gone: nobody owns this id but us. */
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
	item->data = NULL;
}

void ep_work_disconnect(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	/* Sends the DREQ (or the DREP, if the peer's DREQ came first). */
	item->status = rdma_disconnect(ep->id) ? -errno : 0;
	ep_put_unlock(ep);
}

/* Moves the item's QP to error; the caller holds ep->lock. */
static void qp_error_locked(struct work_item *item)
{
	struct qp *qp =
		handle_table_lookup(&((struct rdqd *)item->ctx)->objects, item->handle2, OBJ_QP);

	if (!qp) {
		item->status = -ENOENT;
		return;
	}
	item->status = qp_to_error(qp);
	object_unref(qp);
}

void ep_work_qp_error(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	qp_error_locked(item);
	ep_put_unlock(ep);
}

void ep_work_answer_dreq(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_get_locked(item);
	if (!ep)
		return;
	/*
	 * The peer's DREQ waits for our DREP, which rdma_disconnect sends: without
	 * it the peer only learns of the disconnect when its DREQ times out.
	 */
	rdma_disconnect(ep->id);
	qp_error_locked(item);
	ep_put_unlock(ep);
}

void ep_work_teardown(struct work_item *item)
{
	struct ep_teardown *t = item->data;

	RDQ_PASSIVE_ONLY();
	/* Unpublished objects: these references are the only way left to reach them. */
	pthread_mutex_lock(&t->ep->lock);
	if (t->qp)
		qp_teardown(t->qp);
	if (t->ep->id) {
		/* Waits until the loop has acked every event of this id. */
		rdma_destroy_id(t->ep->id);
		t->ep->id = NULL;
	}
	t->ep->dead = true;
	pthread_mutex_unlock(&t->ep->lock);
	item->status = 0;
}

void ep_work_qp_destroy(struct work_item *item)
{
	struct ep_teardown *t = item->data;

	RDQ_PASSIVE_ONLY();
	/*
	 * Unpublished by qp.destroy: the item holds the last reference. The
	 * endpoint's lock keeps a step that found the QP before that (and is
	 * moving it to error, say) from seeing it torn down under it.
	 */
	pthread_mutex_lock(&t->ep->lock);
	qp_teardown(t->qp);
	pthread_mutex_unlock(&t->ep->lock);
	item->status = 0;
}

void ep_work_qp_discard(struct work_item *item)
{
	RDQ_PASSIVE_ONLY();
	/* A QP made for an endpoint that was destroyed while the QP was being made. */
	qp_discard(item->ctx, item->handle2);
}
