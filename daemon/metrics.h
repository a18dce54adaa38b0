/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint (--metrics ADDR:PORT): GET /metrics over HTTP answers
 * the stats counters as Prometheus text, for a scraper on this host. It has
 * no authentication, so it is off unless asked for. Served by libevent's
 * HTTP server on the loop; an answer costs what a stats request does.
 */
#ifndef RDQD_METRICS_H
#define RDQD_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

struct rdqd;

/*
 * Parses the metrics option's value: a numeric IPv4 address or a bracketed
 * IPv6 one, a colon and a port from 1 to 65535 ("127.0.0.1:9464",
 * "[::1]:9464"). No names: resolving one could block. Fills *addr and *len,
 * or says why not in err and returns -EINVAL.
 */
int metrics_parse_address(const char *arg, struct sockaddr_storage *addr, socklen_t *len, char *err,
			  size_t err_size);

/* The same check alone, for the option table. */
int metrics_check_address(const char *arg, char *err, size_t err_size);

/*
 * Listens on the address the options give and serves it on d's loop, if
 * --metrics was given. Before the loop runs. Returns 0, or a negative errno
 * after logging why (the address is in use, say).
 */
int metrics_start(struct rdqd *d);

/* Closes the endpoint and its connections; nothing if it was never started. */
void metrics_stop(struct rdqd *d);

#endif
