/* SPDX-License-Identifier: MIT */
/*
 * An endpoint: one rdma_cm_id, listening or connected, with at most one QP.
 *
 * The state machine runs on the loop: it reacts to requests and rdma_cm
 * events and never blocks. Each blocking step (create the id, resolve,
 * accept, connect, disconnect, destroy) is a work item run on a worker that
 * finds the endpoint again by handle and reports back to the loop, which
 * moves the state on. Each feature keeps both halves in one file:
 * ep_listen.c, ep_connect.c, ep_accept.c, ep_establish.c, ep_data.c,
 * ep_disconnect.c, ep_teardown.c; endpoint.c holds
 * the object and its states, ep_cm.c the rdma_cm event switch.
 */
#ifndef RDQD_ENDPOINT_H
#define RDQD_ENDPOINT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>

#include "engine/workers.h"
#include "object.h"
#include "rdqd.h"
#include "request.h"

struct ep_view;
struct listen_wait;
struct rdqd;
struct qp;
struct rdma_cm_id;
struct rdq_peer_rules;
struct work_item;

enum ep_role {
	EP_LISTENER, /* waits for connections; has no QP */
	EP_ACTIVE,   /* made by ep.connect */
	EP_ACCEPTED, /* accepted by a listener; echoes, or is served by the listener's client */
};

/*
 * An endpoint's state, written only on the loop and only through
 * ep_set_state(), which allows the moves of its table and aborts on any other.
 * A failed connect, a device removal and ep.destroy do not move the state:
 * they unpublish the endpoint (its handle stops resolving) and tear it down,
 * so no one could see a state for that.
 */
enum ep_state {
	EP_IDLE,      /* made; its rdma_cm_id is being created (listen, connect) or accepted */
	EP_LISTENING, /* bound and listening */
	/*
	 * A listener that waits (listen_wait, ep_wait.c): it has no rdma_cm_id
	 * while its address, or an RDMA device with it, is not there.
	 */
	EP_WAITING,
	/* A listener that waits: binding or listening failed otherwise; tried again on events. */
	EP_FAILED,
	EP_RESOLVING,	  /* active: resolving the address, then the route */
	EP_RESOLVED,	  /* direct: the id knows its device; waits for its client's QP */
	EP_CONNECTING,	  /* QP made (or attached); connect sent (active) or accept sent */
	EP_READYING,	  /* direct: its client is moving its QP to RTS with our attributes */
	EP_CONNECTED,	  /* established: sends and receives flow */
	EP_DISCONNECTING, /* DREQ sent by us; waiting for rdma_cm's DISCONNECTED */
	EP_DISCONNECTED,  /* rdma_cm reported DISCONNECTED; the QP is (going) in error */
};

struct ep {
	struct object obj;
	struct rdqd *d;
	enum ep_role role;	/* fixed at creation */
	rdq_handle_t parent;	/* fixed: a passive endpoint's listener */
	rdq_handle_t tied_conn; /* fixed: destroyed when this connection closes, or 0 */
	/*
	 * Fixed. A serve listener announces its connections to tied_conn (the
	 * client that made it), and its passive endpoints (served, tied to the
	 * same client) keep their messages for ep.recv instead of echoing them,
	 * and stay after a disconnect until destroyed.
	 */
	bool serve;
	/*
	 * Fixed. A direct endpoint's QP belongs to its client (tied_conn's
	 * process, client_pid): rdqd holds only the rdma_cm_id, and hands the
	 * client the attributes its QP needs (ep_direct.c). A direct listener
	 * tells its client of each connection request instead of accepting it.
	 */
	bool direct;
	pid_t client_pid;
	/*
	 * Loop: its place on its connection's list of tied endpoints
	 * (control_tied), and that list while it is on it. The list lives in the
	 * connection, whose close empties it before freeing it, so the pointer is
	 * good whenever tied is linked; the connection's handle is not (it stops
	 * resolving before the close destroys the endpoints).
	 */
	struct list_node tied;
	struct list *tied_list;

