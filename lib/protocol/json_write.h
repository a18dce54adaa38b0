/* SPDX-License-Identifier: MIT */
/*
 * Compact JSON text written straight into a buffer: the same bytes as
 * jansson's json_dumpb(..., JSON_COMPACT) for the same values, without a
 * tree to build or walk. rdqd's encoder writes every reply and event with it.
 */
#ifndef RDQ_PROTOCOL_JSON_WRITE_H
#define RDQ_PROTOCOL_JSON_WRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A writer of compact JSON text straight into a buffer, value by value, with
 * no tree: what rdqd's encoder writes its replies and events with. Commas
 * and nesting are its business; the caller names members and gives plain C
 * values. Text that does not fit is cut, but the length it needs is still
 * counted, so a caller learns a message is too big from the length alone.
 */
#define RDQ_JSON_DEPTH 16 /* the deepest nesting a writer takes */

struct rdq_json_out {
	char *buf;
	size_t size, len; /* len: what the whole text needs, of which buf holds size */
	bool bad;	  /* nesting too deep or unbalanced: the text is not to be used */
	bool after_key;	  /* a member's name was written; its value comes next */
	unsigned depth;
	uint32_t has_member; /* bit d: the container at depth d holds a value already */
};

/* Starts writing into buf (size bytes; buf may be NULL with size 0, to measure). */
void rdq_json_out_init(struct rdq_json_out *o, char *buf, size_t size);
/* The length of the text (which buf holds if it is not more than size), or 0 if bad. */
size_t rdq_json_out_end(const struct rdq_json_out *o);

void rdq_json_begin_object(struct rdq_json_out *o);
void rdq_json_end_object(struct rdq_json_out *o);
void rdq_json_begin_array(struct rdq_json_out *o);
void rdq_json_end_array(struct rdq_json_out *o);
/* A member's name: plain ASCII that needs no escape (every name rdq writes). */
void rdq_json_key(struct rdq_json_out *o, const char *name);
void rdq_json_int(struct rdq_json_out *o, int64_t v);
void rdq_json_bool(struct rdq_json_out *o, bool v);
void rdq_json_null(struct rdq_json_out *o);
/* len bytes of valid UTF-8, quoted and escaped as jansson does. */
void rdq_json_string(struct rdq_json_out *o, const char *s, size_t len);
/* len bytes as a string of two lowercase hex digits a byte. */
void rdq_json_hex(struct rdq_json_out *o, const void *data, size_t len);
/* A NUL-terminated string; NULL writes null. */
void rdq_json_cstring(struct rdq_json_out *o, const char *s);

/*
 * Writes a jansson value's compact JSON with the same primitives, into buf
 * (size bytes; it may be too small, or buf NULL with size 0). Returns the
 * length the whole text needs, of which buf holds what fit; 0 for a value
 * JSON cannot carry (a real that is not finite). The tests compare it with
 * jansson's own serialiser: the writer's bytes are jansson's bytes.
 */
size_t rdq_json_write(const json_t *value, char *buf, size_t size);

#endif
