/* SPDX-License-Identifier: MIT */
/*
 * A queue pair with its own PD, completion channel, CQ and registered
 * buffers, made with ibv_create_qp (not rdma_create_qp): rdma_cm therefore
 * never moves it to error for us; rdq does that on a worker.
 *
 * Two halves in qp.c, two levels:
 *  - PASSIVE: create, state changes, teardown. These block.
 *  - DISPATCH: the data path. Posting and polling never block, so the loop
 *    runs them directly, and owns every field marked "loop".
 */
#ifndef RDQD_QP_H
#define RDQD_QP_H

#include <infiniband/verbs.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "object.h"

struct rdqd;
struct request;
struct rdma_cm_id;

#define QP_SLOT_SIZE  4096u /* the largest message */
#define QP_RECV_SLOTS 16u
#define QP_SEND_SLOTS 16u

struct qp {
	struct object obj;
	struct rdqd *d;
	rdq_handle_t ep; /* the endpoint it serves */
	bool echo;	 /* answer each message with itself; else keep it */

	/* Made by a worker before the handle is published; read-only afterwards. */
	struct ibv_pd *pd;
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf; /* QP_RECV_SLOTS then QP_SEND_SLOTS slots of QP_SLOT_SIZE */

	/* The data path: loop only. */
	struct event *cq_event; /* the completion channel in the loop */
	bool active;		/* polling; sends allowed while the ep is connected */
	struct request *send_req[QP_SEND_SLOTS]; /* the client send each slot carries */
	bool send_busy[QP_SEND_SLOTS];
	uint32_t rx_len[QP_RECV_SLOTS]; /* bytes in each received, unread slot */
	uint8_t rx_ring[QP_RECV_SLOTS]; /* received slots in arrival order */
	unsigned rx_head, rx_count;
	uint64_t sent, received, echoed, flushed;
};

/* --- PASSIVE level --- */

/*
 * Makes a QP for the endpoint whose rdma_cm_id is id, moves it to INIT and
 * posts its receives. Each message that arrives goes straight back to the
 * peer (echo: a listener's endpoints) or waits for its endpoint to take it.
 * News for the endpoint (a message to take, the QP failed) goes to
 * d->qp_event.
 * It is not published: *out holds its one reference
 * until the loop gives it to the handle table (qp_publish) when its endpoint
 * takes it, or qp_discard ends it. Returns 0, or -errno (nothing left behind).
 */
int qp_create(struct rdqd *d, struct rdma_cm_id *id, rdq_handle_t ep, uid_t owner, bool echo,
	      struct qp **out);

/* Tears down and frees a QP that was never published (PASSIVE). */
void qp_discard(struct qp *qp);

/* Moves the QP to RTR then RTS with the attributes rdma_cm gives for id. */
int qp_ready(struct qp *qp, struct rdma_cm_id *id);

/* Moves the QP to the error state: posted work completes as flushed. */
int qp_to_error(struct qp *qp);

/* Destroys the verbs resources (the object itself goes at its last unref). */
void qp_teardown(struct qp *qp);

/* --- qp.c: DISPATCH level (the loop) --- */

/* Posts receive slot again (never blocks; also used while creating). Returns 0 or -errno. */
int qp_post_recv(struct qp *qp, unsigned slot);

/*
 * Publishes a QP qp_create made, as its endpoint takes it: the handle table
 * takes the reference, and qp->obj.handle names it. Returns 0 or -ENOSPC.
 */
int qp_publish(struct rdqd *d, struct qp *qp);

/* Starts polling the QP's completions on the loop; takes a reference. */
int qp_activate(struct qp *qp);

/*
 * Stops polling, completes the sends still waiting with status, and drops
 * the loop's reference. After this only a worker touches the QP.
 */
void qp_deactivate(struct qp *qp, int status);

/*
 * Posts a send of len bytes. The request completes when the send does.
 * Returns 0 (the request is the QP's now) or -ENOBUFS/-EIO.
 */
int qp_post_send(struct qp *qp, const void *data, size_t len, struct request *req);

/*
 * Forgets that req rides a send slot (its deadline passed: it is completed
 * elsewhere). The slot stays busy until the hardware reports the send, whose
 * completion then answers no one.
 */
void qp_abandon_send(struct qp *qp, const struct request *req);

/*
 * Takes the oldest received message: copies it into a new JSON string set
 * in *out. Returns 1 if there was one, 0 if none.
 */
int qp_take_message(struct qp *qp, json_t **out, size_t *len);

#endif
