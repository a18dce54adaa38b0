/* SPDX-License-Identifier: MIT */
/*
 * The RDMA side of rdqctl ep serve: the serve listener's peers on rdqctl's
 * connection to rdqd, the requests they send (ep.recv), the answers that go
 * back (ep.send), their turn for a running command and their end. A command
 * that fails (exits non-zero, is killed, runs past --timeout, writes nothing
 * or more than a message holds) gets no answer sent: the peer's connection
 * is closed instead (docs/rdqctl.md says why).
 *
 * A peer of a direct listener (ep serve --direct) is connected on rdqctl's
 * own QP: its messages come through serve_direct.c and its answers go out
 * on that QP, never through rdqd; everything else is the same.
 */
#ifndef RDQCTL_SERVE_PEERS_H
#define RDQCTL_SERVE_PEERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rdq/direct.h>

#include "cmds.h"
#include "serve_runner.h"

/*
 * Messages of one peer held here while its command runs; past them no more
 * are taken, and the peer's further messages wait in rdqd (up to its
 * --recv-backlog) or, direct, in the QP's receives, so a peer that floods
 * meets that limit, not rdqctl's memory.
 */
#define QUEUE_MAX 8

/* A request a peer sent, waiting for its command. */
struct request_msg {
	struct request_msg *next;
	size_t len;
	unsigned char data[];
};

struct peer {
	struct peer *next;
	uint64_t ep;
	struct rdq_direct *conn;	 /* direct: its connection; NULL: rdqd carries it */
	char addr[64];			 /* the peer's ADDR:PORT */
	int64_t recv_id;		 /* the ep.recv outstanding, 0: none */
	int64_t send_id;		 /* the ep.send outstanding, 0: none */
	struct request_msg *head, *tail; /* the head is the one its command answers */
	unsigned queued;
	uint64_t line;	   /* its place in the line for a running slot; 0: not in it */
	uint64_t answered; /* answers sent */

	struct command cmd; /* the command answering the head request */

	/* The answer while ep.send is outstanding or waits to be retried. */
	unsigned char *answer;
	size_t answer_len;
	int64_t retry_at; /* 0: no retry due */
	unsigned retries;
};

struct server {
	struct ctl *ctl;
	struct rdq_client *c;
	struct runner runner;
	uint64_t listener;
	bool direct; /* a direct listener: each peer on a QP of rdqctl's own */
	struct peer *peers;
	uint64_t next_line;
	int lost;      /* the control connection's error, once it failed */
	bool farewell; /* the last message was rdqd's reason for closing */
	bool sent;     /* a request went out: librdq may hold input already read */
	bool stop;     /* SIGINT or SIGTERM came */
};

/*
 * Prints the "serving" line for srv's listener: where rdqd bound it, as ep
 * show says, else addr and port as they were asked for (port < 0: the default).
 */
void serve_announce(struct server *srv, const char *addr, int port);

/*
 * Handles every message librdq has read, until none is left: peers that
 * come, their requests, the replies to the answers. Returns false when the
 * connection failed (srv->lost says how).
 */
bool serve_drain(struct server *srv);

/* ctl->on_other for ep serve (ctl->priv: the server): messages read while ctl_call() waits. */
void serve_on_other(struct ctl *ctl, json_t *msg);

/*
 * A peer came: ep on the listener, its address, and for a direct peer its
 * connection (then the peer owns it). Prints "accepted". Returns the peer,
 * or NULL when out of memory (the connection is closed then).
 */
struct peer *serve_peer_add(struct server *srv, uint64_t ep, const char *addr,
			    struct rdq_direct *conn);

/*
 * p sent a request of len bytes: it waits its turn behind p's others.
 * Returns false when p was closed instead (out of memory).
 */
bool serve_peer_request(struct server *srv, struct peer *p, const void *data, size_t len);

/*
 * The end of p: why goes to the "closed" line; failure: also to stderr, as
 * an error. Its command is killed and its connection closed.
 */
void serve_peer_close(struct server *srv, struct peer *p, const char *why, bool failure);

/* Starts the commands of the peers in line, first come first served, while there is room. */
void serve_start_waiting(struct server *srv);

/* p's command finished: its output goes to the peer, or the peer is closed with why it failed. */
void serve_command_done(struct server *srv, struct peer *p);

/*
 * Sends p's answer (again, after rdqd had no send slot free). Returns false
 * when p was closed instead (a direct send that failed at once).
 */
bool serve_post_send(struct server *srv, struct peer *p);

/* Reaps the commands that exited (SIGCHLD came), without waiting. */
void serve_reap(struct server *srv);

/* The end, by signal or by a lost connection: every command killed and reaped, every peer freed. */
void serve_stop_all(struct server *srv);

#endif
