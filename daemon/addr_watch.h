/* SPDX-License-Identifier: MIT */
/*
 * The host's IP addresses as they come and go: rtnetlink's address groups
 * (RTM_NEWADDR, RTM_DELADDR) through libmnl, on a socket the loop reads
 * like any other, so no one polls. The addresses are kept in
 * d->local_addrs; each change is told to the subscriber.
 *
 * At start the addresses are read once with a dump (start-up may block).
 * If the kernel drops events (the socket's buffer overran), a worker dumps
 * them again and the loop takes the new list whole.
 */
#ifndef RDQD_ADDR_WATCH_H
#define RDQD_ADDR_WATCH_H

#include <stdbool.h>

struct event;
struct local_addr;
struct mnl_socket;
struct rdqd;

/* On the loop: addr is on an interface now (added), or on none any more. */
typedef void addr_changed_fn(struct rdqd *d, const struct local_addr *addr, bool added);
/* On the loop: the addresses were read again whole; any of them may have changed. */
typedef void addrs_reread_fn(struct rdqd *d);

/* The watch's own state (d->addr_watch); loop only. */
struct addr_watch {
	struct mnl_socket *sock; /* subscribed to the address groups, non-blocking */
	struct event *event;
	addr_changed_fn *changed; /* the subscriber */
	addrs_reread_fn *reread;
	bool reread_queued; /* a dump is out on a worker */
};

/*
 * At start (may block): subscribes, then reads the addresses there are.
 * Returns 0, or -errno (logged): rdqd then runs without following
 * addresses, and listeners that wait for theirs wait for ever.
 */
int addr_watch_start(struct rdqd *d, addr_changed_fn *changed, addrs_reread_fn *reread);
void addr_watch_stop(struct rdqd *d);

#endif
