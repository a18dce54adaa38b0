/* SPDX-License-Identifier: MIT */
/*
 * Inside librdq: the client's connection state and its message stream
 * (lib/stream.c), shared with the public API in lib/client.c. Nothing here
 * is exported: librdq is built with hidden visibility and lib/librdq.map.
 */
#ifndef RDQ_LIB_STREAM_H
#define RDQ_LIB_STREAM_H

#include <rdq/client.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "protocol/frame.h"

#define RBUF_SIZE (RDQ_FRAME_HEADER + RDQ_MAX_FRAME)
/* A request's header, JSON and the NUL before its attachment (sent from where it is). */
#define WBUF_SIZE (RDQ_FRAME_HEADER + RDQ_MAX_MESSAGE + 1)
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
	uint8_t *wbuf; /* WBUF_SIZE bytes: each request is serialised here, once */

	struct msg_node *head; /* read but not yet returned, oldest first */
	struct msg_node *tail;

	int64_t *discard; /* ids of calls that gave up: their replies are dropped */
	size_t ndiscard;
	size_t discard_cap;

	/*
	 * The reply whose attachment its caller takes whole (rdq_ep_recv): its
	 * bytes go from rbuf into a buffer of their own, which the call hands
	 * over, rather than into the message and then into a buffer for the
	 * caller. One call waits at a time, so one such reply is enough.
	 */
	bool want_attachment;
	int64_t want_id;
	uint8_t *attachment; /* the bytes that reply carried (a NUL after them), or NULL */
	size_t attachment_len;

	/* The last message read was an error with a null id: rdqd's reason if it closes now. */
	int farewell_err; /* positive errno, or 0 */
	char farewell[ERROR_MAX];

	char error[ERROR_MAX];
};

/* Sets the sentence rdq_client_error() returns. */
void stream_set_error(struct rdq_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Deadlines are absolute CLOCK_MONOTONIC milliseconds; -1 means none. */
int64_t stream_deadline_after(int timeout_ms);

/* Milliseconds left until the deadline, for poll(): -1 for none, 0 once it passed. */
int stream_remaining_ms(int64_t deadline);

/* Allocates the read buffer of a zeroed client. Returns 0 or -ENOMEM. */
int stream_init(struct rdq_client *c);

/* Frees what the stream holds (queued messages, discarded ids, the buffer); not the socket. */
void stream_release(struct rdq_client *c);

/* Appends msg (stolen) to the FIFO of messages read ahead. Returns 0 or -ENOMEM. */
int stream_queue_push(struct rdq_client *c, json_t *msg);

/* Removes and returns the oldest queued message, or NULL. */
json_t *stream_queue_take_any(struct rdq_client *c);

/* Removes and returns the queued reply to id, or NULL. */
json_t *stream_queue_take_reply(struct rdq_client *c, int64_t id);

/* Removes and returns the oldest queued ep.accepted event, or NULL. */
json_t *stream_queue_take_accepted(struct rdq_client *c);

/* A direct listener's ep.request event; the oldest queued one, removed, or NULL. */
bool stream_is_request(const json_t *msg);
json_t *stream_queue_take_request(struct rdq_client *c);
/* rdqd's ep.flush for direct endpoint ep; the oldest queued one, removed, or NULL. */
bool stream_is_flush(const json_t *msg, uint64_t ep);
json_t *stream_queue_take_flush(struct rdq_client *c, uint64_t ep);

/* Drops the reply to id whenever it comes: its call gave up. Returns 0 or -ENOMEM. */
int stream_discard_add(struct rdq_client *c, int64_t id);

/*
 * The reply to id will carry bytes that its caller takes whole: they are
 * kept apart from the message, for stream_take_attachment(), and the
 * message's "attachment" stays their count (rdq_message_data() finds none).
 */
void stream_want_attachment(struct rdq_client *c, int64_t id);

/*
 * The bytes the reply stream_want_attachment() named carried: returns them
 * (followed by a NUL; the caller frees them) and sets *len, or returns NULL
 * if none came. The stream wants none after this.
 */
void *stream_take_attachment(struct rdq_client *c, size_t *len);

/*
 * Reads the next message off the socket (not the FIFO), waiting up to the
 * deadline. Returns 0 and sets *msg, -EAGAIN at the deadline, -ECONNRESET
 * when the connection is gone (with rdqd's reason in the error if it gave
 * one), -EBADMSG for an unusable frame, or another negative errno.
 */
int stream_receive(struct rdq_client *c, int64_t deadline, json_t **msg);

/*
 * The next message already read off the socket, whole, without reading the
 * socket (which poll() can watch for the rest). Returns 0 and sets *msg,
 * -EAGAIN when no whole frame is buffered, or -EBADMSG.
 */
int stream_receive_buffered(struct rdq_client *c, json_t **msg);

/*
 * Writes all of head, then data_len bytes of data (an attachment; data may
 * be NULL when data_len is 0). While the socket is full it reads what rdqd
 * sends into the FIFO. Returns 0, -ECONNRESET when rdqd closed the
 * connection, or another negative errno.
 */
int stream_send(struct rdq_client *c, const uint8_t *head, size_t head_len, const void *data,
		size_t data_len);

#endif
