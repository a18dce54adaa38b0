/* SPDX-License-Identifier: MIT */
/*
 * rdqctl ep serve's peers: each one's requests held in order, one command at
 * a time answering the first, the answer sent back once it is whole.
 */
#include "serve_peers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "print.h"
#include "protocol/defaults.h"

/* rdqd refuses a send when every send slot is busy: try again this often, this many times. */
#define SEND_RETRY_MS  10
#define SEND_RETRY_MAX 500

static void event_text(json_t *event)
{
	static const char *const skip[] = {"event", NULL};

	print_pairs(json_string_value(json_object_get(event, "event")), event, skip);
}

/* One line on stdout per event (always one JSON object with -j); steals event. */
static void emit(json_t *event, bool in_text)
{
	if (event && (in_text || print_is_json()))
		print_stream(event, event_text);
	json_decref(event);
}

/* Sends a request without waiting; a connection that failed ends the loop. */
static int64_t send_request(struct server *srv, const char *op, json_t *args, const void *data,
			    size_t len)
{
	int64_t id = 0;
	int ret;

	if (srv->lost)
		return 0;
	ret = rdq_client_send_data(srv->c, op, args, data, len, &id);
	srv->sent = true;
	if (ret < 0) {
		srv->lost = ret;
		return 0;
	}
	return id;
}

/*
 * Keeps one receive outstanding on p, as long as fewer than QUEUE_MAX
 * requests wait here. A direct peer's messages are taken off its QP instead
 * (serve_direct.c), under the same bound.
 */
static void post_recv(struct server *srv, struct peer *p)
{
	if (p->conn || p->recv_id || p->queued >= QUEUE_MAX)
		return;
	p->recv_id = send_request(srv, "ep.recv",
				  json_pack("{s:I, s:I}", "ep", (json_int_t)p->ep, "timeout_ms",
					    (json_int_t)RDQ_MAX_TIMEOUT_MS),
				  NULL, 0);
}

static void answer_sent(struct server *srv, struct peer *p, int err, const char *why);

/*
 * The answer goes once it is sent completely: a send the peer does not take
 * is its failure. A direct peer's goes on rdqctl's QP, posted at once; one
 * the peer does not take fails the connection, which its next receive says.
 */
bool serve_post_send(struct server *srv, struct peer *p)
{
	p->retry_at = 0;
	if (p->conn) {
		int err = rdq_direct_send(p->conn, p->answer, p->answer_len);

		answer_sent(srv, p, err, err == -EMSGSIZE ? "over the largest direct message" : "");
		return err == 0;
	}
	p->send_id = send_request(srv, "ep.send",
				  json_pack("{s:I, s:b}", "ep", (json_int_t)p->ep, "wait", 1),
				  p->answer, p->answer_len);
	return true;
}

/* Puts p in the line for a running slot when its next request can start. */
static void peer_ready(struct server *srv, struct peer *p)
{
	if (p->head && !command_running(&p->cmd) && !p->send_id && !p->answer && !p->line)
		p->line = ++srv->next_line;
}

static struct request_msg *pop_request(struct peer *p)
{
	struct request_msg *m = p->head;

	p->head = m->next;
	if (!p->head)
		p->tail = NULL;
	p->queued--;
	return m;
}

/*
 * The end of a peer: its command is killed, what it still sent is dropped,
 * and its endpoint destroyed (the reply is not awaited: nothing depends on
 * it). why goes to the "closed" line; failure: also to stderr, as an error.
 */
void serve_peer_close(struct server *srv, struct peer *p, const char *why, bool failure)
{
	struct peer **pp;

	if (failure)
		fprintf(stderr, "rdqctl: ep %" PRIu64 " (%s): %s; closing its connection\n", p->ep,
			p->addr, why);
	command_abandon(&srv->runner, &p->cmd);
	while (p->head)
		free(pop_request(p));
	free(p->answer);
	if (p->conn) {
		/* A call to rdqd: what it reads meanwhile stays queued in librdq. */
		rdq_direct_close(p->conn);
		srv->sent = true;
	} else {
		send_request(srv, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)p->ep), NULL,
			     0);
	}
	emit(json_pack("{s:s, s:I, s:s, s:I, s:s}", "event", "closed", "ep", (json_int_t)p->ep,
		       "peer", p->addr, "answered", (json_int_t)p->answered, "why", why),
	     true);
	for (pp = &srv->peers; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	free(p);
}

