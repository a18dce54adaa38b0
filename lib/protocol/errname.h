/* SPDX-License-Identifier: MIT */
/* Symbolic errno names, as carried in error replies ("ENOENT"). */
#ifndef RDQ_PROTOCOL_ERRNAME_H
#define RDQ_PROTOCOL_ERRNAME_H

/* Returns the symbolic name of a positive errno value, or "E?" if unknown. */
const char *rdq_errno_name(int err);

/* Returns the positive errno value for a name, or 0 if unknown. */
int rdq_errno_from_name(const char *name);

#endif
