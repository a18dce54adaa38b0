/* SPDX-License-Identifier: MIT */
/*
 * echo-server: the smallest rdq server, to copy and change. Remote rdma_cm
 * peers connect to ADDR:PORT; rdqd owns their connections and hands each
 * one to this program, which answers every request with answer() (here:
 * the request's own bytes) and serves any number of peers at once.
 *
 * Usage: echo-server [-s SOCKET] [--direct] [ADDR[:PORT]]
 *        (default: every address, port 7472)
 *
 * The shape of it: one connection to rdqd; a serve listener; for each peer
 * (an ep.accepted event) an ep.recv for its first request, then for each
 * request one ep.sendrecv, which sends the answer and brings back the next
 * request: one request to rdqd per request served. Everything is asynchronous
 * (rdq_client_send_data, rdq_client_next), so a slow peer holds up no
 * other. SIGINT or SIGTERM stops it: closing the connection makes rdqd
 * destroy the listener and every peer's endpoint. On exit it prints how
 * many requests it answered, from how many peers.
 *
 * --direct: the same service on a direct listener (<rdq/direct.h>): rdqd
 * still runs each peer's connection, but this program takes it with a QP
 * of its own and the messages move on that QP, never through rdqd. See
 * serve_direct() below.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdq/client.h>
#include <rdq/direct.h>

/* What a request in flight was for: its reply says what to do next. */
enum pending_kind {
	PENDING_NEXT,	 /* ep.recv or ep.sendrecv: the answer out, and the peer's next request */
	PENDING_DESTROY, /* a peer that left */
};

struct pending {
	int64_t id; /* the request's id; 0: the entry is free */
	enum pending_kind kind;
	uint64_t ep;
};

#define MAX_PENDING 4096

static struct pending pending[MAX_PENDING];
static volatile sig_atomic_t stop;
static unsigned long answered, peers;

static void on_signal(int sig)
{
	stop = sig;
}

/*
 * The service: the answer to one request, written to out (room for len
 * bytes); returns its length. Replace this with your own.
 */
static size_t answer(const void *request, size_t len, void *out)
{
	memcpy(out, request, len);
	return len;
}

/* Remembers request id of kind for endpoint ep. 0, or -ENOSPC. */
static int remember(int64_t id, enum pending_kind kind, uint64_t ep)
{
	for (size_t i = 0; i < MAX_PENDING; i++) {
		if (!pending[i].id) {
			pending[i] = (struct pending){.id = id, .kind = kind, .ep = ep};
			return 0;
		}
	}
	return -ENOSPC;
}

/* Finds and forgets the request a reply answers; NULL if it is none of ours. */
static struct pending *take(const json_t *reply)
{
	static struct pending found;

	for (size_t i = 0; i < MAX_PENDING; i++) {
		if (pending[i].id && rdq_message_is_reply(reply, pending[i].id)) {
			found = pending[i];
			pending[i].id = 0;
			return &found;
		}
	}
	return NULL;
}

/* Sends op on endpoint ep (with bytes, for ep.sendrecv) and remembers it. */
static int request(struct rdq_client *c, const char *op, enum pending_kind kind, uint64_t ep,
		   const void *data, size_t len)
{
	/* The next request is waited for as long as rdqd allows: an hour. */
	json_t *args = kind == PENDING_NEXT ? json_pack("{s:I, s:i}", "ep", (json_int_t)ep,
							"timeout_ms", 3600000)
					    : json_pack("{s:I}", "ep", (json_int_t)ep);
	int64_t id;
	int ret;

	if (!args)
		return -ENOMEM;
	ret = rdq_client_send_data(c, op, args, data, len, &id);
	return ret < 0 ? ret : remember(id, kind, ep);
}

/* A reply came: the next step for its peer. Returns 0, or a negative errno to stop. */
static int on_reply(struct rdq_client *c, const json_t *msg, const struct pending *p, void *buf)
{
	const char *why;
	const void *data;
	size_t len;
	int status = rdq_reply_status(msg, &why);

	switch (p->kind) {
	case PENDING_NEXT:
		if (status == -EAGAIN) /* an hour without a request: wait again */
			return request(c, "ep.recv", PENDING_NEXT, p->ep, NULL, 0);
		if (status < 0) {
			/* The peer left (ECONNRESET, ENOTCONN) or its connection failed. */
			fprintf(stderr, "echo-server: peer %llu: %s: %s\n",
				(unsigned long long)p->ep, rdq_strerrno(-status), why ? why : "");
			return request(c, "ep.destroy", PENDING_DESTROY, p->ep, NULL, 0);
		}
		if (!rdq_message_data(msg, &data, &len))
			return -EBADMSG;
		answered++;
		/* One request to rdqd: this answer out, then the peer's next request back. */
		len = answer(data, len, buf);
		return request(c, "ep.sendrecv", PENDING_NEXT, p->ep, buf, len);
	case PENDING_DESTROY:
		return 0;
	}
	return 0;
}

/* The largest message of a direct peer, each way: the size of its QP's buffers. */
#define DIRECT_MSG_SIZE 65536
#define MAX_DIRECT	256

/*
 * --direct: one poll() over rdqd's socket (connection requests, and rdqd's
 * word that a peer's connection is down) and each peer's completion
 * channel; rdq_direct_accept and rdq_direct_recv with timeout 0 take what
 * is there. The connection to rdqd must stay open: rdqd holds each peer's
 * connection for it. Returns the exit status.
 */
