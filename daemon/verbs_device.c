/* SPDX-License-Identifier: MIT */
/*
 * The verbs resources the QPs of one device share: made by the first QP on
 * a worker, destroyed by the last reference on a worker, and in between
 * used by the loop's data path (qp.c) through the send slots, the SRQ and
 * the qp_num map.
 */
#include "verbs_device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <rdma/rdma_cma.h>

#include "engine/level.h"
#include "log.h"
#include "object.h"
#include "qp.h"
#include "rdqd.h"

/*
 * Registered memory per device for each direction: 8 MiB of receive slots
 * and as much of send slots, at least 16 and at most 256 slots of the
 * largest message each. Small messages waste most of a slot; the count of
 * slots, not their bytes, bounds how many messages are in flight.
 */
#define SLOT_BUDGET (8u << 20)
#define SLOTS_MIN   16u
#define SLOTS_MAX   256u
#define MAP_MIN	    256u

static uint32_t slots_for(uint32_t slot_size)
{
	uint32_t n = SLOT_BUDGET / slot_size;

	return n < SLOTS_MIN ? SLOTS_MIN : n > SLOTS_MAX ? SLOTS_MAX : n;
}

uint8_t *verbs_device_slot(struct verbs_device *v, unsigned slot)
{
	return v->buf + (size_t)slot * v->slot_size;
}

int verbs_device_post_recv(struct verbs_device *v, unsigned slot)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)verbs_device_slot(v, slot),
		.length = v->slot_size,
		.lkey = v->mr->lkey,
	};
	struct ibv_recv_wr wr = {.wr_id = slot, .sg_list = &sge, .num_sge = 1};
	struct ibv_recv_wr *bad;

	return -ibv_post_srq_recv(v->srq, &wr, &bad);
}

/* ------------------------------------------------ making and destroying */

void verbs_device_destroy(struct verbs_device *v)
{
	RDQ_PASSIVE_ONLY();
	/* No QP is left (each held a reference): the SRQ and CQ are unused. */
	if (v->srq && ibv_destroy_srq(v->srq))
		log_warn("%s: cannot destroy the shared receive queue", v->device->name);
	/* Waits until the loop acked every event it read (it acks each at once). */
	if (v->cq && ibv_destroy_cq(v->cq))
		log_warn("%s: cannot destroy the shared CQ", v->device->name);
	if (v->channel && ibv_destroy_comp_channel(v->channel))
		log_warn("%s: cannot destroy the completion channel", v->device->name);
	if (v->mr && ibv_dereg_mr(v->mr))
		log_warn("%s: cannot deregister the buffer pool", v->device->name);
	if (v->pd && ibv_dealloc_pd(v->pd))
		log_warn("%s: cannot free the protection domain", v->device->name);
	/* Orphan slots whose completion never came: their QPs are destroyed. */
	for (unsigned i = 0; v->sends && i < v->send_slots; i++)
		if (v->sends[i].qp)
			object_unref(v->sends[i].qp);
	free(v->sends);
	free(v->map.slots);
	free(v->buf);
	pthread_mutex_destroy(&v->map_lock);
	/* Last: librdmacm may close the context now. */
	if (v->cm_ref)
		rdma_free_devices(v->cm_ref);
	free(v);
}

/*
 * Takes librdmacm's reference to verbs for the shared resources' life: of
 * the contexts rdma_get_devices counts a reference to, verbs's is kept in a
 * list of its own and the others' are given back. NULL if librdmacm does
 * not list verbs (or out of memory): then nothing is held.
 */
static struct ibv_context **hold_context(struct ibv_context *verbs)
{
	struct ibv_context **all, **one, **rest;
	size_t n = 0, k = 0;

	RDQ_PASSIVE_ONLY();
	all = rdma_get_devices(NULL);
	if (!all)
		return NULL;
	while (all[n])
		n++;
	one = calloc(2, sizeof(*one));
	rest = calloc(n + 1, sizeof(*rest));
	if (!one || !rest) {
		free(one);
		free(rest);
		rdma_free_devices(all);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (all[i] == verbs && !one[0])
			one[0] = all[i];
		else
			rest[k++] = all[i];
	}
	rdma_free_devices(rest);
	free(all); /* its references are one's and rest's */
	if (!one[0]) {
		free(one);
		return NULL;
	}
	return one;
}

