/* SPDX-License-Identifier: MIT */
/*
 * The endpoint object: its states and their one transition function, its
 * lifetime (made, published, looked up, released), the helpers every
 * endpoint feature shares (work items on the endpoint's event queue, events
 * to watchers), its place in a listener's tree. The features, each with its
 * loop half and its worker half: ep_listen.c, ep_connect.c (the active
 * side), ep_accept.c (the passive side), ep_establish.c (how a connection
 * of either side ends up), ep_data.c (send, recv), ep_disconnect.c,
 * ep_teardown.c (destroy, qp.destroy, device removal); ep_cm.c hands
 * each rdma_cm event to the feature it belongs to.
 */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "control.h"
#include "encode.h"
#include "endpoint_internal.h"
#include "ep_wait.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/errname.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "qp.h"
#include "rdqd.h"
#include "shares.h"

static const char *const state_names[] = {
	[EP_IDLE] = "idle",
	[EP_LISTENING] = "listening",
	[EP_WAITING] = "waiting",
	[EP_FAILED] = "failed",
	[EP_RESOLVING] = "resolving",
	[EP_RESOLVED] = "resolved",
	[EP_CONNECTING] = "connecting",
	[EP_READYING] = "readying",
	[EP_CONNECTED] = "connected",
	[EP_DISCONNECTING] = "disconnecting",
	[EP_DISCONNECTED] = "disconnected",
};

#define TO(state) (1u << (state))

/* The legal moves: legal_moves[from] has a bit for each state the endpoint may go to. */
static const unsigned legal_moves[] = {
	/* listen, connect, and accept on a passive endpoint */
	/* listen, connect, accept; a direct listener's connection request (resolved) */
	[EP_IDLE] = TO(EP_LISTENING) | TO(EP_RESOLVING) | TO(EP_CONNECTING) | TO(EP_RESOLVED) |
		    TO(EP_WAITING) | TO(EP_FAILED),
	/* a listener that waits: its address, or its device, went away */
	[EP_LISTENING] = TO(EP_WAITING),
	/* a listener that waits: tried again, on an address or device event */
	[EP_WAITING] = TO(EP_LISTENING) | TO(EP_FAILED),
	[EP_FAILED] = TO(EP_LISTENING) | TO(EP_WAITING),
	/* the route is resolved: connect; or, direct, wait for the client's QP */
	[EP_RESOLVING] = TO(EP_CONNECTING) | TO(EP_RESOLVED),
	/* direct: connect sent (active), or the QP's attributes given (passive) */
	[EP_RESOLVED] = TO(EP_CONNECTING) | TO(EP_READYING),
	/* established; or, direct active, the peer accepted: the QP's attributes given */
	[EP_CONNECTING] = TO(EP_CONNECTED) | TO(EP_READYING),
	/* direct: the RTU sent (active), or the accept sent (passive) */
	[EP_READYING] = TO(EP_CONNECTED) | TO(EP_CONNECTING),
	/* our DREQ, or the peer's (DISCONNECTED straight away) */
	[EP_CONNECTED] = TO(EP_DISCONNECTING) | TO(EP_DISCONNECTED),
	/* DISCONNECTED arrives; or rdma_disconnect failed and no DREQ went out */
	[EP_DISCONNECTING] = TO(EP_DISCONNECTED) | TO(EP_CONNECTED),
	[EP_DISCONNECTED] = 0,
};

bool ep_setting_up(const struct ep *ep)
{
	return ep->state == EP_RESOLVING || ep->state == EP_RESOLVED ||
	       ep->state == EP_CONNECTING || ep->state == EP_READYING;
}

const char *ep_state_name(enum ep_state state)
{
	return state_names[state];
}

/* The one place an endpoint's state changes. A move off the table is a bug in rdqd. */
void ep_set_state(struct ep *ep, enum ep_state to)
{
	if (!(legal_moves[ep->state] & TO(to))) {
		log_err("ep %llu: no move from %s to %s", (unsigned long long)ep->obj.handle,
			state_names[ep->state], state_names[to]);
		abort();
	}
	log_debug("ep %llu: %s -> %s", (unsigned long long)ep->obj.handle, state_names[ep->state],
		  state_names[to]);
	ep->state = to;
}

