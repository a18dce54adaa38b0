/* SPDX-License-Identifier: MIT */
/*
 * rdqctl ep serve: the inetd of RDMA. rdqctl makes a serve listener on its
 * own connection to rdqd and answers every message a peer sends on it with
 * the output of a command run on the message: one command at a time per
 * peer, so that a peer's answers come in the order of its requests, and at
 * most --max-running at once over all peers.
 *
 * One poll() loop, no threads: the control socket, a signalfd (SIGCHLD,
 * SIGINT, SIGTERM) and the pipes of the running commands. A command's input
 * is written and its output read as each pipe is ready, so a command that
 * writes much before it has read all of its input never blocks on a full
 * pipe while rdqctl blocks on the other one.
 *
 * A command that fails (exits non-zero, is killed, runs past --timeout,
 * writes nothing or more than a message holds) gets no answer sent: the
 * peer's connection is closed instead (docs/rdqctl.md says why).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "print.h"
#include "protocol/defaults.h"
#include "spawn.h"

#define DEFAULT_MAX_RUNNING 4
#define MAX_MAX_RUNNING	    1024
#define DEFAULT_TIMEOUT_MS  10000

/*
 * Messages of one peer held here while its command runs; past them the
 * receive is not re-posted, and the peer's further messages wait in rdqd
 * (up to its --recv-backlog), so a peer that floods meets rdqd's limit, not
 * rdqctl's memory.
 */
#define QUEUE_MAX 8

/* rdqd refuses a send when every send slot is busy: try again this often, this many times. */
#define SEND_RETRY_MS  10
#define SEND_RETRY_MAX 500

/* A request a peer sent, waiting for its command. */
struct request_msg {
	struct request_msg *next;
	size_t len;
	unsigned char data[];
};

struct peer {
	struct peer *next;
	uint64_t ep;
	char addr[64];			 /* the peer's ADDR:PORT */
	int64_t recv_id;		 /* the ep.recv outstanding, 0: none */
	int64_t send_id;		 /* the ep.send outstanding, 0: none */
	struct request_msg *head, *tail; /* the head is the one its command answers */
	unsigned queued;
	uint64_t line;	   /* its place in the line for a running slot; 0: not in it */
	uint64_t answered; /* answers sent */

	/* The command answering the head request; cmd.pid 0: none runs. */
	struct spawned cmd;
	bool exited, timed_out, too_big;
	int status;	    /* the wait status, once exited */
	size_t in_off;	    /* bytes of the request written to its input */
	unsigned char *out; /* its output so far */
	size_t out_len;
	int64_t started, deadline;
	int in_idx, out_idx; /* the pipes' slots in the poll array, -1: not polled */

	/* The answer while ep.send is outstanding or waits to be retried. */
	unsigned char *answer;
	size_t answer_len;
	int64_t retry_at; /* 0: no retry due */
	unsigned retries;
};

