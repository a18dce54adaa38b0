/* SPDX-License-Identifier: MIT */
/*
 * librdq client: one blocking Unix-socket connection to rdqd.
 *
 * Input is read into a buffer big enough for the largest frame, so a frame
 * that arrives in pieces is simply completed by later reads. Messages that
 * are read but not yet wanted (events and replies that arrive while
 * rdq_call() waits for its own reply) go to a FIFO that rdq_client_next()
 * empties first, so nothing is lost or reordered.
 *
 * When rdqd closes a connection on purpose (it turns a client away when it
 * has too many), it first sends an error with a null id that says why. The
 * client remembers the last such error, so that the close can be reported
 * with rdqd's reason instead of as a bare "connection closed".
 */
#include <rdq/client.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "protocol/errname.h"
#include "protocol/frame.h"
#include "protocol/message.h"

#define RBUF_SIZE (RDQ_FRAME_HEADER + RDQ_MAX_MESSAGE)
#define ERROR_MAX 256

struct msg_node {
	json_t *msg;
	struct msg_node *next;
};

struct rdq_client {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int64_t next_id;
	bool eof; /* the daemon closed its side; the buffer may still hold frames */

	uint8_t *rbuf; /* RBUF_SIZE bytes: always room for one whole frame */
	size_t rlen;   /* bytes held in rbuf */
	size_t skip;   /* bytes of an oversized frame still to throw away */

	struct msg_node *head; /* read but not yet returned, oldest first */
	struct msg_node *tail;

	int64_t *discard; /* ids of calls that gave up: their replies are dropped */
	size_t ndiscard;
	size_t discard_cap;

	/* The last message read was an error with a null id: rdqd's reason if it closes now. */
	int farewell_err; /* positive errno, or 0 */
	char farewell[ERROR_MAX];

	char error[ERROR_MAX];
};

