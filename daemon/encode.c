/* SPDX-License-Identifier: MIT */
#include "encode.h"

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

#include "config.h"
#include "protocol/errname.h"
#include "protocol/json_write.h"
#include "protocol/message.h"
#include "protocol/qp_attr_fields.h"
#include "protocol/utf8.h"

typedef struct rdq_json_out out_t;

static void put_int(out_t *o, const char *name, int64_t v)
{
	rdq_json_key(o, name);
	rdq_json_int(o, v);
}

static void put_uint(out_t *o, const char *name, uint64_t v)
{
	put_int(o, name, (int64_t)v);
}

static void put_bool(out_t *o, const char *name, bool v)
{
	rdq_json_key(o, name);
	rdq_json_bool(o, v);
}

/* A text of rdqd's (a name, strerror, a reason): made valid UTF-8 should it not be. */
static void put_text(out_t *o, const char *name, const char *text)
{
	char fixed[RDQ_REPLY_MESSAGE_MAX];
	size_t len = text ? strlen(text) : 0;

	rdq_json_key(o, name);
	if (text && !rdq_utf8_valid(text, len)) {
		len = rdq_utf8_copy(fixed, sizeof(fixed), text, len);
		text = fixed;
	}
	if (text)
		rdq_json_string(o, text, len);
	else
		rdq_json_null(o);
}

/* {"name":value,...} of counters whose names are data. */
static void put_named_counts(out_t *o, const char *name, const struct named_count *c, unsigned n)
{
	rdq_json_key(o, name);
	rdq_json_begin_object(o);
	for (unsigned i = 0; i < n; i++)
		put_uint(o, c[i].name, c[i].value);
	rdq_json_end_object(o);
}

static void write_status(out_t *o, const struct status_view *s)
{
	put_int(o, "pid", s->pid);
	put_uint(o, "uptime_ms", s->uptime_ms);
	put_bool(o, "rdma", s->rdma);
	put_text(o, "rdma_error", s->rdma ? NULL : s->rdma_error);
	put_uint(o, "devices", s->devices);
	rdq_json_key(o, "device_names");
	rdq_json_begin_array(o);
	for (unsigned i = 0; i < s->devices; i++)
		rdq_json_cstring(o, s->device_names[i]);
	rdq_json_end_array(o);
	put_uint(o, "endpoints", s->endpoints);
	put_uint(o, "objects", s->objects);
	put_uint(o, "connections", s->connections);
}

/* The stats result's fields (lib/protocol/stats_fields.h): the wire names, in wire order. */
struct stats_field {
	const char *group, *field; /* group "": at the top */
	enum rdq_stats_kind kind;
};

#define STATS_FIELD(group, field, kind, metric, label, help) {#group, #field, RDQ_STATS_##kind},

static const struct stats_field stats_fields[] = {RDQ_STATS_FIELDS(STATS_FIELD)};

/* One field: an integer from the view's values, or what else it is from its own member. */
static void write_stats_field(out_t *o, const struct stats_view *s, enum rdq_stats_field id)
{
	const struct stats_field *f = &stats_fields[id];

	switch (id) {
	case RDQ_STATS_ID(requests, by_status):
		put_named_counts(o, f->field, s->by_status, s->nstatus);
		return;
	case RDQ_STATS_ID(events, by_type):
		put_named_counts(o, f->field, s->by_type, s->ntypes);
		return;
	case RDQ_STATS_ID(workers, sync_scope):
		put_text(o, f->field, s->sync_scope);
		return;
	case RDQ_STATS_ID(loop, histogram_us):
		rdq_json_key(o, f->field);
		rdq_json_begin_array(o);
		for (unsigned i = 0; i < s->nbuckets; i++)
			rdq_json_int(o, (int64_t)s->histogram_us[i]);
		rdq_json_end_array(o);
		return;
	default:
		/* A map, a string or an array the cases above do not name would be written as 0. */
		assert(f->kind != RDQ_STATS_MAP && f->kind != RDQ_STATS_INFO &&
		       f->kind != RDQ_STATS_HISTOGRAM);
		put_uint(o, f->field, s->value[id]);
		return;
	}
}

