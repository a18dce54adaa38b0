/* SPDX-License-Identifier: MIT */
/*
 * The simulator: rdqd's own code in the race world (tests/unit/race: real
 * control socket and clients, link-time fakes of rdma_cm, the QP module and
 * the device list), driven by one seed. Each step the seed picks one
 * runnable thing: a client's request (valid or not), a queued worker step,
 * the loop taking back what the workers finished, an rdma_cm event the
 * kernel could give now, a timer firing, a client reacting to an event, a
 * connection closing. Faults the seed injects fail the fakes' calls with
 * their documented errors. After every step and at the end the invariants
 * are checked; a failure prints the seed and the last steps.
 */
#ifndef RDQ_SIM_H
#define RDQ_SIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/handle_table.h"
#include "fakes.h"
#include "rng.h"

#define SIM_MAX_CLIENTS	  8
#define SIM_MAX_HANDLES	  64
#define SIM_MAX_REQUESTS  4096
#define SIM_MAX_REACTIONS 64
#define SIM_MAX_MESSAGES  512
/* QP numbers from here up are another process's (fake.foreign_qps). */
#define SIM_FOREIGN_QPS 0x800000

/* What a client expects of a request it sent. */
enum expect {
	EXPECT_ANY,	 /* a valid request: one reply, with a status its op documents */
	EXPECT_EINVAL,	 /* a bad argument: EINVAL */
	EXPECT_ENOTSUP,	 /* an unknown op: EOPNOTSUPP */
	EXPECT_ENOENT,	 /* a handle rdqd never gave: ENOENT */
	EXPECT_CANCELED, /* queued when rdqd was told to stop: ECANCELED (or ESHUTDOWN) */
	EXPECT_REFUSED,	 /* another process's QP, or data on a failed connection: any error */
	EXPECT_FAILED,	 /* data on a connection that failed: its failure (ETIMEDOUT), or ENOENT */
};

/* One request a client sent. */
struct sent {
	int64_t id;
	int client;
	int op; /* enum rdq_op, or -1 for none */
	enum expect expect;
	unsigned replies;
	int err;       /* its reply's status (0: success) */
	bool orphaned; /* its connection closed before the reply */
	bool waits;    /* ep.send with wait: its completion never comes here */
	bool tied;     /* asked for an object tied to its connection (serve and direct imply it) */
	rdq_handle_t ep; /* the endpoint a success reply gave, or the one it names */
	int rules;	 /* ep.listen: the address rules it asked for (rules.c's sets; 0: none) */
};

/* What a client was given and was told of. */
#define SIM_MAX_GIVEN 512

struct given {
	rdq_handle_t ep;
	int client;
	bool tied;	  /* goes when the client's connection closes */
	bool destroyed;	  /* the client asked for its destroy (or its listener's) */
	bool announced;	  /* a served connection: ep.accepted came */
	bool may_go;	  /* its client asked for its end, or its device went: it may be gone */
	bool conn_closed; /* the connection that was given it closed */
};

/* Something a client was told and may act on later: an ep.request or an ep.flush. */
struct reaction {
	int client;
	char what[16]; /* "request", "retry", "attached", "flush", "connected", "recv", "send" */
	rdq_handle_t ep;
};

/* The schedule being run. */
struct sim {
	uint64_t seed;
	struct rng rng;
	uint64_t step, steps; /* the step being taken, and how many the schedule takes */
	int nclients;
	unsigned fault_one_in[FAKE_CALLS]; /* each call fails one time in this many; 0: never */
	bool closed[SIM_MAX_CLIENTS];
	bool shut_down;

	struct sent sent[SIM_MAX_REQUESTS];
	unsigned nsent;
	int64_t next_id;
	unsigned anonymous_expected[SIM_MAX_CLIENTS]; /* EBADMSG replies without an id */
	unsigned anonymous_seen[SIM_MAX_CLIENTS];

	rdq_handle_t handles[SIM_MAX_HANDLES]; /* endpoints and QPs seen in replies and events */
	unsigned nhandles;
	rdq_handle_t named[SIM_MAX_REQUESTS]; /* endpoints a success reply gave their client */
	unsigned nnamed;
	bool never_given; /* the request being made names a handle never given */

	struct reaction reactions[SIM_MAX_REACTIONS];
	unsigned nreactions;

	struct given given[SIM_MAX_GIVEN];
	unsigned ngiven;
	rdq_handle_t failed[SIM_MAX_HANDLES];  /* endpoints whose connection the QP failed */
	rdq_handle_t refused[SIM_MAX_HANDLES]; /* direct peers rdqd refused */
	unsigned nrefused;
	/* Messages that arrived ("m<index>"), where, and whether a receive gave them. */
	struct message {
		rdq_handle_t ep;
		bool received;
	} messages[SIM_MAX_MESSAGES];
	unsigned nmessages;
	unsigned nfailed;
};

extern struct sim sim;

/* Steps taken by earlier schedules of this run (a failure says how many it took to find). */
extern uint64_t steps_before;

