/* SPDX-License-Identifier: MIT */
/*
 * The simulator's network: rdma_cm's side. Every call rdqd made on an id
 * (recorded by the fakes) owes it an answer, which the seed gives when it
 * likes: resolved or an error, the peer's accept, reject or silence, the RTU
 * of an accept; a connected id may hear the peer's DREQ; a DREQ sent gets its
 * DREP or times out; a listener hears peers' connection requests; any id may
 * see its device go. Now and then an answer comes late, after rdqd destroyed
 * the id (read from the channel just before the destroy). Faults fail the
 * fakes' calls with the errors their documentation gives.
 */
#include <errno.h>
#include <rdma/rdma_cma.h>
#include <string.h>

#include "endpoint.h"
#include "ep_wait.h"
#include "local_addrs.h"
#include "fakes.h"
#include "harness.h"
#include "sim.h"

#define MAX_PEERS_PER_LISTENER 4

/* What the network answered so far, per recorded id. */
static struct answered {
	unsigned addr, route, connect, accept, requests;
	bool connected, disconnected, removed;
	rdq_handle_t handle; /* its endpoint, as the id's context last said */
} answered[FAKE_MAX_IDS];
static unsigned touched; /* answered[] entries a schedule may have written */

void network_reset(void)
{
	memset(answered, 0, sizeof(answered[0]) * touched);
	touched = 0;
}

/* One event the network may give now. */
struct candidate {
	unsigned id; /* index in fake.ids */
	int type;
	int status;
};

#define MAX_CANDIDATES 256

static struct candidate cands[MAX_CANDIDATES];
static unsigned ncands;

static void offer(unsigned id, int type, int status)
{
	if (ncands < MAX_CANDIDATES)
		cands[ncands++] = (struct candidate){id, type, status};
}

/* The answer to one call: mostly the good one, else one of the bad ones. */
static int pick_status(int bad)
{
	return rng_one_in(&sim.rng, 5) ? bad : 0;
}

static void offer_for(unsigned i)
{
	const struct fake_id *f = &fake.ids[i];
	struct answered *a = &answered[i];

	if (a->addr < f->resolve_addrs)
		offer(i, RDMA_CM_EVENT_ADDR_RESOLVED, 0);
	if (a->route < f->resolve_routes)
		offer(i, RDMA_CM_EVENT_ROUTE_RESOLVED, 0);
	if (a->connect < f->connects)
		offer(i, RDMA_CM_EVENT_CONNECT_RESPONSE, 0);
	if (a->accept < f->accepts)
		offer(i, RDMA_CM_EVENT_ESTABLISHED, 0);
	if (a->connected && !a->disconnected)
		offer(i, RDMA_CM_EVENT_DISCONNECTED, f->disconnects ? -ETIMEDOUT : 0);
	if (f->listens && a->requests < MAX_PEERS_PER_LISTENER)
		offer(i, RDMA_CM_EVENT_CONNECT_REQUEST, 0);
	if (!a->removed && rng_one_in(&sim.rng, 64))
		offer(i, RDMA_CM_EVENT_DEVICE_REMOVAL, 0);
}

/* Turns a good answer into the bad one the seed picks, and records what it answered. */
static void answer(struct candidate *c)
{
	struct answered *a = &answered[c->id];

	switch (c->type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		a->addr++;
		if (pick_status(1))
			*c = (struct candidate){c->id, RDMA_CM_EVENT_ADDR_ERROR, -EHOSTUNREACH};
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		a->route++;
		if (pick_status(1))
			*c = (struct candidate){c->id, RDMA_CM_EVENT_ROUTE_ERROR, -ETIMEDOUT};
		break;
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		a->connect++;
		switch (rng_below(&sim.rng, 8)) {
		case 0:
			c->type = RDMA_CM_EVENT_REJECTED;
			c->status = 28; /* the consumer's reject */
			break;
		case 1:
			c->type = RDMA_CM_EVENT_UNREACHABLE;
			c->status = -ETIMEDOUT;
			break;
		case 2:
			c->type = RDMA_CM_EVENT_CONNECT_ERROR;
			c->status = -ECONNRESET;
			break;
		default:
			a->connected = true;
		}
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		a->accept++;
		if (rng_one_in(&sim.rng, 6))
			*c = (struct candidate){c->id, RDMA_CM_EVENT_CONNECT_ERROR, -ETIMEDOUT};
		else
			a->connected = true;
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		a->disconnected = true;
		/* Our DREQ's DREP, or its timeout; without one, the peer's DREQ. */
		if (c->status && !rng_one_in(&sim.rng, 3))
			c->status = 0;
		break;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		a->requests++;
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		a->removed = true;
		given_may_go(a->handle);
		break;
	}
}

static const char *event_name(int type)
{
	switch (type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		return "ADDR_RESOLVED";
	case RDMA_CM_EVENT_ADDR_ERROR:
		return "ADDR_ERROR";
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		return "ROUTE_RESOLVED";
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return "ROUTE_ERROR";
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		return "CONNECT_REQUEST";
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		return "CONNECT_RESPONSE";
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return "CONNECT_ERROR";
	case RDMA_CM_EVENT_UNREACHABLE:
		return "UNREACHABLE";
	case RDMA_CM_EVENT_REJECTED:
		return "REJECTED";
	case RDMA_CM_EVENT_ESTABLISHED:
		return "ESTABLISHED";
	case RDMA_CM_EVENT_DISCONNECTED:
		return "DISCONNECTED";
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return "DEVICE_REMOVAL";
	default:
		return "?";
	}
}

