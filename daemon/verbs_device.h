/* SPDX-License-Identifier: MIT */
/*
 * What every QP on one RDMA device shares, the way RDMA servers share it:
 * one protection domain, one completion channel (a single descriptor however
 * many QPs there are), one CQ, a shared receive queue, and a registered pool
 * of fixed-size buffer slots (receive slots posted to the SRQ, send slots
 * lent to one send at a time). A QP itself holds only its send queue.
 *
 * Lifetime: made by the first QP on the device (on a worker), kept while the
 * device is there; each QP holds a reference. A device scan that finds the
 * device gone retires it (no new QP finds it), the loop stops reading its
 * channel, and the last reference destroys the verbs resources on a worker,
 * before librdmacm may close the device.
 *
 * Threads: the fields under "loop" are the loop's alone (the data path);
 * the QP map is shared (workers add and remove QPs, the loop looks them up)
 * under map_lock; the list of devices is under d->verbs_lock.
 */
#ifndef RDQD_VERBS_DEVICE_H
#define RDQD_VERBS_DEVICE_H

#include <infiniband/verbs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/list.h"

struct event;
struct qp;
struct rdqd;
struct request;

/* A send slot's loan: which QP's send it carries, and which post of the slot this is. */
struct send_slot {
	struct qp *qp; /* the QP it is lent to, or NULL when free */
	uint64_t gen;  /* bumped at each post: a completion of an older post is stale */
	uint8_t tag;   /* the QP's own index for the send (struct qp send_req) */
	bool echo;     /* an echo, not a client's ep.send */
	bool orphan;   /* its QP was deactivated first: freed once the QP is destroyed */
	unsigned next; /* free list */
};

/* qp_num -> QP, open addressing; grows by doubling. */
struct qp_map {
	struct qp_map_entry {
		uint32_t qp_num;
		struct qp *qp; /* NULL: empty */
	} * slots;
	unsigned size, used; /* size: a power of two */
};

struct verbs_device {
	struct verbs_device *next;	   /* d->verbs_devices, under d->verbs_lock */
	struct verbs_device *retired_next; /* a scan's retired devices, on their way to the loop */
	bool retired;			   /* the device is gone: no new QP may use it */
	struct rdqd *d;
	struct ibv_context *verbs; /* librdmacm's context: not ours to close */
	/*
	 * librdmacm's reference to verbs: a one-context list of
	 * rdma_get_devices, given back (rdma_free_devices) only after the
	 * resources on it are destroyed. Without it librdmacm closes the
	 * context as soon as it finds the device gone and no rdma_cm_id on it,
	 * or when it makes its record of the device again, which it may do for
	 * a device that stays when another is added; the resources on it would
	 * then be freed through a closed context. NULL if librdmacm did not
	 * list verbs.
	 */
	struct ibv_context **cm_ref;
	struct ibv_device *device; /* how a scan tells whether it is still there */
	atomic_uint refs;	   /* the list's, while listed, and one per QP */

	/* Made once, read-only afterwards. */
	struct ibv_pd *pd;
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	struct ibv_srq *srq;
	struct ibv_mr *mr;
	uint8_t *buf; /* recv_slots slots, then send_slots slots */
	uint32_t slot_size, recv_slots, send_slots;

	pthread_mutex_t map_lock;
	struct qp_map map;

	/* The loop's. */
	struct event *cq_event; /* reading the channel; NULL until the first QP is active */
	struct send_slot *sends;
	unsigned free_send; /* first free send slot, or send_slots when none */
	unsigned sends_free, orphans;
	struct list waiting; /* of struct qp: echoes waiting for a send slot, oldest first */
};

/* --- PASSIVE level (workers) --- */

/*
 * The shared resources of the device verbs is open on, made on first use.
 * Takes a reference for the caller. NULL with errno set when they cannot be
 * made.
 */
struct verbs_device *verbs_device_get(struct rdqd *d, struct ibv_context *verbs);

/* Drops a reference; the last destroys the verbs resources (PASSIVE). */
void verbs_device_put(struct verbs_device *v);

/* Destroys a device whose last reference verbs_device_release dropped. */
void verbs_device_destroy(struct verbs_device *v);

/* Adds and removes a QP in the map that receive completions use (by qp_num). */
int verbs_device_map_add(struct verbs_device *v, struct qp *qp);
void verbs_device_map_remove(struct verbs_device *v, struct qp *qp);

/*
 * For a device scan, with the devices libibverbs lists now: retires the
 * devices no longer there (no new QP finds them) and returns them, chained
 * by retired_next, for the loop (verbs_device_unwatch, then
 * verbs_device_release). *busy says that some retired device still has its
 * resources, so librdmacm must not yet close devices that are gone.
 */
struct verbs_device *verbs_devices_retire_gone(struct rdqd *d, struct ibv_device **list, int n,
					       bool *busy);

/* At exit (the loop has stopped): destroys every device's resources. */
void verbs_devices_close(struct rdqd *d);

/* --- DISPATCH level (the loop) --- */

/* Looks up the QP with qp_num, taking a reference; NULL if none. */
struct qp *verbs_device_map_lookup(struct verbs_device *v, uint32_t qp_num);

/* Stops reading the device's completions (before its list reference goes). */
void verbs_device_unwatch(struct verbs_device *v);

/* Drops a reference without destroying: true if it was the last (destroy on a worker). */
bool verbs_device_release(struct verbs_device *v);

/* Lends a free send slot to qp's send tag; returns its index, or -1 when none is free. */
int verbs_device_lend_send(struct verbs_device *v, struct qp *qp, uint8_t tag, bool echo);

/* Takes back a send slot (its send completed, or its QP is destroyed). */
void verbs_device_return_send(struct verbs_device *v, unsigned slot);

/*
 * Marks the slots lent to qp, which is being deactivated, as orphans: each
 * holds a reference on qp until its completion comes or qp is destroyed.
 */
void verbs_device_orphan_sends(struct verbs_device *v, struct qp *qp);

/* Takes back orphan slots whose QP is destroyed: the hardware is done with them. */
void verbs_device_sweep_orphans(struct verbs_device *v);

/* A slot's address (receive slots first, then send slots). */
uint8_t *verbs_device_slot(struct verbs_device *v, unsigned slot);

/* Posts receive slot to the SRQ again. Returns 0 or -errno. */
int verbs_device_post_recv(struct verbs_device *v, unsigned slot);

#endif
