/* SPDX-License-Identifier: MIT */
/*
 * What the endpoint's files share among themselves (endpoint.c and the
 * features ep_listen.c, ep_connect.c, ep_accept.c, ep_establish.c,
 * ep_data.c, ep_disconnect.c, ep_teardown.c), and nothing else includes.
 * Loop side unless a comment says otherwise.
 */
#ifndef RDQD_ENDPOINT_INTERNAL_H
#define RDQD_ENDPOINT_INTERNAL_H

#include <stdbool.h>

#include "admission.h"
#include "endpoint.h"
#include "engine/workers.h"

struct addrinfo;
struct rdma_cm_id;
struct rdma_conn_param;

/* --- endpoint.c: the object and what every feature uses --- */

/* The one place an endpoint's state changes; a move off the table aborts. */
void ep_set_state(struct ep *ep, enum ep_state to);

/* Whether its connection is still being made (resolving, resolved, connecting, readying). */
bool ep_setting_up(const struct ep *ep);

/* Finds an endpoint whoever owns it: a reference, or NULL once unpublished. */
struct ep *ep_get(struct rdqd *d, rdq_handle_t h);

/* Unpublishes an endpoint that never got an rdma_cm_id: nothing to tear down. */
void ep_unpublish_unused(struct ep *ep);

/*
 * Tells a direct endpoint's client to move its QP to error and drain it
 * (ep.flush, with status: 0, a negative errno of the disconnect, or
 * -ENODEV): the QP is the client's, and rdma_cm moves no QP it does not
 * hold. Once per endpoint; 0, or why the client could not be told.
 */
int ep_tell_flush(struct ep *ep, int status);

/* Stops a passive direct endpoint's setup timer, if it runs (connected, or unpublished). */
void ep_stop_setup_timer(struct ep *ep);

/* Takes the endpoint out of its connection's list of tied endpoints (at its unpublishing). */
void ep_untie(struct ep *ep);
/* Takes a listener that waits off the lists of waiters and stops its timer (at its unpublishing).
 */
void ep_unwait(struct ep *ep);

/*
 * endpoint_new, and for rdqd's own endpoints (rdqds_own: a declared
 * listener) counted in no user's share and made past any quota.
 */
struct ep *ep_new(struct rdqd *d, enum ep_role role, uid_t owner, rdq_handle_t parent,
		  rdq_handle_t tied_conn, bool rdqds_own, int *err);

/*
 * Destroys a listener's passive endpoints (its peers'), each with the
 * listener's destroy_status and destroy_message.
 */
void ep_destroy_children(struct ep *ep);

/*
 * A work item for one of the endpoint's steps. Only a client's new request
 * is subject to the pool's cap (capped): steps that follow an rdma_cm event
 * or free something must not be refused. NULL if none can be had, with *err
 * -EBUSY (the cap) or -ENOMEM; err may be NULL.
 */
struct work_item *ep_item_for(struct ep *ep, bool capped, work_fn passive, work_fn dispatch,
			      int *err);
/* The same, never capped. */
struct work_item *ep_item(struct ep *ep, work_fn passive, work_fn dispatch);
/* Posts item to the endpoint's event queue (its own, the device's, or none). */
void ep_post(struct ep *ep, struct work_item *item);

/* The device (name, size bytes) and port an id is bound to: "" and 0 before it is. */
void ep_id_device(const struct rdma_cm_id *id, char *name, size_t size, int *port);

/* "ADDR:PORT" of an address ("[ADDR]:PORT" for IPv6), or "-". */
void ep_format_addr(const struct sockaddr_storage *ss, char *buf, size_t size);

/* The events about an endpoint that watchers of its owner get. */
enum ep_event {
	EP_EVENT_ESTABLISHED,  /* connected */
	EP_EVENT_DISCONNECTED, /* rdma_cm reported DISCONNECTED, with its status */
	EP_EVENT_ERROR,	       /* a connect failed or the device went away: a negative errno */
	EP_EVENT_DESTROYED,    /* its teardown is done */
};

/* Tells watchers of the endpoint's owner; status is the event's, or 0. */
void ep_broadcast_event(struct ep *ep, enum ep_event type, int status);
/* ep.error with the words that say what happened (status: a negative errno). */
void ep_broadcast_error(struct ep *ep, int status, const char *reason);

/*
 * A listener's passive endpoints. ep_children_add returns false when out of
 * memory: the child would be lost to the listener's destroy and its count.
 */
bool ep_children_add(struct ep *listener, struct ep *child);
void ep_children_remove(struct ep *listener, struct ep *child);

/*
 * PASSIVE: finds the item's endpoint and takes its lock; NULL (item status
 * -ENOENT) if it is gone or torn down. ep_step_leave releases both.
 */
struct ep *ep_step_enter(struct work_item *item);
void ep_step_leave(struct ep *ep);

/* --- ep_listen.c: ep.listen, and the start ep.connect shares with it --- */

/*
 * Sets up an endpoint of role for req (tied to req's connection if tied)
 * and its first work item, passive then dispatch, with fresh arguments: the
 * endpoint (a reference), *item_out and *args_out. NULL when it cannot, with
 * req completed and nothing left behind.
 */
