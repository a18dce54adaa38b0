/* SPDX-License-Identifier: MIT */
/*
 * librdq client API: talk to rdqd over its control socket.
 *
 * Two ways to use it:
 *  - synchronous: rdq_call() sends one request and waits for its reply
 *    (events that arrive meanwhile are queued for rdq_client_next());
 *  - asynchronous: rdq_client_send() returns at once with the request id;
 *    poll rdq_client_fd() for input and read replies and events with
 *    rdq_client_next().
 * A client is not thread-safe: use one per thread, or lock around it.
 * Functions return 0 or a negative errno; the library never prints.
 * Messages are jansson objects (json_t); see docs/protocol.md.
 */
#ifndef RDQ_CLIENT_H
#define RDQ_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What librdq exports: the library is built with hidden visibility, and lib/librdq.map lists these.
 */
#define RDQ_EXPORT __attribute__((visibility("default")))

struct rdq_client;

/* The system service's control socket (rdqd.socket). */
#define RDQ_SYSTEM_SOCKET "/run/rdq/rdqd.sock"

/*
 * Returns the default control socket path in buf: RDQ_SYSTEM_SOCKET for
 * root, $XDG_RUNTIME_DIR/rdq/rdqd.sock otherwise (or /tmp/rdq-UID/rdqd.sock
 * without XDG_RUNTIME_DIR). Returns 0, or -ENAMETOOLONG.
 */
RDQ_EXPORT int rdq_default_socket_path(char *buf, size_t size);

/*
 * Connects to rdqd at path. On success returns 0 and sets *out.
 * -ENOENT/-ECONNREFUSED mean no daemon listens there; -EACCES that the
 * socket's permissions keep this user out.
 * path NULL: the default path; for a user other than root where no daemon
 * listens, then the system service's socket, unless that does not exist
 * either (the error is then the default path's). The folder of a user's
 * default path must be the user's own, as rdqd requires: a folder (not a
 * link), owned by the user, writable by no one else. If it is not, nothing
 * is connected to: returns -EPERM, and rdq_client_error(NULL) says which
 * rule the folder breaks. A path given is not checked.
 */
RDQ_EXPORT int rdq_client_connect(const char *path, struct rdq_client **out);

/*
 * Like rdq_client_connect(), waiting at most timeout_ms (< 0: forever) for
 * rdqd to take the connection: a daemon that is stopped or not accepting
 * leaves connect() waiting while its listen backlog is full. Returns
 * -ETIMEDOUT when the time ran out.
 */
RDQ_EXPORT int rdq_client_connect_timeout(const char *path, int timeout_ms,
					  struct rdq_client **out);

/* The socket path the client is connected to. */
RDQ_EXPORT const char *rdq_client_path(const struct rdq_client *client);

/* Closes the connection and frees the client; accepts NULL. */
RDQ_EXPORT void rdq_client_close(struct rdq_client *client);

/* The socket, for poll(): readable when rdq_client_next() has input. */
RDQ_EXPORT int rdq_client_fd(const struct rdq_client *client);

/*
 * Sends a request without waiting. Steals args (may be NULL). Sets *id to
 * the request id the reply will carry (ids count up from 1).
 */
RDQ_EXPORT int rdq_client_send(struct rdq_client *client, const char *op, json_t *args,
			       int64_t *id);

/*
 * Returns the next message from the daemon, a reply or an event, in *msg
 * (caller json_decref()s it). timeout_ms < 0 waits forever, 0 does not wait.
 * Returns 0, -EAGAIN on timeout, -ECONNRESET if the daemon closed the
 * connection, -EBADMSG if it sent something unreadable. When rdqd said why
 * it closed the connection (an error reply with a null id, the last message
 * before the close, as when it turns a client away with EMFILE), that message
 * is returned first, and rdq_client_error() then gives its reason:
 * "rdqd closed the connection: too many clients (EMFILE)".
 */
RDQ_EXPORT int rdq_client_next(struct rdq_client *client, int timeout_ms, json_t **msg);

/*
 * Sends a request and waits for its reply (forward and wait). Steals args.
 * On success returns 0 and, if result is not NULL, sets *result to the
 * reply's "result" object (caller json_decref()s it). If the daemon answers
 * with an error, returns its negative errno and the message can be read
 * with rdq_client_error(). If rdqd closes the connection instead, returns
 * -ECONNRESET, or the negative errno of the reason it gave before closing
 * (see rdq_client_next(); -EMFILE when it has too many clients). Events
 * received meanwhile are kept in order for rdq_client_next().
 */
RDQ_EXPORT int rdq_call(struct rdq_client *client, const char *op, json_t *args, json_t **result);

/*
 * Like rdq_call(), bounded by timeout_ms (< 0: forever); -ETIMEDOUT when no
 * reply came in time (the reply, if it comes later, is discarded).
 */
RDQ_EXPORT int rdq_call_timeout(struct rdq_client *client, const char *op, json_t *args,
				int timeout_ms, json_t **result);

/*
 * The message of the last error reply rdq_call() returned, or of the last
 * local failure ("connection closed by rdqd"). Valid until the next call.
 * client NULL: why the last rdq_client_connect*() of this thread failed,
 * when there is more to say than its errno (the default socket's folder is
 * not the user's own), else "".
 */
RDQ_EXPORT const char *rdq_client_error(const struct rdq_client *client);

/*
 * Binary data. Requests sent by the functions below use protocol version 2:
 * their bytes travel after the JSON of the frame, exactly, any byte values,
 * up to rdqd's --max-message (at most RDQ_MAX_DATA); their replies come the
 * same way. The functions above keep using version 1.
 */
#define RDQ_MAX_DATA (1u << 20)