static void peer_fail(struct server *srv, struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void peer_fail(struct server *srv, struct peer *p, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	serve_peer_close(srv, p, why, true);
}

static void start_command(struct server *srv, struct peer *p)
{
	int ret = command_start(&srv->runner, &p->cmd, p->head->data, p->head->len);

	if (ret < 0)
		peer_fail(srv, p, "cannot start %s: %s", srv->runner.argv[0], strerror(-ret));
}

void serve_start_waiting(struct server *srv)
{
	while (runner_has_room(&srv->runner) && !srv->stop) {
		struct peer *p, *first = NULL;

		for (p = srv->peers; p; p = p->next)
			if (p->line && (!first || p->line < first->line))
				first = p;
		if (!first)
			return;
		first->line = 0;
		start_command(srv, first);
	}
}

void serve_command_done(struct server *srv, struct peer *p)
{
	struct request_msg *m;
	char why[512];

	if (!command_end(&srv->runner, &p->cmd, why, sizeof(why))) {
		peer_fail(srv, p, "%s", why);
		return;
	}
	m = pop_request(p);
	emit(json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "event", "answered", "ep",
		       (json_int_t)p->ep, "peer", p->addr, "request", (json_int_t)m->len, "answer",
		       (json_int_t)p->cmd.out_len, "ms",
		       (json_int_t)(runner_now_ms() - p->cmd.started)),
	     false);
	free(m);
	p->answer = command_take_output(&p->cmd, &p->answer_len);
	/* A slot of the local queue is free again (unless the peer is closed now). */
	if (serve_post_send(srv, p))
		post_recv(srv, p);
}

static struct peer *peer_of_request(struct server *srv, int64_t id)
{
	struct peer *p;

	for (p = srv->peers; p; p = p->next)
		if (p->recv_id == id || p->send_id == id)
			return p;
	return NULL;
}

bool serve_peer_request(struct server *srv, struct peer *p, const void *data, size_t len)
{
	struct request_msg *m = malloc(sizeof(*m) + len);

	if (!m) {
		peer_fail(srv, p, "out of memory for its request");
		return false;
	}
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	if (p->tail)
		p->tail->next = m;
	else
		p->head = m;
	p->tail = m;
	p->queued++;
	peer_ready(srv, p);
	post_recv(srv, p);
	return true;
}

static bool peer_left(int err)
{
	return err == -ECONNRESET || err == -ENOTCONN;
}

static void recv_answered(struct server *srv, struct peer *p, json_t *msg)
{
	const char *why = NULL;
	int err = rdq_reply_status(msg, &why);
	const void *data;
	size_t len = 0;

	p->recv_id = 0;
	if (err == 0) {
		if (!rdq_message_data(msg, &data, &len))
			data = "";
		serve_peer_request(srv, p, data, len);
	} else if (err == -EAGAIN) {
		post_recv(srv, p);
	} else if (peer_left(err)) {
		/* Whatever it still waits for could not reach it. */
		serve_peer_close(srv, p, "the peer disconnected", false);
	} else {
		peer_fail(srv, p, "ep.recv failed: %s: %s", rdq_strerrno(-err), why ? why : "");
	}
}

/* An answer went (err 0) or could not go (why: what rdqd or librdq said). */
static void answer_sent(struct server *srv, struct peer *p, int err, const char *why)
{
	if (err == -ENOBUFS && !p->conn && p->retries < SEND_RETRY_MAX) {
		p->retries++;
		p->retry_at = runner_now_ms() + SEND_RETRY_MS;
		return;
	}
	if (err == 0) {
		free(p->answer);
		p->answer = NULL;
		p->retries = 0;
		p->answered++;
		peer_ready(srv, p);
	} else if (peer_left(err)) {
		serve_peer_close(srv, p, "the peer disconnected before its answer was sent", false);
	} else {
		peer_fail(srv, p, "cannot send its answer: %s: %s", rdq_strerrno(-err),
			  why ? why : "");
	}
}

