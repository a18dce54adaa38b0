/* SPDX-License-Identifier: MIT */
/*
 * Direct connections (<rdq/direct.h>): the program's own QP, connected by
 * rdqd. rdqd holds the rdma_cm id and gives, step by step, the attributes
 * rdma_cm computed for the QP (INIT, RTR, RTS); this file makes the QP and
 * its one registered buffer, cut into depth receive slots and depth send
 * slots of msg_size bytes each, and applies them. direct_data.c runs the
 * data path.
 */
#include <rdq/direct.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "direct_internal.h"
#include "protocol/qp_attr_fields.h"
#include "stream.h"

#define DEFAULT_MSG_SIZE   65536u
#define DEFAULT_DEPTH	   16u
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_DEPTH	   1024u

/* ------------------------------------------------ the attributes rdqd sends */

static bool read_uint(const json_t *obj, const char *name, uint64_t max, uint64_t *out)
{
	const json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static int read_ah_attr(const json_t *ah, struct ibv_ah_attr *out)
{
	const char *dgid;
	uint64_t v[10];

	if (!json_is_object(ah) || !read_uint(ah, "dlid", UINT16_MAX, &v[0]) ||
	    !read_uint(ah, "sl", UINT8_MAX, &v[1]) ||
	    !read_uint(ah, "src_path_bits", UINT8_MAX, &v[2]) ||
	    !read_uint(ah, "static_rate", UINT8_MAX, &v[3]) ||
	    !read_uint(ah, "port_num", UINT8_MAX, &v[4]))
		return -EBADMSG;
	out->dlid = (uint16_t)v[0];
	out->sl = (uint8_t)v[1];
	out->src_path_bits = (uint8_t)v[2];
	out->static_rate = (uint8_t)v[3];
	out->port_num = (uint8_t)v[4];
	out->is_global = json_is_true(json_object_get(ah, "is_global"));
	if (!out->is_global)
		return 0;
	dgid = json_string_value(json_object_get(ah, "dgid"));
	if (!dgid || inet_pton(AF_INET6, dgid, out->grh.dgid.raw) != 1 ||
	    !read_uint(ah, "flow_label", UINT32_MAX, &v[5]) ||
	    !read_uint(ah, "sgid_index", UINT8_MAX, &v[6]) ||
	    !read_uint(ah, "hop_limit", UINT8_MAX, &v[7]) ||
	    !read_uint(ah, "traffic_class", UINT8_MAX, &v[8]))
		return -EBADMSG;
	out->grh.flow_label = (uint32_t)v[5];
	out->grh.sgid_index = (uint8_t)v[6];
	out->grh.hop_limit = (uint8_t)v[7];
	out->grh.traffic_class = (uint8_t)v[8];
	return 0;
}

int rdq_qp_attr_read(const json_t *step, struct ibv_qp_attr *attr, int *mask)
{
	uint64_t v;

	if (!json_is_object(step))
		return -EBADMSG;
	memset(attr, 0, sizeof(*attr));
	*mask = 0;
	/* Each field present sets its bit; its value must fit its member. */
#define FIELD(bit, member)                                                                         \
	if (json_object_get(step, #member)) {                                                      \
		if (!read_uint(step, #member, UINT32_MAX, &v))                                     \
			return -EBADMSG;                                                           \
		attr->member = (__typeof__(attr->member))v;                                        \
		if ((uint64_t)attr->member != v)                                                   \
			return -EBADMSG;                                                           \
		*mask |= (bit);                                                                    \
	}
	RDQ_QP_ATTR_FIELDS(FIELD)
#undef FIELD
	if (json_object_get(step, "ah_attr")) {
		if (read_ah_attr(json_object_get(step, "ah_attr"), &attr->ah_attr) < 0)
			return -EBADMSG;
		*mask |= IBV_QP_AV;
	}
	return (*mask & IBV_QP_STATE) ? 0 : -EBADMSG;
}

/* ------------------------------------------------------------ the verbs side */

static struct ibv_context *open_device(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	for (int i = 0; list && list[i]; i++)
		if (strcmp(ibv_get_device_name(list[i]), name) == 0)
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	return ctx;
}

static void free_verbs(struct rdq_direct *c)
{
	if (c->qp)
		ibv_destroy_qp(c->qp);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->channel)
		ibv_destroy_comp_channel(c->channel);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->ctx)
		ibv_close_device(c->ctx);
	free(c->buf);
	free(c->ready_slot);
	free(c->ready_len);
	free(c->send_busy);
	free(c);
}

/* A connection's QP and buffers, on device (the one rdqd's id is bound to). */
static int make_qp(struct rdq_client *client, const char *device,
		   const struct rdq_direct_opts *opts, struct rdq_direct **out)
{
	struct rdq_direct *c = calloc(1, sizeof(*c));
	struct ibv_qp_init_attr init = {.qp_type = IBV_QPT_RC};
	size_t bytes;

	if (!c)
		return -ENOMEM;
	c->client = client;
	c->borrowed = -1;
	c->msg_size = opts && opts->msg_size ? opts->msg_size : DEFAULT_MSG_SIZE;
	c->depth = opts && opts->depth ? opts->depth : DEFAULT_DEPTH;
	if (c->depth > MAX_DEPTH) {
		stream_set_error(client, "depth %u is over %u", c->depth, MAX_DEPTH);
		free(c);
		return -EINVAL;
	}
	bytes = (size_t)2 * c->depth * c->msg_size;
	c->buf = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
	c->ready_slot = calloc(c->depth, sizeof(*c->ready_slot));
	c->ready_len = calloc(c->depth, sizeof(*c->ready_len));
	c->send_busy = calloc(c->depth, sizeof(*c->send_busy));
	if (!c->buf || !c->ready_slot || !c->ready_len || !c->send_busy) {
		free_verbs(c);
		return -ENOMEM;
	}
	c->ctx = open_device(device);
	if (!c->ctx) {
		stream_set_error(client, "cannot open RDMA device %s", device);
		free_verbs(c);
		return -ENODEV;
	}
	init.cap.max_send_wr = init.cap.max_recv_wr = c->depth;
	init.cap.max_send_sge = init.cap.max_recv_sge = 1;
	if (!(c->pd = ibv_alloc_pd(c->ctx)) || !(c->channel = ibv_create_comp_channel(c->ctx)) ||
	    !(c->cq = ibv_create_cq(c->ctx, (int)(2 * c->depth), NULL, c->channel, 0)) ||
	    !(c->mr = ibv_reg_mr(c->pd, c->buf, bytes, IBV_ACCESS_LOCAL_WRITE))) {
		int err = errno ? -errno : -ENOMEM;

		stream_set_error(client, "cannot set up verbs on %s: %s", device, strerror(-err));
		free_verbs(c);
		return err;
	}
	init.send_cq = init.recv_cq = c->cq;
	c->qp = ibv_create_qp(c->pd, &init);
	if (!c->qp) {
		int err = -errno;

		stream_set_error(client, "cannot make a QP on %s: %s", device, strerror(-err));
		free_verbs(c);
		return err;
	}
	*out = c;
	return 0;
}

/* Moves the QP by one of rdqd's steps; its receives are posted as soon as it is at INIT. */
static int apply_step(struct rdq_direct *c, const json_t *step)
{
	struct ibv_qp_attr attr;
	int mask, ret = rdq_qp_attr_read(step, &attr, &mask);

	if (ret < 0) {
		stream_set_error(c->client, "rdqd's step is not QP attributes");
		return ret;
	}
	if (ibv_modify_qp(c->qp, &attr, mask)) {
		ret = -errno;
		stream_set_error(c->client, "ibv_modify_qp to state %d: %s", (int)attr.qp_state,
				 strerror(-ret));
		return ret;
	}
	for (uint32_t s = 0; attr.qp_state == IBV_QPS_INIT && s < c->depth; s++) {
		ret = direct_post_recv(c, s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ep.attach's steps (RTR, RTS), in order. */
static int apply_steps(struct rdq_direct *c, const json_t *steps)
{
	int ret = 0;

	if (!json_is_array(steps) || json_array_size(steps) == 0) {
		stream_set_error(c->client, "rdqd's ep.attach reply has no steps");
		return -EBADMSG;
	}
	for (size_t i = 0; i < json_array_size(steps) && ret == 0; i++)
		ret = apply_step(c, json_array_get(steps, i));
	return ret;
}

/* ------------------------------------------------------ the steps with rdqd */

static int call_ep(struct rdq_client *client, const char *op, json_t *args, int timeout_ms,
		   json_t **result)
{
	if (!args)
		return -ENOMEM;
	return rdq_call_timeout(client, op, args, timeout_ms, result);
}

static int timeout_of(const struct rdq_direct_opts *opts)
{
	return opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
}

/*
 * The QP to INIT (init: the step ep.resolve or ep.request gave), then
 * ep.attach with it, its steps applied, and ep.establish.
 */
static int attach_and_establish(struct rdq_direct *c, const json_t *init, int timeout_ms)
{
	json_t *result = NULL;
	int ret = apply_step(c, init);

	if (ret < 0)
		return ret;
	ret = call_ep(c->client, "ep.attach",
		      json_pack("{s:I, s:I, s:i}", "ep", (json_int_t)c->ep, "qp_num",
				(json_int_t)c->qp->qp_num, "timeout_ms", timeout_ms),
		      timeout_ms, &result);
	if (ret == 0)
		ret = apply_steps(c, json_object_get(result, "steps"));
	json_decref(result);
	if (ret == 0)
		ret = call_ep(
			c->client, "ep.establish",
			json_pack("{s:I, s:i}", "ep", (json_int_t)c->ep, "timeout_ms", timeout_ms),
			timeout_ms, NULL);
	return ret;
}

/* The connection could not be made: rdqd's endpoint goes, and the QP. */
static void give_up(struct rdq_direct *c)
{
	char why[ERROR_MAX];

	/* The reason the caller gets is the step's, not ep.destroy's. */
	memcpy(why, c->client->error, sizeof(why));
	if (c->ep)
		rdq_ep_destroy(c->client, c->ep);
	memcpy(c->client->error, why, sizeof(why));
	free_verbs(c);
}

int rdq_direct_connect(struct rdq_client *client, const char *addr, int port,
		       const struct rdq_direct_opts *opts, struct rdq_direct **out)
{
	int timeout_ms = timeout_of(opts);
	json_t *args, *result = NULL;
	struct rdq_direct *c;
	const char *device;
	uint64_t ep;
	int ret;

	if (port < 0 || port > 65535 || !addr)
		return -EINVAL;
	args = json_pack("{s:s, s:i}", "addr", addr, "timeout_ms", timeout_ms);
	if (args && port > 0 && json_object_set_new(args, "port", json_integer(port)) < 0)
		json_decref(args), args = NULL;
	ret = call_ep(client, "ep.resolve", args, timeout_ms, &result);
	if (ret < 0)
		return ret;
	device = json_string_value(json_object_get(result, "device"));
	ep = (uint64_t)json_integer_value(json_object_get(result, "ep"));
	if (!device || !ep) {
		stream_set_error(client, "rdqd's ep.resolve reply names no device or endpoint");
		json_decref(result);
		if (ep)
			rdq_ep_destroy(client, ep);
		return -EBADMSG;
	}
	ret = make_qp(client, device, opts, &c);
	if (ret < 0) {
		char why[ERROR_MAX];

		json_decref(result);
		memcpy(why, client->error, sizeof(why));
		rdq_ep_destroy(client, ep);
		memcpy(client->error, why, sizeof(why));
		return ret;
	}
	c->ep = ep;
	ret = attach_and_establish(c, json_object_get(result, "init"), timeout_ms);
	json_decref(result);
	if (ret < 0) {
		give_up(c);
		return ret;
	}
	*out = c;
	return 0;
}

int rdq_direct_listen(struct rdq_client *client, const char *addr, int port, int timeout_ms,
		      uint64_t *listener)
{
	json_t *args, *result = NULL;
	int ret;

	if (port < 0 || port > 65535)
		return -EINVAL;
	args = json_pack("{s:s, s:s, s:i}", "addr", addr ? addr : "", "mode", "direct",
			 "timeout_ms", timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
	if (args && port > 0 && json_object_set_new(args, "port", json_integer(port)) < 0)
		json_decref(args), args = NULL;
	ret = call_ep(client, "ep.listen", args, -1, &result);
	if (ret == 0 && !json_is_integer(json_object_get(result, "ep"))) {
		stream_set_error(client, "rdqd's ep.listen reply names no endpoint");
		ret = -EBADMSG;
	}
	if (ret == 0)
		*listener = (uint64_t)json_integer_value(json_object_get(result, "ep"));
	json_decref(result);
	return ret;
}

int rdq_direct_accept(struct rdq_client *client, int timeout_ms, const struct rdq_direct_opts *opts,
		      struct rdq_direct **out)
{
	int64_t deadline = stream_deadline_after(timeout_ms);
	json_t *msg = stream_queue_take_request(client);
	struct rdq_direct *c;
	const char *device;
	uint64_t ep;
	int ret;

	while (!msg) {
		ret = stream_receive(client, deadline, &msg);
		if (ret < 0)
			return ret;
		if (!stream_is_request(msg)) {
			/* Not ours to drop: a reply or another event waits for rdq_client_next().
			 */
			ret = stream_queue_push(client, msg);
			msg = NULL;
			if (ret < 0)
				return ret;
		}
	}
	device = json_string_value(json_object_get(msg, "device"));
	ep = (uint64_t)json_integer_value(json_object_get(msg, "ep"));
	ret = device && ep ? make_qp(client, device, opts, &c) : -EBADMSG;
	if (ret < 0) {
		json_decref(msg);
		/* rdqd rejects the peer when the listener's time is up, or now. */
		if (ep)
			rdq_ep_destroy(client, ep);
		return ret;
	}
	c->ep = ep;
	ret = attach_and_establish(c, json_object_get(msg, "init"), timeout_of(opts));
	json_decref(msg);
	if (ret < 0) {
		give_up(c);
		return ret;
	}
	*out = c;
	return 0;
}

int rdq_direct_fd(const struct rdq_direct *c)
{
	return c->channel->fd;
}

uint64_t rdq_direct_ep(const struct rdq_direct *c)
{
	return c->ep;
}

struct ibv_qp *rdq_direct_qp(const struct rdq_direct *c)
{
	return c->qp;
}

struct ibv_pd *rdq_direct_pd(const struct rdq_direct *c)
{
	return c->pd;
}

struct ibv_cq *rdq_direct_cq(const struct rdq_direct *c)
{
	return c->cq;
}

void rdq_direct_close(struct rdq_direct *c)
{
	if (!c)
		return;
	rdq_ep_destroy(c->client, c->ep);
	free_verbs(c);
}
