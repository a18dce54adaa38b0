/* SPDX-License-Identifier: MIT */
#include "ops_table.h"

#include <stdint.h>
#include <string.h>

#include "addr_prefix.h"
#include "defaults.h"

#define FIELD(T, field) offsetof(T, field)

#define HANDLE(T, field, req)                                                                      \
	{                                                                                          \
		.name = #field, .type = RDQ_ARG_HANDLE, .required = (req),                         \
		.offset = FIELD(T, field)                                                          \
	}
#define INT(T, field, lo, hi, dflt)                                                                \
	{                                                                                          \
		.name = #field, .type = RDQ_ARG_INT, .min = (lo), .max = (hi), .def = (dflt),      \
		.offset = FIELD(T, field)                                                          \
	}
#define BOOL(T, field, dflt)                                                                       \
	{                                                                                          \
		.name = #field, .type = RDQ_ARG_BOOL, .def = (dflt), .offset = FIELD(T, field)     \
	}
#define STRING(T, field, req, lo, hi)                                                              \
	{                                                                                          \
		.name = #field, .type = RDQ_ARG_STRING, .required = (req), .min = (lo),            \
		.max = (hi), .offset = FIELD(T, field)                                             \
	}

static const char *const listen_modes[] = {
	[RDQ_MODE_ECHO] = "echo", [RDQ_MODE_SERVE] = "serve", [RDQ_MODE_DIRECT] = "direct", NULL};

/* An address: 1 to 63 bytes, as getaddrinfo takes it. */
#define ADDRESS(T) STRING(T, addr, true, 1, 63), INT(T, port, 1, 65535, RDQ_DEFAULT_PORT)

static const struct rdq_arg_spec cancel_args[] = {
	INT(struct rdq_args_cancel, req, 0, INT64_MAX, -1),
	INT(struct rdq_args_cancel, rid, 1, INT64_MAX, -1),
};

