/* SPDX-License-Identifier: MIT */
/*
 * The protocol's operations and their arguments, in one table: each op's
 * name and, for each argument, its name, type, range, default and whether it
 * is required, and where it goes in the op's C struct. rdqd decodes a
 * request's arguments straight into that struct (request_read.h);
 * docs/protocol.md and rdqctl's options are checked against the table by the
 * unit tests (rdq-ops prints it).
 */
#ifndef RDQ_PROTOCOL_OPS_TABLE_H
#define RDQ_PROTOCOL_OPS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rdq_arg_type {
	RDQ_ARG_HANDLE, /* a positive integer naming an object: uint64_t, 0 when absent */
	RDQ_ARG_INT,	/* an integer in [min, max]: int64_t */
	RDQ_ARG_BOOL,	/* true or false: bool */
	RDQ_ARG_STRING, /* a string of min..max bytes (max 0: any): struct rdq_text */
	RDQ_ARG_CHOICE, /* one of the words in choices: unsigned, its index */
};

/* A string argument: borrowed from the request, valid while its frame is handled. */
struct rdq_text {
	const char *s; /* NULL when absent; not NUL-terminated */
	size_t len;
};

struct rdq_arg_spec {
	const char *name;
	enum rdq_arg_type type;
	bool required;
	int64_t min, max; /* INT: the range; STRING: the length's (max 0: unbounded) */
	int64_t def;	  /* what an absent INT, BOOL (0/1) or CHOICE (an index) argument is */
	const char *const *choices; /* CHOICE: the words, NULL-terminated */
	size_t offset;		    /* of its field in the op's struct */
};

/* Every op, in the table's order (sorted by name). */
enum rdq_op {
	RDQ_OP_CANCEL,
	RDQ_OP_DEV_SHOW,
	RDQ_OP_EP_ATTACH,
	RDQ_OP_EP_CONNECT,
	RDQ_OP_EP_DESTROY,
	RDQ_OP_EP_DISCONNECT,
	RDQ_OP_EP_ESTABLISH,
	RDQ_OP_EP_FLUSHED,
	RDQ_OP_EP_LISTEN,
	RDQ_OP_EP_RECV,
	RDQ_OP_EP_RESOLVE,
	RDQ_OP_EP_SEND,
	RDQ_OP_EP_SENDRECV,
	RDQ_OP_EP_SHOW,
	RDQ_OP_QP_DESTROY,
	RDQ_OP_REQUEST_LIST,
	RDQ_OP_STATS,
	RDQ_OP_STATUS,
	RDQ_OP_VERSION,
	RDQ_OP_WATCH,
	RDQ_OP_COUNT
};

struct rdq_op_spec {
	enum rdq_op op;
	const char *name;
	const struct rdq_arg_spec *args; /* in the order they are checked */
	unsigned nargs;
	size_t size; /* of the op's argument struct */
};

/* The arguments of each op, as rdqd receives them. An op without arguments has no struct. */
struct rdq_args_cancel {
	int64_t req; /* a request id of this connection; -1: not given */
	int64_t rid; /* a request number from request.list; -1: not given */
};

struct rdq_args_ep_connect {
	struct rdq_text addr;
	int64_t port;
	int64_t timeout_ms;
	bool tied;
};

struct rdq_args_ep {
	uint64_t ep;
};

struct rdq_args_ep_disconnect {
	uint64_t qp;
	int64_t timeout_ms; /* 0: the daemon's --disconnect-timeout */
	bool wait;
	uint64_t ep;
};

/* ep.attach: the client's own QP, by number, for a direct endpoint. */
struct rdq_args_ep_attach {
	int64_t qp_num;
	int64_t timeout_ms;
	uint64_t ep;
};

/* ep.establish: the direct endpoint whose QP its client made ready. */
struct rdq_args_ep_establish {
	int64_t timeout_ms;
	uint64_t ep;
};

/* ep.resolve: a direct endpoint's address, resolved to a device and port. */
struct rdq_args_ep_resolve {
	struct rdq_text addr;
	int64_t port;
	int64_t timeout_ms;
};

enum rdq_listen_mode { RDQ_MODE_ECHO, RDQ_MODE_SERVE, RDQ_MODE_DIRECT };

struct rdq_args_ep_listen {
	struct rdq_text addr;
	int64_t port;
	int64_t backlog;
	int64_t max_connections;
	bool tied;
	unsigned mode;	    /* enum rdq_listen_mode */
	int64_t timeout_ms; /* direct: how long its client has to take a connection request */
	bool wait_address;  /* an address on no interface yet is waited for */
	struct rdq_text allow, deny; /* peers' address prefixes (addr_prefix.h), or absent */
};

struct rdq_args_ep_recv {
	int64_t timeout_ms;
	uint64_t ep;
};

/* ep.send and ep.sendrecv (which takes no "wait"). */
struct rdq_args_ep_send {
	struct rdq_text data; /* version 1's bytes; version 2 may attach them instead */
	int64_t timeout_ms;
	bool wait;
	uint64_t ep;
};

struct rdq_args_page {
	uint64_t ep; /* ep.show: one endpoint, 0: all */
	int64_t limit;
	int64_t after;
};

struct rdq_args_qp {
	uint64_t qp;
};

struct rdq_args_watch {
	bool on;
};

/* The largest argument struct: room enough for any op's. */
#define RDQ_OP_ARGS_MAX 96

/* The table, indexed by enum rdq_op. */
extern const struct rdq_op_spec rdq_ops[RDQ_OP_COUNT];

/* The op named by len bytes at name (no NUL needed), or NULL: O(1), a hash of the name. */
const struct rdq_op_spec *rdq_op_find(const char *name, size_t len);

/* An argument's type as docs name it: "handle", "int", "bool", "string", "choice". */
const char *rdq_arg_type_name(enum rdq_arg_type type);

#endif
