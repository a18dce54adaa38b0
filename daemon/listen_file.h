/* SPDX-License-Identifier: MIT */
/*
 * The declared listeners' files: one file per listener, NAME.conf in the
 * listen directory (/etc/rdq/listen.d), in rdqd.conf's syntax (conf_file.c).
 * One file each, so that a package or a configuration manager adds and
 * removes a listener by dropping or removing a file, and a bad file is
 * named alone: the others keep working.
 *
 *   address = 10.0.0.1:7472      # required; IPv6 as [fe80::1]:7472
 *   mode = echo                  # the only mode a declared listener has
 *   max-connections = 1024       # peers at once, as ep.listen's
 *   deny = any                   # peers' address rules (protocol/addr_prefix.h):
 *   allow = 10.1.0.0/16, fd00::/8  # each key may come again, adding prefixes
 *
 * Reading blocks (a folder and files): start-up or a worker only.
 */
#ifndef RDQD_LISTEN_FILE_H
#define RDQD_LISTEN_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "protocol/addr_prefix.h"

#define LISTEN_NAME_MAX 64

/* One declared listener, as its file says. */
struct listen_decl {
	char name[LISTEN_NAME_MAX];   /* the file's name without .conf */
	struct sockaddr_storage addr; /* numeric, with its port */
	unsigned mode;		      /* enum rdq_listen_mode: echo */
	unsigned max_connections;
	struct rdq_peer_rules rules; /* allow and deny; none: every peer */
};

/* One file of the folder: its declaration, or why it has none. */
struct listen_entry {
	struct listen_decl decl;
	int status;    /* 0, or -errno: the file is bad */
	char err[320]; /* then "FILE:LINE: why" */
};

/* The folder's files, sorted by name. */
struct listen_dir {
	struct listen_entry *v;
	unsigned n;
};

/*
 * Reads one file; name is the listener's. Returns 0, or -errno with
 * "PATH:LINE: why" (or "PATH: why") in err.
 */
int listen_file_read(const char *path, const char *name, struct listen_decl *out, char *err,
		     size_t err_size);

/*
 * Reads each NAME.conf of dir (other names, and hidden files, are left
 * alone: a package manager's .dpkg-old, an editor's backup). A folder that
 * does not exist has none. Each file's result is in out, good or bad.
 * Returns 0, or -errno with why in err when the folder cannot be read.
 */
int listen_dir_read(const char *dir, struct listen_dir *out, char *err, size_t err_size);

void listen_dir_free(struct listen_dir *l);

/*
 * Whether two declarations make the same listener, their address rules
 * aside: new rules are given to the listener that is there (peers that come
 * later meet them), never a reason to make it again.
 */
bool listen_decl_equal(const struct listen_decl *a, const struct listen_decl *b);

#endif