	/*
	 * The endpoint's event queue: the loop posts every worker step of this
	 * endpoint to *serial (its own, the device's, or none by the sync scope),
	 * and a worker runs them in order under the queue's state lock.
	 */
	struct work_serial *serial;
	struct work_serial own_serial;
	pthread_mutex_t state_lock;

	/* Guards id and dead: with sync scope none, two steps may run at once. */
	pthread_mutex_t lock;
	/*
	 * Guarded by lock. A passive endpoint's is set on the loop right after it
	 * is published, before any work item names the endpoint.
	 */
	struct rdma_cm_id *id;
	bool dead; /* guarded by lock: torn down; later steps must do nothing */

	/* Loop only. */
	enum ep_state state;
	rdq_handle_t qp;		   /* its QP, or 0 */
	struct qp *qp_active;		   /* the loop's reference while the data path runs */
	struct request_queue connect_q;	   /* the ep.connect waiting for rdma_cm */
	struct request_queue disconnect_q; /* ep.disconnect requests waiting for DISCONNECTED */
	struct request_queue recv_q;	   /* ep.recv requests waiting for a message */
	/*
	 * A listener's passive endpoints: nchildren is how many peers it holds
	 * now, never more than max_connections (admission.c). A passive
	 * endpoint's child_index is its place in its listener's array, so that
	 * leaving it costs the same however many there are.
	 */
	rdq_handle_t *children;
	unsigned nchildren, children_cap;
	unsigned max_connections;
	unsigned child_index;
	struct sockaddr_storage local, remote;
	int disconnect_status; /* DISCONNECTED's status, once reported */
	/*
	 * Why its connection failed under it (a send or receive completed with
	 * an error), once it did: later ep.send and ep.recv fail with it, so a
	 * client that did not wait for its send's completion still learns.
	 */
	int failed_status;
	char failed_why[120];
	bool qp_error_queued; /* its QP's move to error is queued or done: once is enough */
	/* What its queued requests complete with when it is destroyed. */
	int destroy_status;	     /* -ECANCELED, or -ENODEV after a device removal */
	const char *destroy_message; /* a static string */
	/*
	 * rdma_cm may answer before the worker that sent the connect or accept is
	 * back with the QP's handle: CONNECT_RESPONSE or ESTABLISHED is then kept
	 * here and acted on when the QP arrives.
	 */
	int early_event; /* an rdma_cm_event_type, or -1 */
	/* Direct: the client's QP (0 until attached), the device and port of the id. */
	uint32_t qp_num;
	char device[64];
	int port_num;
	/* A passive direct endpoint's: its client must establish it before this fires. */
	struct event *setup_timer;
	/*
	 * A passive direct endpoint refused: the reason its peer's reject carries,
	 * set on the loop before the reject step is posted; reject_sent (under
	 * lock) once it went. A teardown that overtakes the reject step (no event
	 * queue orders them) sends it itself: the peer still learns why.
	 */
	const char *reject_reason;
	bool reject_sent;
	/*
	 * Loop: a client's setup step (ep.attach's, ep.establish's) is out. Its
	 * request may be answered before it is back (the peer refused meanwhile);
	 * the next step must still wait for it, or its answer would go to the
	 * next step's request.
	 */
	bool direct_step_out;
	/*
	 * Direct: its client was told to flush its QP (ep.flush); disconnects
	 * wait on flush_q for the client's ep.flushed.
	 */
	bool flush_told;
	struct request_queue flush_q;
	/*
	 * A listener that outlives its rdma_cm_id, waiting for its address
	 * (ep.listen's wait_address, and every declared listener): what it
	 * waits for and why (ep_wait.h). NULL for every other endpoint. Loop only.
	 */
	struct listen_wait *wait;
	/*
	 * A listener's address rules (admission.c), or NULL: every peer may
	 * connect. Loop only: read at each CONNECT_REQUEST, replaced whole
	 * (ep_set_rules) and freed on the loop; never changed in place, and
	 * never handed to a worker.
	 */
	struct rdq_peer_rules *rules;
	uint16_t port; /* requested port */
	int backlog;
	int64_t timeout_ms; /* connect timeout; a direct listener's time for its client */
	char addr[64];	    /* requested address (listen or connect) */
};