const char *sync_scope_name(enum sync_scope scope)
{
	return scope == SYNC_ENDPOINT ? "endpoint" : scope == SYNC_DEVICE ? "device" : "none";
}

const char *ep_role_name(enum ep_role role)
{
	/* An accepted endpoint is "passive" on the wire, as rdma_cm names its side. */
	return role == EP_LISTENER ? "listener" : role == EP_ACTIVE ? "active" : "passive";
}

static void ep_release(struct object *obj)
{
	struct ep *ep = (struct ep *)obj;

	pthread_mutex_destroy(&ep->lock);
	work_serial_destroy(&ep->own_serial);
	pthread_mutex_destroy(&ep->state_lock);
	free(ep->children);
	free(ep->wait);
	free(ep->rules); /* NULL, but for an endpoint that was never published */
	free(ep);
}

/*
 * Lists a tied endpoint under its connection, so that the connection's close
 * finds it in O(its own endpoints), not by a walk over every endpoint. The
 * connection is open: it is the request's, or a serve listener's client,
 * whose close would have destroyed the listener. Were it closed, it would
 * have no list, and the endpoint would stay, tied to nothing.
 */
static void ep_tie(struct ep *ep)
{
	struct list *tied = ep->tied_conn ? control_tied(ep->d, ep->tied_conn) : NULL;

	if (tied) {
		list_push_front(tied, &ep->tied);
		ep->tied_list = tied;
	}
}

void ep_unwait(struct ep *ep)
{
	struct listen_wait *w = ep->wait;

	if (!w)
		return;
	if (w->bucket)
		list_remove(w->bucket, &w->by_addr);
	w->bucket = NULL;
	list_remove(&ep->d->listen_waits, &w->all);
	if (w->retry_timer)
		event_free(w->retry_timer);
	w->retry_timer = NULL;
}

void ep_set_rules(struct ep *ep, struct rdq_peer_rules *rules)
{
	RDQ_DISPATCH_ONLY();
	free(ep->rules);
	ep->rules = rules;
}

void ep_untie(struct ep *ep)
{
	if (list_linked(&ep->tied))
		list_remove(ep->tied_list, &ep->tied);
	ep->tied_list = NULL;
}

struct ep *endpoint_new(struct rdqd *d, enum ep_role role, uid_t owner, rdq_handle_t parent,
			rdq_handle_t tied_conn, int *err)
{
	return ep_new(d, role, owner, parent, tied_conn, false, err);
}

struct ep *ep_new(struct rdqd *d, enum ep_role role, uid_t owner, rdq_handle_t parent,
		  rdq_handle_t tied_conn, bool rdqds_own, int *err)
{
	struct ep *ep;

	/*
	 * A count kept per uid: the same cost however many endpoints there are.
	 * The endpoints peers make on the user's listeners are not the user's
	 * doing: they are admitted against the network's limits instead
	 * (admission.c), and counted apart (object.network).
	 */
	if (role != EP_ACCEPTED && !rdqds_own) {
		if (shares_count(d, owner, SHARE_ENDPOINTS) >= d->opt.max_endpoints) {
			*err = -EDQUOT;
			return NULL;
		}
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		*err = -ENOMEM;
		return NULL;
	}
	atomic_init(&ep->obj.refs, 2); /* the table's and the caller's */
	ep->obj.kind = OBJ_EP;
	ep->obj.owner = owner;
	ep->obj.release = ep_release;
	ep->obj.network = role == EP_ACCEPTED;
	ep->obj.unshared = rdqds_own;
	ep->d = d;
	ep->role = role;
	ep->parent = parent;
	ep->tied_conn = tied_conn;
	ep->state = EP_IDLE;
	ep->early_event = -1;
	ep->destroy_status = -ECANCELED;
	ep->destroy_message = "the endpoint was destroyed";
	pthread_mutex_init(&ep->lock, NULL);
	pthread_mutex_init(&ep->state_lock, NULL);
	work_serial_init(&ep->own_serial, &ep->state_lock);
	ep->serial = d->opt.sync_scope == SYNC_ENDPOINT ? &ep->own_serial
		     : d->opt.sync_scope == SYNC_DEVICE ? &d->device_serial
							: NULL;
	*err = object_publish(d, ep);
	if (*err < 0) {
		if (*err == -ENOSPC)
			*err = -EDQUOT;
		ep_release(&ep->obj);
		return NULL;
	}
	ep_tie(ep);
	return ep;
}

