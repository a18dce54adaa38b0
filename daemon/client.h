/* SPDX-License-Identifier: MIT */
/*
 * A client as rdq sees it: each frame it sends becomes a request handed to
 * its operation, and its close ends what it leaves behind (its pending
 * requests, the endpoints tied to it). The control socket calls these.
 */
#ifndef RDQD_CLIENT_H
#define RDQD_CLIENT_H

extern const struct control_handlers client_handlers;

#endif
