/* SPDX-License-Identifier: MIT */
/*
 * Reading a request frame: its envelope (v, id, op, attachment), then its
 * arguments, typed by the op's table (ops_table.h), straight into the op's C
 * struct. No tree is built for the frames clients send: flat objects of
 * ASCII strings without escapes, integers, true, false and null. Anything
 * else (an escape, a non-ASCII byte, a real, nesting, a duplicate key, a
 * mistake of any kind) is read again by jansson and judged by
 * rdq_request_decode() and the rdq_arg_*() readers of message.h, so an
 * unusual frame gets exactly the answer it always got; the request fuzzer
 * checks that both ways agree on every input.
 */
#ifndef RDQ_PROTOCOL_REQUEST_READ_H
#define RDQ_PROTOCOL_REQUEST_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "ops_table.h"

struct rdq_envelope {
	int64_t id;	     /* the client's id, or RDQ_NO_ID */
	int version;	     /* 1 or 2 */
	const char *op;	     /* borrowed; not NUL-terminated */
	size_t op_len;	     /* bytes of op */
	const uint8_t *data; /* the attachment, borrowed from the body; NULL if none */
	size_t data_len;
	/* The reader's own. */
	const char *body; /* the frame's body: the JSON text, then any attachment */
	size_t body_len;  /* all of it */
	size_t json_len;  /* the JSON text's part */
	const char *args; /* the args object's text, when read without a tree; NULL: none */
	size_t args_len;  /* its length */
	struct rdq_request_msg tree; /* the frame as jansson read it, when it had to */
};

/*
 * Reads the envelope of one request body (len bytes: the JSON, then in
 * version 2 a NUL and the attachment). Returns 0, or the negative errno of
 * rdq_request_decode() with its sentence in err and e->id set if it could be
 * read. Either way, rdq_envelope_clear() it afterwards. The body must stay
 * as it is until then.
 */
int rdq_envelope_read(const char *body, size_t len, struct rdq_envelope *e,
		      char err[RDQ_ERRMSG_MAX]);

/*
 * Reads e's arguments for op into out (op->size bytes): each one given, or
 * its default. An argument the table does not name is ignored. Returns 0, or
 * -EINVAL with a sentence naming the first wrong argument in the table's
 * order (missing, mistyped or out of range), or -ENOMEM.
 */
int rdq_args_read(struct rdq_envelope *e, const struct rdq_op_spec *op, void *out,
		  char err[RDQ_ERRMSG_MAX]);

/* Releases what reading e took; safe on a zeroed or failed envelope. */
void rdq_envelope_clear(struct rdq_envelope *e);

/*
 * As rdq_envelope_read(), always through jansson's tree: what the reader
 * falls back to. For the tests, which compare the two ways.
 */
int rdq_envelope_read_tree(const char *body, size_t len, struct rdq_envelope *e,
			   char err[RDQ_ERRMSG_MAX]);

#endif
