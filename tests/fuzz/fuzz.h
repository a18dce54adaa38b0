/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: a check that aborts, so that libFuzzer saves
 * the input that broke a property, and the properties of every reply.
 */
#ifndef RDQ_FUZZ_H
#define RDQ_FUZZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/errname.h"
#include "protocol/frame.h"
#include "protocol/message.h"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(#cond, __FILE__, __LINE__);                                      \
	} while (0)

static inline void fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "property does not hold: %s (%s:%d)\n", what, file, line);
	abort();
}

/* Whether jansson takes s as a string: valid UTF-8, which is what a reply's text must be. */
static inline bool fuzz_is_text(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/*
 * msg packs into a frame of at most RDQ_MAX_MESSAGE bytes of body that reads
 * back as msg; or it is too large, and packing says so with NULL. Returns
 * whether it packed.
 */
static inline bool fuzz_check_packs(const json_t *msg)
{
	size_t body = json_dumpb(msg, NULL, 0, JSON_COMPACT), len = 0;
	uint8_t *buf = rdq_message_pack(msg, &len);
	json_t *back;
	uint32_t n;

	if (!buf) {
		FUZZ_CHECK(body > RDQ_MAX_MESSAGE);
		return false;
	}
	FUZZ_CHECK(body <= RDQ_MAX_MESSAGE);
	FUZZ_CHECK(len == RDQ_FRAME_HEADER + body);
	FUZZ_CHECK(rdq_frame_read_header(buf, &n) == 0);
	FUZZ_CHECK(n == body);
	back = json_loadb((const char *)buf + RDQ_FRAME_HEADER, n, JSON_ALLOW_NUL, NULL);
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(json_equal(back, msg));
	json_decref(back);
	free(buf);
	return true;
}

/*
 * An error reply to id for err: ok false, and an error object with the errno
 * name, the code and a message that is text and says something. It always
 * packs: a reply that cannot be sent answers nothing.
 */
static inline void fuzz_check_error_reply(const json_t *reply, int64_t id, int err)
{
	json_t *error = json_object_get(reply, "error");
	json_t *name = json_object_get(error, "errno");
	json_t *code = json_object_get(error, "code");
	json_t *message = json_object_get(error, "message");

	FUZZ_CHECK(reply != NULL);
	FUZZ_CHECK(json_integer_value(json_object_get(reply, "v")) == RDQ_PROTOCOL_V1);
	FUZZ_CHECK(json_is_false(json_object_get(reply, "ok")));
	if (id == RDQ_NO_ID)
		FUZZ_CHECK(json_is_null(json_object_get(reply, "id")));
	else
		FUZZ_CHECK(json_integer_value(json_object_get(reply, "id")) == id);
	FUZZ_CHECK(json_is_object(error));
	FUZZ_CHECK(json_is_string(name));
	FUZZ_CHECK(strcmp(json_string_value(name), rdq_errno_name(err)) == 0);
	FUZZ_CHECK(json_is_integer(code) && json_integer_value(code) == err);
	FUZZ_CHECK(json_is_string(message));
	FUZZ_CHECK(json_string_length(message) > 0);
	FUZZ_CHECK(json_string_length(message) < RDQ_REPLY_MESSAGE_MAX);
	FUZZ_CHECK(fuzz_check_packs(reply));
}

/* A sentence a reader wrote into err: terminated inside the buffer, not empty, text. */
static inline void fuzz_check_errmsg(const char err[RDQ_ERRMSG_MAX])
{
	FUZZ_CHECK(memchr(err, '\0', RDQ_ERRMSG_MAX) != NULL);
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(fuzz_is_text(err));
}

#endif
