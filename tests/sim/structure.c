/* SPDX-License-Identifier: MIT */
/*
 * What the simulator checks of rdqd's own bookkeeping: every listener holds
 * at most its max_connections peers, each at its own place; an EDQUOT came
 * only at the user's limit, not because of peers' connections; once
 * everything ran, what a closed client tied is gone and every served
 * connection that is up was announced. And one more actor: a connection
 * failing under its endpoint (a send completed with an error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "endpoint.h"
#include "harness.h"
#include "object.h"
#include "qp.h"
#include "fakes.h"
#include "protocol/errname.h"
#include "protocol/ops_table.h"
#include "sim.h"

/* ------------------------------------------------------------ listeners */

static bool is_listener(void *object, void *arg)
{
	(void)arg;
	return ((const struct ep *)object)->role == EP_LISTENER;
}

/* Each listener's peers: no more than it admits, each at its own place. */
static void listener_check(rdq_handle_t h)
{
	struct ep *l = endpoint_lookup(&w.d, h, w.uid);

	if (!l)
		return;
	if (l->nchildren > l->max_connections)
		sim_fail("listener %llu holds %u peers, more than its max_connections %u",
			 (unsigned long long)h, l->nchildren, l->max_connections);
	for (unsigned i = 0; i < l->nchildren; i++) {
		struct ep *c = endpoint_lookup(&w.d, l->children[i], w.uid);

		/* Unpublished on its way out, a peer is still listed until the loop drops it. */
		if (c && (c->parent != h || c->child_index != i))
			sim_fail("listener %llu's peer %llu: parent %llu, place %u, listed at %u",
				 (unsigned long long)h, (unsigned long long)l->children[i],
				 (unsigned long long)c->parent, c->child_index, i);
		object_unref(c);
	}
	object_unref(l);
}

void structure_check(void)
{
	unsigned n;
	rdq_handle_t *listeners;

	if (handle_table_collect(&w.d.objects, OBJ_EP, is_listener, NULL, &listeners, &n) < 0)
		sim_fail("out of memory collecting the listeners");

	for (unsigned i = 0; i < n; i++)
		listener_check(listeners[i]);
	free(listeners);
}

/* ---------------------------------------------------------------- quota */

static bool count_own(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;

	(void)h;
	if (ep->role != EP_ACCEPTED)
		(*(unsigned *)arg)++;
	return true;
}

void quota_check(const struct sent *s)
{
	unsigned own = 0;

	handle_table_foreach(&w.d.objects, OBJ_EP, count_own, &own);
	if (own < w.d.opt.max_endpoints)
		sim_fail("id %lld (%s) got EDQUOT with %u endpoints of the user's own, limit %u: "
			 "peers' connections must not count",
			 (long long)s->id, rdq_ops[s->op].name, own, w.d.opt.max_endpoints);
}

/* ---------------------------------------------------------------- given */

struct given *given_find(rdq_handle_t ep)
{
	for (unsigned i = sim.ngiven; i-- > 0;)
		if (sim.given[i].ep == ep)
			return &sim.given[i];
	return NULL;
}

void given_record(int client, rdq_handle_t ep, bool tied, bool announced)
{
	struct given *g = given_find(ep);

	if (!ep)
		return;
	if (!g && sim.ngiven < SIM_MAX_GIVEN) {
		g = &sim.given[sim.ngiven++];
		*g = (struct given){.ep = ep, .client = client};
	}
	if (!g)
		return;
	g->tied |= tied;
	g->announced |= announced;
}

/* What a closed client tied is gone; a served connection that is up was announced. */
static bool settled_ok(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;
	const struct given *g = given_find(h);
	const struct given *l = ep->parent ? given_find(ep->parent) : NULL;

	(void)arg;
	if (g && g->tied && g->conn_closed)
		sim_fail("endpoint %llu, tied to c%d's connection, outlived its close",
			 (unsigned long long)h, g->client);
	if (ep->serve && ep->role == EP_ACCEPTED && ep->state == EP_CONNECTED && l &&
	    !l->conn_closed && !(g && g->announced))
		sim_fail("served connection %llu is up and c%d was never told (ep.accepted)",
			 (unsigned long long)h, l->client);
	return true;
}

void given_may_go(rdq_handle_t ep)
{
	struct given *g = given_find(ep);

	if (g)
		g->may_go = true;
	/* A listener's end is its peers' end. */
	for (unsigned i = 0; i < sim.ngiven; i++) {
		struct ep *e = endpoint_lookup(&w.d, sim.given[i].ep, w.uid);

		if (e && e->parent == ep)
			sim.given[i].may_go = true;
		object_unref(e);
	}
}

void structure_check_settled(void)
{
	handle_table_foreach(&w.d.objects, OBJ_EP, settled_ok, NULL);
	/* A served connection stays, after its peer left too, until its client ends it. */
	for (unsigned i = 0; i < sim.ngiven; i++) {
		const struct given *g = &sim.given[i];
		struct ep *ep;

		if (!g->announced || g->may_go || g->conn_closed || sim.shut_down)
			continue;
		ep = endpoint_lookup(&w.d, g->ep, w.uid);
		if (!ep)
			sim_fail("served connection %llu is gone, and c%d never asked for its end",
				 (unsigned long long)g->ep, g->client);
		object_unref(ep);
	}
}