struct ep *endpoint_lookup(struct rdqd *d, rdq_handle_t h, uid_t uid)
{
	struct ep *ep = handle_table_lookup(&d->objects, h, OBJ_EP);

	if (ep && !object_visible(ep->obj.owner, uid))
		ep = object_unref(ep);
	return ep;
}

/* Loop-internal lookup of an endpoint a work item or event names; may be gone. */
struct ep *ep_get(struct rdqd *d, rdq_handle_t h)
{
	return handle_table_lookup(&d->objects, h, OBJ_EP);
}

/* Unpublishes an endpoint that never got an rdma_cm_id: nothing to tear down. */
void ep_unpublish_unused(struct ep *ep)
{
	ep_untie(ep);
	ep_unwait(ep);
	ep_set_rules(ep, NULL);
	if (object_unpublish(ep->d, ep->obj.handle))
		object_unref(ep); /* the table's reference */
}

/*
 * Takes a work item for one of the endpoint's steps. Only a client's new
 * request (listen, connect, disconnect) is subject to the pool's cap: steps
 * that follow rdma_cm events or free resources must not be refused.
 */
struct work_item *ep_item_for(struct ep *ep, bool capped, work_fn passive, work_fn dispatch,
			      int *err)
{
	struct workers *w = &ep->d->workers;
	struct work_item *item = capped ? work_item_get(w, err) : work_item_get_uncapped(w);

	if (!item) {
		if (!capped && err)
			*err = -ENOMEM;
		return NULL;
	}
	item->ctx = ep->d;
	item->handle = ep->obj.handle;
	item->passive = passive;
	item->dispatch = dispatch;
	return item;
}

struct work_item *ep_item(struct ep *ep, work_fn passive, work_fn dispatch)
{
	return ep_item_for(ep, false, passive, dispatch, NULL);
}

/*
 * Posts one of the endpoint's worker steps to its event queue. The teardown
 * is the last item ever posted for an endpoint (it is unpublished first),
 * and the endpoint lives until the teardown is back: so the queue, which is
 * part of the endpoint, outlives every item on it.
 */
void ep_post(struct ep *ep, struct work_item *item)
{
	work_item_post(&ep->d->workers, ep->serial, item);
}

void endpoints_init(struct rdqd *d)
{
	pthread_mutex_init(&d->device_lock, NULL);
	work_serial_init(&d->device_serial, &d->device_lock);
}

void endpoints_fini(struct rdqd *d)
{
	admission_fini(d);
	if (!d->device_serial.state_lock)
		return; /* never initialized */
	work_serial_destroy(&d->device_serial);
	pthread_mutex_destroy(&d->device_lock);
}

/* Each endpoint event as encode.c writes it (docs/protocol.md, Events). */
static const enum event_kind ep_event_kinds[] = {
	[EP_EVENT_ESTABLISHED] = EVENT_EP_ESTABLISHED,
	[EP_EVENT_DISCONNECTED] = EVENT_EP_DISCONNECTED,
	[EP_EVENT_ERROR] = EVENT_EP_ERROR,
	[EP_EVENT_DESTROYED] = EVENT_EP_DESTROYED,
};

void ep_broadcast_event(struct ep *ep, enum ep_event type, int status)
{
	struct event_view e = {
		.kind = ep_event_kinds[type], .ep = ep->obj.handle, .qp = ep->qp, .status = status};

	control_broadcast(ep->d, ep->obj.owner, &e);
}

void ep_broadcast_error(struct ep *ep, int status, const char *reason)
{
	struct event_view e = {
		.kind = EVENT_EP_ERROR, .ep = ep->obj.handle, .status = status, .reason = reason};

	control_broadcast(ep->d, ep->obj.owner, &e);
}

