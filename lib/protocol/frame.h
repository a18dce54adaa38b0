/* SPDX-License-Identifier: MIT */
/*
 * Framing of control messages: a 4-byte big-endian length, then that many
 * bytes of JSON. See docs/protocol.md.
 */
#ifndef RDQ_PROTOCOL_FRAME_H
#define RDQ_PROTOCOL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define RDQ_FRAME_HEADER 4u
#define RDQ_MAX_MESSAGE	 65536u

/*
 * Reads the length from a frame header. Returns 0 and sets *len when the
 * frame may be accepted; -EBADMSG for an empty frame; -EMSGSIZE (and still
 * sets *len, so the caller can skip the body) when it is larger than
 * RDQ_MAX_MESSAGE.
 */
int rdq_frame_read_header(const uint8_t header[RDQ_FRAME_HEADER], uint32_t *len);

/* Writes the header for a body of len bytes. */
void rdq_frame_write_header(uint32_t len, uint8_t header[RDQ_FRAME_HEADER]);

#endif
