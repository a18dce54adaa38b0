/* SPDX-License-Identifier: MIT */
/*
 * A direct connection's data path: messages on the program's own QP, in the
 * registered slots direct.c cut, and rdqd's ep.flush, which ends it, read
 * off the client's socket when the CQ has nothing to say.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "direct_internal.h"
#include "stream.h"

int direct_post_recv(struct rdq_direct *c, uint32_t slot)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)recv_slot(c, slot), .length = c->msg_size, .lkey = c->mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = slot, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(c->qp, &wr, &bad) ? -errno : 0;
}

/* Takes what the CQ holds: sends free their slots, receives join the ready ring. */
static int reap(struct rdq_direct *c)
{
	struct ibv_wc wc[16];
	int n = ibv_poll_cq(c->cq, 16, wc);

	if (n < 0)
		return c->failed = -EIO;
	for (int i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			c->failed = wc[i].status == IBV_WC_WR_FLUSH_ERR ? -ECONNRESET : -EIO;
			if (wc[i].wr_id & WR_SEND) {
				c->send_busy[(uint32_t)wc[i].wr_id] = false;
				c->sends_out--;
			}
			continue;
		}
		if (wc[i].wr_id & WR_SEND) {
			c->send_busy[(uint32_t)wc[i].wr_id] = false;
			c->sends_out--;
		} else {
			uint32_t at = (c->ready_head + c->ready_count) % c->depth;

			c->ready_slot[at] = (uint32_t)wc[i].wr_id;
			c->ready_len[at] = wc[i].byte_len;
			c->ready_count++;
		}
	}
	return n;
}

/*
 * rdqd says the connection is down (ep.flush): the QP is ours, so we move it
 * to error (its work requests come back flushed) and confirm with
 * ep.flushed, whose reply nobody waits for.
 */
static void flush(struct rdq_direct *c, const json_t *msg)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};
	json_t *args = json_pack("{s:I}", "ep", (json_int_t)c->ep);
	int status = (int)json_integer_value(json_object_get(msg, "status"));
	int64_t id;

	c->ended = status == -ENODEV ? -ENODEV : -ECONNRESET;
	ibv_modify_qp(c->qp, &attr, IBV_QP_STATE);
	if (args && rdq_client_send(c->client, "ep.flushed", args, &id) == 0)
		stream_discard_add(c->client, id);
}

/*
 * Reads what rdqd sent without waiting: this connection's ep.flush is acted
 * on; anything else is kept for whoever reads it (rdq_client_next(), or
 * another direct connection of the client). Reads the socket only when
 * from_socket; else takes what earlier reads left in the stream.
 */
static int read_daemon(struct rdq_direct *c, bool from_socket)
{
	json_t *msg = stream_queue_take_flush(c->client, c->ep);
	int ret = 0;

	while (!msg && ret == 0) {
		ret = from_socket ? stream_receive(c->client, 0, &msg)
				  : stream_receive_buffered(c->client, &msg);
		if (ret == 0 && !stream_is_flush(msg, c->ep)) {
			ret = stream_queue_push(c->client, msg);
			msg = NULL;
		}
	}
	if (msg)
		flush(c, msg);
	json_decref(msg);
	return ret == -EAGAIN ? 0 : ret;
}

/*
 * Asks the CQ for its next completion event, then takes a completion that
 * came before it was asked. Returns what reap() does.
 */
static int arm(struct rdq_direct *c)
{
	if (ibv_req_notify_cq(c->cq, 0))
		return -errno;
	c->armed = true;
	return reap(c);
}

/*
 * Waits for the CQ's next completion event or rdqd's news, at most until the
 * deadline. The caller has just reaped the CQ. Every system call here is one
 * a turn of a program's loop pays when a connection has nothing new: the CQ
 * is asked for an event only when its last one was taken, and rdqd's socket
 * read only when poll() says so; a turn with no deadline left ends with one
 * poll(), and when an event came, one read of it and one request for the next.
 */