static int serve_direct(struct rdq_client *c, const char *addr, int port, unsigned char *buf)
{
	const struct rdq_direct_opts opts = {.msg_size = DIRECT_MSG_SIZE};
	struct rdq_direct *peer[MAX_DIRECT], *conn;
	struct pollfd pfd[MAX_DIRECT + 1];
	unsigned char *out = buf + DIRECT_MSG_SIZE;
	size_t npeers = 0, i;
	uint64_t listener;
	int ret, n;

	ret = rdq_direct_listen(c, addr, port, 0, &listener);
	if (ret < 0) {
		fprintf(stderr, "echo-server: cannot serve: %s\n", rdq_client_error(c));
		return 1;
	}
	printf("echo-server: serving %s:%d (direct listener %llu)\n", *addr ? addr : "*",
	       port ? port : 7472, (unsigned long long)listener);
	fflush(stdout);

	while (!stop) {
		/* New peers, each taken with a QP of this program's own. */
		while (npeers < MAX_DIRECT &&
		       (ret = rdq_direct_accept(c, 0, &opts, &conn)) != -EAGAIN) {
			if (ret == 0) {
				peer[npeers++] = conn;
				peers++;
			} else {
				/* This peer only: rdqd rejects it. */
				fprintf(stderr, "echo-server: a peer: %s\n", rdq_client_error(c));
				if (ret == -ECONNRESET || ret == -EPIPE)
					break;
			}
		}
		/*
		 * Every peer, not only those whose channel woke poll(): a receive
		 * may have read another peer's flush off rdqd's socket.
		 */
		for (i = 0; i < npeers;) {
			n = rdq_direct_recv(peer[i], buf, DIRECT_MSG_SIZE, 0);
			if (n >= 0) {
				answered++;
				n = rdq_direct_send(peer[i], out, answer(buf, (size_t)n, out));
				if (n == 0)
					continue;
			}
			if (n == -EAGAIN) {
				i++;
				continue;
			}
			/* The peer left (ECONNRESET) or its connection failed. */
			rdq_direct_close(peer[i]);
			peer[i] = peer[--npeers];
		}
		pfd[0] = (struct pollfd){.fd = rdq_client_fd(c), .events = POLLIN};
		for (i = 0; i < npeers; i++)
			pfd[i + 1] =
				(struct pollfd){.fd = rdq_direct_fd(peer[i]), .events = POLLIN};
		/* For the same reason, a bounded sleep while peers are connected. */
		if (poll(pfd, npeers + 1, npeers ? 200 : -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & (POLLHUP | POLLERR)) {
			fprintf(stderr, "echo-server: rdqd closed the connection\n");
			ret = -ECONNRESET;
			break;
		}
	}
	while (npeers)
		rdq_direct_close(peer[--npeers]);
	printf("echo-server: answered %lu request(s) from %lu peer(s)\n", answered, peers);
	return ret == -ECONNRESET && !stop ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"direct", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *path = NULL, *addr = "";
	char host[64] = "";
	struct rdq_client *c;
	struct rdq_accepted peer;
	uint64_t listener;
	int opt, port = 0, ret, direct = 0;
	void *buf;

	while ((opt = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		if (opt == 'd') {
			direct = 1;
			continue;
		}
		if (opt != 's') {
			fprintf(stderr,
				"usage: echo-server [-s SOCKET] [--direct] [ADDR[:PORT]]\n");
			return opt == 'h' ? 0 : 2;
		}
		path = optarg;
	}
	if (optind < argc) {
		char *colon;

		snprintf(host, sizeof(host), "%s", argv[optind]);
		colon = strrchr(host, ':');
		if (colon) {
			*colon = '\0';
			port = atoi(colon + 1);
		}
		addr = host;
	}
	buf = malloc(RDQ_MAX_DATA);
	ret = buf ? rdq_client_connect(path, &c) : -ENOMEM;
	if (ret < 0) {
		fprintf(stderr, "echo-server: cannot reach rdqd: %s\n", rdq_client_error(NULL));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (direct) {
		ret = serve_direct(c, addr, port, buf);
		rdq_client_close(c);
		free(buf);
		return ret;
	}
	ret = rdq_ep_serve(c, addr, port, &listener);
	if (ret < 0) {
		fprintf(stderr, "echo-server: cannot serve: %s\n", rdq_client_error(c));
		return 1;
	}
	printf("echo-server: serving %s:%d (listener %llu)\n", *addr ? addr : "*",
	       port ? port : 7472, (unsigned long long)listener);
	fflush(stdout);

	while (!stop) {
		struct pollfd pfd = {.fd = rdq_client_fd(c), .events = POLLIN};
		json_t *msg;
		struct pending *p;

		/* Messages already read sit in librdq: take them before sleeping in poll. */
		ret = rdq_client_next(c, 0, &msg);
		if (ret == -EAGAIN) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				break;
			continue;
		}
		if (ret < 0) {
			fprintf(stderr, "echo-server: rdqd: %s\n", rdq_client_error(c));
			break;
		}
		if (rdq_event_accepted(msg, &peer)) {
			peers++;
			ret = request(c, "ep.recv", PENDING_NEXT, peer.ep, NULL, 0);
		} else if ((p = take(msg))) {
			ret = on_reply(c, msg, p, buf);
		}
		json_decref(msg);
		if (ret < 0) {
			fprintf(stderr, "echo-server: %s\n", strerror(-ret));
			break;
		}
	}
	printf("echo-server: answered %lu request(s) from %lu peer(s)\n", answered, peers);
	rdq_client_close(c);
	free(buf);
	return ret < 0 && !stop ? 1 : 0;
}
