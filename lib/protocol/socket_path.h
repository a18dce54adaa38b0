/* SPDX-License-Identifier: MIT */
/* Checks on the folder of the default socket path, shared by rdqd and librdq. */
#ifndef RDQ_PROTOCOL_SOCKET_PATH_H
#define RDQ_PROTOCOL_SOCKET_PATH_H

#include <stddef.h>

/*
 * Whether the folder holding socket_path may be trusted as the caller's own:
 * a directory (not a link), owned by the effective uid, writable by no one
 * else. A folder that does not exist passes (the daemon makes it). Returns 0,
 * or -EPERM with a sentence in why saying what is wrong.
 */
int rdq_socket_dir_check(const char *socket_path, char *why, size_t size);

#endif
