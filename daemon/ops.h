/* SPDX-License-Identifier: MIT */
/*
 * The protocol's operations: each request's handler (docs/protocol.md). The
 * ops and their arguments are the protocol's table (lib/protocol/ops_table.h).
 */
#ifndef RDQD_OPS_H
#define RDQD_OPS_H

#include <stddef.h>
#include <stdint.h>

struct rdq_envelope;
struct rdqd;
struct request;

/*
 * What a request brought beside its arguments, borrowed from its frame:
 * valid only while its handler runs, so a handler copies what it keeps.
 */
struct op_input {
	const uint8_t *data; /* the frame's attachment (protocol version 2), or NULL */
	size_t data_len;
};

/*
 * Reads req's arguments from its frame's envelope e into its op's struct,
 * and runs its handler on the loop; a wrong argument completes req with
 * EINVAL, naming it. Takes ownership of req.
 */
void ops_run(struct rdqd *d, struct request *req, struct rdq_envelope *e);

#endif
