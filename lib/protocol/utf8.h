/* SPDX-License-Identifier: MIT */
/*
 * Making text safe to put in a JSON string. jansson refuses a string that is
 * not valid UTF-8, and a message cut to fit a buffer (printf's "%.60s", a
 * full snprintf) can end in the middle of a character; text quoted from a
 * client may hold any bytes at all.
 */
#ifndef RDQ_PROTOCOL_UTF8_H
#define RDQ_PROTOCOL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* U+FFFD REPLACEMENT CHARACTER, in UTF-8: what stands for bytes that are not text. */
#define RDQ_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/*
 * Copies the len bytes at src into dst (size bytes) as valid UTF-8 and
 * NUL-terminates it (size 0: writes nothing). Each ill-formed sequence, and
 * each NUL byte, becomes one U+FFFD. A character that src's end cuts short is
 * left out: that is what a cut leaves behind, not a wrong byte. When the
 * result does not fit, it ends after the last whole character that does.
 * Returns the length written, without the NUL.
 */
size_t rdq_utf8_copy(char *dst, size_t size, const char *src, size_t len);

/* Whether len bytes are well-formed UTF-8 (NUL bytes count as characters, as in JSON). */
bool rdq_utf8_valid(const char *s, size_t len);

#endif
