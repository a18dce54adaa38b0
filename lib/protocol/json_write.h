/* SPDX-License-Identifier: MIT */
/*
 * Compact JSON text of a jansson value, written straight into a buffer: the
 * same bytes as json_dumpb(value, ..., JSON_COMPACT), without the work
 * jansson's serialiser does per container to detect cycles (a formatted
 * pointer and a hash table entry each). rdqd never builds a cyclic value.
 */
#ifndef RDQ_PROTOCOL_JSON_WRITE_H
#define RDQ_PROTOCOL_JSON_WRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes value's compact JSON into buf (size bytes; it may be too small, or
 * buf NULL with size 0). Returns the length the whole text needs, of which
 * buf holds what fit; 0 for a value JSON cannot carry (a real that is not
 * finite).
 */
size_t rdq_json_write(const json_t *value, char *buf, size_t size);

/*
 * Writes the JSON of a success reply in version `version`, the same bytes
 * json_dumpb() gives for rdq_reply_ok(id, result) with "v" set and, when
 * attached, "attachment" added, without building the envelope: the loop's
 * replies are written this way. result may be NULL (an empty object).
 * Returns the length needed, which may exceed size (then buf holds only what
 * fit), or 0 when result cannot be serialised.
 */
size_t rdq_reply_ok_dump(int version, int64_t id, const json_t *result, bool attached,
			 size_t attachment, char *buf, size_t size);

#endif