/*
 * Like rdq_client_send(), with len bytes at data as the request's
 * attachment (data NULL: none; ep.send takes its bytes from it). The reply,
 * from rdq_client_next(), is version 2: read its bytes with
 * rdq_message_data(). -EMSGSIZE for more than RDQ_MAX_DATA bytes.
 */
RDQ_EXPORT int rdq_client_send_data(struct rdq_client *client, const char *op, json_t *args,
				    const void *data, size_t len, int64_t *id);

/*
 * The bytes a message carries (an ep.recv reply to a version 2 request):
 * returns 1 and sets *data and *len, borrowed from msg (valid while msg
 * is), or returns 0 when it carries none.
 */
RDQ_EXPORT int rdq_message_data(const json_t *msg, const void **data, size_t *len);

/* rdq_ep_send()'s flags. */
#define RDQ_SEND_WAIT 1u /* answer once the send completed, not once it was posted */

/*
 * Sends len bytes (1 to rdqd's --max-message) on endpoint ep and waits for
 * rdqd's answer: by default it comes once the send is posted, and a send
 * that then fails makes the endpoint's next rdq_ep_send() or rdq_ep_recv()
 * fail with why (and watchers get ep.error). With RDQ_SEND_WAIT it comes
 * when the send completed, or fails with -ETIMEDOUT after timeout_ms
 * (0: rdqd's default of 5000; < 0: no limit). Returns 0 or a negative
 * errno; rdq_client_error() says why.
 */
RDQ_EXPORT int rdq_ep_send(struct rdq_client *client, uint64_t ep, const void *data, size_t len,
			   unsigned flags, int timeout_ms);

/*
 * Receives endpoint ep's next message, waiting up to timeout_ms for one
 * (0: not at all; < 0: the longest rdqd allows, an hour). Returns 0 and sets *data to a buffer
 * the caller free()s and *len to its length; or a negative errno (-EAGAIN:
 * nothing arrived in time) and rdq_client_error() says why.
 */
RDQ_EXPORT int rdq_ep_recv(struct rdq_client *client, uint64_t ep, int timeout_ms, void **data,
			   size_t *len);

/*
 * Serving: local programs answer what remote peers send. A serve listener
 * announces each connection a peer makes on it to the client that made it
 * (an ep.accepted event); the peer's messages wait for that client's
 * rdq_ep_recv() on the new endpoint, and rdq_ep_send() on it answers the
 * peer. The listener and its endpoints go away when that client closes its
 * connection; an endpoint whose peer left stays, with the messages it still
 * holds, until rdq_ep_destroy().
 */
#define RDQ_EVENT_ACCEPTED "ep.accepted"

/* A connection a peer made on a serve listener (see rdq_accept()). */
struct rdq_accepted {
	uint64_t ep;	   /* the new endpoint: rdq_ep_recv() and rdq_ep_send() on it */
	uint64_t listener; /* the serve listener the peer connected to */
	uint64_t qp;	   /* the endpoint's QP */
	char peer[64];	   /* the peer's "ADDR:PORT" ("[ADDR]:PORT" for IPv6) */
	char local[64];	   /* our side's */
};

/*
 * Listens on addr (a numeric address or a name of this host; NULL or ""
 * for every address) and port (0: rdqd's default, 7472) in serve mode.
 * Returns 0 and sets *listener, or a negative errno (rdq_client_error()
 * says why).
 */
RDQ_EXPORT int rdq_ep_serve(struct rdq_client *client, const char *addr, int port,
			    uint64_t *listener);

/*
 * Waits up to timeout_ms (< 0: forever, 0: not at all) for the next
 * connection a peer made on one of this client's serve listeners. Other
 * events that arrive meanwhile are kept, in order, for rdq_client_next().
 * Returns 0 and fills *out, -EAGAIN when none came in time, or another
 * negative errno as rdq_client_next().
 */
RDQ_EXPORT int rdq_accept(struct rdq_client *client, int timeout_ms, struct rdq_accepted *out);

/*
 * For clients that read messages themselves (rdq_client_next()): returns 1
 * and fills *out if msg is an ep.accepted event, 0 if it is something else.
 */
RDQ_EXPORT int rdq_event_accepted(const json_t *msg, struct rdq_accepted *out);

/* Destroys endpoint ep (a served one once its peer is done, say). 0 or a negative errno. */
RDQ_EXPORT int rdq_ep_destroy(struct rdq_client *client, uint64_t ep);

/*
 * Sends out_len bytes at out on endpoint ep, as rdq_ep_send() without
 * RDQ_SEND_WAIT, and receives the next message, as rdq_ep_recv(): one
 * request and one reply where the two calls take two of each. A client
 * sends a request and gets its answer; a server sends an answer and gets
 * the next request. Returns as rdq_ep_recv(); a send that cannot be posted
 * fails the call before any receive.
 */
RDQ_EXPORT int rdq_ep_sendrecv(struct rdq_client *client, uint64_t ep, const void *out,
			       size_t out_len, int timeout_ms, void **data, size_t *len);

/* Helpers for reading replies: 1 if msg is a reply to id / an event. */
RDQ_EXPORT int rdq_message_is_reply(const json_t *msg, int64_t id);
RDQ_EXPORT int rdq_message_is_event(const json_t *msg);

/*
 * Reads an error reply: returns its negative errno (0 for a success reply)
 * and sets *message (borrowed from msg) if message is not NULL.
 */
RDQ_EXPORT int rdq_reply_status(const json_t *msg, const char **message);

/* Symbolic name of a positive errno value ("ENOENT"), or "E?". */
RDQ_EXPORT const char *rdq_strerrno(int err);

/* Version string of librdq, e.g. "0.1.0". */
RDQ_EXPORT const char *rdq_version(void);

#ifdef __cplusplus
}
#endif

#endif