/* The table's fields in its order, each group's object opened and closed as the group changes. */
static void write_stats(out_t *o, const struct stats_view *s)
{
	const char *group = "";

	for (unsigned i = 0; i < RDQ_STATS_NFIELDS; i++) {
		const struct stats_field *f = &stats_fields[i];

		if (strcmp(f->group, group) != 0) {
			if (group[0])
				rdq_json_end_object(o);
			if (f->group[0]) {
				rdq_json_key(o, f->group);
				rdq_json_begin_object(o);
			}
			group = f->group;
		}
		write_stats_field(o, s, (enum rdq_stats_field)i);
	}
	if (group[0])
		rdq_json_end_object(o);
}

static void write_device(out_t *o, const struct device_view *dev)
{
	rdq_json_begin_object(o);
	put_text(o, "name", dev->name);
	put_text(o, "transport", dev->transport);
	if (dev->err) {
		/* Kept in the list: rdqctl names the device and fails with this. */
		put_text(o, "error", strerror(dev->err));
		put_text(o, "errno", rdq_errno_name(dev->err));
	}
	rdq_json_key(o, "ports");
	rdq_json_begin_array(o);
	for (unsigned p = 0; p < dev->nports; p++) {
		const struct port_view *port = &dev->ports[p];

		rdq_json_begin_object(o);
		put_int(o, "port", port->port);
		put_text(o, "state", port->state);
		put_int(o, "mtu", port->mtu);
		rdq_json_key(o, "gids");
		rdq_json_begin_array(o);
		for (unsigned g = 0; g < port->ngids; g++)
			rdq_json_cstring(o, port->gids[g]);
		rdq_json_end_array(o);
		rdq_json_end_object(o);
	}
	rdq_json_end_array(o);
	rdq_json_end_object(o);
}

/* A list of prefixes as an array of their texts ("10.0.0.0/8", "any"). */
static void put_prefixes(out_t *o, const char *name, const struct rdq_prefix_list *l)
{
	rdq_json_key(o, name);
	rdq_json_begin_array(o);
	for (unsigned i = 0; i < l->n; i++) {
		char text[RDQ_PREFIX_STRLEN];

		rdq_prefix_format(&l->v[i], text, sizeof(text));
		rdq_json_cstring(o, text);
	}
	rdq_json_end_array(o);
}

static void write_endpoint(out_t *o, const struct ep_view *ep)
{
	rdq_json_begin_object(o);
	put_uint(o, "ep", ep->ep);
	put_uint(o, "qp", ep->qp);
	put_text(o, "role", ep->role);
	put_text(o, "state", ep->state);
	put_text(o, "local", ep->local);
	put_text(o, "remote", ep->remote);
	put_uint(o, "parent", ep->parent);
	put_int(o, "owner", ep->owner);
	put_bool(o, "tied", ep->tied);
	put_uint(o, "sent", ep->sent);
	put_uint(o, "received", ep->received);
	put_uint(o, "echoed", ep->echoed);
	/* echo, serve or direct: what becomes of a listener's peers' messages. */
	if (ep->mode)
		put_text(o, "mode", ep->mode);
	/* A direct endpoint's QP is its client's: which process, which QP. */
	if (ep->client_pid) {
		put_int(o, "client_pid", ep->client_pid);
		put_uint(o, "qp_num", ep->qp_num);
	}
	/* A declared listener's name; why a listener that waits is not listening. */
	if (ep->name)
		put_text(o, "name", ep->name);
	if (ep->reason)
		put_text(o, "reason", ep->reason);
	/* A listener's peers now, and how many it admits at once. */
	if (ep->listener) {
		put_uint(o, "connections", ep->connections);
		put_uint(o, "max_connections", ep->max_connections);
	}
	/* Which peers it admits: allow first, then deny, then everyone else. */
	if (ep->rules) {
		put_uint(o, "rules", ep->rules->allow.n + ep->rules->deny.n);
		if (ep->prefixes) {
			put_prefixes(o, "allow", &ep->rules->allow);
			put_prefixes(o, "deny", &ep->rules->deny);
		}
	}
	rdq_json_end_object(o);
}