const char *ep_state_name(enum ep_state state);
const char *sync_scope_name(enum sync_scope scope);
const char *ep_role_name(enum ep_role role);

/* Sets up what endpoints share (the device-scope event queue); once, at start. */
void endpoints_init(struct rdqd *d);
void endpoints_fini(struct rdqd *d);

/*
 * Makes an endpoint object and publishes its handle. Returns it with one
 * reference for the caller (the table holds its own), or NULL with *err set.
 */
struct ep *endpoint_new(struct rdqd *d, enum ep_role role, uid_t owner, rdq_handle_t parent,
			rdq_handle_t tied_conn, int *err);

/* Finds an endpoint the uid may see; a reference for the caller, or NULL. */
struct ep *endpoint_lookup(struct rdqd *d, rdq_handle_t h, uid_t uid);

/* What ep.listen asks for. */
struct listen_args {
	const char *addr;
	int port, backlog;
	unsigned max_connections;
	bool tied;
	unsigned mode; /* enum rdq_listen_mode */
	int64_t timeout_ms;
	bool wait_address; /* a missing address is waited for (ep_wait.c) */
	/* The listener's address rules, or NULL; the listener takes them, or they are freed. */
	struct rdq_peer_rules *rules;
};

/* Requests (loop): each takes ownership of req. */
void endpoint_listen(struct rdqd *d, struct request *req, const struct listen_args *l);
/* ep.listen with wait_address (ep_wait.c): a missing address or device is waited for. */
void endpoint_listen_waiting(struct rdqd *d, struct request *req, const struct listen_args *l);
/* ep.connect, or ep.resolve (direct): stops once the route is resolved. */
void endpoint_connect(struct rdqd *d, struct request *req, const char *addr, int port,
		      int64_t timeout_ms, bool tied, bool direct);
/*
 * A direct endpoint's setup (ep_direct.c): ep.attach gives it its client's
 * QP, ep.establish completes the connection once that QP is at RTS.
 */
void endpoint_attach(struct ep *ep, struct request *req, uint32_t qp_num, int64_t timeout_ms);
void endpoint_establish(struct ep *ep, struct request *req, int64_t timeout_ms);
/* ep.flushed: the client's QP is in error; the disconnects waiting for that complete. */
void endpoint_flushed(struct ep *ep, struct request *req);
/*
 * Sends data. Without wait the request completes once the send is posted;
 * with wait, when the send completes, or with ETIMEDOUT after timeout_ms.
 */
void endpoint_send(struct ep *ep, struct request *req, const void *data, size_t len, bool wait,
		   int64_t timeout_ms);
void endpoint_recv(struct ep *ep, struct request *req, int64_t timeout_ms);
/*
 * ep.sendrecv: posts the bytes as ep.send does, then answers as ep.recv does,
 * with the next message: one request and one reply for a request and its
 * answer (a client), or for an answer and the next request (a server).
 */
void endpoint_send_recv(struct ep *ep, struct request *req, const void *data, size_t len,
			int64_t timeout_ms);
void endpoint_disconnect(struct ep *ep, struct request *req, rdq_handle_t qp, bool wait,
			 int64_t timeout_ms);

/*
 * Destroys an endpoint (and a listener's children first): unpublishes it,
 * cancels its queued requests, stops its data path and tears it down on a
 * worker. req (may be NULL) completes when the teardown is done.
 */
void endpoint_destroy(struct ep *ep, struct request *req);

/*
 * Destroys the endpoint's QP (qp.destroy): unpublishes it, stops its data
 * path and tears it down on a worker. The endpoint keeps the stale handle:
 * a later step that looks the QP up finds it gone (ENOENT).
 */
void endpoint_qp_destroy(struct ep *ep, struct request *req);

