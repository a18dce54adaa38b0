/* SPDX-License-Identifier: MIT */
/*
 * Listeners that wait for their address: a declared listener (listen.d,
 * declared.c) and a client's ep.listen with wait_address. Such a listener
 * is an endpoint that outlives its rdma_cm_id: while its address is on no
 * interface, or no RDMA device has it, it waits (EP_WAITING) without one;
 * when the address comes (rtnetlink, addr_watch.c) or the devices change
 * (device.c), a worker binds and listens again; when the address goes, or
 * rdma_cm says its device is being removed, its peers' endpoints are
 * destroyed, a worker destroys its id, and it waits again. A failure of
 * another kind (the port is taken) leaves it failed (EP_FAILED), tried again
 * at the next address or device event.
 *
 * One step (listen or unlisten) is out at a time per listener: an event that
 * comes meanwhile is looked at again when the step is back, so steps never
 * overtake each other whatever the sync scope. Loop only, but for the
 * worker step ep_work_unlisten.
 */
#ifndef RDQD_EP_WAIT_H
#define RDQD_EP_WAIT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "engine/list.h"
#include "listen_file.h"
#include "local_addrs.h"

struct ep;
struct event;
struct rdqd;
struct request;
struct work_item;

/* What a listener that waits waits with; the endpoint's (ep->wait), loop only. */
struct listen_wait {
	char name[LISTEN_NAME_MAX];   /* a declared listener's name, or "" */
	struct sockaddr_storage want; /* its address and port */
	struct local_addr addr;	      /* its address alone, as the host's are kept */
	struct list_node by_addr;     /* on its address's bucket (rdqd's listen_wait_buckets) */
	struct list *bucket;
	struct list_node all; /* on rdqd's listen_waits */
	char why[200];	      /* why it is not listening: ep.show's reason; "" when it is */
	bool step_out;	      /* a listen or unlisten step is out */
	bool again;	      /* an event came while it was: look again when it is back */
	bool device_gone;     /* rdma_cm removed its device: wait for the devices to change */
	unsigned retries;     /* tries since the address came, while no device took it */
	struct event *retry_timer;
	struct rdqd *d;
	unsigned long long handle; /* its endpoint's, for the timer */
};

/*
 * Starts a listener that waits: ep (a listener made with its addr, port,
 * backlog and mode, no rdma_cm_id) gets w and is listed by its address;
 * it listens at once if it can, or waits. req (may be NULL) is answered
 * with the listener, listening or waiting; a failure other than a missing
 * address or device fails req and destroys the endpoint, as a plain
 * ep.listen's does. Without req (a declared listener), it stays, failed.
 */
void ep_wait_begin(struct ep *ep, struct listen_wait *w, struct request *req);

/*
 * A declared listener, rdqd's own: made from decl, counted in no user's
 * share and tied to no client. Returns its handle, or 0 (logged) when it
 * cannot be made.
 */
unsigned long long ep_wait_declare(struct rdqd *d, const struct listen_decl *decl);

/*
 * Destroys declared listener h (its file was removed, or changed), its
 * peers' connections with it. Nothing if it is gone already.
 */
void ep_wait_undeclare(struct rdqd *d, unsigned long long h);
/*
 * Gives declared listener h the address rules of its changed file (a copy):
 * the peers connected stay, those that come later meet the new rules.
 * Returns 0, -ENOENT (it is gone) or -ENOMEM (it keeps the old rules).
 */
int ep_wait_declared_rules(struct rdqd *d, unsigned long long h,
			   const struct rdq_peer_rules *rules);
/* Whether declared listener h is still there (a shutdown destroys it too). */
bool ep_wait_declared_alive(struct rdqd *d, unsigned long long h);

/* rtnetlink: addr is on an interface now (added), or no longer. */
void ep_wait_address_changed(struct rdqd *d, const struct local_addr *addr, bool added);
/* The RDMA devices changed, or the host's addresses were read again: every waiter looks again. */
void ep_wait_all_look_again(struct rdqd *d);
/* rdma_cm's DEVICE_REMOVAL on a listener that waits: it waits for a device again. */
void ep_wait_device_removed(struct ep *ep);

/* PASSIVE: destroys the listener's rdma_cm_id, keeping the endpoint. */
void ep_work_unlisten(struct work_item *item);

#endif
