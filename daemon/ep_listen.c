/* SPDX-License-Identifier: MIT */
/*
 * ep.listen: a listener bound to an address, its rdma_cm_id made and
 * listening on a worker. And how an endpoint a client's request asks for
 * begins, which ep.connect shares: the endpoint with its first work item,
 * and, on the worker, the address resolved and the rdma_cm_id made for it;
 * the addresses rdma_cm then reports are saved for the loop.
 */
#include "endpoint.h"

#include <errno.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "protocol/ops_table.h"
#include "rdqd.h"
#include "work.h"

static void listen_done(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct request *req = work_of(item)->request;
	struct ep *ep = ep_get(item->ctx, item->handle);

	if (!ep) {
		request_fail(req, -ENOENT, "endpoint %llu was destroyed while it was being set up",
			     (unsigned long long)item->handle);
	} else if (item->status < 0) {
		request_fail(req, item->status, "cannot listen on %s:%d: %s", a->addr, a->port,
			     strerror(-item->status));
		ep_unpublish_unused(ep);
	} else {
		ep_set_state(ep, EP_LISTENING);
		ep->local = a->local;
		request_complete(req, 0,
				 RESULT(RESULT_LISTENING,
					.listening = {ep->obj.handle, ep->direct  ? "direct"
								      : ep->serve ? "serve"
										  : "echo"}),
				 NULL);
	}
	object_unref(ep);
	free(a);
}

struct ep *ep_start(struct rdqd *d, struct request *req, enum ep_role role, bool tied,
		    work_fn passive, work_fn dispatch, struct work_item **item_out,
		    struct ep_work_args **args_out)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep;
	int err;

	if (!d->cm) {
		request_fail(req, -ENODEV, "no RDMA here: %s", d->rdma_error);
		return NULL;
	}
	ep = endpoint_new(d, role, req->uid, 0, tied ? req->conn : 0, &err);
	if (!ep) {
		request_fail(req, err,
			     err == -EDQUOT ? "too many endpoints for this user (limit %u)"
					    : "cannot make an endpoint (limit %u)",
			     d->opt.max_endpoints);
		return NULL;
	}
	args = calloc(1, sizeof(*args));
	err = -ENOMEM;
	item = args ? ep_item_for(ep, true, passive, dispatch, &err) : NULL;
	if (!item) {
		free(args);
		ep_unpublish_unused(ep);
		object_unref(ep);
		request_fail_no_work_item(req, err);
		return NULL;
	}
	item->data = args;
	*item_out = item;
	*args_out = args;
	return ep;
}

void ep_listener_init(struct ep *ep, struct request *req, const struct listen_args *l)
{
	snprintf(ep->addr, sizeof(ep->addr), "%s", l->addr);
	ep->port = (uint16_t)l->port;
	ep->backlog = l->backlog;
	ep->max_connections = l->max_connections;
	ep->serve = l->mode == RDQ_MODE_SERVE;
	ep->direct = l->mode == RDQ_MODE_DIRECT;
	ep->client_pid = req->pid;
	ep->timeout_ms = l->timeout_ms;
	ep_set_rules(ep, l->rules);
}

void endpoint_listen(struct rdqd *d, struct request *req, const struct listen_args *l)
{
	struct ep_work_args *args;
	struct work_item *item;
	struct ep *ep;

	RDQ_DISPATCH_ONLY();
	ep = ep_start(d, req, EP_LISTENER, l->tied, ep_work_listen, listen_done, &item, &args);
	if (!ep) {
		free(l->rules);
		return;
	}
	ep_listener_init(ep, req, l);
	snprintf(args->addr, sizeof(args->addr), "%s", l->addr);
	args->port = l->port;
	args->backlog = l->backlog;
	request_set_in_flight(req);
	work_of(item)->request = req;
	ep_post(ep, item);
	object_unref(ep);
}

/* Resolves a numeric or named address; getaddrinfo may block, hence here. */
static int resolve(const char *addr, int port, bool passive, struct addrinfo **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
	char service[8];
	int ret;

	RDQ_PASSIVE_ONLY();
	snprintf(service, sizeof(service), "%d", port);
	ret = getaddrinfo(addr && *addr ? addr : NULL, service, &hints, out);
	if (ret == EAI_SYSTEM)
		return -errno;
	return ret ? -EADDRNOTAVAIL : 0;
}

void ep_save_addrs(struct rdma_cm_id *id, struct ep_work_args *a)
{
	memcpy(&a->local, rdma_get_local_addr(id), sizeof(struct sockaddr_in6));
	memcpy(&a->remote, rdma_get_peer_addr(id), sizeof(struct sockaddr_in6));
}

int ep_create_id(struct work_item *item, bool passive, struct rdma_cm_id **id, struct addrinfo **ai)
{
	struct rdqd *d = item->ctx;
	struct ep_work_args *a = item->data;
	int ret;

	RDQ_PASSIVE_ONLY();
	ret = resolve(a->addr, a->port, passive, ai);
	if (ret < 0)
		return ret;
	/* The id's context is the endpoint's handle, never a pointer to it. */
	if (rdma_create_id(d->cm, id, (void *)(uintptr_t)item->handle, RDMA_PS_TCP)) {
		ret = -errno;
		freeaddrinfo(*ai);
		*ai = NULL;
	}
	return ret;
}

void ep_work_listen(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct rdma_cm_id *id = NULL;
	struct addrinfo *ai = NULL;
	struct ep *ep;
	int ret;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	/* A listener that waits keeps its old id if its unlisten step could not be had (memory). */
	if (ep->id) {
		rdma_destroy_id(ep->id);
		ep->id = NULL;
	}
	ret = ep_create_id(item, true, &id, &ai);
	if (ret == 0 && (rdma_bind_addr(id, ai->ai_addr) || rdma_listen(id, a->backlog))) {
		ret = -errno;
		rdma_destroy_id(id);
	} else if (ret == 0) {
		ep->id = id;
		ep_save_addrs(id, a);
	}
	if (ai)
		freeaddrinfo(ai);
	item->status = ret;
	ep_step_leave(ep);
}