/*
 * A connection closed: destroys every endpoint on tied, its list of tied
 * endpoints (control_tied), and leaves the list empty, even for an endpoint
 * whose teardown could not start (out of memory: it stays, tied to nothing).
 */
void endpoint_destroy_tied(struct rdqd *d, struct list *tied);
/* Destroys every endpoint (shutdown). */
void endpoint_destroy_all(struct rdqd *d);

/*
 * An rdma_cm event, on the loop (cm.c calls this after acking the event):
 * ep_cm.c. id: the event's id (a CONNECT_REQUEST's new one), which the
 * loop may read while the endpoint it names is published (its teardown,
 * which destroys the id, comes after); peer_says: the text a peer put in a
 * REJECTED's private data, or NULL.
 */
void endpoint_cm_event(struct rdqd *d, rdq_handle_t h, int type, int status, struct rdma_cm_id *id,
		       const char *peer_says);

/*
 * The endpoint's QP has news, on the loop (qp.h's qp_news_fn): messages are
 * held (hand them to waiting receives), one just arrived (data: answer a
 * waiting receive with it and return true), or the QP failed.
 */
bool endpoint_qp_event(struct rdqd *d, rdq_handle_t h, int status, const char *why,
		       const uint8_t *data, uint32_t len);

/*
 * Gives listener ep the address rules rules (NULL: none), freeing the ones
 * it had: peers that connect from now on meet them; those connected stay.
 * Loop only.
 */
void ep_set_rules(struct ep *ep, struct rdq_peer_rules *rules);

/* Describes an endpoint for ep.show, in plain values. */
void endpoint_view(struct ep *ep, struct ep_view *out);

/* --- The worker steps, PASSIVE level, each in the feature's file. Each runs in a work item. --- */

/* Arguments of the steps that need more than handles; freed by the dispatch side. */
struct ep_work_args {
	char addr[64];
	int port;
	int backlog;
	int64_t timeout_ms;
	struct sockaddr_storage local, remote;
	/*
	 * The QP a connect or accept step made, unpublished, or NULL: a new
	 * object only this item holds, so the pointer may cross back to the
	 * loop, which publishes it for the endpoint or has it discarded.
	 */
	struct qp *qp;
};

/*
 * What a teardown item carries: references to an endpoint and its QP, the
 * QP already unpublished (no handle reaches it any more). The two hand-offs
 * that carry pointers (endpoint teardown, qp.destroy) may, because these are
 * counted references: the objects cannot be freed while the item holds them.
 * For an endpoint's teardown they are the last ones.
 */
struct ep_teardown {
	struct ep *ep;
	struct qp *qp; /* or NULL */
};

/*
 * The worker halves of the endpoint's steps (PASSIVE), each with its loop
 * half in its feature's file: listen (ep_listen.c); resolve_addr,
 * resolve_route, connect (ep_connect.c); establish, qp_discard
 * (ep_establish.c); accept, reject (ep_accept.c); disconnect, qp_error,
 * answer_dreq (ep_disconnect.c); teardown, qp_destroy (ep_teardown.c).
 */
void ep_work_listen(struct work_item *item);
void ep_work_resolve_addr(struct work_item *item);
void ep_work_resolve_route(struct work_item *item);
void ep_work_connect(struct work_item *item);
void ep_work_establish(struct work_item *item);
void ep_work_accept(struct work_item *item);
void ep_work_reject(struct work_item *item);
void ep_work_disconnect(struct work_item *item);
void ep_work_qp_error(struct work_item *item);
void ep_work_answer_dreq(struct work_item *item);
void ep_work_teardown(struct work_item *item);
void ep_work_qp_discard(struct work_item *item);
void ep_work_qp_destroy(struct work_item *item);
void ep_work_direct_init(struct work_item *item);
void ep_work_direct_attach(struct work_item *item);
void ep_work_direct_steps(struct work_item *item);
void ep_work_direct_establish(struct work_item *item);
void ep_work_direct_reject(struct work_item *item);

#endif
