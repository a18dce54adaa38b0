/* SPDX-License-Identifier: MIT */
/*
 * The seam of the race table: link-time stand-ins for the hardware side of
 * rdqd, which the test cannot have: rdma_cm, the QP module (verbs) and the
 * device list. Everything else is the daemon's own code: the control socket,
 * client handling, ops, requests, endpoints, shutdown, the clock. Each fake
 * does the least that keeps the real code honest and records what it was
 * asked to do, so that a case can assert on it: every rdma_cm_id made and
 * destroyed, every DREQ sent, every QP made, moved to error, torn down and
 * freed.
 *
 * Four fakes can run a hook: rdma_disconnect (the DREQ step), qp_to_error
 * (the QP step), rdma_connect (the connect step) and rdma_accept (the accept
 * step). A worker calls them holding the endpoint's locks, so a hook that
 * plays a loop event there is that event racing a running step.
 */
#ifndef RDQ_TEST_RACE_FAKES_H
#define RDQ_TEST_RACE_FAKES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/handle_table.h"

struct rdqd;
struct qp;
struct request;
struct rdma_cm_id;

/*
 * A process that is not the test's: init. Not the test's pid + 1, which may be
 * one of its own threads (the sanitizers start some), and so count as its own.
 */
#define FAKE_OTHER_PROCESS 1

#define FAKE_MAX_IDS 32768
#define FAKE_MAX_QPS 1024

/* One rdma_cm_id the code under test made. */
struct fake_id {
	struct rdma_cm_id *id; /* freed at its first destroy; kept only as a key */
	unsigned disconnects;  /* rdma_disconnect calls: DREQs (or DREPs) sent */
	unsigned destroys;
	unsigned accepts;	     /* rdma_accept calls */
	unsigned rejects;	     /* rdma_reject calls */
	char reject_data[160];	     /* the last reject's private data, as given (cut to fit) */
	unsigned reject_len;	     /* its length, as given */
	unsigned used_after_destroy; /* calls that named it after its destroy */
	/* The calls that make rdma_cm answer with an event later (what the simulator plays). */
	unsigned resolve_addrs, resolve_routes, connects, establishes, listens;
	bool incoming; /* made for a peer's connection request (fake_incoming_id) */
};

/* One QP the code under test made with qp_create. */
struct fake_qp {
	struct qp *qp; /* freed at its release; kept only as a key */
	rdq_handle_t handle;
	unsigned to_error;	 /* qp_to_error calls */
	unsigned teardowns;	 /* qp_teardown calls */
	unsigned released;	 /* the object was freed (its last reference went) */
	unsigned activations;	 /* qp_activate calls */
	unsigned deactivations;	 /* qp_deactivate calls that stopped an active data path */
	unsigned error_on_freed; /* qp_to_error reached the verbs QP after its teardown */
	uint32_t qp_num;
};

/* A point in a worker step where a hook may play a racing loop event. */
enum fake_point {
	FAKE_AT_DREQ,	  /* inside rdma_disconnect */
	FAKE_AT_QP_ERROR, /* inside qp_to_error, before the QP is modified */
	FAKE_AT_CONNECT,  /* inside rdma_connect (the QP is made) */
	FAKE_AT_ACCEPT,	  /* inside rdma_accept (the QP is made and ready) */
	FAKE_POINTS,
};

typedef void (*fake_hook_fn)(void *arg);

/* The calls a fault can fail, each with the errors its documentation gives. */
enum fake_call {
	FAKE_CREATE_ID,
	FAKE_RESOLVE_ADDR,
	FAKE_RESOLVE_ROUTE,
	FAKE_CONNECT,
	FAKE_ESTABLISH,
	FAKE_DISCONNECT,
	FAKE_BIND,
	FAKE_LISTEN,
	FAKE_ACCEPT,
	FAKE_REJECT,
	FAKE_QP_CREATE,
	FAKE_QP_ATTR,
	FAKE_QP_OWNER,
	FAKE_QP_READY,
	FAKE_QP_TO_ERROR,
	FAKE_CALLS,
};

/* Returns 0 to let the call succeed, or the positive errno it fails with. */
typedef int (*fake_fault_fn)(enum fake_call call);

/* Everything the fakes recorded since the last fake_reset. */
struct fake_record {
	unsigned nids;
	unsigned nqps;
	unsigned overflows;   /* records that did not fit: a case that made too many */
	unsigned hooks_run;   /* hooks that ran */
	unsigned resyncs;     /* device_resync calls: one per endpoint torn down by a removal */
	int disconnect_error; /* set by a case: rdma_disconnect fails with this errno */
	int qp_create_error;  /* set by a case: qp_create fails with this errno */
	int bind_error;	      /* set by a case: rdma_bind_addr fails with this errno */
	unsigned listens;     /* rdma_listen calls */
	unsigned sends;	      /* qp_post_send calls that took a slot */
	unsigned incoming;    /* ids made for peers' connection requests (fake_incoming_id) */
	unsigned unexpected;  /* calls no case makes (a send, a device list): a daemon change */
	pid_t qp_owner;	      /* set by a case: the process RDMA netlink names for every QP */
	uint32_t foreign_qps; /* set by a simulator: QP numbers from this one up are another's */
	/* Set by a simulator: told of each QP made and torn down (its device's qp_num map). */
	int (*qp_made)(struct qp *qp);
	uint32_t qp_stride; /* set by a simulator: QP numbers 0x100 + n * stride (0: 1) */
	void (*qp_gone)(struct qp *qp);
	unsigned owner_checks; /* qp_owner_pid calls */
	fake_fault_fn fault;   /* set by a simulator: asked before each call of enum fake_call */
	/* Last, so that a reset clears only what was used. */
	struct fake_qp qps[FAKE_MAX_QPS];
	struct fake_id ids[FAKE_MAX_IDS];
};

/* The name of a call, for a trace. */
const char *fake_call_name(enum fake_call call);

extern struct fake_record fake;

/* Forgets every record (freeing what it kept) and every hook. */
void fake_reset(void);

/* Arms fn(arg) to run once, the next time a worker reaches point at. */
void fake_hook_set(enum fake_point at, fake_hook_fn fn, void *arg);

/* The rdma_cm_id rdma_cm makes for a peer's connection request (recorded like the others). */
struct rdma_cm_id *fake_incoming_id(void);

/*
 * A message arrives on qp (a simulator's): offered to a waiting receive as
 * qp.c does, else held for ep.recv. Returns false if it could not be kept.
 */
bool fake_message_arrives(struct qp *qp, const void *data, uint32_t len);

/* qp's oldest send in flight completes with status (0, -ECONNRESET flushed, or an error). */
bool fake_send_completes(struct qp *qp, int status);

/* The record of the QP with this handle, or NULL. */
struct fake_qp *fake_qp_by_handle(rdq_handle_t h);

#endif
