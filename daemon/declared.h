/* SPDX-License-Identifier: MIT */
/*
 * The declared listeners: the services an administrator writes once, one
 * file each in the listen directory (listen.d; listen_file.c reads them),
 * kept up by rdqd from its start. Each is a listener that waits for its
 * address (ep_wait.c), rdqd's own: no client made it, no user's quota pays
 * for it, and no client's close takes it.
 *
 * SIGHUP reads the folder again (on a worker, with rdqd.conf: reload.c) and
 * the set is brought to what it says: a new file's listener is made, a
 * removed file's destroyed with its peers' connections, a changed one made
 * again; an unchanged one, and its connections, are left alone. A file
 * whose address rules (allow, deny) alone changed keeps its listener and
 * connections: the listener's rules are swapped on the loop, and peers
 * that come later meet the new ones. A bad file is logged, naming the file
 * and the line, and its listener (if it had one) stays as it was.
 */
#ifndef RDQD_DECLARED_H
#define RDQD_DECLARED_H

#include <stdbool.h>

#include "listen_file.h"

struct rdqd;

/* One declared listener: its declaration (compared at the next reload) and its endpoint (0: none).
 */
struct declared {
	struct listen_decl decl;
	unsigned long long ep;
};

/* The set, sorted by name (strcmp), so that a reload finds each name in O(log n); the loop's. */
struct declared_set {
	struct declared *v;
	unsigned n;
};

/*
 * Start-up (before the loop): reads the folder. A bad file stops rdqd, as
 * a bad line of rdqd.conf does: returns -EINVAL after printing each bad
 * file's error on stderr. 0: read into *out (the caller frees it).
 */
int declared_read_at_start(const char *dir, struct listen_dir *out);

/*
 * Start-up: follows the host's addresses and devices for the listeners
 * that wait, and makes the declared ones of dir (what declared_read_at_start read).
 */
void declared_start(struct rdqd *d, struct listen_dir *dir);

/*
 * Loop: brings the set to what dir (read again on a worker) says, as above;
 * dir_err: why the folder could not be read at all ("": it could), and
 * then nothing changes.
 */
void declared_apply(struct rdqd *d, const char *dir_path, const struct listen_dir *dir,
		    const char *dir_err);

/* At exit: frees the set (the endpoints went with the others). */
void declared_stop(struct rdqd *d);

#endif