struct ep *ep_start(struct rdqd *d, struct request *req, enum ep_role role, bool tied,
		    work_fn passive, work_fn dispatch, struct work_item **item_out,
		    struct ep_work_args **args_out);
/*
 * PASSIVE, under ep->lock: resolves the item's address (a listener's when
 * passive) and makes the endpoint's rdma_cm_id, its context the item's
 * handle. Returns 0 with *id and *ai, the address (freeaddrinfo it), or
 * -errno with neither.
 */
int ep_create_id(struct work_item *item, bool passive, struct rdma_cm_id **id,
		 struct addrinfo **ai);
/* Sets a listener's fields from a client's ep.listen (req's). */
void ep_listener_init(struct ep *ep, struct request *req, const struct listen_args *l);
/* PASSIVE: keeps id's local and remote addresses in a, for the loop. */
void ep_save_addrs(struct rdma_cm_id *id, struct ep_work_args *a);

/* --- ep_connect.c: the active side's rdma_cm events --- */

/* ADDR_RESOLVED and ROUTE_RESOLVED: the next step of a connect. */
void ep_addr_resolved(struct ep *ep);
void ep_route_resolved(struct ep *ep, struct rdma_cm_id *id);

/* --- ep_accept.c: the passive side --- */

/*
 * A peer's CONNECT_REQUEST on listener: if admission.c admits it, a passive
 * endpoint, accepted on a worker; otherwise rejected (ep_reject).
 */
void ep_connect_request(struct rdqd *d, struct ep *listener, struct rdma_cm_id *new_id);
/*
 * Rejects a connection request nobody takes, on a worker, telling the peer
 * reason (at most ADMISSION_REASON_MAX bytes with its NUL; a longer one is
 * cut); counted in stats under why.
 */
void ep_reject(struct rdqd *d, struct rdma_cm_id *id, enum admission why, const char *reason);
/* Rejects a connection request whose listener is gone. */
void ep_reject_orphan(struct rdqd *d, struct rdma_cm_id *id);

/* --- ep_establish.c: how a connection ends up, either side --- */

/*
 * A connect or accept step is back on the loop (what: the step, for the
 * words of a failure): on failure the connection is given up; else the
 * endpoint takes the QP the step made, and acts on an rdma_cm event that
 * came before it. A QP nobody takes is discarded on a worker. Frees the
 * item's arguments.
 */
void ep_connect_step_done(struct work_item *item, const char *what);
/* The connection parameters both sides give rdma_connect and rdma_accept. */
void ep_conn_param_init(struct rdma_conn_param *p, uint32_t qp_num);
/*
 * rdma_cm's CONNECT_RESPONSE (the active side: the peer accepted; the
 * establish step follows) and ESTABLISHED (the passive side: the peer's RTU
 * came): each kept for later if the step that made the QP is not back yet.
 */
void ep_connect_response(struct ep *ep);
void ep_established(struct ep *ep);
/* A connect or accept went wrong (rdma_cm's error events): status, and what failed. */
void ep_connect_error(struct ep *ep, int status, const char *what);
/*
 * A request that waits on connect_q while a connection is made (ep.connect,
 * and a direct endpoint's ep.resolve, ep.attach and ep.establish): its
 * deadline, and a cancel, abandon the connection, whose endpoint goes.
 */
void ep_setup_deadline(struct request *req);
void ep_setup_cancelled(struct request *req, const char *message);
/* The connection could not be made: answer the connect and destroy the endpoint. */
void ep_connect_failed(struct ep *ep, int status, const char *what);

/* --- ep_direct.c: endpoints whose QP is their client's --- */

/* ROUTE_RESOLVED on a direct active endpoint: ep.resolve is answered. */
void ep_direct_resolved(struct ep *ep);
/* CONNECT_RESPONSE and ESTABLISHED on a direct endpoint. */
void ep_direct_connect_response(struct ep *ep);
void ep_direct_established(struct ep *ep);
/*
 * A direct listener's new passive endpoint ep, holding new_id: its client
 * is told (ep.request) and its clock starts. false: the client cannot be
 * told; the caller rejects the peer.
 */
bool ep_direct_request(struct ep *listener, struct ep *ep, struct rdma_cm_id *new_id);
/*
 * The connection is down (status: DISCONNECTED's, or -ETIMEDOUT at the
 * local deadline): the client is told to flush its QP, and req (a waiting
 * ep.disconnect, or NULL) completes when it confirms, or at its deadline.
 */
void ep_direct_flush(struct ep *ep, struct request *req, int status);

/* --- ep_disconnect.c --- */

/* rdma_cm's DISCONNECTED: a DREP, the peer's DREQ, or our DREQ timing out. */
void ep_disconnected(struct ep *ep, int status);
/*
 * The QP failed under a connected endpoint (the transport gave up, the peer
 * is not receiving, a remote error): watchers and waiting receives are told
 * why, and a DREQ goes out; the endpoint is disconnecting from here on.
 */
void ep_transport_failed(struct ep *ep, int status, const char *why);

/* --- ep_teardown.c --- */

/* rdma_cm's DEVICE_REMOVAL: the endpoint is torn down; what waits on it gets ENODEV. */
void ep_device_removed(struct ep *ep);

#endif
