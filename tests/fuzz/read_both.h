/* SPDX-License-Identifier: MIT */
/*
 * A request frame read both ways, for the tests: by request_read.c's
 * scanner (falling back to jansson when it declines) and by jansson alone.
 * Whatever the bytes, the two must give the same answer: the same status
 * and sentence, the same envelope, the same arguments.
 */
#ifndef RDQ_TESTS_READ_BOTH_H
#define RDQ_TESTS_READ_BOTH_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/request_read.h"

/* The most arguments an op may have here: one with more stops the fuzzer (see read_one). */
#define READ_BOTH_MAX_ARGS 16

/* What reading one frame for one op gave. */
struct read_outcome {
	int ret;   /* of the envelope, then of the arguments */
	bool fast; /* no tree was built */
	char err[RDQ_ERRMSG_MAX];
	int64_t id;
	int version;
	char op[64];
	size_t op_len;
	_Alignas(max_align_t) unsigned char args[RDQ_OP_ARGS_MAX];
	uint32_t text_hash[READ_BOTH_MAX_ARGS]; /* each string argument's bytes, by its place */
};

static inline uint32_t read_both_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* Reads body for op (NULL: the op the frame names, if the table has it). */
static inline void read_one(const char *body, size_t len, const struct rdq_op_spec *op, bool tree,
			    struct read_outcome *out)
{
	struct rdq_envelope e;

	memset(out, 0, sizeof(*out));
	out->ret = tree ? rdq_envelope_read_tree(body, len, &e, out->err)
			: rdq_envelope_read(body, len, &e, out->err);
	out->id = e.id;
	if (out->ret == 0) {
		out->version = e.version;
		out->op_len = e.op_len;
		memcpy(out->op, e.op, e.op_len < sizeof(out->op) ? e.op_len : sizeof(out->op));
		if (!op)
			op = rdq_op_find(e.op, e.op_len);
		if (op)
			out->ret = rdq_args_read(&e, op, out->args, out->err);
		out->fast = e.tree.root == NULL;
		/*
		 * Strings point into the frame or the tree: keep their bytes, not the
		 * pointers. Every argument must be looked at, or a pointer would be
		 * compared and the two ways would seem to disagree.
		 */
		if (op && op->nargs > READ_BOTH_MAX_ARGS)
			abort();
		for (unsigned i = 0; op && out->ret == 0 && i < op->nargs; i++) {
			struct rdq_text *t = (struct rdq_text *)(out->args + op->args[i].offset);

			if (op->args[i].type == RDQ_ARG_STRING && t->s) {
				out->text_hash[i] = read_both_hash(t->s, t->len) | 1;
				t->s = NULL;
			}
		}
	}
	if (out->ret == 0)
		out->err[0] = '\0';
	else
		memset(out->args, 0, sizeof(out->args)); /* what a failed read left is nobody's */
	rdq_envelope_clear(&e);
}

/* Whether the two ways agree on body for op. */
static inline bool read_both_agree(const char *body, size_t len, const struct rdq_op_spec *op,
				   bool *fast)
{
	static struct read_outcome a, b;

	read_one(body, len, op, false, &a);
	read_one(body, len, op, true, &b);
	*fast = a.fast;
	a.fast = b.fast = false;
	return memcmp(&a, &b, sizeof(a)) == 0;
}

#endif
