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
#include <stddef.h>

/*
 * Writes value's compact JSON into buf (size bytes; it may be too small, or
 * buf NULL with size 0). Returns the length the whole text needs, of which
 * buf holds what fit; 0 for a value JSON cannot carry (a real that is not
 * finite).
 */
size_t rdq_json_write(const json_t *value, char *buf, size_t size);

#endif