static int wait_event(struct rdq_direct *c, int64_t deadline)
{
	struct pollfd p[2] = {{.fd = c->channel->fd, .events = POLLIN},
			      {.fd = rdq_client_fd(c->client), .events = POLLIN}};
	struct ibv_cq *cq;
	void *ctx;
	int n;

	if (!c->armed) {
		n = arm(c);
		if (n != 0)
			return n < 0 ? n : 0;
	}
	/*
	 * rdqd's ep.flush may be read already (by a call that read its reply
	 * past it, or in a partial read): the socket would not wake us for it.
	 */
	if (!c->ended) {
		n = read_daemon(c, false);
		if (n < 0 || c->ended)
			return n;
	}
	/* Once told, rdqd has nothing more for this connection: only the CQ matters. */
	n = poll(p, c->ended ? 1 : 2, stream_remaining_ms(deadline));
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EAGAIN;
	if (!c->ended && p[1].revents) {
		n = read_daemon(c, true);
		if (n < 0 || c->ended)
			return n;
	}
	if ((p[0].revents & POLLIN) && ibv_get_cq_event(c->channel, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		c->armed = false;
		/*
		 * With time left the caller reaps, and comes back to arm only if it
		 * finds nothing: a send that completes meanwhile then wakes nobody.
		 * With none, the CQ is armed now, for the program's own poll().
		 */
		if (stream_remaining_ms(deadline) == 0) {
			n = arm(c);
			return n == 0 ? -EAGAIN : n < 0 ? n : 0;
		}
	}
	return 0;
}

int rdq_direct_send_buffer(struct rdq_direct *c, void **buf)
{
	int ret;

	while (c->sends_out == c->depth && !c->failed) {
		ret = reap(c);
		if (ret == 0)
			ret = wait_event(c, -1);
		if (ret < 0)
			return ret;
	}
	if (c->failed)
		return c->ended ? c->ended : c->failed;
	/* The same slot until it is posted: a second call does not take another. */
	while (c->send_busy[c->next_send])
		c->next_send = (c->next_send + 1) % c->depth;
	*buf = send_slot(c, c->next_send);
	return 0;
}

int rdq_direct_send_post(struct rdq_direct *c, size_t len)
{
	uint32_t slot = c->next_send;
	struct ibv_sge sge = {.addr = (uintptr_t)send_slot(c, slot),
			      .length = (uint32_t)len,
			      .lkey = c->mr->lkey};
	struct ibv_send_wr wr = {.wr_id = WR_SEND | slot,
				 .sg_list = &sge,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;

	if (len == 0 || len > c->msg_size)
		return -EMSGSIZE;
	if (c->failed)
		return c->ended ? c->ended : c->failed;
	if (c->send_busy[slot])
		return -EINVAL; /* no rdq_direct_send_buffer() since the last post */
	if (ibv_post_send(c->qp, &wr, &bad))
		return -errno;
	c->send_busy[slot] = true;
	c->sends_out++;
	return 0;
}

int rdq_direct_send(struct rdq_direct *c, const void *data, size_t len)
{
	void *buf;
	int ret;

	if (len == 0 || len > c->msg_size)
		return -EMSGSIZE;
	ret = rdq_direct_send_buffer(c, &buf);
	if (ret < 0)
		return ret;
	memcpy(buf, data, len);
	return rdq_direct_send_post(c, len);
}

int rdq_direct_recv_borrow(struct rdq_direct *c, const void **data, int timeout_ms)
{
	int64_t deadline = stream_deadline_after(timeout_ms);
	int ret;

	if (c->borrowed >= 0)
		return -EBUSY;
	/* rdqd's socket is read only when the CQ has nothing: the data path makes no extra call. */
	while (c->ready_count == 0) {
		if (c->failed)
			return c->ended ? c->ended : c->failed;
		ret = reap(c);
		if (ret == 0)
			ret = wait_event(c, deadline);
		if (ret < 0)
			return ret;
	}
	c->borrowed = (int)c->ready_slot[c->ready_head];
	ret = (int)c->ready_len[c->ready_head];
	c->ready_head = (c->ready_head + 1) % c->depth;
	c->ready_count--;
	*data = recv_slot(c, (uint32_t)c->borrowed);
	return ret;
}

int rdq_direct_recv_done(struct rdq_direct *c)
{
	uint32_t slot = (uint32_t)c->borrowed;

	if (c->borrowed < 0)
		return -EINVAL;
	c->borrowed = -1;
	/* After the connection ended the QP takes no receives: nothing is left to give back. */
	return c->failed ? 0 : direct_post_recv(c, slot);
}

int rdq_direct_recv(struct rdq_direct *c, void *buf, size_t size, int timeout_ms)
{
	const void *data;
	int len = rdq_direct_recv_borrow(c, &data, timeout_ms), ret;

	if (len < 0)
		return len;
	if ((size_t)len <= size)
		memcpy(buf, data, (size_t)len);
	ret = rdq_direct_recv_done(c);
	if (ret < 0)
		return ret;
	return (size_t)len <= size ? len : -EMSGSIZE;
}