static void send_answered(struct server *srv, struct peer *p, json_t *msg)
{
	const char *why = NULL;
	int err = rdq_reply_status(msg, &why);

	p->send_id = 0;
	answer_sent(srv, p, err, why);
}

struct peer *serve_peer_add(struct server *srv, uint64_t ep, const char *addr,
			    struct rdq_direct *conn)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p) {
		if (conn)
			rdq_direct_close(conn);
		else
			send_request(srv, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)ep),
				     NULL, 0);
		return NULL;
	}
	p->ep = ep;
	p->conn = conn;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	command_init(&p->cmd);
	p->next = srv->peers;
	srv->peers = p;
	emit(json_pack("{s:s, s:I, s:s}", "event", "accepted", "ep", (json_int_t)p->ep, "peer",
		       p->addr),
	     true);
	post_recv(srv, p);
	return p;
}

/* A message from rdqd: a peer came, or a receive or a send of one was answered. */
static void handle_message(struct server *srv, json_t *msg)
{
	struct rdq_accepted acc;
	json_t *id = json_object_get(msg, "id");
	struct peer *p;

	srv->farewell = ctl_is_farewell(msg);
	if (rdq_event_accepted(msg, &acc)) {
		if (acc.listener == srv->listener)
			serve_peer_add(srv, acc.ep, acc.peer, NULL);
		return;
	}
	/* Replies to ep.destroy, and to requests of peers already gone, need nothing. */
	if (!json_is_integer(id) || !(p = peer_of_request(srv, json_integer_value(id))))
		return;
	if (p->recv_id == json_integer_value(id))
		recv_answered(srv, p, msg);
	else
		send_answered(srv, p, msg);
}

void serve_on_other(struct ctl *ctl, json_t *msg)
{
	struct server *srv = ctl->priv;

	srv->c = ctl->client;
	handle_message(srv, msg);
}

bool serve_drain(struct server *srv)
{
	json_t *msg;
	int ret;

	while (!srv->lost) {
		ret = rdq_client_next(srv->c, 0, &msg);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			srv->lost = ret;
			break;
		}
		handle_message(srv, msg);
		json_decref(msg);
	}
	return !srv->lost;
}

void serve_reap(struct server *srv)
{
	struct peer *p;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (p = srv->peers; p; p = p->next)
			command_reaped(&p->cmd, pid, status);
}

/* No command outlives rdqctl. */
void serve_stop_all(struct server *srv)
{
	struct peer *p;

	while ((p = srv->peers)) {
		pid_t pid = p->cmd.proc.pid;

		command_abandon(&srv->runner, &p->cmd);
		if (pid)
			waitpid(pid, NULL, 0);
		while (p->head)
			free(pop_request(p));
		free(p->answer);
		/* A direct peer's QP and memory are rdqctl's to free, rdqd or not. */
		rdq_direct_close(p->conn);
		srv->peers = p->next;
		free(p);
	}
	serve_reap(srv);
}

void serve_announce(struct server *srv, const char *addr, int port)
{
	json_t *result = NULL, *local;
	char where[300];

	/*
	 * Where rdqd bound it, as ep show says; else what was asked for. A
	 * peer that comes meanwhile stays queued in librdq for the loop.
	 */
	if (rdq_call_timeout(srv->c, "ep.show", json_pack("{s:I}", "ep", (json_int_t)srv->listener),
			     srv->ctl->wait_ms, &result) == 0 &&
	    (local = json_object_get(json_array_get(json_object_get(result, "endpoints"), 0),
				     "local")) &&
	    json_is_string(local))
		snprintf(where, sizeof(where), "%s", json_string_value(local));
	else
		snprintf(where, sizeof(where), strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr,
			 port >= 0 ? port : RDQ_DEFAULT_PORT);
	json_decref(result);
	emit(json_pack("{s:s, s:s, s:I}", "event", "serving", "local", where, "listener",
		       (json_int_t)srv->listener),
	     true);
}