static void set_error(struct rdq_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct rdq_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/* Deadlines are absolute CLOCK_MONOTONIC milliseconds; -1 means none. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* --- the FIFO of messages read ahead --- */

static int queue_push(struct rdq_client *c, json_t *msg)
{
	struct msg_node *node = malloc(sizeof(*node));

	if (!node) {
		json_decref(msg);
		return -ENOMEM;
	}
	node->msg = msg;
	node->next = NULL;
	if (c->tail)
		c->tail->next = node;
	else
		c->head = node;
	c->tail = node;
	return 0;
}

/* Removes and returns the first queued message that match() accepts, or NULL. */
static json_t *queue_take(struct rdq_client *c, bool (*match)(const json_t *, int64_t), int64_t id)
{
	struct msg_node **link = &c->head, *prev = NULL;

	for (struct msg_node *node = c->head; node; prev = node, node = node->next) {
		json_t *msg = node->msg;

		if (match(msg, id)) {
			*link = node->next;
			if (c->tail == node)
				c->tail = prev;
			free(node);
			return msg;
		}
		link = &node->next;
	}
	return NULL;
}

static bool match_any(const json_t *msg, int64_t id)
{
	return true;
}

static bool match_reply(const json_t *msg, int64_t id)
{
	return rdq_message_is_reply(msg, id);
}

/* --- ids whose replies nobody waits for any more --- */

static int discard_add(struct rdq_client *c, int64_t id)
{
	if (c->ndiscard == c->discard_cap) {
		size_t cap = c->discard_cap ? c->discard_cap * 2 : 8;
		int64_t *ids = realloc(c->discard, cap * sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		c->discard = ids;
		c->discard_cap = cap;
	}
	c->discard[c->ndiscard++] = id;
	return 0;
}

/* True (and forgets the id) if msg is the late reply of a call that gave up. */
static bool discard_match(struct rdq_client *c, const json_t *msg)
{
	json_t *id;

	if (c->ndiscard == 0 || rdq_message_is_event(msg))
		return false;
	id = json_object_get(msg, "id");
	if (!json_is_integer(id))
		return false;
	for (size_t i = 0; i < c->ndiscard; i++) {
		if (c->discard[i] == json_integer_value(id)) {
			c->discard[i] = c->discard[--c->ndiscard];
			return true;
		}
	}
	return false;
}

/* --- reading frames --- */

/* Keeps msg's error if it answers no request (null id): rdqd's reason, should it close next. */
static void note_farewell(struct rdq_client *c, const json_t *msg)
{
	const char *message;
	int err;

	c->farewell_err = 0;
	if (!json_is_null(json_object_get(msg, "id")))
		return;
	err = rdq_reply_status(msg, &message);
	if (err >= 0)
		return;
	c->farewell_err = -err;
	snprintf(c->farewell, sizeof(c->farewell), "%s",
		 message && message[0] ? message : strerror(-err));
}

/* The connection is gone: says so, with rdqd's reason when it gave one. Returns -ECONNRESET. */
static int closed(struct rdq_client *c)
{
	if (c->farewell_err)
		set_error(c, "rdqd closed the connection: %s (%s)", c->farewell,
			  rdq_errno_name(c->farewell_err));
	else
		set_error(c, "connection closed by rdqd");
	return -ECONNRESET;
}

static void rbuf_consume(struct rdq_client *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/*
 * Takes one message out of the read buffer. Returns 0 and sets *msg, -EAGAIN
 * when no whole frame is buffered yet, or -EBADMSG for a frame that cannot be
 * used (it is consumed, so the stream stays in step).
 */
static int take_frame(struct rdq_client *c, json_t **msg)
{
	json_error_t jerr;
	uint32_t len;
	json_t *root;
	int ret;

	for (;;) {
		if (c->skip) {
			size_t n = c->skip < c->rlen ? c->skip : c->rlen;

			rbuf_consume(c, n);
			c->skip -= n;
			if (c->skip)
				return -EAGAIN;
		}
		if (c->rlen < RDQ_FRAME_HEADER)
			return -EAGAIN;

		ret = rdq_frame_read_header(c->rbuf, &len);
		if (ret == -EMSGSIZE) {
			/* rdqd never sends one; skip it rather than lose the connection. */
			rbuf_consume(c, RDQ_FRAME_HEADER);
			c->skip = len;
			set_error(c, "rdqd sent a frame of %u bytes, more than %u", len,
				  RDQ_MAX_MESSAGE);
			return -EBADMSG;
		}
		if (ret < 0) {
			rbuf_consume(c, RDQ_FRAME_HEADER);
			set_error(c, "rdqd sent an empty frame");
			return -EBADMSG;
		}
		if (c->rlen < RDQ_FRAME_HEADER + len)
			return -EAGAIN;

		/* Received data may hold NUL bytes: rdqd sends them as \u0000. */
		root = json_loadb((const char *)c->rbuf + RDQ_FRAME_HEADER, len, JSON_ALLOW_NUL,
				  &jerr);
		rbuf_consume(c, RDQ_FRAME_HEADER + len);
		if (!root || !json_is_object(root)) {
			json_decref(root);
			set_error(c, "rdqd sent a message that is not a JSON object");
			return -EBADMSG;
		}
		if (discard_match(c, root)) {
			json_decref(root);
			continue;
		}
		note_farewell(c, root);
		*msg = root;
		return 0;
	}
}

/*
 * Reads what the socket has, waiting up to the deadline for something.
 * Returns 0 once bytes (or the end of the stream) were read, -EAGAIN when
 * the deadline passed, -ECONNRESET when the connection is gone.
 */
static int fill(struct rdq_client *c, int64_t deadline)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	ssize_t n;
	int ret;

	if (c->eof)
		return closed(c);
	for (;;) {
		ret = poll(&pfd, 1, remaining_ms(deadline));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -EAGAIN;

		n = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, MSG_DONTWAIT);
		if (n > 0) {
			c->rlen += (size_t)n;
			return 0;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n == 0 || errno == ECONNRESET) {
			c->eof = true;
			return 0;
		}
		set_error(c, "reading from rdqd: %s", strerror(errno));
		return -errno;
	}
}

/* Reads the next message off the socket (not the FIFO), as rdq_client_next(). */
static int receive(struct rdq_client *c, int64_t deadline, json_t **msg)
{
	int ret;

	for (;;) {
		ret = take_frame(c, msg);
		if (ret != -EAGAIN)
			return ret;
		if (c->eof)
			return closed(c);
		ret = fill(c, deadline);
		if (ret < 0)
			return ret;
	}
}

/*
 * Moves every whole frame in the buffer to the FIFO, making room to read.
 * Used while a send is blocked: rdqd stops reading a client whose replies
 * pile up, so a client that only wrote would wait for it forever.
 */
static int drain_to_queue(struct rdq_client *c)
{
	json_t *msg;
	int ret;

	for (;;) {
		ret = take_frame(c, &msg);
		if (ret == -EAGAIN)
			return 0;
		/* An unusable frame is dropped: there is no caller to hand the error to. */
		if (ret == -EBADMSG)
			continue;
		ret = queue_push(c, msg);
		if (ret < 0)
			return ret;
	}
}

/* --- writing --- */

/*
 * rdqd closed the connection while we were writing. What it sent before
 * closing is still in the socket, and may say why: read it all into the FIFO.
 * Returns -ECONNRESET, as closed().
 */
static int read_rest(struct rdq_client *c)
{
	while (!c->eof) {
		if (fill(c, 0) < 0 || drain_to_queue(c) < 0)
			break;
	}
	return closed(c);
}

static int send_all(struct rdq_client *c, const uint8_t *buf, size_t len)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLOUT};
	size_t off = 0;
	ssize_t n;
	int ret;

	while (off < len) {
		n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return read_rest(c);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			set_error(c, "writing to rdqd: %s", strerror(errno));
			return -errno;
		}

		/* The socket is full: wait for room, reading what rdqd sends meanwhile. */
		pfd.events = c->eof ? POLLOUT : POLLIN | POLLOUT;
		ret = poll(&pfd, 1, -1);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (pfd.revents & POLLIN) {
			ret = fill(c, 0);
			if (ret == 0)
				ret = drain_to_queue(c);
			if (ret < 0 && ret != -EAGAIN)
				return ret;
		}
	}
	return 0;
}

