/* SPDX-License-Identifier: MIT */
/*
 * The control socket, on the loop: accepting clients, cutting their input
 * into frames, writing replies and events. It knows nothing of what a frame
 * means: the layer above (session.c) gets each frame and each close through
 * struct control_handlers. Each connection is named by a handle (from a
 * loop-only table), so that a request outliving its connection finds it gone
 * instead of touching freed memory.
 *
 * One interface, six files: control_accept.c (control_listen, accepting, out
 * of descriptors), control_socket.c (the socket's file), control.c (the
 * connection: frames read, idle, closed, its lists), control_input.c,
 * control_events.c (announce, broadcast, watch) and control_output.c (the
 * loop's buffer, replies); control_internal.h says how they stack.
 */
#ifndef RDQD_CONTROL_H
#define RDQD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/handle_table.h"

struct event_view;
struct list;
struct rdqd;
struct request;

/*
 * A connection's pending requests. request.c owns the list; the connection
 * only keeps it, so that it closes with the connection.
 */
struct control_requests {
	struct request *head;
	unsigned count;
};

struct control_handlers {
	/*
	 * A whole frame's body arrived on conn (uid, pid: the peer's, from SO_PEERCRED);
	 * requests is conn's list, valid until conn closes (closed() below).
	 */
	void (*frame)(struct rdqd *d, rdq_handle_t conn, struct control_requests *requests,
		      uid_t uid, pid_t pid, const char *body, size_t len);
	/*
	 * conn closed (its handle no longer resolves); requests is its list, still
	 * filled, and tied its list of tied endpoints (control_tied), which closed
	 * must leave empty: the list goes with the connection.
	 */
	void (*closed)(struct rdqd *d, rdq_handle_t conn, struct control_requests *requests,
		       struct list *tied);
};

/* Opens (or takes from systemd) the control socket and starts accepting. */
int control_listen(struct rdqd *d, const struct control_handlers *handlers);
/*
 * Stops accepting clients and closes the socket, removing its file if rdqd
 * made it; the connections open stay.
 */
void control_stop_accepting(struct rdqd *d);
/* Closes every client once its replies are written, or at once with force. */
void control_close_all(struct rdqd *d, bool force);
/* How many connections are open. */
unsigned control_connections(struct rdqd *d);

/*
 * The loop's buffer for the body of the next message: encode it here
 * (RDQ_MAX_MESSAGE bytes; encode.h), then send it with one of the calls
 * below before anything else is encoded.
 */
char *control_body(void);

/*
 * Sends the len bytes encoded at control_body() to the connection whose
 * list of requests is requests (a list of an open connection: a request's
 * reply finds its connection with no lookup), followed by data_len bytes of
 * data as the frame's attachment when data is not NULL. Returns 0,
 * -EMSGSIZE (len is over a frame's JSON), -EINVAL (len 0: nothing could be
 * encoded) or -ENOMEM.
 */
int control_reply(struct control_requests *requests, size_t len, const void *data, size_t data_len);

/* Gives lent bytes back: frame and len are what control_reply_lent put in the output. */
typedef void control_give_back_fn(const void *frame, size_t len, void *arg);

/*
 * A reply's attachment lent to the connection's output rather than copied
 * into it: room bytes before data are the lender's as well, and take the
 * frame's header, its JSON and the NUL, so that the whole frame goes out as
 * one reference to the lender's buffer. give_back(frame, frame_len, arg)
 * runs on the loop thread once the output is done with it, written or
 * dropped with its connection: maybe long after the request, its endpoint
 * and its QP are gone, so arg names none of them.
 */
struct control_loan {
	uint8_t *data;
	size_t len;
	size_t room;
	control_give_back_fn *give_back;
	void *arg;
};

/*
 * As control_reply, with loan's bytes as the attachment, lent (nothing of
 * them is copied). Returns 0: the output holds them until give_back; or, with
 * them still the caller's and nothing written, -ENOSPC (the frame's header
 * and JSON do not fit in loan->room), or control_reply's errors.
 */
int control_reply_lent(struct control_requests *requests, size_t len,
		       const struct control_loan *loan);
/* Answers a message that never became a request (counted as rejected). */
void control_reject(struct rdqd *d, rdq_handle_t conn, int64_t id, int err, const char *message);
/*
 * Sends the event encoded at control_body() (len bytes) to one connection,
 * if it can take it now: 0, -ENOENT if the connection is gone or closing,
 * -ENOBUFS if its output is over the limit (it does not read). Unlike a
 * reply, an event that cannot be sent is the caller's to handle; it is
 * never queued without bound.
 */
int control_announce(struct rdqd *d, rdq_handle_t conn, size_t len);
/* Whether control_announce() to conn would send now. */
bool control_can_announce(struct rdqd *d, rdq_handle_t conn);
/*
 * Sends an event to each watching connection that may see objects of
 * owner: encoded once (in control_body()), whatever their number.
 */
void control_broadcast(struct rdqd *d, uid_t owner, const struct event_view *event);
/* Turns events on or off for conn. */
void control_set_watch(struct rdqd *d, rdq_handle_t conn, bool on);

/*
 * Out of file descriptors. control_accept.c starts an episode when an
 * accept fails with EMFILE or ENFILE, or when another part of rdqd reports
 * err (control_fd_shortage); it is logged once. control_fd_starved says
 * whether one lasts, trying a descriptor first: one that can be had ends it.
 */
void control_fd_shortage(struct rdqd *d, int err);
bool control_fd_starved(struct rdqd *d);

/* conn's list of pending requests, or NULL if conn closed. */
struct control_requests *control_requests(struct rdqd *d, rdq_handle_t conn);
/*
 * conn's list of the endpoints tied to it, or NULL if conn closed. The
 * endpoints own their places on it (endpoint.c); the connection only keeps
 * it, so that its close finds them without a walk over every endpoint.
 */
struct list *control_tied(struct rdqd *d, rdq_handle_t conn);
/* Calls fn for every open connection's list until it returns false. fn must not close any. */
void control_foreach_requests(struct rdqd *d, bool (*fn)(struct control_requests *list, void *arg),
			      void *arg);

#endif
