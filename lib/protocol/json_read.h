/* SPDX-License-Identifier: MIT */
/*
 * A fast reader for the JSON that requests are made of. It reads the common
 * shapes (objects, arrays, ASCII strings with the usual escapes, integers,
 * true, false, null) into jansson values, and declines anything else:
 * non-ASCII bytes, reals, surrogate escapes, a NUL, deep nesting, a
 * duplicate key, any syntax error. A caller then reads the text with
 * jansson, which decides (and says what is wrong). So whenever this reader
 * gives a value, it is the value jansson gives for the same text; the
 * request fuzzer checks exactly that.
 */
#ifndef RDQ_PROTOCOL_JSON_READ_H
#define RDQ_PROTOCOL_JSON_READ_H

#include <jansson.h>
#include <stddef.h>

/*
 * Reads len bytes of text holding one object or array (and whitespace).
 * Returns a new reference, or NULL when it declines: read the text with
 * json_loadb(..., JSON_REJECT_DUPLICATES, ...) instead.
 */
json_t *rdq_json_read(const char *text, size_t len);

#endif
