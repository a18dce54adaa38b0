/* SPDX-License-Identifier: MIT */
#include "frame.h"

#include <errno.h>

int rdq_frame_read_header(const uint8_t header[RDQ_FRAME_HEADER], uint32_t *len)
{
	uint32_t n = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
		     (uint32_t)header[2] << 8 | (uint32_t)header[3];

	*len = n;
	if (n == 0)
		return -EBADMSG;
	if (n > RDQ_MAX_FRAME)
		return -EMSGSIZE;
	return 0;
}

void rdq_frame_write_header(uint32_t len, uint8_t header[RDQ_FRAME_HEADER])
{
	header[0] = (uint8_t)(len >> 24);
	header[1] = (uint8_t)(len >> 16);
	header[2] = (uint8_t)(len >> 8);
	header[3] = (uint8_t)len;
}
