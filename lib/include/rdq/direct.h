/* SPDX-License-Identifier: MIT */
/*
 * librdq's direct endpoints: rdqd runs the connection (its rdma_cm id,
 * admission, the handshake, the disconnect, device removal) while the
 * program owns the QP, on its own verbs context, and moves its messages
 * itself: no byte crosses rdqd's socket.
 *
 *   rdq_direct_connect()  resolve with rdqd, make the QP, attach, establish
 *   rdq_direct_listen()   a direct listener; rdq_direct_accept() takes each
 *                         peer's connection request with a QP of its own
 *   rdq_direct_send()/rdq_direct_recv()   messages on the program's QP
 *   rdq_direct_qp() ...   the verbs objects, for programs that post their own
 *
 * The rdq_client the connection was made with must stay open while the
 * connection is used: rdqd holds the connection for that client, and
 * closes it when the client goes.
 */
#ifndef RDQ_DIRECT_H
#define RDQ_DIRECT_H

#include <infiniband/verbs.h>
#include <rdq/client.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rdq_direct;

/* What a direct connection's QP is made with; NULL or 0 fields: the defaults. */
struct rdq_direct_opts {
	uint32_t msg_size; /* the largest message, each way (default 65536) */
	uint32_t depth;	   /* receives posted, sends in flight (default 16) */
	int timeout_ms;	   /* each step with rdqd (default 5000) */
};

/*
 * Connects to addr:port (port 0: rdq's default): rdqd resolves the address,
 * this process makes its QP on the device rdqd names, rdqd connects it.
 * Returns 0 and *out, or a negative errno (rdq_client_error() says why).
 */
RDQ_EXPORT int rdq_direct_connect(struct rdq_client *client, const char *addr, int port,
				  const struct rdq_direct_opts *opts, struct rdq_direct **out);

/*
 * A direct listener on addr:port: each peer's connection request comes to
 * this client (an ep.request event), to be taken by rdq_direct_accept()
 * within the listener's time, or the peer is rejected. timeout_ms 0: 5000.
 */
RDQ_EXPORT int rdq_direct_listen(struct rdq_client *client, const char *addr, int port,
				 int timeout_ms, uint64_t *listener);

/*
 * Waits up to timeout_ms (< 0: forever) for a connection request on one of
 * this client's direct listeners and accepts it with a new QP. Other
 * messages that arrive meanwhile are kept for rdq_client_next().
 */
RDQ_EXPORT int rdq_direct_accept(struct rdq_client *client, int timeout_ms,
				 const struct rdq_direct_opts *opts, struct rdq_direct **out);

/* Sends len bytes (at most msg_size) on the connection's QP. 0 or a negative errno. */
RDQ_EXPORT int rdq_direct_send(struct rdq_direct *conn, const void *data, size_t len);

/*
 * Receives the next message into buf (size bytes), waiting up to timeout_ms
 * (< 0: forever). Returns its length, -EAGAIN when none came in time,
 * -EMSGSIZE when it does not fit (it is dropped), or another negative errno
 * (-ECONNRESET: the connection failed).
 */
RDQ_EXPORT int rdq_direct_recv(struct rdq_direct *conn, void *buf, size_t size, int timeout_ms);

/*
 * Without a copy. rdq_direct_send_buffer() waits for a free send slot and
 * gives its registered buffer (msg_size bytes); write the message there and
 * post it with rdq_direct_send_post(). rdq_direct_recv_borrow() gives the
 * next message where it arrived (returns its length, as rdq_direct_recv());
 * the buffer is the caller's until rdq_direct_recv_done(), which posts it
 * again. One borrowed at a time (-EBUSY).
 */
RDQ_EXPORT int rdq_direct_send_buffer(struct rdq_direct *conn, void **buf);
RDQ_EXPORT int rdq_direct_send_post(struct rdq_direct *conn, size_t len);
RDQ_EXPORT int rdq_direct_recv_borrow(struct rdq_direct *conn, const void **data, int timeout_ms);
RDQ_EXPORT int rdq_direct_recv_done(struct rdq_direct *conn);

/* The completion channel's fd: readable when rdq_direct_recv() may have news. */
RDQ_EXPORT int rdq_direct_fd(const struct rdq_direct *conn);

/* rdqd's endpoint handle for the connection (rdqctl ep show lists it). */
RDQ_EXPORT uint64_t rdq_direct_ep(const struct rdq_direct *conn);

/* The verbs objects, for programs that post their own work requests. */
RDQ_EXPORT struct ibv_qp *rdq_direct_qp(const struct rdq_direct *conn);
RDQ_EXPORT struct ibv_pd *rdq_direct_pd(const struct rdq_direct *conn);
RDQ_EXPORT struct ibv_cq *rdq_direct_cq(const struct rdq_direct *conn);

/* Ends the connection (rdqd destroys its endpoint) and frees the QP and its buffers. */
RDQ_EXPORT void rdq_direct_close(struct rdq_direct *conn);

/*
 * One step of an ep.attach reply (an element of its "steps") as
 * ibv_modify_qp takes it: for programs that speak the protocol themselves.
 * Returns 0, or -EBADMSG if step is not one.
 */
RDQ_EXPORT int rdq_qp_attr_read(const json_t *step, struct ibv_qp_attr *attr, int *mask);

#ifdef __cplusplus
}
#endif

#endif