struct server {
	struct ctl *ctl;
	struct rdq_client *c;
	char **argv; /* COMMAND [ARGS...] */
	int64_t max_running;
	int64_t timeout_ms;
	uint64_t listener;
	struct peer *peers;
	int64_t running;
	uint64_t next_line;
	int lost;      /* the control connection's error, once it failed */
	bool farewell; /* the last message was rdqd's reason for closing */
	bool sent;     /* a request went out: librdq may hold input already read */
	bool stop;     /* SIGINT or SIGTERM came */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Keeps one receive outstanding on p, as long as fewer than QUEUE_MAX requests wait here. */
static void post_recv(struct server *srv, struct peer *p)
{
	if (p->recv_id || p->queued >= QUEUE_MAX)
		return;
	p->recv_id = send_request(srv, "ep.recv",
				  json_pack("{s:I, s:I}", "ep", (json_int_t)p->ep, "timeout_ms",
					    (json_int_t)RDQ_MAX_TIMEOUT_MS),
				  NULL, 0);
}

/* The answer goes once it is sent completely: a send the peer does not take is its failure. */
static void post_send(struct server *srv, struct peer *p)
{
	p->retry_at = 0;
	p->send_id = send_request(srv, "ep.send",
				  json_pack("{s:I, s:b}", "ep", (json_int_t)p->ep, "wait", 1),
				  p->answer, p->answer_len);
}

/* Puts p in the line for a running slot when its next request can start. */
static void peer_ready(struct server *srv, struct peer *p)
{
	if (p->head && !p->cmd.pid && !p->send_id && !p->answer && !p->line)
		p->line = ++srv->next_line;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Stops p's command, if one runs; its exit is reaped later, as nobody's. */
static void command_abandon(struct server *srv, struct peer *p)
{
	if (!p->cmd.pid)
		return;
	spawn_kill(p->cmd.pid);
	close_fd(&p->cmd.stdin_fd);
	close_fd(&p->cmd.stdout_fd);
	p->cmd.pid = 0;
	srv->running--;
	free(p->out);
	p->out = NULL;
	p->out_len = 0;
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
static void peer_close(struct server *srv, struct peer *p, const char *why, bool failure)
{
	struct peer **pp;

	if (failure)
		fprintf(stderr, "rdqctl: ep %" PRIu64 " (%s): %s; closing its connection\n", p->ep,
			p->addr, why);
	command_abandon(srv, p);
	while (p->head)
		free(pop_request(p));
	free(p->answer);
	send_request(srv, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)p->ep), NULL, 0);
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
	peer_close(srv, p, why, true);
}

static void command_start(struct server *srv, struct peer *p)
{
	int ret = spawn_start(srv->argv, &p->cmd);

	if (ret < 0) {
		p->cmd.pid = 0;
		peer_fail(srv, p, "cannot start %s: %s", srv->argv[0], strerror(-ret));
		return;
	}
	srv->running++;
	p->exited = p->timed_out = p->too_big = false;
	p->in_off = 0;
	p->out = NULL;
	p->out_len = 0;
	p->started = now_ms();
	p->deadline = p->started + srv->timeout_ms;
	if (p->head->len == 0)
		close_fd(&p->cmd.stdin_fd);
}

/* Starts the commands of the peers in line, first come first served, while slots are free. */
static void start_waiting(struct server *srv)
{
	while (srv->running < srv->max_running && !srv->stop) {
		struct peer *p, *first = NULL;

		for (p = srv->peers; p; p = p->next)
			if (p->line && (!first || p->line < first->line))
				first = p;
		if (!first)
			return;
		first->line = 0;
		command_start(srv, first);
	}
}

/* The command ended (exited, and its output is at its end): answer, or close the peer. */
static void command_done(struct server *srv, struct peer *p)
{
	char how[128];
	struct request_msg *m;
	bool ok;

	close_fd(&p->cmd.stdin_fd);
	p->cmd.pid = 0;
	srv->running--;
	spawn_describe(p->status, how, sizeof(how));
	ok = !p->timed_out && !p->too_big && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0 &&
	     p->out_len > 0;
	if (!ok) {
		if (p->timed_out)
			peer_fail(srv, p, "%s ran past --timeout %" PRId64 " ms and was killed",
				  srv->argv[0], srv->timeout_ms);
		else if (p->too_big)
			peer_fail(srv, p, "%s wrote more than %u bytes, the largest message",
				  srv->argv[0], RDQ_MAX_DATA);
		else if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0)
			peer_fail(srv, p, "%s %s", srv->argv[0], how);
		else
			peer_fail(srv, p, "%s wrote nothing", srv->argv[0]);
		return;
	}
	m = pop_request(p);
	emit(json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "event", "answered", "ep",
		       (json_int_t)p->ep, "peer", p->addr, "request", (json_int_t)m->len, "answer",
		       (json_int_t)p->out_len, "ms", (json_int_t)(now_ms() - p->started)),
	     false);
	free(m);
	p->answer = p->out;
	p->answer_len = p->out_len;
	p->out = NULL;
	p->out_len = 0;
	post_send(srv, p);
	/* A slot of the local queue is free again. */
	post_recv(srv, p);
}

static void write_input(struct peer *p)
{
	const struct request_msg *m = p->head;
	ssize_t n = write(p->cmd.stdin_fd, m->data + p->in_off, m->len - p->in_off);

	if (n > 0)
		p->in_off += (size_t)n;
	/* EPIPE: it stopped reading; its exit status decides whether that was an error. */
	if (p->in_off == m->len || (n < 0 && errno != EAGAIN && errno != EINTR))
		close_fd(&p->cmd.stdin_fd);
}