/* The trace: the last steps, kept to print when a schedule fails. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void trace_print(void);
void trace_reset(void);
extern bool trace_verbose;    /* every step is printed as it is taken */
extern uint64_t trace_digest; /* of every step of the schedule so far */

/* A schedule failed: prints why, the seed and the trace, and exits 1. */
_Noreturn void sim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* clients.c's side: a client sends a random request, valid or not. */
void client_request(int who);
/* Something a client will act on later (an ep.request, ep.flush, a connection it has). */
void react_later(int who, const char *what, rdq_handle_t ep);
/* Sends op (args stolen) as a valid request of who's; returns its id. */
int64_t client_send_op(int who, int op, json_t *args);
/* What was sent with this id, and what came back. */
const struct sent *client_sent(int64_t id);
/* Runs the allocation-failure sweep; report (may be NULL) gets the sites reached. */
int alloc_sweep(const char *report);

/* Forgets what clients were to do of this kind ("connected", say). */
void reactions_drop(const char *what);
/* A client acts on something it was told (attaches a QP, confirms a flush). */
bool client_react(void);
/* The same with no choice: the first thing, as it should (the end's drain). */
bool client_react_first(void);
/* rdqd was told to stop: requests queued now must end ECANCELED. */
void requests_queued_at_shutdown(void);
/* The ops a request may still wait in after everything settled (a message, a completion). */
bool may_wait_forever(const struct sent *s);
/* Whether a success reply gave this endpoint to its client. */
bool handle_named(rdq_handle_t h);
/* Reads new replies and checks each against what was sent. */
void replies_check(void);
/* An event a client read (clients_on_event's callback). */
void client_event(int who, json_t *event);
/* Records a handle the daemon named. */
void handle_seen(rdq_handle_t h);
/*
 * A handle to use in a request: a known one mostly, sometimes a stale or
 * unknown one, and sometimes one rdqd never gave that shares a known one's
 * slot in the handle table (sets sim.never_given).
 */
rdq_handle_t handle_pick(void);

/* structure.c's side: rdqd's own bookkeeping, checked after every step. */
void structure_check(void);
/* What must hold once everything ran (before the end destroys everything). */
void structure_check_settled(void);
/* A reply gave an endpoint to a client, or an event told it of one. */
void given_record(int client, rdq_handle_t ep, bool tied, bool announced);
struct given *given_find(rdq_handle_t ep);
/* Its client asked for its end (or its listener's), or its device went. */
void given_may_go(rdq_handle_t ep);
/* An EDQUOT reply: the user's own endpoints must be at the limit. */
void quota_check(const struct sent *s);
/* The QP of a connected endpoint fails (a send completed with an error); false if none. */
bool qp_fails(void);
/* A message arrives from the peer on a connected endpoint; false if none can take one. */
bool message_arrives(void);
/* A send in flight completes: done, flushed, or failed; false if none is in flight. */
bool send_completes(void);
/* A receive's reply gave this message: it must be new, the endpoint's, and in order. */
void message_received(const struct sent *s, const char *data);
/* Whether the QP of this endpoint failed (its data requests must fail too). */
bool connection_failed(rdq_handle_t ep);

/* qpmap.c's side: rdqd's qp_num map under the fakes' QPs, checked after every step. */
void qpmap_start(void);
void qpmap_check(void);
void qpmap_stop(void);

/* network.c's side: plays one rdma_cm event the kernel could give now; false if none. */
bool network_event(void);
/* Plays the good answer to one call still owed one (the end's drain); false if none. */
bool network_answer_owed(void);
/* An address comes to an interface, or leaves it (rtnetlink's news). */
bool network_address_change(void);
/* Forgets what the network answered (a new schedule). */
void network_reset(void);
/*
 * rules.c's side: listeners' address rules. ep.listen asks for one of
 * RULE_SETS sets (rules_pick); its reply records the listener's
 * (rules_listener); each peer's connection request comes from an address it
 * picks (rules_peer, with the id's index among the fakes' ids); after every
 * step no refused peer was accepted and no admitted one told it was refused.
 */
#define RULE_SETS 3
void rules_pick(json_t *listen_args, struct sent *s);
void rules_listener(rdq_handle_t ep, int set);
void rules_peer(unsigned index, rdq_handle_t listener, struct rdma_cm_id *id);
void rules_check(void);
void rules_reset(void);

/* Fails a fakes' call now and then (fake.fault). */
int fault_decide(enum fake_call call);

/* The clock passes every request deadline armed now. */
void deadlines_pass(void);
/* The clock passes every timer armed now (deadlines, setup times, retries...). */
void timers_all_fire(void);
/* A direct peer was refused: its endpoint takes no more setup steps. */
void peer_refused(rdq_handle_t ep);
bool peer_was_refused(rdq_handle_t ep);

/* Runs one schedule of sim.seed; returns the steps taken (exits on a failure). */
uint64_t schedule_run(uint64_t seed, uint64_t steps);

#endif