bool network_event(void)
{
	struct candidate c;
	struct rdma_cm_id *id, *new_id = NULL;
	bool late;

	ncands = 0;
	if (fake.nids > touched)
		touched = fake.nids;
	for (unsigned i = 0; i < fake.nids; i++) {
		const struct fake_id *f = &fake.ids[i];

		if (!f->destroys)
			answered[i].handle = (rdq_handle_t)(uintptr_t)f->id->context;
		/* A destroyed id's answers are mostly never read; now and then one comes late. */
		if (answered[i].handle && (!f->destroys || rng_one_in(&sim.rng, 40)))
			offer_for(i);
	}
	if (!ncands)
		return false;
	c = cands[rng_below(&sim.rng, ncands)];
	answer(&c);
	late = fake.ids[c.id].destroys != 0;
	id = late ? NULL : fake.ids[c.id].id;
	if (c.type == RDMA_CM_EVENT_CONNECT_REQUEST) {
		new_id = fake_incoming_id();
		if (!new_id)
			return true;
		rules_peer(fake.nids - 1, answered[c.id].handle, new_id);
		id = new_id;
	}
	trace("cm %s status %d for ep %llu%s", event_name(c.type), c.status,
	      (unsigned long long)answered[c.id].handle, late ? " (late: its id is gone)" : "");
	endpoint_cm_event(&w.d, answered[c.id].handle, c.type, c.status, id, NULL);
	return true;
}

bool network_answer_owed(void)
{
	if (fake.nids > touched)
		touched = fake.nids;
	for (unsigned i = 0; i < fake.nids; i++) {
		const struct fake_id *f = &fake.ids[i];
		struct answered *a = &answered[i];
		int type = -1;

		if (f->destroys)
			continue;
		answered[i].handle = (rdq_handle_t)(uintptr_t)f->id->context;
		if (a->addr < f->resolve_addrs) {
			a->addr++;
			type = RDMA_CM_EVENT_ADDR_RESOLVED;
		} else if (a->route < f->resolve_routes) {
			a->route++;
			type = RDMA_CM_EVENT_ROUTE_RESOLVED;
		} else if (a->connect < f->connects) {
			a->connect++;
			a->connected = true;
			type = RDMA_CM_EVENT_CONNECT_RESPONSE;
		} else if (a->accept < f->accepts) {
			a->accept++;
			a->connected = true;
			type = RDMA_CM_EVENT_ESTABLISHED;
		} else if (f->disconnects && a->connected && !a->disconnected) {
			a->disconnected = true;
			type = RDMA_CM_EVENT_DISCONNECTED;
		}
		if (type < 0 || !a->handle)
			continue;
		trace("the end: cm %s for ep %llu", event_name(type),
		      (unsigned long long)a->handle);
		endpoint_cm_event(&w.d, a->handle, type, 0, f->id, NULL);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------ addresses */

/* The addresses clients listen on: each is on an interface, or not, as the seed says. */
static const char *const local_hosts[] = {"127.0.0.1", "10.0.0.2", "::1"};

bool network_address_change(void)
{
	const char *host = local_hosts[rng_below(&sim.rng, 3)];
	struct sockaddr_storage ss;
	struct local_addr a;
	bool added;

	if (local_addr_from(host, 7471, &ss) < 0 || !local_addr_of(&ss, &a))
		sim_fail("cannot make the address %s", host);
	added = !local_addrs_has(&w.d.local_addrs, &a);
	if (added ? local_addrs_add(&w.d.local_addrs, &a) < 0
		  : !local_addrs_remove(&w.d.local_addrs, &a))
		sim_fail("the address set would not change");
	trace("rtnetlink: address %s %s", host, added ? "added" : "removed");
	/* A listener whose address goes closes its peers' connections (ENETDOWN). */
	for (unsigned i = 0; !added && i < sim.ngiven; i++)
		sim.given[i].may_go = true;
	ep_wait_address_changed(&w.d, &a, added);
	return true;
}

/* ------------------------------------------------------------ faults */

int fault_decide(enum fake_call call)
{
	static const int errors[FAKE_CALLS][3] = {
		[FAKE_CREATE_ID] = {ENOMEM, ENODEV, ENOMEM},
		[FAKE_RESOLVE_ADDR] = {EADDRNOTAVAIL, ENODEV, ENOMEM},
		[FAKE_RESOLVE_ROUTE] = {ETIMEDOUT, ENOMEM, EINVAL},
		[FAKE_CONNECT] = {ENOMEM, EINVAL, EAGAIN},
		[FAKE_ESTABLISH] = {EINVAL, ENOMEM, EINVAL},
		[FAKE_DISCONNECT] = {EINVAL, ENOMEM, EAGAIN},
		[FAKE_BIND] = {EADDRINUSE, EADDRNOTAVAIL, ENODEV},
		[FAKE_LISTEN] = {EADDRINUSE, ENOMEM, EINVAL},
		[FAKE_ACCEPT] = {EINVAL, ENOMEM, ETIMEDOUT},
		[FAKE_REJECT] = {EINVAL, ENOMEM, EINVAL},
		[FAKE_QP_CREATE] = {ENOMEM, EINVAL, ENOMEM},
		[FAKE_QP_ATTR] = {EINVAL, ENOMEM, EINVAL},
		[FAKE_QP_OWNER] = {ENOENT, EAGAIN, ESRCH},
		[FAKE_QP_READY] = {EINVAL, ETIMEDOUT, EINVAL},
		[FAKE_QP_TO_ERROR] = {EINVAL, EIO, EINVAL},
	};
	int err;

	if (call >= FAKE_CALLS || !sim.fault_one_in[call] ||
	    !rng_one_in(&sim.rng, sim.fault_one_in[call]))
		return 0;
	err = errors[call][rng_below(&sim.rng, 3)];
	trace("fault: %s fails with %s", fake_call_name(call), errname(err));
	return err;
}
