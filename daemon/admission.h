/* SPDX-License-Identifier: MIT */
/*
 * Who may open a client connection: fair shares of --max-clients. No user
 * but root may hold more than --max-clients-per-user connections, and the
 * last few connections are root's alone, so that one user can neither take
 * every connection nor lock out an administrator. Loop only.
 */
#ifndef RDQD_ADMISSION_H
#define RDQD_ADMISSION_H

#include <stddef.h>
#include <sys/types.h>

struct rdqd;

/* Connections of all kinds kept for root: ROOT_RESERVE_DIV-th of --max-clients, at least one. */
#define ROOT_RESERVE_DIV 16

/*
 * Whether uid may open one more connection. Returns 0, or a negative errno
 * (-EMFILE: rdqd is full; -EDQUOT: this user holds its share) with a
 * sentence in why.
 */
int admission_check(struct rdqd *d, uid_t uid, char *why, size_t size);

/* A connection of uid opened, or closed. */
void admission_add(struct rdqd *d, uid_t uid);
void admission_remove(struct rdqd *d, uid_t uid);

/* Connections uid holds now. */
unsigned admission_count(struct rdqd *d, uid_t uid);

void admission_fini(struct rdqd *d);

#endif