/* Makes the shared resources on verbs; NULL with errno set. */
static struct verbs_device *create(struct rdqd *d, struct ibv_context *verbs)
{
	struct ibv_device_attr attr;
	struct verbs_device *v;
	size_t size;
	int cqe, err;

	RDQ_PASSIVE_ONLY();
	err = ibv_query_device(verbs, &attr);
	if (err) {
		errno = err;
		return NULL;
	}
	if (attr.max_srq == 0) {
		log_err("%s has no shared receive queues, which rdq needs",
			ibv_get_device_name(verbs->device));
		errno = EOPNOTSUPP;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->d = d;
	v->verbs = verbs;
	v->device = verbs->device;
	v->cm_ref = hold_context(verbs);
	atomic_init(&v->refs, 1); /* the list's */
	pthread_mutex_init(&v->map_lock, NULL);
	/* Cache-line aligned slots, each able to hold the largest message. */
	v->slot_size = (d->opt.max_message + 63u) & ~63u;
	v->recv_slots = slots_for(v->slot_size);
	v->send_slots = d->opt.send_slots ? d->opt.send_slots : slots_for(v->slot_size);
	if (attr.max_srq_wr > 0 && v->recv_slots > (uint32_t)attr.max_srq_wr)
		v->recv_slots = (uint32_t)attr.max_srq_wr;
	/*
	 * Room for a completion of every receive slot and of every send slot
	 * twice: a slot taken back from a destroyed QP may be lent again while
	 * a stale completion of its last loan is still in the queue.
	 */
	cqe = (int)(v->recv_slots + 2 * v->send_slots);
	if (cqe > attr.max_cqe)
		cqe = attr.max_cqe;

	size = (size_t)(v->recv_slots + v->send_slots) * v->slot_size;
	v->buf = aligned_alloc(4096, (size + 4095) & ~(size_t)4095);
	v->sends = calloc(v->send_slots, sizeof(*v->sends));
	v->map.size = MAP_MIN;
	v->map.slots = calloc(v->map.size, sizeof(*v->map.slots));
	if (!v->buf || !v->sends || !v->map.slots)
		goto fail;
	for (unsigned i = 0; i < v->send_slots; i++)
		v->sends[i].next = i + 1;
	v->free_send = 0;
	v->sends_free = v->send_slots;

	v->pd = ibv_alloc_pd(verbs);
	if (!v->pd)
		goto fail;
	v->channel = ibv_create_comp_channel(verbs);
	if (!v->channel)
		goto fail;
	/* The loop reads this channel: it must never block there. */
	if (fcntl(v->channel->fd, F_SETFL, fcntl(v->channel->fd, F_GETFL) | O_NONBLOCK) < 0)
		goto fail;
	v->cq = ibv_create_cq(verbs, cqe, NULL, v->channel, 0);
	if (!v->cq)
		goto fail;
	v->srq = ibv_create_srq(v->pd, &(struct ibv_srq_init_attr){
					       .attr = {.max_wr = v->recv_slots, .max_sge = 1},
				       });
	if (!v->srq)
		goto fail;
	v->mr = ibv_reg_mr(v->pd, v->buf, size, IBV_ACCESS_LOCAL_WRITE);
	if (!v->mr)
		goto fail;
	for (unsigned i = 0; i < v->recv_slots; i++) {
		err = verbs_device_post_recv(v, i);
		if (err) {
			errno = -err;
			goto fail;
		}
	}
	err = ibv_req_notify_cq(v->cq, 0);
	if (err) {
		errno = err;
		goto fail;
	}
	log_info("%s: shared PD, CQ of %d, SRQ of %u and %u send slots of %u bytes (%zu KiB "
		 "registered)",
		 ibv_get_device_name(v->device), cqe, v->recv_slots, v->send_slots, v->slot_size,
		 size >> 10);
	return v;

fail:
	err = errno ? errno : ENOMEM;
	log_warn("%s: cannot make the shared verbs resources: %s",
		 ibv_get_device_name(verbs->device), strerror(err));
	verbs_device_destroy(v);
	errno = err;
	return NULL;
}

struct verbs_device *verbs_device_get(struct rdqd *d, struct ibv_context *verbs)
{
	struct verbs_device *v;

