/* SPDX-License-Identifier: MIT */
/*
 * The race table's clients: real Unix sockets connected to the real control
 * socket (control.c, session.c, ops.c in the test binary), speaking the real
 * protocol. A case's requests and racing events go in as frames and come
 * back as replies; nothing in between is played by the test.
 *
 * The test thread is the loop: clients_pump() turns it (non-blocking) until
 * the sockets are quiet, at DISPATCH level, and reads what came back.
 */
#ifndef RACE_CLIENTS_H
#define RACE_CLIENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct rdqd;

enum client_name {
	CLIENT, /* makes the endpoint and the request under test */
	ADMIN,	/* another connection of the same user: cancels and destroys */
	NCLIENTS,
};

/* The most connections a world opens (the race tables use NCLIENTS; the simulator more). */
#define CLIENTS_MAX 8

/* One reply a client read. */
struct reply {
	int who; /* an enum client_name in the race tables */
	int64_t id;
	int err; /* 0, or the positive errno of an error reply */
	char message[160];
	json_t *result; /* a reference to the result of a success */
};

/* Connects n clients (up to CLIENTS_MAX) to d's control socket (listening); d accepts them. */
void clients_open(struct rdqd *d, int n);

/* A closed client's slot gets a new connection (a process that comes back). */
void clients_reopen(int who);

/* Called with every event a client reads (the event's JSON, borrowed), before it is counted. */
typedef void (*clients_event_fn)(int who, json_t *event);
void clients_on_event(clients_event_fn fn);

/* Turns the loop until nothing moves on the sockets, and reads every reply. */
void clients_pump(void);

/*
 * Sends a request (args stolen, may be NULL) and turns the loop so that rdqd
 * reads it. Returns its id (ids are unique across both clients).
 */
int64_t clients_send(enum client_name who, const char *op, json_t *args);

/* Sends one frame of len bytes as given (any bytes, even not JSON) and turns the loop. */
void clients_send_raw(int who, const void *json, size_t len);

/* Sends a request with this id (stolen args, may be NULL) and turns the loop. */
void clients_send_id(int who, int64_t id, const char *op, json_t *args);

/* The replies read so far, in the order they came; forgotten by clients_forget_replies. */
unsigned clients_nreplies(void);
const struct reply *clients_reply_at(unsigned i);

/* Stops or resumes reading who's socket: a client that does not read what rdqd sends. */
void clients_reading(enum client_name who, bool on);

/* Events read so far (any client), and the sum of the counts of "events.lost" among them. */
void clients_events(uint64_t *read, uint64_t *lost);

/* How many of the first events read (any client) had this name. */
unsigned clients_events_named(const char *name);

/* Closes a client's socket, as a client that exits does, and turns the loop. */
void clients_close(enum client_name who);
bool clients_closed(enum client_name who);
/* Whether rdqd closed who's connection (who read its end). */
bool clients_eof(int who);

/* How many replies who got for request id; *last (may be NULL) is the latest. */
unsigned clients_replies_for(enum client_name who, int64_t id, const struct reply **last);

/* Replies of any client with this error (0: success). */
unsigned clients_replies_with(int err);

/* Forgets the replies read so far (a long test's; their ids are not reused). */
void clients_forget_replies(void);

/* Closes what is left and forgets every reply. */
void clients_reset(void);

#endif
