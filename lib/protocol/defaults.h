/* SPDX-License-Identifier: MIT */
/*
 * The defaults of the protocol's arguments (docs/protocol.md): rdqd applies
 * them when a request leaves an argument out, and rdqctl states them in its
 * help. One place, so that the two cannot disagree.
 */
#ifndef RDQ_PROTOCOL_DEFAULTS_H
#define RDQ_PROTOCOL_DEFAULTS_H

#define RDQ_DEFAULT_PORT	    7472 /* ep.listen, ep.connect: port */
#define RDQ_DEFAULT_BACKLOG	    64	 /* ep.listen: backlog */
#define RDQ_MAX_BACKLOG		    4096
#define RDQ_DEFAULT_MAX_CONNECTIONS 1024 /* ep.listen: max_connections (peers at once) */
#define RDQ_MAX_MAX_CONNECTIONS	    65536
#define RDQ_DEFAULT_TIMEOUT_MS	    5000    /* ep.connect, ep.recv: timeout_ms */
#define RDQ_MAX_TIMEOUT_MS	    3600000 /* any timeout_ms: one hour */
#define RDQ_DEFAULT_PAGE	    100	    /* ep.show, request.list: limit */
#define RDQ_MAX_PAGE		    200	    /* a page that still fits a 64 KiB message */

/* A number as a string literal, for help texts. */
#define RDQ_STR_(x) #x
#define RDQ_STR(x)  RDQ_STR_(x)

#endif
