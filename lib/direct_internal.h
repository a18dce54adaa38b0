/* SPDX-License-Identifier: MIT */
/*
 * A direct connection as librdq keeps it: its verbs objects, made and
 * connected in direct.c, and the state of its data path (direct_data.c).
 */
#ifndef RDQ_DIRECT_INTERNAL_H
#define RDQ_DIRECT_INTERNAL_H

#include <rdq/direct.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A work request's id: the slot's index, with this bit for a send. */
#define WR_SEND (1ull << 32)

struct rdq_direct {
	struct rdq_client *client;
	uint64_t ep;
	uint32_t msg_size, depth;

	struct ibv_context *ctx;
	struct ibv_comp_channel *channel;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf; /* depth receive slots, then depth send slots */

	/* Receives completed and not yet taken: a ring of slots and lengths. */
	uint32_t *ready_slot, *ready_len;
	uint32_t ready_head, ready_count;
	bool *send_busy;
	uint32_t sends_out, next_send;
	int failed;   /* a work request failed: the connection is broken (negative errno) */
	int ended;    /* rdqd's ep.flush came: why the connection is over (negative errno) */
	int borrowed; /* the receive slot rdq_direct_recv_borrow() lent, or -1 */
	/*
	 * The CQ was asked for its next completion event, which has not been
	 * taken off the channel yet: no need to ask again. Only wait_event()
	 * takes events off the channel, so this stays true to the kernel's.
	 */
	bool armed;
};

static inline uint8_t *recv_slot(struct rdq_direct *c, uint32_t i)
{
	return c->buf + (size_t)i * c->msg_size;
}

static inline uint8_t *send_slot(struct rdq_direct *c, uint32_t i)
{
	return c->buf + (size_t)(c->depth + i) * c->msg_size;
}

/* Gives receive slot slot back to the QP. Returns 0 or a negative errno. */
int direct_post_recv(struct rdq_direct *c, uint32_t slot);

#endif
