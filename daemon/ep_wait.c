/* SPDX-License-Identifier: MIT */
#include "ep_wait.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "device.h"
#include "encode.h"
#include "endpoint.h"
#include "endpoint_internal.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/defaults.h"
#include "protocol/ops_table.h"
#include "rdqd.h"
#include "work.h"

/*
 * The kernel gives an RDMA device a new address (its GID table entry) a
 * moment after the address itself appears, on a work queue of its own, and
 * says nothing when it is done: a bind that finds no device for an address
 * that is there is tried again, 100 ms later and then twice as long each
 * time, RETRIES_MAX times. A device that comes later is an event of its own.
 */
#define RETRY_FIRST_MS 100
#define RETRIES_MAX    7

static struct list *bucket_of(struct rdqd *d, const struct local_addr *a)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < sizeof(*a); i++)
		h = (h ^ ((const unsigned char *)a)[i]) * 16777619u;
	return &d->listen_wait_buckets[h % RDQD_LISTEN_WAIT_BUCKETS];
}

/* "ADDR:PORT" of what the listener waits for. */
static const char *wanted(const struct ep *ep, char *buf, size_t size)
{
	ep_format_addr(&ep->wait->want, buf, size);
	return buf;
}

static void waiting(struct ep *ep, enum ep_state state, const char *why)
{
	struct listen_wait *w = ep->wait;

	if (ep->state != state)
		ep_set_state(ep, state);
	if (strcmp(w->why, why) != 0) {
		snprintf(w->why, sizeof(w->why), "%s", why);
		log_info("listener %s%s%llu: %s %s", w->name, w->name[0] ? ", ep " : "",
			 (unsigned long long)ep->obj.handle, ep_state_name(state), why);
	}
}

static void listen_back(struct work_item *item);
static void unlisten_back(struct work_item *item);

static void request_answer(struct request *req, struct ep *ep)
{
	const char *mode = ep->direct ? "direct" : ep->serve ? "serve" : "echo";

	request_complete(req, 0,
			 RESULT(RESULT_LISTENING,
				.listening = {ep->obj.handle, mode, ep_state_name(ep->state)}),
			 NULL);
}

/* Posts the listen step; the listener's address and an RDMA device are there. */
static int post_listen(struct ep *ep, struct request *req)
{
	struct ep_work_args *args = calloc(1, sizeof(*args));
	struct work_item *item = args ? ep_item(ep, ep_work_listen, listen_back) : NULL;

	if (!item) {
		free(args);
		return -ENOMEM;
	}
	snprintf(args->addr, sizeof(args->addr), "%s", ep->addr);
	args->port = ep->port;
	args->backlog = ep->backlog;
	item->data = args;
	if (req) {
		request_set_in_flight(req);
		work_of(item)->request = req;
	}
	ep->wait->step_out = true;
	ep_post(ep, item);
	return 0;
}

/*
 * Whether the listener can listen now; if not, it waits, saying why. The
 * address first: without it no device could take it.
 */
static bool can_listen(struct ep *ep)
{
	struct listen_wait *w = ep->wait;
	struct rdqd *d = ep->d;
	char addr[80], why[sizeof(w->why)];

	if (!local_addrs_has(&d->local_addrs, &w->addr)) {
		snprintf(why, sizeof(why), "for the address: %s is on no interface",
			 wanted(ep, addr, sizeof(addr)));
	} else if (!d->cm) {
		snprintf(why, sizeof(why), "for an RDMA device: %s", d->rdma_error);
	} else if (w->device_gone) {
		snprintf(why, sizeof(why), "for an RDMA device: the device of %s was removed",
			 wanted(ep, addr, sizeof(addr)));
	} else {
		return true;
	}
	waiting(ep, EP_WAITING, why);
	return false;
}

/* The listener is not listening: it listens if it can (req: the ep.listen, or NULL). */
static void try_listen(struct ep *ep, struct request *req)
{
	if (!can_listen(ep)) {
		if (req)
			request_answer(req, ep);
		return;
	}
	if (post_listen(ep, req) < 0) {
		if (req) {
			/* A client's listener goes as any whose listen failed. */
			request_fail(req, -ENOMEM, "out of memory");
			ep_unpublish_unused(ep);
			return;
		}
		waiting(ep, EP_FAILED,
			"out of memory; tried again at the next address or device "
			"event");
	}
}