static void write_request(out_t *o, const struct request_view *r)
{
	rdq_json_begin_object(o);
	put_uint(o, "rid", r->rid);
	put_int(o, "id", r->id);
	put_text(o, "op", r->op);
	put_text(o, "state", r->state);
	put_uint(o, "ep", r->ep);
	put_uint(o, "age_ms", r->age_ms);
	put_int(o, "uid", r->uid);
	put_bool(o, "mine", r->mine);
	rdq_json_end_object(o);
}

/* A page of a list: its rows under name, then "next" when more remain. */
static void write_page(out_t *o, const char *name, const struct result *r)
{
	rdq_json_key(o, name);
	rdq_json_begin_array(o);
	for (size_t i = 0; i < r->page.n; i++) {
		if (r->kind == RESULT_ENDPOINTS)
			write_endpoint(o, (const struct ep_view *)r->page.rows + i);
		else
			write_request(o, (const struct request_view *)r->page.rows + i);
	}
	rdq_json_end_array(o);
	if (r->page.more)
		put_uint(o, "next", r->page.next);
}

/* The address vector of an RTR step: the peer's path, as the client's ibv_modify_qp takes it. */
static void write_ah_attr(out_t *o, const struct ibv_ah_attr *ah)
{
	char gid[INET6_ADDRSTRLEN];

	rdq_json_key(o, "ah_attr");
	rdq_json_begin_object(o);
	put_uint(o, "dlid", ah->dlid);
	put_uint(o, "sl", ah->sl);
	put_uint(o, "src_path_bits", ah->src_path_bits);
	put_uint(o, "static_rate", ah->static_rate);
	put_uint(o, "port_num", ah->port_num);
	put_bool(o, "is_global", ah->is_global);
	if (ah->is_global) {
		inet_ntop(AF_INET6, ah->grh.dgid.raw, gid, sizeof(gid));
		put_text(o, "dgid", gid);
		put_uint(o, "flow_label", ah->grh.flow_label);
		put_uint(o, "sgid_index", ah->grh.sgid_index);
		put_uint(o, "hop_limit", ah->grh.hop_limit);
		put_uint(o, "traffic_class", ah->grh.traffic_class);
	}
	rdq_json_end_object(o);
}