	RDQ_PASSIVE_ONLY();
	pthread_mutex_lock(&d->verbs_lock);
	for (v = d->verbs_devices; v; v = v->next)
		if (v->verbs == verbs && !v->retired)
			break;
	if (!v) {
		/* Made under the lock: two first QPs on a device make it once. */
		v = create(d, verbs);
		if (v) {
			v->next = d->verbs_devices;
			d->verbs_devices = v;
		}
	}
	if (v)
		atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&d->verbs_lock);
	return v;
}

bool verbs_device_release(struct verbs_device *v)
{
	struct verbs_device **p;
	struct rdqd *d = v->d;

	if (atomic_fetch_sub(&v->refs, 1) != 1)
		return false;
	/* Only a retired device loses its list reference, so it is still listed, retired. */
	pthread_mutex_lock(&d->verbs_lock);
	for (p = &d->verbs_devices; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			break;
		}
	}
	pthread_mutex_unlock(&d->verbs_lock);
	return true;
}

void verbs_device_put(struct verbs_device *v)
{
	RDQ_PASSIVE_ONLY();
	if (verbs_device_release(v))
		verbs_device_destroy(v);
}

struct verbs_device *verbs_devices_retire_gone(struct rdqd *d, struct ibv_device **list, int n,
					       bool *busy)
{
	struct verbs_device *retired = NULL;

	RDQ_PASSIVE_ONLY();
	*busy = false;
	pthread_mutex_lock(&d->verbs_lock);
	for (struct verbs_device *v = d->verbs_devices; v; v = v->next) {
		bool there = false;

		for (int i = 0; i < n && !there; i++)
			there = list[i] == v->device;
		if (!there && !v->retired) {
			v->retired = true;
			v->retired_next = retired;
			retired = v;
		}
		/* Still listed while retired: its resources are not destroyed yet. */
		if (v->retired)
			*busy = true;
	}
	pthread_mutex_unlock(&d->verbs_lock);
	return retired;
}

void verbs_devices_close(struct rdqd *d)
{
	struct verbs_device *v;

	RDQ_PASSIVE_ONLY();
	while ((v = d->verbs_devices)) {
		d->verbs_devices = v->next;
		verbs_device_unwatch(v);
		if (atomic_load(&v->refs) > 1)
			log_warn("%s: %u QPs left at exit", v->device->name,
				 atomic_load(&v->refs) - 1);
		verbs_device_destroy(v);
	}
}

void verbs_device_unwatch(struct verbs_device *v)
{
	if (v->cq_event)
		event_free(v->cq_event);
	v->cq_event = NULL;
}

/* ------------------------------------------------ the qp_num map */

static unsigned map_home(const struct qp_map *m, uint32_t qp_num)
{
	return (qp_num * 2654435761u) & (m->size - 1);
}

static void map_put(struct qp_map *m, struct qp *qp)
{
	unsigned i = map_home(m, qp->qp->qp_num);

	while (m->slots[i].qp)
		i = (i + 1) & (m->size - 1);
	m->slots[i].qp_num = qp->qp->qp_num;
	m->slots[i].qp = qp;
	m->used++;
}

