/* SPDX-License-Identifier: MIT */
/*
 * Shutdown and rundown: stop accepting, destroy every endpoint on workers,
 * and leave the loop only when no work item is out and every client has
 * read its replies (or a grace period ran out).
 */
#ifndef RDQD_SHUTDOWN_H
#define RDQD_SHUTDOWN_H

struct rdqd;

/* Begins shutdown (SIGTERM, SIGINT); once. */
void rdqd_shutdown(struct rdqd *d);

/* During shutdown: exits the loop once nothing is left to finish. Call when that may change. */
void rdqd_check_exit(struct rdqd *d);

#endif