/* -------------------------------------------------------- failing QPs */

static bool find_active(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;
	rdq_handle_t *pick = arg;

	if (ep->qp_active && ep->state == EP_CONNECTED && rng_one_in(&sim.rng, 2)) {
		*pick = h;
		return false;
	}
	return true;
}

bool qp_fails(void)
{
	rdq_handle_t h = 0;

	handle_table_foreach(&w.d.objects, OBJ_EP, find_active, &h);
	if (!h)
		return false;
	trace("the QP of ep %llu fails: a send completed with an error", (unsigned long long)h);
	if (sim.nfailed < SIM_MAX_HANDLES)
		sim.failed[sim.nfailed++] = h;
	endpoint_qp_event(&w.d, h, -ETIMEDOUT, "the transport gave up (simulated)", NULL, 0);
	/* Its program sends again, not knowing yet. */
	if (given_find(h))
		react_later(given_find(h)->client, "send", h);
	return true;
}

bool connection_failed(rdq_handle_t ep)
{
	for (unsigned i = 0; i < sim.nfailed; i++)
		if (sim.failed[i] == ep)
			return true;
	return false;
}

/* ------------------------------------------------------------- data */

/* A connected endpoint whose QP is rdqd's and keeps messages (not an echo). */
static bool find_receiver(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;
	rdq_handle_t *pick = arg;

	if (ep->qp_active && !ep->qp_active->echo && ep->state == EP_CONNECTED &&
	    rng_one_in(&sim.rng, 2)) {
		*pick = h;
		return false;
	}
	return true;
}

bool message_arrives(void)
{
	rdq_handle_t h = 0;
	struct ep *ep;
	char data[16];
	bool kept;

	if (sim.nmessages == SIM_MAX_MESSAGES)
		return false;
	handle_table_foreach(&w.d.objects, OBJ_EP, find_receiver, &h);
	ep = h ? endpoint_lookup(&w.d, h, w.uid) : NULL;
	if (!ep)
		return false;
	snprintf(data, sizeof(data), "m%u", sim.nmessages);
	trace("a message %s arrives on ep %llu", data, (unsigned long long)h);
	kept = fake_message_arrives(ep->qp_active, data, (uint32_t)strlen(data));
	object_unref(ep);
	if (!kept)
		return true;
	sim.messages[sim.nmessages++] = (struct message){.ep = h};
	if (given_find(h))
		react_later(given_find(h)->client, "recv", h);
	clients_pump();
	return true;
}

static bool find_sending(void *object, rdq_handle_t h, void *arg)
{
	const struct ep *ep = object;
	rdq_handle_t *pick = arg;

	for (unsigned s = 0; ep->qp_active && s < QP_SEND_SLOTS; s++)
		if (ep->qp_active->send_busy[s]) {
			*pick = h;
			return false;
		}
	return true;
}

bool send_completes(void)
{
	static const int statuses[] = {0, 0, 0, 0, -ECONNRESET, -ETIMEDOUT};
	int status = statuses[rng_below(&sim.rng, 6)];
	rdq_handle_t h = 0;
	struct ep *ep;

	handle_table_foreach(&w.d.objects, OBJ_EP, find_sending, &h);
	ep = h ? endpoint_lookup(&w.d, h, w.uid) : NULL;
	if (!ep)
		return false;
	trace("a send on ep %llu completes: %s", (unsigned long long)h, errname(-status));
	if (status == -ETIMEDOUT && sim.nfailed < SIM_MAX_HANDLES)
		sim.failed[sim.nfailed++] = h;
	fake_send_completes(ep->qp_active, status);
	object_unref(ep);
	clients_pump();
	return true;
}

void message_received(const struct sent *s, const char *data)
{
	unsigned i;
	char *end;

	if (!data || data[0] != 'm')
		sim_fail("id %lld (%s) received \"%s\", which no peer sent", (long long)s->id,
			 rdq_ops[s->op].name, data ? data : "(nothing)");
	i = (unsigned)strtoul(data + 1, &end, 10);
	if (*end || i >= sim.nmessages)
		sim_fail("id %lld received \"%s\", which no peer sent", (long long)s->id, data);
	if (sim.messages[i].ep != s->ep)
		sim_fail("id %lld on ep %llu received %s, which arrived on ep %llu",
			 (long long)s->id, (unsigned long long)s->ep, data,
			 (unsigned long long)sim.messages[i].ep);
	if (sim.messages[i].received)
		sim_fail("message %s was received twice (again by id %lld)", data,
			 (long long)s->id);
	/* In order: every earlier message of the endpoint was received before it. */
	for (unsigned j = 0; j < i; j++)
		if (sim.messages[j].ep == s->ep && !sim.messages[j].received)
			sim_fail("message %s was received before m%u, which came first on ep %llu",
				 data, j, (unsigned long long)s->ep);
	sim.messages[i].received = true;
}

void peer_refused(rdq_handle_t ep)
{
	if (!peer_was_refused(ep) && sim.nrefused < SIM_MAX_HANDLES)
		sim.refused[sim.nrefused++] = ep;
}

bool peer_was_refused(rdq_handle_t ep)
{
	for (unsigned i = 0; i < sim.nrefused; i++)
		if (sim.refused[i] == ep)
			return true;
	return false;
}
