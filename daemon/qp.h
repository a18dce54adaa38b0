/* SPDX-License-Identifier: MIT */
/*
 * A queue pair. What it shares with the other QPs of its device (PD, CQ,
 * SRQ, buffers) is in verbs_device.h; what is its own is its send queue, its
 * place in the device's qp_num map, and the messages it holds. Made with
 * ibv_create_qp (not rdma_create_qp): rdma_cm therefore never moves it to
 * error for us; rdq does that on a worker.
 *
 * Two halves in qp.c, two levels:
 *  - PASSIVE: create, state changes, teardown. These block.
 *  - DISPATCH: the data path. Posting and polling never block, so the loop
 *    runs them directly, and owns every field marked "loop".
 */
#ifndef RDQD_QP_H
#define RDQD_QP_H

#include <infiniband/verbs.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/list.h"
#include "object.h"

struct rdqd;
struct request;
struct rdma_cm_id;
struct verbs_device;

#define QP_SEND_SLOTS 16u /* sends in flight per QP */

/* Bytes before a held message's: its reply's frame header and JSON, written there when lent. */
#define QP_MSG_ROOM 192

/*
 * A received message, copied out of the device's receive slot: its one copy
 * in rdqd, since its reply lends these bytes to the connection's output
 * rather than copy them again (control_reply_lent).
 */
struct qp_msg {
	struct qp_msg *next;
	struct rdqd *d; /* whose spare buffers it joins: the daemon outlives every output */
	uint32_t len;
	uint32_t cap; /* bytes data has room for */
	uint8_t room[QP_MSG_ROOM];
	uint8_t data[];
};

/*
 * A QP's news for its endpoint ep, on the loop: status < 0, the QP failed,
 * and why says how (returns false); status 0, messages are held for the
 * endpoint to take (data NULL; returns false), or one has just arrived and
 * none is held: len bytes at data, in the receive buffer, which the
 * endpoint may answer a waiting receive with at once (one copy, into the
 * reply) and return true; false, and the QP holds it.
 */
typedef bool qp_news_fn(struct rdqd *d, rdq_handle_t ep, int status, const char *why,
			const uint8_t *data, uint32_t len);

struct qp {
	struct object obj;
	struct rdqd *d;
	rdq_handle_t ep;  /* the endpoint it serves */
	qp_news_fn *news; /* where its news for that endpoint goes, on the loop */
	bool echo;	  /* answer each message with itself; else keep it */

	/* Made by a worker before the handle is published; read-only afterwards. */
	struct verbs_device *dev;
	struct ibv_qp *qp;
	atomic_bool torn_down; /* set by qp_teardown: the hardware is done with its sends */

	/* The data path: loop only. */
	bool active;  /* polled; sends allowed while the ep is connected */
	bool retired; /* deactivated: what still arrives is discarded */
	bool failed;  /* reported a failure (once) */
	int fail_status;
	char fail_why[160];
	struct request *send_req[QP_SEND_SLOTS]; /* the client send each tag carries */
	bool send_busy[QP_SEND_SLOTS];
	uint16_t send_slot[QP_SEND_SLOTS]; /* the device's send slot each tag rides */
	uint32_t send_len[QP_SEND_SLOTS];
	unsigned sends_out;
	struct qp_msg *held_head, *held_tail; /* received, not yet taken or echoed */
	unsigned held;
	struct list_node waiting; /* in its device's echoes waiting for a send slot */
	uint64_t sent, received, echoed, flushed;
};

/* --- PASSIVE level --- */

/*
 * Makes a QP for the endpoint whose rdma_cm_id is id, moves it to INIT and
 * posts its receives. Each message that arrives goes straight back to the
 * peer (echo: a listener's endpoints) or waits for its endpoint to take it.
 * News for the endpoint (a message to take, the QP failed) goes to news,
 * which the endpoints give (endpoint_qp_event): the QP calls back the
 * module that made it, and names none above it.
 * It is not published: *out holds its one reference
 * until the loop gives it to the handle table (qp_publish) when its endpoint
 * takes it, or qp_discard ends it. Returns 0, or -errno (nothing left behind).
 */
