/* SPDX-License-Identifier: MIT */
/*
 * rdq_frame_read_header() on any 4 bytes: the length is the big-endian
 * number they spell, accepted exactly when it is 1..RDQ_MAX_FRAME, and
 * writing it back gives the same bytes.
 */
#include <errno.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[RDQ_FRAME_HEADER];
	uint32_t len = 0, expect;
	int ret;

	if (size < RDQ_FRAME_HEADER)
		return 0;
	expect = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 |
		 (uint32_t)data[3];
	ret = rdq_frame_read_header(data, &len);

	/* The length is set in every case: the reader skips an oversized body by it. */
	FUZZ_CHECK(len == expect);
	if (expect == 0)
		FUZZ_CHECK(ret == -EBADMSG);
	else if (expect > RDQ_MAX_FRAME)
		FUZZ_CHECK(ret == -EMSGSIZE);
	else
		FUZZ_CHECK(ret == 0);

	rdq_frame_write_header(len, again);
	FUZZ_CHECK(memcmp(again, data, RDQ_FRAME_HEADER) == 0);
	return 0;
}
