/* SPDX-License-Identifier: MIT */
/*
 * Framing of control messages: a 4-byte big-endian length, then that many
 * bytes: JSON, and in protocol version 2 optionally a NUL byte and an
 * attachment of any bytes. See docs/protocol.md.
 */
#ifndef RDQ_PROTOCOL_FRAME_H
#define RDQ_PROTOCOL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define RDQ_FRAME_HEADER 4u
#define RDQ_MAX_MESSAGE	 65536u /* the JSON of a frame */
/* The largest attachment: the largest message an endpoint may carry (rdqd's --max-message). */
#define RDQ_MAX_ATTACHMENT (1u << 20)
/* The largest frame body: JSON, the NUL, an attachment. rdqd may take less (--max-message). */
#define RDQ_MAX_FRAME (RDQ_MAX_MESSAGE + 1 + RDQ_MAX_ATTACHMENT)

/*
 * Reads the length from a frame header. Returns 0 and sets *len when the
 * frame may be accepted; -EBADMSG for an empty frame; -EMSGSIZE (and still
 * sets *len, so the caller can skip the body) when it is larger than
 * RDQ_MAX_FRAME.
 */
int rdq_frame_read_header(const uint8_t header[RDQ_FRAME_HEADER], uint32_t *len);

/* Writes the header for a body of len bytes. */
void rdq_frame_write_header(uint32_t len, uint8_t header[RDQ_FRAME_HEADER]);

#endif
