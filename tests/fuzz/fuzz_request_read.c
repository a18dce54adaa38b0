/* SPDX-License-Identifier: MIT */
/*
 * A request frame of any bytes, read as rdqd reads it (request_read.c: the
 * scanner, falling back to jansson) and by jansson alone, for the op it
 * names and for every op of the table: the two must agree on the status,
 * the sentence, the envelope and every argument.
 */
#include "fuzz.h"
#include "read_both.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	bool fast;

	if (size == 0)
		return 0;
	FUZZ_CHECK(read_both_agree(body, size, NULL, &fast));
	for (int o = 0; o < RDQ_OP_COUNT; o++)
		FUZZ_CHECK(read_both_agree(body, size, &rdq_ops[o], &fast));
	return 0;
}
