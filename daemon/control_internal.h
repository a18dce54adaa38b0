/* SPDX-License-Identifier: MIT */
/*
 * What the control socket's files share among themselves, and nothing else
 * includes: the connection, and the calls each file makes on it. From the
 * top of the module graph down:
 *
 *   control_accept.c  accepting clients; out of descriptors; control_listen
 *   control_socket.c  the socket file: its folder, a stale one, systemd's
 *   control.c         a connection's life: opened, read, idle, closed
 *   control_input.c   its input cut into frames
 *   control_events.c  events to watching connections, events.lost
 *   control_output.c  frames into its output: the loop's one buffer, throttling
 *
 * Each uses only files below it. control.c calls the handlers of session.c
 * (struct control_handlers), and session.c uses control.c directly
 * (control_reject), which makes them callbacks to the module graph; a call
 * of a handler from another of these files would be a cycle.
 */
#ifndef RDQD_CONTROL_INTERNAL_H
#define RDQD_CONTROL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "control.h"
#include "engine/list.h"
#include "rdqd.h"

#define OUTPUT_HIGH (1u << 20)	 /* stop reading a client whose replies pile up */
#define OUTPUT_LOW  (256u << 10) /* and resume below this */

struct conn {
	struct rdqd *d;
	rdq_handle_t handle;
	struct bufferevent *bev;
	struct event *resume; /* continues reading after a full batch */
	uid_t uid;
	pid_t pid;
	bool watch;			  /* sent events */
	struct list_node watching;	  /* in d->watchers while watch is set */
	bool closing;			  /* shutdown: close once the output is flushed */
	bool throttled;			  /* reading paused: too much output waiting */
	uint32_t skip;			  /* bytes of an oversize frame still to discard */
	struct event *idle;		  /* --idle-timeout: fires when it sent nothing for long */
	uint64_t events_lost;		  /* events not sent: its output was full; not told yet */
	struct control_requests requests; /* kept for request.c */
	struct list tied;		  /* kept for endpoint.c: the endpoints tied to it */
};

/* The open connection named h, or NULL. */
static inline struct conn *conn_get(struct rdqd *d, rdq_handle_t h)
{
	return handle_table_lookup(&d->conns, h, 0);
}

/* The bytes waiting in c's output. */
static inline size_t conn_output_length(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* --- control.c --- */

/*
 * Makes a connection of fd, a client's socket just accepted, if the peer's
 * share allows one more (if not, the client is told why). fd is taken in
 * every case: it is the connection's, or closed.
 */
void conn_open(struct rdqd *d, int fd);

/* --- control_input.c --- */

/*
 * Cuts the next frame from c's input, first discarding what is left of an
 * oversize one. Returns 0 with *body and *len, a frame's body, which stays
 * at the front of the input until the caller drains len bytes; -EAGAIN if
 * no whole frame is there yet; -EMSGSIZE or -EBADMSG for a frame too long
 * or empty, already answered (and its body discarded as it comes).
 */
int conn_next_frame(struct conn *c, const char **body, uint32_t *len);

/* --- control_events.c --- */

/*
 * Tells a watcher how many events it missed while its output was full, once
 * its output is below OUTPUT_LOW again; before any newer event.
 */
void conn_report_lost_events(struct conn *c);

/* --- control_output.c --- */

/*
 * Frames body (len bytes) into c's output, then the attachment after a NUL
 * when data is not NULL; body is control_body()'s, or any other text when
 * there is no attachment. Reading stops or resumes with the output's size.
 * Returns 0, -EINVAL (len 0: nothing could be encoded), -EMSGSIZE or -ENOMEM.
 */
int conn_write_frame(struct conn *c, const char *body, size_t len, const void *data,
		     size_t data_len);
/* Stops reading c while its output is over OUTPUT_HIGH, and resumes it below OUTPUT_LOW. */
void conn_check_throttle(struct conn *c);
/* Answers a message of c that never became a request; counted as rejected. */
void conn_reject(struct conn *c, int64_t id, int err, const char *message);
/*
 * Turns a socket just accepted away with one error frame, written without
 * blocking, at best; then closes fd.
 */
void control_refuse(int fd, int err, const char *message);

/* --- control_socket.c --- */

/*
 * The listening socket: systemd's, or one made at --socket (its folder
 * made, a stale socket of a dead rdqd removed). Returns the descriptor or
 * -errno.
 */
int control_socket_open(struct rdqd *d);
/* Closes the listening socket, and removes its file if rdqd made it. */
void control_socket_close(struct rdqd *d);

#endif
