/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: rdqd reads its configuration file again and applies what may
 * change on a running daemon (settings.c's live options); the rest waits
 * for a restart, and the log says so. The declared listeners' folder is
 * read again with it, and the set brought to it (declared.c).
 */
#ifndef RDQD_RELOAD_H
#define RDQD_RELOAD_H

struct rdqd;

/*
 * Starts a reload: the file is read on a worker (the loop never blocks,
 * and a file read may), and its values are applied when the item is back
 * on the loop. A SIGHUP during a reload makes one more after it. Loop only.
 */
void reload_start(struct rdqd *d);

#endif
