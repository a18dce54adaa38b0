/* SPDX-License-Identifier: MIT */
/*
 * librdq's message stream: how one connection's bytes become messages and
 * back. The public API (lib/client.c) is built on it.
 *
 * Input is read into a buffer big enough for the largest frame, so a frame
 * that arrives in pieces is simply completed by later reads. Messages that
 * are read but not yet wanted (events and replies that arrive while
 * rdq_call() waits for its own reply) go to a FIFO that rdq_client_next()
 * empties first, so nothing is lost or reordered. Replies of calls that gave
 * up are dropped as they arrive.
 *
 * When rdqd closes a connection on purpose (it turns a client away when it
 * has too many), it first sends an error with a null id that says why. The
 * stream remembers the last such error, so that the close can be reported
 * with rdqd's reason instead of as a bare "connection closed".
 */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "protocol/errname.h"
#include "protocol/json_read.h"
#include "protocol/message.h"

void stream_set_error(struct rdq_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t stream_deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int stream_remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* --- the stream's memory --- */

int stream_init(struct rdq_client *c)
{
	c->rbuf = malloc(RBUF_SIZE);
	c->wbuf = malloc(WBUF_SIZE);
	return c->rbuf && c->wbuf ? 0 : -ENOMEM;
}

void stream_release(struct rdq_client *c)
{
	json_t *msg;

	while ((msg = stream_queue_take_any(c)))
		json_decref(msg);
	free(c->attachment);
	free(c->discard);
	free(c->rbuf);
	free(c->wbuf);
}

/* --- the FIFO of messages read ahead --- */

int stream_queue_push(struct rdq_client *c, json_t *msg)
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

json_t *stream_queue_take_any(struct rdq_client *c)
{
	return queue_take(c, match_any, 0);
}

json_t *stream_queue_take_reply(struct rdq_client *c, int64_t id)
{
	return queue_take(c, match_reply, id);
}

/* What rdq_accept() takes: the announcements rdq_event_accepted() can read. */
static bool match_accepted(const json_t *msg, int64_t id)
{
	struct rdq_accepted scratch;

	return rdq_event_accepted(msg, &scratch);
}

json_t *stream_queue_take_accepted(struct rdq_client *c)
{
	return queue_take(c, match_accepted, 0);
}

bool stream_is_request(const json_t *msg)
{
	const char *event = json_string_value(json_object_get(msg, "event"));

	return rdq_message_is_event(msg) && event && strcmp(event, "ep.request") == 0;
}

static bool match_request(const json_t *msg, int64_t id)
{
	return stream_is_request(msg);
}

json_t *stream_queue_take_request(struct rdq_client *c)
{
	return queue_take(c, match_request, 0);
}

bool stream_is_flush(const json_t *msg, uint64_t ep)
{
	const char *event = json_string_value(json_object_get(msg, "event"));

	return rdq_message_is_event(msg) && event && strcmp(event, "ep.flush") == 0 &&
	       (uint64_t)json_integer_value(json_object_get(msg, "ep")) == ep;
}

static bool match_flush(const json_t *msg, int64_t ep)
{
	return stream_is_flush(msg, (uint64_t)ep);
}

json_t *stream_queue_take_flush(struct rdq_client *c, uint64_t ep)
{
	return queue_take(c, match_flush, (int64_t)ep);
}

/* --- ids whose replies nobody waits for any more --- */

int stream_discard_add(struct rdq_client *c, int64_t id)
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
		stream_set_error(c, "rdqd closed the connection: %s (%s)", c->farewell,
				 rdq_errno_name(c->farewell_err));
	else
		stream_set_error(c, "connection closed by rdqd");
	return -ECONNRESET;
}