/* One step's attributes: the fields its mask names, by their struct ibv_qp_attr names. */
static void write_qp_attr(out_t *o, const struct ibv_qp_attr *attr, int mask)
{
	rdq_json_begin_object(o);
#define FIELD(bit, member)                                                                         \
	if (mask & (bit))                                                                          \
		put_uint(o, #member, attr->member);
	RDQ_QP_ATTR_FIELDS(FIELD)
#undef FIELD
	if (mask & IBV_QP_AV)
		write_ah_attr(o, &attr->ah_attr);
	rdq_json_end_object(o);
}

static void write_qp_steps(out_t *o, const struct qp_steps *steps)
{
	rdq_json_key(o, "steps");
	rdq_json_begin_array(o);
	for (unsigned i = 0; i < steps->n; i++)
		write_qp_attr(o, &steps->attr[i], steps->mask[i]);
	rdq_json_end_array(o);
}

/* The INIT step alone, which the client takes before it names its QP to rdqd. */
static void write_qp_init(out_t *o, const struct qp_steps *init)
{
	rdq_json_key(o, "init");
	write_qp_attr(o, &init->attr[0], init->mask[0]);
}

/* A received message in version 1: text in the JSON, or hex for bytes that are not UTF-8. */
static void write_message_text(out_t *o, const void *data, size_t len)
{
	if (rdq_utf8_valid(data, len)) {
		rdq_json_key(o, "data");
		rdq_json_string(o, data, len);
	} else {
		rdq_json_key(o, "hex");
		rdq_json_hex(o, data, len);
	}
}

static void write_result(out_t *o, int version, const struct result *r, const void *data,
			 size_t len)
{
	rdq_json_begin_object(o);
	switch (r ? r->kind : RESULT_EMPTY) {
	case RESULT_EMPTY:
		break;
	case RESULT_VERSION:
		put_text(o, "version", RDQ_VERSION);
		put_int(o, "protocol", RDQ_PROTOCOL_VERSION);
		break;
	case RESULT_STATUS:
		write_status(o, r->status);
		break;
	case RESULT_STATS:
		write_stats(o, r->stats);
		break;
	case RESULT_DEVICES:
		rdq_json_key(o, "devices");
		rdq_json_begin_array(o);
		for (unsigned i = 0; i < r->devices.n; i++)
			write_device(o, &r->devices.list[i]);
		rdq_json_end_array(o);
		break;
	case RESULT_LISTENING:
		put_uint(o, "ep", r->listening.ep);
		put_text(o, "mode", r->listening.mode);
		if (r->listening.state)
			put_text(o, "state", r->listening.state);
		break;
	case RESULT_CONNECTED:
		put_uint(o, "ep", r->connected.ep);
		put_uint(o, "qp", r->connected.qp);
		break;
	case RESULT_RESOLVED:
		put_uint(o, "ep", r->resolved.ep);
		put_text(o, "device", r->resolved.device);
		put_int(o, "port", r->resolved.port);
		write_qp_init(o, r->resolved.init);
		break;
	case RESULT_ATTACHED:
		put_uint(o, "ep", r->attached.ep);
		put_uint(o, "qp_num", r->attached.qp_num);
		write_qp_steps(o, r->attached.steps);
		break;
	case RESULT_ESTABLISHED:
		put_uint(o, "ep", r->established);
		break;
	case RESULT_SENT:
		put_uint(o, "bytes", r->sent.bytes);
		put_bool(o, "completed", r->sent.completed);
		break;
	case RESULT_RECEIVED:
		if (version < 2)
			write_message_text(o, data, len);
		put_uint(o, "bytes", len);
		break;
	case RESULT_DISCONNECTED:
		put_int(o, "status", r->disconnected);
		break;
	case RESULT_DISCONNECTING:
		put_text(o, "state", "disconnecting");
		break;
	case RESULT_WATCHING:
		put_bool(o, "watching", r->watching);
		break;
	case RESULT_CANCELLED:
		put_uint(o, "cancelled", r->cancelled);
		break;
	case RESULT_ENDPOINTS:
		write_page(o, "endpoints", r);
		break;
	case RESULT_REQUESTS:
		write_page(o, "requests", r);
		break;
	}
	rdq_json_end_object(o);
}

/* {"v":V,"id":ID: the start of every reply. */
static void write_envelope(out_t *o, int version, int64_t id, bool ok)
{
	rdq_json_begin_object(o);
	put_int(o, "v", version);
	rdq_json_key(o, "id");
	if (id == RDQ_NO_ID)
		rdq_json_null(o);
	else
		rdq_json_int(o, id);
	put_bool(o, "ok", ok);
}

size_t encode_reply_ok(char *buf, size_t size, int version, int64_t id, const struct result *result,
		       const void *data, size_t len)
{
	out_t o;

	rdq_json_out_init(&o, buf, size);
	write_envelope(&o, version, id, true);
	rdq_json_key(&o, "result");
	write_result(&o, version, result, data, len);
	if (version > 1 && result && result->kind == RESULT_RECEIVED)
		put_uint(&o, "attachment", len);
	rdq_json_end_object(&o);
	return rdq_json_out_end(&o);
}

size_t encode_reply_error(char *buf, size_t size, int version, int64_t id, int err,
			  const char *message)
{
	char text[RDQ_REPLY_MESSAGE_MAX];
	size_t len = rdq_error_text(text, err, message);
	out_t o;

	rdq_json_out_init(&o, buf, size);
	write_envelope(&o, version, id, false);
	rdq_json_key(&o, "error");
	rdq_json_begin_object(&o);
	put_text(&o, "errno", rdq_errno_name(err));
	put_int(&o, "code", err);
	rdq_json_key(&o, "message");
	rdq_json_string(&o, text, len); /* valid UTF-8 already */
	rdq_json_end_object(&o);
	rdq_json_end_object(&o);
	return rdq_json_out_end(&o);
}

size_t encode_stats(char *buf, size_t size, const struct stats_view *stats)
{
	out_t o;

	rdq_json_out_init(&o, buf, size);
	rdq_json_begin_object(&o);
	write_stats(&o, stats);
	rdq_json_end_object(&o);
	return rdq_json_out_end(&o);
}

static const char *const event_names[] = {
	[EVENT_EP_ESTABLISHED] = "ep.established",
	[EVENT_EP_DISCONNECTED] = "ep.disconnected",
	[EVENT_EP_ERROR] = "ep.error",
	[EVENT_EP_DESTROYED] = "ep.destroyed",
	[EVENT_EP_ACCEPTED] = "ep.accepted",
	[EVENT_EP_REQUEST] = "ep.request",
	[EVENT_EP_FLUSH] = "ep.flush",
	[EVENT_QP_DESTROYED] = "qp.destroyed",
	[EVENT_EVENTS_LOST] = "events.lost",
};

size_t encode_event(char *buf, size_t size, const struct event_view *e)
{
	out_t o;

	rdq_json_out_init(&o, buf, size);
	rdq_json_begin_object(&o);
	put_int(&o, "v", RDQ_PROTOCOL_V1);
	put_text(&o, "event", event_names[e->kind]);
	switch (e->kind) {
	case EVENT_EP_ESTABLISHED:
		put_uint(&o, "ep", e->ep);
		put_uint(&o, "qp", e->qp);
		break;
	case EVENT_EP_DISCONNECTED:
		put_uint(&o, "ep", e->ep);
		put_int(&o, "status", e->status);
		break;
	case EVENT_EP_ERROR:
		put_uint(&o, "ep", e->ep);
		put_text(&o, "errno", rdq_errno_name(-e->status));
		put_text(&o, "message", strerror(-e->status));
		if (e->reason)
			put_text(&o, "reason", e->reason);
		break;
	case EVENT_EP_DESTROYED:
		put_uint(&o, "ep", e->ep);
		break;
	case EVENT_EP_ACCEPTED:
		put_uint(&o, "ep", e->ep);
		put_uint(&o, "listener", e->listener);
		put_uint(&o, "qp", e->qp);
		put_text(&o, "peer", e->peer);
		put_text(&o, "local", e->local);
		break;
	case EVENT_EP_REQUEST:
		put_uint(&o, "ep", e->ep);
		put_uint(&o, "listener", e->listener);
		put_text(&o, "device", e->device);
		put_int(&o, "port", e->port);
		write_qp_init(&o, e->init);
		put_text(&o, "peer", e->peer);
		put_text(&o, "local", e->local);
		break;
	case EVENT_EP_FLUSH:
		put_uint(&o, "ep", e->ep);
		put_int(&o, "status", e->status);
		break;
	case EVENT_QP_DESTROYED:
		put_uint(&o, "qp", e->qp);
		put_uint(&o, "ep", e->ep);
		break;
	case EVENT_EVENTS_LOST:
		put_uint(&o, "count", e->count);
		break;
	}
	rdq_json_end_object(&o);
	return rdq_json_out_end(&o);
}
