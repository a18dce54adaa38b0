/* SPDX-License-Identifier: MIT */
/*
 * rdma_cm's events for an endpoint, on the loop: each goes to the feature
 * that handles it (ep_connect.c, ep_accept.c, ep_establish.c,
 * ep_disconnect.c, ep_teardown.c). cm.c calls this after acking the event.
 */
#include "endpoint.h"

#include <errno.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>

#include "endpoint_internal.h"
#include "ep_wait.h"
#include "engine/level.h"
#include "rdqd.h"

void endpoint_cm_event(struct rdqd *d, rdq_handle_t h, int type, int status, struct rdma_cm_id *id,
		       const char *peer_says)
{
	struct ep *ep = ep_get(d, h);
	char why[200];

	RDQ_DISPATCH_ONLY();
	if (!ep) {
		/* An event for an endpoint destroyed meanwhile. */
		d->counters.cm_stale++;
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST)
			ep_reject_orphan(d, id);
		return;
	}
	switch (type) {
	/* Making the connection: ep_connect.c, ep_accept.c, ep_establish.c. */
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		ep_addr_resolved(ep);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		ep_route_resolved(ep, id);
		break;
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		if (ep->direct)
			ep_direct_connect_response(ep); /* ep_direct.c */
		else
			ep_connect_response(ep);
		break;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		ep_connect_request(d, ep, id);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (ep->direct)
			ep_direct_established(ep);
		else
			ep_established(ep);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		ep_connect_error(ep, status < 0 ? status : -EHOSTUNREACH, rdma_event_str(type));
		break;
	case RDMA_CM_EVENT_REJECTED:
		/* The peer's own words, if it gave any: an rdqd says which limit it met. */
		snprintf(why, sizeof(why), "the peer rejected the connection%s%s",
			 peer_says ? ": " : "", peer_says ? peer_says : "");
		ep_connect_error(ep, -ECONNREFUSED, why);
		break;
	/* Its end: ep_disconnect.c and ep_teardown.c. */
	case RDMA_CM_EVENT_DISCONNECTED:
		ep_disconnected(ep, status);
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		/* A listener that waits outlives its id: it waits for a device again. */
		if (ep->wait)
			ep_wait_device_removed(ep);
		else
			ep_device_removed(ep);
		break;
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		/* The QP may be reused now; ours is torn down with the endpoint anyway. */
	case RDMA_CM_EVENT_ADDR_CHANGE:
		/* Bonding failover and the like: the connection goes on. */
	case RDMA_CM_EVENT_MULTICAST_JOIN:
	case RDMA_CM_EVENT_MULTICAST_ERROR:
		/* rdq joins no multicast groups. */
	default:
		break;
	}
	object_unref(ep);
}