static void read_output(struct peer *p)
{
	for (;;) {
		unsigned char *grown;
		size_t room = 65536;
		ssize_t n;

		/* One byte past the largest message tells that it is too large. */
		if (p->out_len + room > RDQ_MAX_DATA + 1)
			room = RDQ_MAX_DATA + 1 - p->out_len;
		grown = realloc(p->out, p->out_len + room);
		if (!grown) {
			p->too_big = true;
			break;
		}
		p->out = grown;
		n = read(p->cmd.stdout_fd, p->out + p->out_len, room);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			close_fd(&p->cmd.stdout_fd);
			return;
		}
		p->out_len += (size_t)n;
		if (p->out_len > RDQ_MAX_DATA) {
			p->too_big = true;
			break;
		}
	}
	/* Nothing it writes from here on can be sent: stop it now. */
	spawn_kill(p->cmd.pid);
	close_fd(&p->cmd.stdin_fd);
	close_fd(&p->cmd.stdout_fd);
}

static struct peer *peer_of_request(struct server *srv, int64_t id)
{
	struct peer *p;

	for (p = srv->peers; p; p = p->next)
		if (p->recv_id == id || p->send_id == id)
			return p;
	return NULL;
}

static void push_request(struct peer *p, const void *data, size_t len)
{
	struct request_msg *m = malloc(sizeof(*m) + len);

	if (!m)
		return;
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	if (p->tail)
		p->tail->next = m;
	else
		p->head = m;
	p->tail = m;
	p->queued++;
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
		push_request(p, data, len);
		peer_ready(srv, p);
		post_recv(srv, p);
	} else if (err == -EAGAIN) {
		post_recv(srv, p);
	} else if (peer_left(err)) {
		/* Whatever it still waits for could not reach it. */
		peer_close(srv, p, "the peer disconnected", false);
	} else {
		peer_fail(srv, p, "ep.recv failed: %s: %s", rdq_strerrno(-err), why ? why : "");
	}
}

static void send_answered(struct server *srv, struct peer *p, json_t *msg)
{
	const char *why = NULL;
	int err = rdq_reply_status(msg, &why);

	p->send_id = 0;
	if (err == -ENOBUFS && p->retries < SEND_RETRY_MAX) {
		p->retries++;
		p->retry_at = now_ms() + SEND_RETRY_MS;
		return;
	}
	if (err == 0) {
		free(p->answer);
		p->answer = NULL;
		p->retries = 0;
		p->answered++;
		peer_ready(srv, p);
	} else if (peer_left(err)) {
		peer_close(srv, p, "the peer disconnected before its answer was sent", false);
	} else {
		peer_fail(srv, p, "cannot send its answer: %s: %s", rdq_strerrno(-err),
			  why ? why : "");
	}
}

static void accepted(struct server *srv, const struct rdq_accepted *acc)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p) {
		send_request(srv, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)acc->ep), NULL,
			     0);
		return;
	}
	p->ep = acc->ep;
	snprintf(p->addr, sizeof(p->addr), "%s", acc->peer);
	p->cmd.stdin_fd = p->cmd.stdout_fd = -1;
	p->next = srv->peers;
	srv->peers = p;
	emit(json_pack("{s:s, s:I, s:s}", "event", "accepted", "ep", (json_int_t)p->ep, "peer",
		       p->addr),
	     true);
	post_recv(srv, p);
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
			accepted(srv, &acc);
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

/* For messages that come while ctl_call() waits for a reply of its own. */
static void on_other(struct ctl *ctl, json_t *msg)
{
	struct server *srv = ctl->priv;

	srv->c = ctl->client;
	handle_message(srv, msg);
}

/* Reads every message librdq has, until none is left; false when the connection failed. */
static bool drain(struct server *srv)
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

static void reap(struct server *srv)
{
	struct peer *p;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (p = srv->peers; p; p = p->next)
			if (p->cmd.pid == pid) {
				p->exited = true;
				p->status = status;
			}
}

static void read_signals(struct server *srv, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			srv->stop = true;
	}
	reap(srv);
}

