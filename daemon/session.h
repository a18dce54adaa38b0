/* SPDX-License-Identifier: MIT */
/*
 * A client as rdq sees it: each frame it sends becomes a request handed to
 * its operation, and its close ends what it leaves behind (its pending
 * requests, the endpoints tied to it). The control socket calls these.
 */
#ifndef RDQD_SESSION_H
#define RDQD_SESSION_H

struct rdqd;

/*
 * Opens (or takes from systemd) the control socket with this module as its
 * clients' handler: the control socket calls back the module that started
 * it, and names none above it. Returns 0 or -errno.
 */
int session_start(struct rdqd *d);

#endif
