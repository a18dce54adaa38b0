/* SPDX-License-Identifier: MIT */
/* rdqctl ep serve --direct: peers taken on rdqctl's own QPs, their messages read off them. */
#include "serve_direct.h"

#include <errno.h>
#include <stdio.h>

#include <rdq/direct.h>

/* Each peer's QP holds messages of up to DIRECT_MSG_SIZE bytes; one is read here at a time. */
static unsigned char msg_buf[DIRECT_MSG_SIZE];
static const struct rdq_direct_opts direct_opts = {.msg_size = DIRECT_MSG_SIZE};

/* rdqd hung up: poll says so at once, whatever it sent before is still unread. */
static bool daemon_gone(struct server *srv)
{
	struct pollfd p = {.fd = rdq_client_fd(srv->c), .events = POLLIN};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/*
 * The connection to rdqd is gone, and every direct endpoint with it: what
 * rdqd still sent is read for its reason (a farewell), as ep serve does.
 */
static void lose(struct server *srv)
{
	json_t *msg;
	int ret;

	while ((ret = rdq_client_next(srv->c, 0, &msg)) == 0) {
		srv->farewell = ctl_is_farewell(msg);
		json_decref(msg);
	}
	srv->lost = ret == -EAGAIN ? -ECONNRESET : ret;
}

/* The peer's ADDR:PORT, as ep show gives it: rdq_direct_accept keeps its request to itself. */
static void peer_addr(struct server *srv, uint64_t ep, char *buf, size_t size)
{
	json_t *result = NULL, *row;
	const char *remote = NULL;

	if (rdq_call_timeout(srv->c, "ep.show", json_pack("{s:I}", "ep", (json_int_t)ep),
			     srv->ctl->wait_ms, &result) == 0) {
		row = json_array_get(json_object_get(result, "endpoints"), 0);
		remote = json_string_value(json_object_get(row, "remote"));
	}
	snprintf(buf, size, "%s", remote ? remote : "-");
	json_decref(result);
}

/*
 * Takes every connection request that waits, each with a QP of its own. A
 * request that cannot be taken (the peer went meanwhile, no QP could be
 * made) costs that peer only: rdqd rejects it, and rdqctl says why.
 */
static void take_peers(struct server *srv)
{
	struct rdq_direct *conn;
	char addr[64];
	int ret;

	while (!srv->stop) {
		ret = rdq_direct_accept(srv->c, 0, &direct_opts, &conn);
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			if (daemon_gone(srv))
				return;
			fprintf(stderr, "rdqctl: a peer's connection could not be taken: %s: %s\n",
				rdq_strerrno(-ret), rdq_client_error(srv->c));
			continue;
		}
		peer_addr(srv, rdq_direct_ep(conn), addr, sizeof(addr));
		serve_peer_add(srv, rdq_direct_ep(conn), addr, conn);
	}
}

/* Takes p's messages while it may hold more; its connection's end closes it. */
static void take_messages(struct server *srv, struct peer *p)
{
	while (p->queued < QUEUE_MAX) {
		int n = rdq_direct_recv(p->conn, msg_buf, sizeof(msg_buf), 0);

		if (n >= 0) {
			if (!serve_peer_request(srv, p, msg_buf, (size_t)n))
				return;
			continue;
		}
		if (n == -EAGAIN)
			return;
		/* ECONNRESET: rdqd's ep.flush came, or the QP's work was flushed. */
		if (n == -ECONNRESET)
			serve_peer_close(srv, p, "the peer disconnected", false);
		else if (n == -ENODEV)
			serve_peer_close(srv, p, "its RDMA device went away", true);
		else {
			char why[64];

			snprintf(why, sizeof(why), "its connection failed (%s)", rdq_strerrno(-n));
			serve_peer_close(srv, p, why, true);
		}
		return;
	}
}

bool serve_direct_pump(struct server *srv)
{
	struct peer *p, *next;

	if (daemon_gone(srv)) {
		lose(srv);
		return false;
	}
	take_peers(srv);
	/*
	 * Every peer, not only those whose fd woke poll(): a call above, or
	 * another peer's receive, may have read this peer's ep.flush.
	 */
	for (p = srv->peers; p; p = next) {
		next = p->next;
		if (p->conn)
			take_messages(srv, p);
	}
	/* Those receives may have read a connection request too. */
	take_peers(srv);
	return true;
}

void serve_direct_poll_add(struct server *srv, struct pollfd *fds, size_t *n)
{
	struct peer *p;

	/* A peer holding QUEUE_MAX requests is not read: its fd would wake poll() in vain. */
	for (p = srv->peers; p; p = p->next)
		if (p->conn && p->queued < QUEUE_MAX)
			fds[(*n)++] =
				(struct pollfd){.fd = rdq_direct_fd(p->conn), .events = POLLIN};
}