static void rbuf_consume(struct rdq_client *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

void stream_want_attachment(struct rdq_client *c, int64_t id)
{
	free(c->attachment);
	c->attachment = NULL;
	c->want_attachment = true;
	c->want_id = id;
}

void *stream_take_attachment(struct rdq_client *c, size_t *len)
{
	void *bytes = c->attachment;

	*len = bytes ? c->attachment_len : 0;
	c->attachment = NULL;
	c->want_attachment = false;
	return bytes;
}

/*
 * Keeps the attachment of the reply stream_want_attachment() named in a
 * buffer of its own, the one copy librdq makes of it. Returns 0 or -ENOMEM.
 */
static int keep_attachment(struct rdq_client *c, const uint8_t *data, size_t len)
{
	uint8_t *bytes = malloc(len + 1);

	if (!bytes)
		return -ENOMEM;
	memcpy(bytes, data, len);
	bytes[len] = '\0'; /* so that text can be used as a C string */
	free(c->attachment);
	c->attachment = bytes;
	c->attachment_len = len;
	return 0;
}

/*
 * A frame's message: its JSON, with the attachment, if any, in place of the
 * "attachment" count, as a string of exactly its bytes (any bytes: not
 * checked as UTF-8), so that it lives and dies with the message; or, for
 * the reply a caller takes the bytes of, kept apart (keep_attachment). NULL,
 * with the error set, for a frame that is not one.
 */
static json_t *parse_frame(struct rdq_client *c, const char *body, size_t len)
{
	const uint8_t *data;
	size_t data_len, json_len = rdq_frame_split(body, len, &data, &data_len);
	json_t *root, *announced, *bytes;

	/*
	 * The common shapes the fast way (rdqd's replies mostly are); anything else by jansson,
	 * which takes version 1 text holding NUL characters (rdqd sends them as \u0000).
	 */
	root = rdq_json_read(body, json_len);
	if (!root)
		root = json_loadb(body, json_len, JSON_ALLOW_NUL, NULL);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		stream_set_error(c, "rdqd sent a message that is not a JSON object");
		return NULL;
	}
	announced = json_object_get(root, "attachment");
	if (!data && !announced)
		return root;
	if (!data || !json_is_integer(announced) ||
	    (uint64_t)json_integer_value(announced) != data_len) {
		json_decref(root);
		stream_set_error(c, "rdqd sent an attachment other than it announced");
		return NULL;
	}
	if (c->want_attachment && rdq_message_is_reply(root, c->want_id)) {
		if (keep_attachment(c, data, data_len) == 0)
			return root;
		json_decref(root);
		stream_set_error(c, "out of memory for an attachment of %zu bytes", data_len);
		return NULL;
	}
	bytes = json_stringn_nocheck((const char *)data, data_len);
	if (!bytes || json_object_set_new(root, "attachment", bytes) < 0) {
		json_decref(root);
		stream_set_error(c, "out of memory for an attachment of %zu bytes", data_len);
		return NULL;
	}
	return root;
}

/*
 * Takes one message out of the read buffer. Returns 0 and sets *msg, -EAGAIN
 * when no whole frame is buffered yet, or -EBADMSG for a frame that cannot be
 * used (it is consumed, so the stream stays in step).
 */
static int take_frame(struct rdq_client *c, json_t **msg)
{
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
			stream_set_error(c, "rdqd sent a frame of %u bytes, more than %u", len,
					 RDQ_MAX_FRAME);
			return -EBADMSG;
		}
		if (ret < 0) {
			rbuf_consume(c, RDQ_FRAME_HEADER);
			stream_set_error(c, "rdqd sent an empty frame");
			return -EBADMSG;
		}
		if (c->rlen < RDQ_FRAME_HEADER + len)
			return -EAGAIN;

		root = parse_frame(c, (const char *)c->rbuf + RDQ_FRAME_HEADER, len);
		rbuf_consume(c, RDQ_FRAME_HEADER + len);
		if (!root)
			return -EBADMSG;
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
		ret = poll(&pfd, 1, stream_remaining_ms(deadline));
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
		stream_set_error(c, "reading from rdqd: %s", strerror(errno));
		return -errno;
	}
}

int stream_receive(struct rdq_client *c, int64_t deadline, json_t **msg)
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

int stream_receive_buffered(struct rdq_client *c, json_t **msg)
{
	return take_frame(c, msg);
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
		ret = stream_queue_push(c, msg);
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

int stream_send(struct rdq_client *c, const uint8_t *head, size_t head_len, const void *data,
		size_t data_len)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLOUT};
	size_t off = 0, len = head_len + data_len;
	ssize_t n;
	int ret;

	while (off < len) {
		/* The frame's two parts in one call: an attachment is not copied after the JSON. */
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};

		if (off < head_len) {
			iov[0] = (struct iovec){(void *)(head + off), head_len - off};
			iov[1] = (struct iovec){(void *)data, data_len};
			mh.msg_iovlen = data_len ? 2 : 1;
		} else {
			iov[0] = (struct iovec){(uint8_t *)data + (off - head_len), len - off};
			mh.msg_iovlen = 1;
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return read_rest(c);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			stream_set_error(c, "writing to rdqd: %s", strerror(errno));
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