int verbs_device_map_add(struct verbs_device *v, struct qp *qp)
{
	struct qp_map *m = &v->map;

	RDQ_PASSIVE_ONLY();
	pthread_mutex_lock(&v->map_lock);
	/* At most half full; doubling is rare (amortised O(1) per QP) and runs here, on a worker.
	 */
	if ((m->used + 1) * 2 > m->size) {
		struct qp_map grown = {.size = m->size * 2};

		grown.slots = calloc(grown.size, sizeof(*grown.slots));
		if (!grown.slots) {
			pthread_mutex_unlock(&v->map_lock);
			return -ENOMEM;
		}
		for (unsigned i = 0; i < m->size; i++)
			if (m->slots[i].qp)
				map_put(&grown, m->slots[i].qp);
		free(m->slots);
		*m = grown;
	}
	map_put(m, qp);
	pthread_mutex_unlock(&v->map_lock);
	return 0;
}

void verbs_device_map_remove(struct verbs_device *v, struct qp *qp)
{
	struct qp_map *m = &v->map;
	unsigned mask = m->size - 1, i, j;

	RDQ_PASSIVE_ONLY();
	pthread_mutex_lock(&v->map_lock);
	for (i = map_home(m, qp->qp->qp_num); m->slots[i].qp && m->slots[i].qp != qp;
	     i = (i + 1) & mask)
		;
	if (!m->slots[i].qp) {
		pthread_mutex_unlock(&v->map_lock);
		return;
	}
	/* Linear probing without tombstones: later entries of the run move back into the hole. */
	for (j = (i + 1) & mask; m->slots[j].qp; j = (j + 1) & mask) {
		unsigned home = map_home(m, m->slots[j].qp_num);
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);

		if (!stays) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].qp = NULL;
	m->used--;
	pthread_mutex_unlock(&v->map_lock);
}

struct qp *verbs_device_map_lookup(struct verbs_device *v, uint32_t qp_num)
{
	struct qp_map *m = &v->map;
	struct qp *qp = NULL;

	/* Held for a few probes; a worker holds it as briefly, or while the map doubles. */
	pthread_mutex_lock(&v->map_lock);
	for (unsigned i = map_home(m, qp_num); m->slots[i].qp; i = (i + 1) & (m->size - 1)) {
		if (m->slots[i].qp_num == qp_num) {
			qp = object_ref(m->slots[i].qp);
			break;
		}
	}
	pthread_mutex_unlock(&v->map_lock);
	return qp;
}

/* ------------------------------------------------ send slots (loop) */

int verbs_device_lend_send(struct verbs_device *v, struct qp *qp, uint8_t tag, bool echo)
{
	struct send_slot *s;
	unsigned i;

	RDQ_DISPATCH_ONLY();
	if (!v->sends_free && v->orphans)
		verbs_device_sweep_orphans(v);
	if (!v->sends_free)
		return -1;
	i = v->free_send;
	s = &v->sends[i];
	v->free_send = s->next;
	v->sends_free--;
	s->qp = qp;
	s->tag = tag;
	s->echo = echo;
	s->orphan = false;
	s->gen++;
	return (int)i;
}

void verbs_device_return_send(struct verbs_device *v, unsigned slot)
{
	struct send_slot *s = &v->sends[slot];

	RDQ_DISPATCH_ONLY();
	if (s->orphan) {
		v->orphans--;
		object_unref(s->qp);
	}
	s->qp = NULL;
	s->orphan = false;
	s->next = v->free_send;
	v->free_send = slot;
	v->sends_free++;
}

void verbs_device_orphan_sends(struct verbs_device *v, struct qp *qp)
{
	RDQ_DISPATCH_ONLY();
	for (unsigned t = 0; t < QP_SEND_SLOTS; t++) {
		struct send_slot *s;

		if (!qp->send_busy[t])
			continue;
		s = &v->sends[qp->send_slot[t]];
		s->orphan = true;
		object_ref(qp);
		v->orphans++;
	}
}

void verbs_device_sweep_orphans(struct verbs_device *v)
{
	RDQ_DISPATCH_ONLY();
	/* At most send_slots entries, and only while orphans exist. */
	for (unsigned i = 0; i < v->send_slots && v->orphans; i++) {
		struct send_slot *s = &v->sends[i];

		if (s->qp && s->orphan && atomic_load(&s->qp->torn_down))
			verbs_device_return_send(v, i);
	}
}
