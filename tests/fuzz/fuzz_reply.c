/* SPDX-License-Identifier: MIT */
/*
 * The reply builders and packing. The input is an id, an errno value and
 * message bytes: rdq_reply_error() must give a reply with its error object
 * for any of them, and it must pack; rdq_reply_ok() with a result of any
 * size packs within RDQ_MAX_MESSAGE, or packing returns NULL. The UTF-8
 * helper the error path uses gives text that fits, whatever it is given.
 */
#include <errno.h>

#include "fuzz.h"
#include "protocol/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: flags (1 byte), id (8), errno value (4), then the message bytes. */
#define HEAD 13

static int64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)(v & INT64_MAX); /* ids are never negative */
}

static int get_int(const uint8_t *p)
{
	return (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* A result of data as text, repeated: flags choose how often, to reach past the frame limit. */
static json_t *big_result(const char *text, unsigned flags)
{
	unsigned reps = flags >> 2;
	json_t *list = json_array();

	for (unsigned i = 0; i <= reps; i++)
		json_array_append_new(list, json_string(text));
	return json_pack("{s:o}", "data", list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *message, *text;
	size_t len, n;
	unsigned flags;
	json_t *reply;
	int64_t id;
	int err;

	if (size < HEAD)
		return 0;
	flags = data[0];
	id = flags & 1 ? RDQ_NO_ID : get_u64(data + 1);
	err = get_int(data + 9);
	len = size - HEAD;

	/* The message as a C string: its first NUL, if any, ends it. */
	message = malloc(len + 1);
	text = malloc(len + 1);
	if (!message || !text) {
		free(message);
		free(text);
		return 0;
	}
	memcpy(message, data + HEAD, len);
	message[len] = '\0';

	reply = rdq_reply_error(id, err, flags & 2 ? NULL : message);
	fuzz_check_error_reply(reply, id, err);
	json_decref(reply);

	/* The helper: text, cut to fit, for any bytes and any room. */
	n = rdq_utf8_copy(text, len + 1 - (len ? data[HEAD] % (len + 1) : 0), message, len);
	FUZZ_CHECK(n <= len * 3);
	FUZZ_CHECK(strlen(text) == n);
	FUZZ_CHECK(fuzz_is_text(text));

	reply = rdq_reply_ok(id == RDQ_NO_ID ? 0 : id, big_result(text, flags));
	FUZZ_CHECK(reply != NULL);
	fuzz_check_packs(reply);
	json_decref(reply);

	free(message);
	free(text);
	return 0;
}