/* --- public API --- */

/*
 * connect() bounded by the deadline. A Unix socket's connect() blocks while
 * the listener's backlog is full (rdqd stopped, or not accepting). Made
 * non-blocking it fails at once with EAGAIN instead of EINPROGRESS, and
 * poll() cannot wait for room in the backlog; but a blocking connect() waits
 * no longer than the socket's send timeout, and wakes as soon as there is
 * room. Returns 0 or a negative errno, -ETIMEDOUT at the deadline.
 */
static int connect_bounded(int fd, const struct sockaddr_un *addr, int64_t deadline)
{
	static const struct timeval forever = {0, 0};
	int left, ret;

	for (;;) {
		struct timeval tv = forever;

		left = remaining_ms(deadline);
		if (left >= 0) {
			tv.tv_sec = left / 1000;
			/* 0 means forever: with no time left, wait the shortest time. */
			tv.tv_usec = left == 0 ? 1 : (left % 1000) * 1000;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
		ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
		if (ret == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (remaining_ms(deadline) == 0)
			return -ETIMEDOUT;
	}
	/* Sends never block (MSG_DONTWAIT); the timeout is put back only to leave no surprise. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &forever, sizeof(forever)) < 0)
		return -errno;
	return 0;
}

static int connect_path(const char *path, int64_t deadline, struct rdq_client **out)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct rdq_client *c;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	strcpy(c->path, path);
	c->next_id = 1;
	c->rbuf = malloc(RBUF_SIZE);
	if (!c->rbuf) {
		ret = -ENOMEM;
		goto err;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = -errno;
		goto err;
	}
	ret = connect_bounded(c->fd, &addr, deadline);
	if (ret < 0) {
		close(c->fd);
		goto err;
	}
	*out = c;
	return 0;

err:
	free(c->rbuf);
	free(c);
	return ret;
}

int rdq_client_connect(const char *path, struct rdq_client **out)
{
	return rdq_client_connect_timeout(path, -1, out);
}

int rdq_client_connect_timeout(const char *path, int timeout_ms, struct rdq_client **out)
{
	char user_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int64_t deadline = deadline_after(timeout_ms);
	int ret, system_ret;

	if (path)
		return connect_path(path, deadline, out);
	ret = rdq_default_socket_path(user_path, sizeof(user_path));
	if (ret < 0)
		return ret;
	ret = connect_path(user_path, deadline, out);
	if ((ret != -ENOENT && ret != -ECONNREFUSED) || strcmp(user_path, RDQ_SYSTEM_SOCKET) == 0)
		return ret;
	/* No daemon of this user's own: the system service, if there is one, in the time left. */
	system_ret = connect_path(RDQ_SYSTEM_SOCKET, deadline, out);
	return system_ret == -ENOENT ? ret : system_ret;
}

const char *rdq_client_path(const struct rdq_client *client)
{
	return client->path;
}

void rdq_client_close(struct rdq_client *client)
{
	json_t *msg;

	if (!client)
		return;
	while ((msg = queue_take(client, match_any, 0)))
		json_decref(msg);
	close(client->fd);
	free(client->discard);
	free(client->rbuf);
	free(client);
}

int rdq_client_fd(const struct rdq_client *client)
{
	return client->fd;
}

int rdq_client_send(struct rdq_client *client, const char *op, json_t *args, int64_t *id)
{
	uint8_t *buf;
	json_t *req;
	size_t len;
	int ret;

	if (!op) {
		json_decref(args);
		return -EINVAL;
	}
	req = rdq_request_new(client->next_id, op, args);
	if (!req)
		return -ENOMEM;
	buf = rdq_message_pack(req, &len);
	if (!buf) {
		/* pack fails for size or for memory; tell them apart for the caller. */
		ret = -ENOMEM;
		if (json_dumpb(req, NULL, 0, JSON_COMPACT) > RDQ_MAX_MESSAGE)
			ret = -EMSGSIZE;
		json_decref(req);
		set_error(client, "cannot send %s: %s", op,
			  ret == -EMSGSIZE ? "request too large" : "out of memory");
		return ret;
	}
	json_decref(req);

	ret = send_all(client, buf, len);
	free(buf);
	if (ret < 0)
		return ret;
	*id = client->next_id++;
	return 0;
}

int rdq_client_next(struct rdq_client *client, int timeout_ms, json_t **msg)
{
	*msg = queue_take(client, match_any, 0);
	if (*msg)
		return 0;
	return receive(client, deadline_after(timeout_ms), msg);
}

/* A call that lost its connection fails with rdqd's reason for closing it, if it gave one. */
static int closed_status(const struct rdq_client *c, int ret)
{
	return ret == -ECONNRESET && c->farewell_err ? -c->farewell_err : ret;
}

int rdq_call(struct rdq_client *client, const char *op, json_t *args, json_t **result)
{
	return rdq_call_timeout(client, op, args, -1, result);
}

int rdq_call_timeout(struct rdq_client *client, const char *op, json_t *args, int timeout_ms,
		     json_t **result)
{
	const char *message;
	int64_t deadline, id;
	json_t *reply, *msg;
	int ret;

	if (result)
		*result = NULL;
	client->error[0] = '\0';
	ret = rdq_client_send(client, op, args, &id);
	if (ret < 0)
		return closed_status(client, ret);
	deadline = deadline_after(timeout_ms);

	/* A blocked send may already have read the reply into the FIFO. */
	reply = queue_take(client, match_reply, id);
	while (!reply) {
		ret = receive(client, deadline, &msg);
		if (ret < 0) {
			if (ret == -EAGAIN) {
				set_error(client, "no reply from rdqd to %s within %d ms", op,
					  timeout_ms);
				ret = -ETIMEDOUT;
			}
			/* Whatever comes later for this id has nobody to go to. */
			if (ret != -ECONNRESET && discard_add(client, id) < 0)
				return -ENOMEM;
			return closed_status(client, ret);
		}
		if (rdq_message_is_reply(msg, id)) {
			reply = msg;
		} else {
			ret = queue_push(client, msg);
			if (ret < 0)
				return ret;
		}
	}

	ret = rdq_reply_status(reply, &message);
	if (ret < 0) {
		set_error(client, "%s", message ? message : "");
	} else if (result) {
		json_t *value = json_object_get(reply, "result");

		*result = value ? json_incref(value) : json_object();
		if (!*result)
			ret = -ENOMEM;
	}
	json_decref(reply);
	return ret;
}

const char *rdq_client_error(const struct rdq_client *client)
{
	return client->error;
}

int rdq_message_is_reply(const json_t *msg, int64_t id)
{
	json_t *value = json_object_get(msg, "id");

	return json_is_integer(value) && json_integer_value(value) == id;
}

int rdq_message_is_event(const json_t *msg)
{
	return json_is_string(json_object_get(msg, "event"));
}

int rdq_reply_status(const json_t *msg, const char **message)
{
	json_t *ok = json_object_get(msg, "ok");
	json_t *error, *name, *code, *text;
	int err;

	if (message)
		*message = NULL;
	if (json_is_true(ok))
		return 0;
	if (!json_is_false(ok)) {
		if (message)
			*message = "not a reply from rdqd";
		return -EBADMSG;
	}

	error = json_object_get(msg, "error");
	name = json_object_get(error, "errno");
	code = json_object_get(error, "code");
	text = json_object_get(error, "message");

	/* The name is the portable part of the error; the number is a fallback. */
	err = json_is_string(name) ? rdq_errno_from_name(json_string_value(name)) : 0;
	if (err == 0 && json_is_integer(code) && json_integer_value(code) > 0 &&
	    json_integer_value(code) < 4096)
		err = (int)json_integer_value(code);
	if (err == 0)
		err = EPROTO;
	if (message)
		*message = json_is_string(text) ? json_string_value(text) : "";
	return -err;
}

const char *rdq_strerrno(int err)
{
	return rdq_errno_name(err);
}

const char *rdq_version(void)
{
	return RDQ_VERSION;
}
