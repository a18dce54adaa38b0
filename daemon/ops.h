/* SPDX-License-Identifier: MIT */
/* The protocol's operations: each request's handler, by its op name (docs/protocol.md). */
#ifndef RDQD_OPS_H
#define RDQD_OPS_H

struct op;
struct rdqd;
struct request;

/* Returns the op for a name, or NULL. */
const struct op *ops_find(const char *name);

/* Runs req's handler on the loop; it takes ownership of req. */
void ops_dispatch(struct rdqd *d, struct request *req);

#endif