int ep_tell_flush(struct ep *ep, int status)
{
	struct event_view e = {.kind = EVENT_EP_FLUSH, .ep = ep->obj.handle, .status = status};

	if (ep->flush_told)
		return 0;
	ep->flush_told = true;
	return control_announce(ep->d, ep->tied_conn,
				encode_event(control_body(), RDQ_MAX_MESSAGE, &e));
}

void ep_stop_setup_timer(struct ep *ep)
{
	if (ep->setup_timer) {
		event_free(ep->setup_timer);
		ep->setup_timer = NULL;
	}
}

void ep_id_device(const struct rdma_cm_id *id, char *name, size_t size, int *port)
{
	bool bound = id && id->verbs;

	snprintf(name, size, "%s", bound ? id->verbs->device->name : "");
	*port = bound ? id->port_num : 0;
}

void ep_format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, size, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, size, "[%s]:%d", host, port);
	} else {
		snprintf(buf, size, "-");
	}
}

bool ep_children_add(struct ep *listener, struct ep *child)
{
	if (listener->nchildren == listener->children_cap) {
		unsigned cap = listener->children_cap ? listener->children_cap * 2 : 8;
		rdq_handle_t *c = realloc(listener->children, cap * sizeof(*c));

		if (!c)
			return false;
		listener->children = c;
		listener->children_cap = cap;
	}
	child->child_index = listener->nchildren;
	listener->children[listener->nchildren++] = child->obj.handle;
	return true;
}

/* The last child takes the leaver's place: no walk over a listener of thousands. */
void ep_children_remove(struct ep *listener, struct ep *child)
{
	unsigned i = child->child_index;
	struct ep *moved;

	if (i >= listener->nchildren || listener->children[i] != child->obj.handle)
		return; /* not (any more) among them */
	listener->children[i] = listener->children[--listener->nchildren];
	if (i == listener->nchildren)
		return;
	moved = ep_get(listener->d, listener->children[i]);
	if (moved) {
		moved->child_index = i;
		object_unref(moved);
	}
}

/* Finds the item's endpoint and takes its lock; NULL (status -ENOENT) if gone. */
struct ep *ep_step_enter(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct ep *ep = handle_table_lookup(&d->objects, item->handle, OBJ_EP);

	if (!ep) {
		item->status = -ENOENT;
		return NULL;
	}
	pthread_mutex_lock(&ep->lock);
	if (ep->dead) {
		/* Found before it was unpublished, locked after its teardown. */
		pthread_mutex_unlock(&ep->lock);
		object_unref(ep);
		item->status = -ENOENT;
		return NULL;
	}
	return ep;
}

void ep_step_leave(struct ep *ep)
{
	pthread_mutex_unlock(&ep->lock);
	object_unref(ep);
}

void endpoint_view(struct ep *ep, struct ep_view *out)
{
	struct qp *qp = ep->qp_active;

	*out = (struct ep_view){
		.ep = ep->obj.handle,
		.qp = ep->qp,
		.role = ep_role_name(ep->role),
		.state = ep_state_name(ep->state),
		.parent = ep->parent,
		.owner = ep->obj.owner,
		.tied = ep->tied_conn != 0,
		.sent = qp ? qp->sent : 0,
		.received = qp ? qp->received : 0,
		.echoed = qp ? qp->echoed : 0,
		/* echo, serve or direct: what becomes of a listener's peers' messages. */
		.mode = ep->direct		? "direct"
			: ep->role == EP_ACTIVE ? NULL
			: ep->serve		? "serve"
						: "echo",
		.qp_num = ep->qp_num,
		.client_pid = ep->direct ? ep->client_pid : 0,
		.listener = ep->role == EP_LISTENER,
		.connections = ep->nchildren,
		.max_connections = ep->max_connections,
		.rules = ep->rules,
	};
	ep_format_addr(&ep->local, out->local, sizeof(out->local));
	if (ep->wait) {
		out->name = ep->wait->name[0] ? ep->wait->name : NULL;
		out->reason = ep->wait->why[0] ? ep->wait->why : NULL;
		/* Not bound: the address it waits for. */
		if (ep->state != EP_LISTENING)
			ep_format_addr(&ep->wait->want, out->local, sizeof(out->local));
	}
	ep_format_addr(&ep->remote, out->remote, sizeof(out->remote));
}
