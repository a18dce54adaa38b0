/* SPDX-License-Identifier: MIT */
/*
 * What comes in on a connection: its input cut into frames. A frame longer
 * than this rdqd takes, or an empty one, is answered and its bytes skipped,
 * so that the stream stays in step and the client learns why; what a frame
 * says is session.c's business.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>

#include "control_internal.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "rdqd.h"

int conn_next_frame(struct conn *c, const char **body, uint32_t *len)
{
	struct rdqd *d = c->d;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		size_t avail = evbuffer_get_length(in);
		uint8_t header[RDQ_FRAME_HEADER];
		uint32_t n;
		int ret;

		if (c->skip) {
			size_t skip = avail < c->skip ? avail : c->skip;

			evbuffer_drain(in, skip);
			c->skip -= (uint32_t)skip;
			if (c->skip)
				return -EAGAIN;
			continue;
		}
		if (avail < RDQ_FRAME_HEADER)
			return -EAGAIN;
		evbuffer_copyout(in, header, sizeof(header));
		ret = rdq_frame_read_header(header, &n);
		/* This rdqd's frames hold at most an attachment of --max-message bytes. */
		if (ret == 0 && n > RDQ_MAX_MESSAGE + 1 + d->opt.max_message)
			ret = -EMSGSIZE;
		if (ret == -EMSGSIZE) {
			char msg[RDQ_ERRMSG_MAX];

			snprintf(msg, sizeof(msg),
				 "a frame of %u bytes exceeds the limit of %u (64 KiB of JSON, and "
				 "an attachment of at most --max-message, %u bytes)",
				 n, RDQ_MAX_MESSAGE + 1 + d->opt.max_message, d->opt.max_message);
			evbuffer_drain(in, RDQ_FRAME_HEADER);
			c->skip = n;
			conn_reject(c, RDQ_NO_ID, EMSGSIZE, msg);
			return -EMSGSIZE;
		}
		if (ret < 0) {
			evbuffer_drain(in, RDQ_FRAME_HEADER);
			conn_reject(c, RDQ_NO_ID, EBADMSG, "an empty frame");
			return -EBADMSG;
		}
		if (avail < RDQ_FRAME_HEADER + n)
			return -EAGAIN;
		evbuffer_drain(in, RDQ_FRAME_HEADER);
		*body = (const char *)evbuffer_pullup(in, n);
		*len = n;
		return 0;
	}
}
