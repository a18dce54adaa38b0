/* SPDX-License-Identifier: MIT */
/*
 * What goes out on a connection: each message encoded once into the loop's
 * one buffer, then framed into the connection's output; a held received
 * message's bytes are lent to it rather than copied (control_reply_lent).
 * A client whose output piles up is not read until it drains: its requests
 * would only add replies it does not take.
 */
#include "control.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control_internal.h"
#include "encode.h"
#include "engine/level.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "rdqd.h"

/*
 * Messages are encoded once, into this buffer, which the loop reuses for
 * every message, then framed into the connection's output: no allocation
 * of ours per reply, and no second pass to learn the size first. Room for
 * the frame's header comes before the body, so that header and body go out
 * in one piece, and one byte after it holds the NUL before an attachment.
 */
static uint8_t scratch[RDQ_FRAME_HEADER + RDQ_MAX_MESSAGE + 1]; /* the loop's alone */
#define SCRATCH_BODY ((char *)scratch + RDQ_FRAME_HEADER)

char *control_body(void)
{
	return SCRATCH_BODY;
}

void conn_check_throttle(struct conn *c)
{
	size_t out = conn_output_length(c);

	if (!c->throttled && out >= OUTPUT_HIGH) {
		c->throttled = true;
		bufferevent_disable(c->bev, EV_READ);
	} else if (c->throttled && out < OUTPUT_LOW && !c->closing) {
		c->throttled = false;
		bufferevent_enable(c->bev, EV_READ);
		event_active(c->resume, EV_READ, 0);
	}
}

int conn_write_frame(struct conn *c, const char *body, size_t len, const void *data,
		     size_t data_len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t header[RDQ_FRAME_HEADER];
	int ret = 0;

	RDQ_DISPATCH_ONLY();
	if (len == 0)
		return -EINVAL; /* the encoder could not write it */
	if (len > RDQ_MAX_MESSAGE)
		return -EMSGSIZE; /* the encoder wrote only what fits, and said what it needed */
	if (body == SCRATCH_BODY) {
		size_t head = RDQ_FRAME_HEADER + len;

		if (data)
			scratch[head++] = '\0';
		rdq_frame_write_header((uint32_t)(data ? len + 1 + data_len : len), scratch);
		/* Room for the whole frame first: a frame half written would break the stream. */
		if (evbuffer_expand(out, head + data_len) < 0 ||
		    evbuffer_add(out, scratch, head) < 0 ||
		    (data && data_len && evbuffer_add(out, data, data_len) < 0))
			ret = -ENOMEM;
	} else {
		rdq_frame_write_header((uint32_t)len, header);
		if (evbuffer_expand(out, sizeof(header) + len) < 0 ||
		    evbuffer_add(out, header, sizeof(header)) < 0 ||
		    evbuffer_add(out, body, len) < 0)
			ret = -ENOMEM;
	}
	conn_check_throttle(c);
	return ret;
}

int control_reply(struct control_requests *requests, size_t len, const void *data, size_t data_len)
{
	struct conn *c = list_entry(requests, struct conn, requests);

	return conn_write_frame(c, SCRATCH_BODY, len, data, data_len);
}

int control_reply_lent(struct control_requests *requests, size_t len,
		       const struct control_loan *loan)
{
	struct conn *c = list_entry(requests, struct conn, requests);
	size_t head = RDQ_FRAME_HEADER + len + 1;
	uint8_t *frame = loan->data - head;

	RDQ_DISPATCH_ONLY();
	if (len == 0)
		return -EINVAL;
	if (len > RDQ_MAX_MESSAGE)
		return -EMSGSIZE;
	if (head > loan->room)
		return -ENOSPC;
	/* The JSON is small; the message, which is not, stays where it is. */
	memcpy(frame + RDQ_FRAME_HEADER, SCRATCH_BODY, len);
	frame[head - 1] = '\0';
	rdq_frame_write_header((uint32_t)(len + 1 + loan->len), frame);
	/* One reference for the whole frame: it goes in whole or not at all. */
	if (evbuffer_add_reference(bufferevent_get_output(c->bev), frame, head + loan->len,
				   loan->give_back, loan->arg) < 0)
		return -ENOMEM;
	conn_check_throttle(c);
	return 0;
}

void conn_reject(struct conn *c, int64_t id, int err, const char *message)
{
	size_t len = encode_reply_error(SCRATCH_BODY, RDQ_MAX_MESSAGE, RDQ_PROTOCOL_V1, id, err,
					message);

	c->d->counters.rejected++;
	if (conn_write_frame(c, SCRATCH_BODY, len, NULL, 0) == 0)
		c->d->counters.replied++;
	else
		c->d->counters.dropped++;
}

void control_refuse(int fd, int err, const char *message)
{
	size_t len = encode_reply_error(SCRATCH_BODY, RDQ_MAX_MESSAGE, RDQ_PROTOCOL_V1, RDQ_NO_ID,
					err, message);

	if (len > 0 && len <= RDQ_MAX_MESSAGE) {
		rdq_frame_write_header((uint32_t)len, scratch);
		if (send(fd, scratch, RDQ_FRAME_HEADER + len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* The client will see the connection close instead. */
		}
	}
	close(fd);
}