/*
 * Its address, or its device, went: its peers' connections end, its
 * rdma_cm_id is destroyed on a worker, and it waits. The state says so now.
 */
static void stop_listening(struct ep *ep, const char *why)
{
	struct work_item *item = ep_item(ep, ep_work_unlisten, unlisten_back);

	/* ENODEV as at any device removal: each peer's teardown then has the devices read again. */
	ep->destroy_status = ep->wait->device_gone ? -ENODEV : -ENETDOWN;
	ep->destroy_message = ep->wait->device_gone ? "the RDMA device was removed"
						    : "the listener's address went away";
	ep_destroy_children(ep);
	ep->destroy_status = -ECANCELED;
	ep->destroy_message = "the endpoint was destroyed";
	memset(&ep->local, 0, sizeof(ep->local));
	waiting(ep, EP_WAITING, why);
	if (!item) {
		/* Its id stays, not listened on by anyone: the next listen step destroys it first.
		 */
		log_warn("ep %llu: cannot close its rdma_cm_id: out of memory",
			 (unsigned long long)ep->obj.handle);
		return;
	}
	ep->wait->step_out = true;
	ep_post(ep, item);
}

/* Brings the listener to what its address and the devices allow now. */
static void look_again(struct ep *ep)
{
	struct listen_wait *w = ep->wait;
	char addr[80], why[sizeof(w->why)];

	if (w->step_out) {
		w->again = true;
		return;
	}
	if (ep->d->shutting_down)
		return;
	if (ep->state != EP_LISTENING) {
		try_listen(ep, NULL);
		return;
	}
	if (!local_addrs_has(&ep->d->local_addrs, &w->addr)) {
		snprintf(why, sizeof(why), "for the address: %s went away",
			 wanted(ep, addr, sizeof(addr)));
		stop_listening(ep, why);
	} else if (w->device_gone) {
		snprintf(why, sizeof(why), "for an RDMA device: the device of %s was removed",
			 wanted(ep, addr, sizeof(addr)));
		stop_listening(ep, why);
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct listen_wait *w = arg;
	struct rdqd *d = w->d;
	struct ep *ep = ep_get(d, w->handle);
	uint64_t start = now_us();

	if (ep) {
		look_again(ep);
		object_unref(ep);
	}
	loop_histogram_record(d, start);
}

/* An address no device took yet: tried again a little later (RETRY_FIRST_MS). */
static void retry_later(struct ep *ep)
{
	struct listen_wait *w = ep->wait;
	unsigned ms = RETRY_FIRST_MS << w->retries;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (w->retries >= RETRIES_MAX)
		return;
	if (!w->retry_timer)
		w->retry_timer = evtimer_new(ep->d->base, on_retry, w);
	if (w->retry_timer && !evtimer_pending(w->retry_timer, NULL)) {
		w->retries++;
		evtimer_add(w->retry_timer, &tv);
	}
}

static void listen_back(struct work_item *item)
{
	struct ep_work_args *a = item->data;
	struct request *req = work_of(item)->request;
	struct ep *ep = ep_get(item->ctx, item->handle);
	char addr[80], why[200];

	if (!ep) {
		if (req)
			request_fail(req, -ENOENT,
				     "endpoint %llu was destroyed while it was being "
				     "set up",
				     (unsigned long long)item->handle);
		free(a);
		return;
	}
	ep->wait->step_out = false;
	wanted(ep, addr, sizeof(addr));
	if (item->status == 0) {
		ep->local = a->local;
		ep->wait->retries = 0;
		ep->wait->why[0] = '\0';
		ep_set_state(ep, EP_LISTENING);
		log_info("listener %s%s%llu: listening on %s", ep->wait->name,
			 ep->wait->name[0] ? ", ep " : "", (unsigned long long)ep->obj.handle,
			 addr);
		if (req)
			request_answer(req, ep);
	} else if (item->status == -EADDRNOTAVAIL || item->status == -ENODEV) {
		/* The address is there (or was, a moment ago), but no RDMA device has it. */
		snprintf(why, sizeof(why), "for an RDMA device: none has %s (%s)", addr,
			 strerror(-item->status));
		waiting(ep, EP_WAITING, why);
		retry_later(ep);
		if (req)
			request_answer(req, ep);
	} else if (req) {
		/* A client's listener fails as any other would: the client hears why. */
		request_fail(req, item->status, "cannot listen on %s: %s", addr,
			     strerror(-item->status));
		ep_unpublish_unused(ep);
		object_unref(ep);
		free(a);
		return;
	} else {
		snprintf(why, sizeof(why),
			 "cannot listen on %s: %s; tried again at the next "
			 "address or device event",
			 addr, strerror(-item->status));
		waiting(ep, EP_FAILED, why);
	}
	if (ep->wait->again) {
		ep->wait->again = false;
		look_again(ep);
	}
	object_unref(ep);
	free(a);
}

static void unlisten_back(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct ep *ep = ep_get(d, item->handle);

	if (!ep)
		return;
	ep->wait->step_out = false;
	ep->wait->again = false;
	/* Its id is gone from a removed device: librdmacm may let the device go now. */
	if (ep->wait->device_gone)
		device_resync(d);
	look_again(ep);
	object_unref(ep);
}

void ep_work_unlisten(struct work_item *item)
{
	struct ep *ep;

	RDQ_PASSIVE_ONLY();
	ep = ep_step_enter(item);
	if (!ep)
		return;
	if (ep->id) {
		/* Waits until the loop has acked every event of this id. */
		rdma_destroy_id(ep->id);
		ep->id = NULL;
	}
	item->status = 0;
	ep_step_leave(ep);
}

/*
 * ep.listen with wait_address: the listener is made whether its address is
 * there or not, and waits for it (ep_wait.c). Even without RDMA: it waits
 * for a device then. The address must be numeric, to be found among those
 * the kernel reports.
 */
void endpoint_listen_waiting(struct rdqd *d, struct request *req, const struct listen_args *l)
{
	struct listen_wait *w = calloc(1, sizeof(*w));
	struct ep *ep;
	int err = -ENOMEM;

	RDQ_DISPATCH_ONLY();
	if (!w) {
		free(l->rules);
		request_fail(req, -ENOMEM, "out of memory");
		return;
	}
	if (local_addr_from(l->addr, l->port, &w->want) < 0) {
		free(w);
		free(l->rules);
		request_fail(req, -EINVAL,
			     "wait_address needs a numeric address (IPv4 or IPv6), not \"%s\"",
			     l->addr);
		return;
	}
	ep = endpoint_new(d, EP_LISTENER, req->uid, 0, l->tied ? req->conn : 0, &err);
	if (!ep) {
		free(w);
		free(l->rules);
		request_fail(req, err,
			     err == -EDQUOT ? "too many endpoints for this user (limit %u)"
					    : "cannot make an endpoint (limit %u)",
			     d->opt.max_endpoints);
		return;
	}
	ep_listener_init(ep, req, l);
	ep_wait_begin(ep, w, req);
	object_unref(ep);
}

void ep_wait_begin(struct ep *ep, struct listen_wait *w, struct request *req)
{
	struct rdqd *d = ep->d;

	RDQ_DISPATCH_ONLY();
	local_addr_of(&w->want, &w->addr);
	w->d = d;
	w->handle = ep->obj.handle;
	ep->wait = w;
	w->bucket = bucket_of(d, &w->addr);
	list_push_back(w->bucket, &w->by_addr);
	list_push_back(&d->listen_waits, &w->all);
	try_listen(ep, req);
}

/* A copy of decl's rules for its listener, or NULL with *rules_out NULL when it has none. */
static int rules_copy(const struct rdq_peer_rules *rules, struct rdq_peer_rules **rules_out)
{
	*rules_out = NULL;
	if (!rdq_peer_rules_any(rules))
		return 0;
	*rules_out = malloc(sizeof(**rules_out));
	if (!*rules_out)
		return -ENOMEM;
	**rules_out = *rules;
	return 0;
}

unsigned long long ep_wait_declare(struct rdqd *d, const struct listen_decl *decl)
{
	struct listen_wait *w = calloc(1, sizeof(*w));
	struct rdq_peer_rules *rules = NULL;
	struct ep *ep = NULL;
	unsigned long long h;
	char host[INET6_ADDRSTRLEN] = "";
	int err = -ENOMEM;

	/* Without its rules, never: a listener that should refuse peers would admit them. */
	if (w && rules_copy(&decl->rules, &rules) == 0)
		ep = ep_new(d, EP_LISTENER, 0, 0, 0, true, &err);
	if (!ep) {
		free(w);
		free(rules);
		log_err("listener %s: cannot make it: %s", decl->name, strerror(-err));
		return 0;
	}
	ep_set_rules(ep, rules);
	snprintf(w->name, sizeof(w->name), "%s", decl->name);
	w->want = decl->addr;
	if (decl->addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&decl->addr)->sin6_addr, host,
			  sizeof(host));
		ep->port = ntohs(((const struct sockaddr_in6 *)&decl->addr)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&decl->addr)->sin_addr, host,
			  sizeof(host));
		ep->port = ntohs(((const struct sockaddr_in *)&decl->addr)->sin_port);
	}
	snprintf(ep->addr, sizeof(ep->addr), "%s", host);
	ep->backlog = RDQ_DEFAULT_BACKLOG;
	ep->max_connections = decl->max_connections;
	ep_wait_begin(ep, w, NULL);
	h = ep->obj.handle;
	object_unref(ep);
	return h;
}

