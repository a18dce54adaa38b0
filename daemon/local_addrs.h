/* SPDX-License-Identifier: MIT */
/*
 * The IP addresses on this host's interfaces now, as rtnetlink reports them
 * (addr_watch.c): what a listener that waits for its address asks before it
 * tries to bind. A sorted array: a lookup costs a binary search, whatever
 * the number of listeners. Loop only.
 *
 * And the numeric addresses those listeners are written with, read from text.
 */
#ifndef RDQD_LOCAL_ADDRS_H
#define RDQD_LOCAL_ADDRS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* One address: its family (AF_INET, AF_INET6) and its bytes, the rest zero. */
struct local_addr {
	unsigned char family;
	unsigned char bytes[16];
};

struct local_addrs {
	struct local_addr *v;
	unsigned n, cap;
};

/* The address of a socket address (its port left out). false: no IPv4 or IPv6 one. */
bool local_addr_of(const struct sockaddr_storage *ss, struct local_addr *out);

/* Whether a is on an interface now. The wildcard addresses (0.0.0.0, ::) always are. */
bool local_addrs_has(const struct local_addrs *s, const struct local_addr *a);

/* Adds a: 1 if it is new, 0 if it was there, -ENOMEM. */
int local_addrs_add(struct local_addrs *s, const struct local_addr *a);
/* Takes a out: whether it was there. */
bool local_addrs_remove(struct local_addrs *s, const struct local_addr *a);
void local_addrs_clear(struct local_addrs *s);

/*
 * Reads "ADDR:PORT", "[IPV6]:PORT", or a bare address (then default_port)
 * into *out: numeric addresses only, since they are compared with what the
 * kernel reports. Returns 0, or -EINVAL with why in err.
 */
int local_addr_parse(const char *text, int default_port, struct sockaddr_storage *out, char *err,
		     size_t err_size);

/* A host's numeric address and a port into *out: 0, or -EINVAL when host is not numeric. */
int local_addr_from(const char *host, int port, struct sockaddr_storage *out);

#endif
