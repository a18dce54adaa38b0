/* SPDX-License-Identifier: MIT */
/*
 * What every race table shares: one daemon per case (rdqd's own code on the
 * fakes of fakes.c, driven by the real clients of clients.c), the test
 * thread as the loop and, one step at a time, as the workers
 * (WORKERS_MANUAL, workers_run_queued), the racing events, and the checks
 * that follow every case.
 */
#ifndef RACE_HARNESS_H
#define RACE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/workers.h"
#include "rdqd.h"

struct ep;
struct request;

/* Deadlines the cases fire themselves: the clock never reaches them. */
#define FAR_MS 60000

/* What happens, loop side: a request of the other client, a socket, rdma_cm, the clock. */
enum race_event {
	EV_NONE,
	EV_CANCEL,	   /* the other client cancels the request under test (cancel rid=N) */
	EV_CLOSE,	   /* the client's connection closes */
	EV_DESTROY,	   /* the other client destroys the endpoint (ep.destroy) */
	EV_DESTROY_NOW,	   /* the same, and a second worker takes the teardown at once if it may */
	EV_QP_DESTROY,	   /* the other client destroys the endpoint's QP (qp.destroy) */
	EV_QP_DESTROY_NOW, /* the same, and a second worker takes its step at once if it may */
	EV_DISCONNECTED,   /* rdma_cm: DISCONNECTED, status 0 (a DREP, or the peer's DREQ) */
	EV_DREQ_TIMEOUT,   /* rdma_cm: DISCONNECTED, status -ETIMEDOUT (no DREP came) */
	EV_DEADLINE,	   /* the request's local deadline fires, if it is still armed */
	EV_DEVICE_REMOVAL, /* rdma_cm: DEVICE_REMOVAL */
	EV_SHUTDOWN,	   /* rdqd_shutdown (SIGTERM) */
	/* Making a connection. */
	EV_ADDR_RESOLVED,    /* rdma_cm: ADDR_RESOLVED */
	EV_ROUTE_RESOLVED,   /* rdma_cm: ROUTE_RESOLVED */
	EV_CONNECT_RESPONSE, /* rdma_cm: CONNECT_RESPONSE (the peer accepted) */
	EV_ESTABLISHED,	     /* rdma_cm: ESTABLISHED (the passive side's RTU came) */
	EV_REJECTED,	     /* rdma_cm: REJECTED */
	EV_UNREACHABLE,	     /* rdma_cm: UNREACHABLE */
	EV_CONNECT_REQUEST,  /* rdma_cm: a peer's CONNECT_REQUEST on the listener */
	EV_DESTROY_LISTENER, /* the other client destroys the listener (ep.destroy) */
	EV_LISTENER_REMOVAL, /* rdma_cm: DEVICE_REMOVAL on the listener */
};

/* The daemon of one case, and what the case knows about it. */
struct world {
	struct rdqd d;
	char dir[64]; /* a temporary folder for the control socket */
	char socket_path[96];
	uid_t uid; /* the clients' (this process's) */
	rdq_handle_t ep, qp;
	rdq_handle_t listener; /* a passive case's listener */
	/* The request under test. */
	int64_t r_id;
	uint64_t r_rid;
	int r_state_at_first; /* its state when the first event came, -1 if not pending */
	/* The requests the two events made (0: none). */
	int64_t first_id, then_id;
	unsigned deadlines_armed; /* deadline events that found the deadline armed */
	unsigned second_worker_runs;
	unsigned lock_waits; /* a second worker's step found ep->lock held: it would wait */
};

extern struct world w;

const char *errname(int err);

/* A daemon listening on a temporary socket, both clients connected. Returns 0 or -1. */
int world_start(enum sync_scope scope);
/* The same with nclients connections (1 to CLIENTS_MAX), numbered from 0. */
int world_start_clients(enum sync_scope scope, int nclients);
/* Leaves nothing behind, even after a failed case (then ASan reports what it could not free). */
void world_stop(void);

/*
 * An active endpoint made by the client's ep.connect and connected through
 * the real state machine, step by step: sets w.ep and w.qp.
 */
void world_connect(bool tied);

/*
 * Plays the client's pending ep.connect id through every step to
 * established (sets w.ep); the reply is the caller's to read.
 */
void world_connect_steps(int64_t id);

/* The passive endpoint w.listener made for a peer (its first child), or 0. */
rdq_handle_t listener_first_child(void);

/*
 * Runs every queued worker step and drains every item back, as the loop and
 * the workers would when left alone, until nothing moves. Returns false if it
 * never stopped moving.
 */
bool settle(void);

/* Runs the queued step fn on the test thread (a worker) and brings it back (the loop). */
void step(work_fn fn);

/* A pending request, by the daemon's number (as cancel rid=N finds it) or a client's id. */
struct request *pending_request(uint64_t rid, int64_t id);

/*
 * Plays an event. Returns the id of the request it made on the other client,
 * or 0. May run inside a hook, in the middle of a worker step: it records and
 * never asserts.
 */
int64_t fire(enum race_event ev);

/* A hook (fake_hook_set) that plays the event *arg (an enum race_event) at DISPATCH level. */
void hook_fire(void *arg);

/*
 * Request id/rid completed exactly once, with status: answered on the
 * client's connection, or, if that closed first, counted as dropped in the
 * status's bucket (the only dropped completion of the case).
 */
void check_completed_once(int64_t id, uint64_t rid, int status);

/* The request an event made (the other client's) got its one reply, with expected. */
void check_event_reply(int64_t id, int expected);

/* Destroys everything, runs everything, and checks that nothing is left. */
void check_nothing_left(void);

/*
 * The first way the world is not empty and balanced (requests, work items,
 * objects, shares, peers' requests, ids and QPs of the fakes), in words; or
 * NULL. Call once everything was destroyed and settled.
 */
const char *world_leftovers(void);

#endif