void ep_wait_address_changed(struct rdqd *d, const struct local_addr *addr, bool added)
{
	struct list *bucket = bucket_of(d, addr);
	struct list_node *n, *next;

	RDQ_DISPATCH_ONLY();
	/* Only the listeners whose address hashes alike: the others cannot care. */
	for (n = bucket->first; n; n = next) {
		struct listen_wait *w = list_entry(n, struct listen_wait, by_addr);
		struct ep *ep = ep_get(d, w->handle);

		next = n->next;
		if (!ep)
			continue;
		if (memcmp(&w->addr, addr, sizeof(*addr)) == 0) {
			if (added)
				w->retries = 0;
			look_again(ep);
		}
		object_unref(ep);
	}
}

void ep_wait_all_look_again(struct rdqd *d)
{
	struct list_node *n, *next;

	RDQ_DISPATCH_ONLY();
	for (n = d->listen_waits.first; n; n = next) {
		struct listen_wait *w = list_entry(n, struct listen_wait, all);
		struct ep *ep = ep_get(d, w->handle);

		next = n->next;
		if (!ep)
			continue;
		w->device_gone = false;
		w->retries = 0;
		look_again(ep);
		object_unref(ep);
	}
}

void ep_wait_device_removed(struct ep *ep)
{
	log_warn("ep %llu: its RDMA device was removed; it waits for one",
		 (unsigned long long)ep->obj.handle);
	ep->d->counters.device_removals++;
	ep->wait->device_gone = true;
	look_again(ep);
}

void ep_wait_undeclare(struct rdqd *d, unsigned long long h)
{
	struct ep *ep = ep_get(d, h);

	if (!ep)
		return;
	ep->destroy_message = "its declared listener was removed or changed";
	endpoint_destroy(ep, NULL);
	object_unref(ep);
}

int ep_wait_declared_rules(struct rdqd *d, unsigned long long h, const struct rdq_peer_rules *rules)
{
	struct ep *ep = h ? ep_get(d, h) : NULL;
	struct rdq_peer_rules *copy;
	int ret = -ENOENT;

	RDQ_DISPATCH_ONLY();
	if (ep) {
		ret = rules_copy(rules, &copy);
		if (ret == 0)
			ep_set_rules(ep, copy);
	}
	object_unref(ep);
	return ret;
}

bool ep_wait_declared_alive(struct rdqd *d, unsigned long long h)
{
	struct ep *ep = h ? ep_get(d, h) : NULL;

	object_unref(ep);
	return ep != NULL;
}