static const struct rdq_arg_spec connect_args[] = {
	ADDRESS(struct rdq_args_ep_connect),
	INT(struct rdq_args_ep_connect, timeout_ms, 1, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
	BOOL(struct rdq_args_ep_connect, tied, false),
};

static const struct rdq_arg_spec attach_args[] = {
	/* A QP number has 24 bits; 0 (QP0, never a client's) stands for "not given". */
	INT(struct rdq_args_ep_attach, qp_num, 0, 0xffffff, 0),
	INT(struct rdq_args_ep_attach, timeout_ms, 1, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
	HANDLE(struct rdq_args_ep_attach, ep, true),
};

static const struct rdq_arg_spec establish_args[] = {
	INT(struct rdq_args_ep_establish, timeout_ms, 1, RDQ_MAX_TIMEOUT_MS,
	    RDQ_DEFAULT_TIMEOUT_MS),
	HANDLE(struct rdq_args_ep_establish, ep, true),
};

static const struct rdq_arg_spec resolve_args[] = {
	ADDRESS(struct rdq_args_ep_resolve),
	INT(struct rdq_args_ep_resolve, timeout_ms, 1, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
};

static const struct rdq_arg_spec ep_args[] = {
	HANDLE(struct rdq_args_ep, ep, true),
};

static const struct rdq_arg_spec disconnect_args[] = {
	HANDLE(struct rdq_args_ep_disconnect, qp, false),
	INT(struct rdq_args_ep_disconnect, timeout_ms, 1, RDQ_MAX_TIMEOUT_MS, 0),
	BOOL(struct rdq_args_ep_disconnect, wait, true),
	HANDLE(struct rdq_args_ep_disconnect, ep, true),
};

static const struct rdq_arg_spec listen_args[] = {
	ADDRESS(struct rdq_args_ep_listen),
	INT(struct rdq_args_ep_listen, backlog, 1, RDQ_MAX_BACKLOG, RDQ_DEFAULT_BACKLOG),
	INT(struct rdq_args_ep_listen, max_connections, 1, RDQ_MAX_MAX_CONNECTIONS,
	    RDQ_DEFAULT_MAX_CONNECTIONS),
	BOOL(struct rdq_args_ep_listen, tied, false),
	{.name = "mode",
	 .type = RDQ_ARG_CHOICE,
	 .def = RDQ_MODE_ECHO,
	 .choices = listen_modes,
	 .offset = FIELD(struct rdq_args_ep_listen, mode)},
	INT(struct rdq_args_ep_listen, timeout_ms, 1, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
	BOOL(struct rdq_args_ep_listen, wait_address, false),
	/* Prefixes separated by commas or blanks; rdqd reads them (EINVAL, E2BIG naming why). */
	STRING(struct rdq_args_ep_listen, allow, false, 0, RDQ_PREFIX_TEXT_MAX),
	STRING(struct rdq_args_ep_listen, deny, false, 0, RDQ_PREFIX_TEXT_MAX),
};

static const struct rdq_arg_spec recv_args[] = {
	INT(struct rdq_args_ep_recv, timeout_ms, 0, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
	HANDLE(struct rdq_args_ep_recv, ep, true),
};

static const struct rdq_arg_spec send_args[] = {
	STRING(struct rdq_args_ep_send, data, false, 0, 0),
	INT(struct rdq_args_ep_send, timeout_ms, 0, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
	BOOL(struct rdq_args_ep_send, wait, false),
	HANDLE(struct rdq_args_ep_send, ep, true),
};

static const struct rdq_arg_spec sendrecv_args[] = {
	STRING(struct rdq_args_ep_send, data, false, 0, 0),
	INT(struct rdq_args_ep_send, timeout_ms, 0, RDQ_MAX_TIMEOUT_MS, RDQ_DEFAULT_TIMEOUT_MS),
	HANDLE(struct rdq_args_ep_send, ep, true),
};

#define PAGE(T) INT(T, limit, 1, RDQ_MAX_PAGE, RDQ_DEFAULT_PAGE), INT(T, after, 0, INT64_MAX, 0)

static const struct rdq_arg_spec show_args[] = {
	HANDLE(struct rdq_args_page, ep, false),
	PAGE(struct rdq_args_page),
};

static const struct rdq_arg_spec qp_args[] = {
	HANDLE(struct rdq_args_qp, qp, true),
};

static const struct rdq_arg_spec list_args[] = {
	PAGE(struct rdq_args_page),
};

static const struct rdq_arg_spec watch_args[] = {
	BOOL(struct rdq_args_watch, on, true),
};

#define N(a)		       (sizeof(a) / sizeof((a)[0]))
#define OP(id, text, table, T) [id] = {id, text, table, N(table), sizeof(T)}
#define OP_NO_ARGS(id, text)   [id] = {id, text, NULL, 0, 0}

const struct rdq_op_spec rdq_ops[RDQ_OP_COUNT] = {
	OP(RDQ_OP_CANCEL, "cancel", cancel_args, struct rdq_args_cancel),
	OP_NO_ARGS(RDQ_OP_DEV_SHOW, "dev.show"),
	OP(RDQ_OP_EP_ATTACH, "ep.attach", attach_args, struct rdq_args_ep_attach),
	OP(RDQ_OP_EP_CONNECT, "ep.connect", connect_args, struct rdq_args_ep_connect),
	OP(RDQ_OP_EP_DESTROY, "ep.destroy", ep_args, struct rdq_args_ep),
	OP(RDQ_OP_EP_DISCONNECT, "ep.disconnect", disconnect_args, struct rdq_args_ep_disconnect),
	OP(RDQ_OP_EP_ESTABLISH, "ep.establish", establish_args, struct rdq_args_ep_establish),
	OP(RDQ_OP_EP_FLUSHED, "ep.flushed", ep_args, struct rdq_args_ep),
	OP(RDQ_OP_EP_LISTEN, "ep.listen", listen_args, struct rdq_args_ep_listen),
	OP(RDQ_OP_EP_RECV, "ep.recv", recv_args, struct rdq_args_ep_recv),
	OP(RDQ_OP_EP_RESOLVE, "ep.resolve", resolve_args, struct rdq_args_ep_resolve),
	OP(RDQ_OP_EP_SEND, "ep.send", send_args, struct rdq_args_ep_send),
	OP(RDQ_OP_EP_SENDRECV, "ep.sendrecv", sendrecv_args, struct rdq_args_ep_send),
	OP(RDQ_OP_EP_SHOW, "ep.show", show_args, struct rdq_args_page),
	OP(RDQ_OP_QP_DESTROY, "qp.destroy", qp_args, struct rdq_args_qp),
	OP(RDQ_OP_REQUEST_LIST, "request.list", list_args, struct rdq_args_page),
	OP_NO_ARGS(RDQ_OP_STATS, "stats"),
	OP_NO_ARGS(RDQ_OP_STATUS, "status"),
	OP_NO_ARGS(RDQ_OP_VERSION, "version"),
	OP(RDQ_OP_WATCH, "watch", watch_args, struct rdq_args_watch),
};

_Static_assert(sizeof(struct rdq_args_ep_listen) <= RDQ_OP_ARGS_MAX, "RDQ_OP_ARGS_MAX too small");
_Static_assert(sizeof(struct rdq_args_ep_send) <= RDQ_OP_ARGS_MAX, "RDQ_OP_ARGS_MAX too small");
_Static_assert(sizeof(struct rdq_args_ep_connect) <= RDQ_OP_ARGS_MAX, "RDQ_OP_ARGS_MAX too small");
_Static_assert(sizeof(struct rdq_args_ep_disconnect) <= RDQ_OP_ARGS_MAX,
	       "RDQ_OP_ARGS_MAX too small");

/*
 * Finding an op: open addressing over a table four times the ops' number,
 * keyed by FNV-1a of the name, filled once when the program loads. A lookup
 * hashes the name once and compares it with the one or two ops in its way:
 * its cost does not grow with the number of ops.
 */
#define OP_SLOTS 128
_Static_assert(OP_SLOTS >= 4 * RDQ_OP_COUNT, "OP_SLOTS too small");

static signed char op_slots[OP_SLOTS]; /* index into rdq_ops + 1; 0: empty */

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h;
}

__attribute__((constructor)) static void op_slots_fill(void)
{
	for (int i = 0; i < RDQ_OP_COUNT; i++) {
		uint32_t s = name_hash(rdq_ops[i].name, strlen(rdq_ops[i].name)) % OP_SLOTS;

		while (op_slots[s])
			s = (s + 1) % OP_SLOTS;
		op_slots[s] = (signed char)(i + 1);
	}
}

const struct rdq_op_spec *rdq_op_find(const char *name, size_t len)
{
	uint32_t s = name_hash(name, len) % OP_SLOTS;

	for (; op_slots[s]; s = (s + 1) % OP_SLOTS) {
		const struct rdq_op_spec *op = &rdq_ops[op_slots[s] - 1];

		if (strlen(op->name) == len && memcmp(op->name, name, len) == 0)
			return op;
	}
	return NULL;
}

const char *rdq_arg_type_name(enum rdq_arg_type type)
{
	static const char *const names[] = {
		[RDQ_ARG_HANDLE] = "handle", [RDQ_ARG_INT] = "int",	  [RDQ_ARG_BOOL] = "bool",
		[RDQ_ARG_STRING] = "string", [RDQ_ARG_CHOICE] = "choice",
	};

	return names[type];
}
