/* SPDX-License-Identifier: MIT */
/*
 * The direct side of rdqctl ep serve --direct: rdqd holds each peer's
 * rdma_cm id and runs its connection, while rdqctl takes it with a QP of its
 * own (rdq_direct_accept) and moves the peer's messages on that QP, never
 * through rdqd. The peers, their requests and their commands are
 * serve_peers.c's and serve_runner.c's, as for a serve listener.
 *
 * Every librdq call of a direct server may read rdqd's socket: a peer's
 * connection request or another peer's ep.flush read there waits in
 * librdq's queue, where no descriptor announces it. So each turn of the
 * loop asks librdq for both (serve_direct_pump), and poll() never sleeps
 * longer than DIRECT_SWEEP_MS while peers are connected.
 */
#ifndef RDQCTL_SERVE_DIRECT_H
#define RDQCTL_SERVE_DIRECT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "serve_peers.h"

/* The longest message each way on a peer's QP: a request or an answer past it closes the peer. */
#define DIRECT_MSG_SIZE 65536

/* How long poll() may sleep while direct peers are connected (see above). */
#define DIRECT_SWEEP_MS 200

/*
 * Takes the peers that asked to connect and the messages peers sent, and
 * closes the peers whose connection ended. Returns false when the
 * connection to rdqd is gone (srv->lost and srv->farewell say how).
 */
bool serve_direct_pump(struct server *srv);

/* Adds the completion fd of each peer that may take a message to fds + *n (room for one each). */
void serve_direct_poll_add(struct server *srv, struct pollfd *fds, size_t *n);

#endif