/* How long poll() may sleep: until the next command deadline or send retry. */
static int poll_timeout(struct server *srv)
{
	int64_t now = now_ms(), next = -1;
	struct peer *p;

	if (srv->sent)
		return 0;
	for (p = srv->peers; p; p = p->next) {
		if (p->cmd.pid && !p->timed_out && (next < 0 || p->deadline < next))
			next = p->deadline;
		if (p->retry_at && (next < 0 || p->retry_at < next))
			next = p->retry_at;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* After poll(): the pipes that are ready, the deadlines that passed, the commands done. */
static void serve_peers(struct server *srv, const struct pollfd *fds)
{
	int64_t now = now_ms();
	struct peer *p, *next;

	for (p = srv->peers; p; p = next) {
		next = p->next;
		if (p->in_idx >= 0 && fds[p->in_idx].revents && p->cmd.stdin_fd >= 0)
			write_input(p);
		if (p->out_idx >= 0 && fds[p->out_idx].revents && p->cmd.stdout_fd >= 0)
			read_output(p);
		if (p->cmd.pid && !p->timed_out && now >= p->deadline) {
			p->timed_out = true;
			spawn_kill(p->cmd.pid);
			close_fd(&p->cmd.stdin_fd);
			close_fd(&p->cmd.stdout_fd);
		}
		if (p->cmd.pid && p->exited && p->cmd.stdout_fd < 0)
			command_done(srv, p);
		else if (p->retry_at && now >= p->retry_at && !p->send_id)
			post_send(srv, p);
	}
}

/* The poll array: the control socket, the signals, then each running command's pipes. */
static struct pollfd *poll_set(struct server *srv, int sfd, struct pollfd *fds, size_t *nfds)
{
	size_t n = 2, cap = 2;
	struct pollfd *grown;
	struct peer *p;

	for (p = srv->peers; p; p = p->next)
		cap += 2;
	grown = realloc(fds, cap * sizeof(*fds));
	if (!grown)
		return NULL;
	fds = grown;
	fds[0] = (struct pollfd){.fd = rdq_client_fd(srv->c), .events = POLLIN};
	fds[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	for (p = srv->peers; p; p = p->next) {
		p->in_idx = p->out_idx = -1;
		if (p->cmd.stdin_fd >= 0) {
			p->in_idx = (int)n;
			fds[n++] = (struct pollfd){.fd = p->cmd.stdin_fd, .events = POLLOUT};
		}
		if (p->cmd.stdout_fd >= 0) {
			p->out_idx = (int)n;
			fds[n++] = (struct pollfd){.fd = p->cmd.stdout_fd, .events = POLLIN};
		}
	}
	*nfds = n;
	return fds;
}

static int serve_loop(struct server *srv, int sfd)
{
	struct pollfd *fds = NULL, *grown;
	size_t nfds;
	int ret;

	while (!srv->stop) {
		srv->sent = false;
		if (!drain(srv))
			break;
		start_waiting(srv);
		grown = poll_set(srv, sfd, fds, &nfds);
		if (!grown) {
			fprintf(stderr, "rdqctl: out of memory\n");
			free(fds);
			return RDQCTL_EDAEMON;
		}
		fds = grown;
		ret = poll(fds, nfds, poll_timeout(srv));
		if (ret < 0 && errno != EINTR) {
			ret = -errno;
			free(fds);
			return ctl_unreachable(srv->ctl, ret);
		}
		if (ret > 0 && fds[1].revents)
			read_signals(srv, sfd);
		serve_peers(srv, fds);
	}
	free(fds);
	if (srv->lost)
		return ctl_lost(srv->ctl, srv->lost, srv->farewell);
	return RDQCTL_OK;
}

/* The end, by signal or by a lost connection: no command outlives rdqctl. */
static void stop_all(struct server *srv)
{
	struct peer *p;

	while ((p = srv->peers)) {
		pid_t pid = p->cmd.pid;

		command_abandon(srv, p);
		if (pid)
			waitpid(pid, NULL, 0);
		while (p->head)
			free(pop_request(p));
		free(p->answer);
		srv->peers = p->next;
		free(p);
	}
	reap(srv);
}

static void serving_line(struct server *srv, const char *addr, int port)
{
	json_t *result = NULL, *local;
	char where[300];

	/* Where rdqd bound it, as ep show says; else what was asked for. */
	if (ctl_call(srv->ctl, "ep.show", json_pack("{s:I}", "ep", (json_int_t)srv->listener), -1,
		     &result) == RDQCTL_OK &&
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

/* clang-format off */
static const char serve_usage[] =
	"Usage: rdqctl ep " EP_SERVE_USAGE
	"\n"
	"Listens on ADDR[:PORT] (port " RDQ_STR(RDQ_DEFAULT_PORT) " if left out) and answers each message a peer\n"
	"sends with the output of COMMAND, run with the message on its standard input\n"
	"(as the user running rdqctl, from PATH; its standard error is rdqctl's).\n"
	"One command at a time per peer, so answers come in order; peers are served\n"
	"at once up to N commands running. A command that exits non-zero, is killed,\n"
	"runs past the timeout, writes nothing or more than 1048576 bytes answers\n"
	"nothing: the peer's connection is closed, and rdqctl says why on stderr.\n"
	"Prints a line when it serves, and when a peer comes (accepted) or goes\n"
	"(closed); with -j one JSON object per line, also one per answer (answered).\n"
	"Runs until SIGINT or SIGTERM, which kill the commands still running.\n"
	"\n"
	"  --max-running N   commands running at once over all peers (default " RDQ_STR(DEFAULT_MAX_RUNNING) ");\n"
	"                    other requests wait their turn, in order\n"
	"  --timeout MS      a command's time to answer (default " RDQ_STR(DEFAULT_TIMEOUT_MS) "); then it is\n"
	"                    killed with everything in its process group\n";
/* clang-format on */

int ep_serve(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep serve";
	struct server srv = {
		.ctl = ctl, .max_running = DEFAULT_MAX_RUNNING, .timeout_ms = DEFAULT_TIMEOUT_MS};
	bool has_max = false, has_timeout = false;
	const struct opt opts[] = {
		{.name = "--max-running",
		 .metavar = "N",
		 .min = 1,
		 .max = MAX_MAX_RUNNING,
		 .value = &srv.max_running,
		 .seen = &has_max},
		{.name = "--timeout",
		 .metavar = "MS",
		 .min = 1,
		 .max = INT_MAX,
		 .value = &srv.timeout_ms,
		 .seen = &has_timeout},
		{0},
	};
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	int npos, port, ret, dashes, sfd;
	char *pos[1], addr[256];
	sigset_t mask, old;
	json_t *args, *result;

	/* Options and ADDR before "--"; the command, with its own options, after. */
	for (dashes = 0; dashes < argc && strcmp(argv[dashes], "--") != 0; dashes++)
		;
	ret = args_parse(path, serve_usage, opts, dashes, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	if (dashes + 1 >= argc)
		return usage_error(path, "no command: it goes after \"--\"");
	ret = arg_address(path, pos[0], addr, sizeof(addr), &port);
	if (ret)
		return ret;
	srv.argv = argv + dashes + 1;

	/*
	 * The signals come through a descriptor, so one that arrives while the
	 * loop works is read at its next poll(), never lost. A write to a
	 * command that has exited is an error to handle, not a signal.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigaction(SIGPIPE, &ignore, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		perror("rdqctl: signalfd");
		sigprocmask(SIG_SETMASK, &old, NULL);
		return RDQCTL_EDAEMON;
	}

	args = json_pack("{s:s, s:s}", "addr", addr, "mode", "serve");
	if (args && port >= 0)
		json_object_set_new(args, "port", json_integer(port));
	ctl->priv = &srv;
	ctl->on_other = on_other;
	ret = ctl_call(ctl, "ep.listen", args, -1, &result);
	if (ret == RDQCTL_OK) {
		srv.c = ctl->client;
		srv.listener = (uint64_t)json_integer_value(json_object_get(result, "ep"));
		json_decref(result);
		serving_line(&srv, addr, port);
		ret = serve_loop(&srv, sfd);
	}
	stop_all(&srv);
	/* Its endpoints go with it; closing the connection would do that too, later. */
	if (srv.listener && !srv.lost)
		rdq_call_timeout(srv.c, "ep.destroy",
				 json_pack("{s:I}", "ep", (json_int_t)srv.listener), 2000, NULL);
	ctl->on_other = NULL;
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}