int qp_create(struct rdqd *d, struct rdma_cm_id *id, rdq_handle_t ep, uid_t owner, bool echo,
	      qp_news_fn *news, struct qp **out);

/* Tears down and frees a QP that was never published (PASSIVE). */
void qp_discard(struct qp *qp);

/*
 * The attributes (and their mask) that move a QP of id's connection to
 * state, as rdma_cm gives them, with the retry counts capped (finite: 7
 * would mean "forever"). Used for rdqd's own QPs and for those of direct
 * endpoints, which their clients move themselves.
 */
int qp_attr_from_cm(struct rdma_cm_id *id, enum ibv_qp_state state, struct ibv_qp_attr *attr,
		    int *mask);

/* Moves the QP to RTR then RTS with the attributes rdma_cm gives for id. */
int qp_ready(struct qp *qp, struct rdma_cm_id *id);

/* Moves the QP to the error state: posted work completes as flushed. */
int qp_to_error(struct qp *qp);

/* Destroys the verbs resources (the object itself goes at its last unref). */
void qp_teardown(struct qp *qp);

/* --- qp.c: DISPATCH level (the loop) --- */

/*
 * Publishes a QP qp_create made, as its endpoint takes it: the handle table
 * takes the reference, and qp->obj.handle names it. Returns 0 or -ENOSPC.
 */
int qp_publish(struct rdqd *d, struct qp *qp);

/*
 * Starts the QP's data path on the loop (and reading its device's
 * completions, if nothing did yet); takes a reference.
 */
int qp_activate(struct qp *qp);

/*
 * Once its endpoint is connected: what happened before the QP was active
 * reaches it now (a failure, messages to announce), or goes out (echoes).
 */
void qp_catch_up(struct qp *qp);

/*
 * Ends the data path: completes the sends still waiting with status, leaves
 * their slots to come back once the hardware is done, and drops the loop's
 * reference. After this only a worker touches the QP's verbs resources.
 */
void qp_deactivate(struct qp *qp, int status);

/*
 * Posts a send of len bytes (at most the device's slot size). The request,
 * if any, completes when the send does; without one nobody waits, and a
 * failed completion is known only as the QP's failure (which fails its
 * endpoint, and says why). Returns 0 (the request is the QP's now),
 * -ENOBUFS (QP_SEND_SLOTS sends in flight, or every send slot of the device
 * lent), or another -errno.
 */
int qp_post_send(struct qp *qp, const void *data, size_t len, struct request *req);

/*
 * Forgets that req rides a send slot (its deadline passed: it is completed
 * elsewhere). The slot stays lent until the hardware reports the send, whose
 * completion then answers no one.
 */
void qp_abandon_send(struct qp *qp, const struct request *req);

/* Takes the oldest received message (give it back with qp_message_done), or NULL if none. */
struct qp_msg *qp_take_message(struct qp *qp);

/*
 * The loop is done with a message qp_take_message gave: kept for the next
 * message held (a few, loop only), so that holding one costs no allocation
 * in steady state, or freed.
 */
void qp_message_done(struct rdqd *d, struct qp_msg *m);
/* A buffer for a message of len bytes, a spare one if one is large enough, or NULL (qp_msg.c). */
struct qp_msg *qp_message_new(struct rdqd *d, uint32_t len);
/*
 * A message lent to its reply comes back (a control_give_back_fn, control.h;
 * arg is the qp_msg): libevent calls it once the connection's output is done
 * with the frame, written or dropped. That is on the loop thread, or in
 * rdqd's stop as its loop's base is freed; maybe after the QP and the
 * endpoint are gone, so it names neither: the message goes back to the spare
 * buffers of its daemon, as qp_message_done.
 */
void qp_message_given_back(const void *frame, size_t len, void *arg);
/* Frees the buffers kept for reuse (at exit, once no output can give one back). */
void qp_message_spares_free(struct rdqd *d);

#endif
