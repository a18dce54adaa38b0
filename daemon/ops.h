/* SPDX-License-Identifier: MIT */
/* The protocol's operations: each request's handler, by its op name (docs/protocol.md). */
#ifndef RDQD_OPS_H
#define RDQD_OPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct op;
struct rdqd;
struct request;

/*
 * What a request brought, borrowed from its frame: valid only while its
 * handler runs, so a handler copies what it keeps.
 */
struct op_input {
	json_t *args;	     /* an object; empty when the request had none */
	const uint8_t *data; /* the frame's attachment (protocol version 2), or NULL */
	size_t data_len;
};

/* Returns the op for a name, or NULL. */
const struct op *ops_find(const char *name);

/* Runs req's handler on the loop; it takes ownership of req. */
void ops_dispatch(struct rdqd *d, struct request *req, const struct op_input *in);

#endif
