/* SPDX-License-Identifier: MIT */
#include "clients.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "alloc.h"
#include "engine/level.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "rdqd.h"

#define MAX_REPLIES	1024
#define MAX_EVENT_NAMES 64
/* Loop turns with nothing read that count as quiet: a reply needs two (read, then write). */
#define QUIET_TURNS 3

static struct {
	struct rdqd *d;
	int n;			/* connections opened */
	int fd[CLIENTS_MAX];	/* -1 once closed */
	bool eof[CLIENTS_MAX];	/* rdqd closed it */
	bool deaf[CLIENTS_MAX]; /* not reading (clients_reading) */
	uint8_t in[CLIENTS_MAX][RDQ_FRAME_HEADER + RDQ_MAX_MESSAGE];
	size_t in_len[CLIENTS_MAX];
	clients_event_fn on_event;
	int64_t last_id;
	uint64_t events, events_lost;	 /* events read, and the counts of events.lost read */
	char names[MAX_EVENT_NAMES][32]; /* the first events' names */
	unsigned nnames;
	struct reply replies[MAX_REPLIES];
	unsigned nreplies;
} c = {.fd = {-1, -1, -1, -1, -1, -1, -1, -1}};

static void fail(const char *what)
{
	fprintf(stderr, "race clients: %s: %s\n", what, strerror(errno));
	abort();
}

static void record(int who, json_t *msg)
{
	json_t *id = json_object_get(msg, "id"), *error = json_object_get(msg, "error");
	const char *message = json_string_value(json_object_get(error, "message"));
	struct reply *r;

	if (json_object_get(msg, "event")) {
		const char *name = json_string_value(json_object_get(msg, "event"));

		if (c.on_event)
			c.on_event(who, msg);
		if (name && strcmp(name, "events.lost") == 0)
			c.events_lost +=
				(uint64_t)json_integer_value(json_object_get(msg, "count"));
		else
			c.events++;
		if (name && c.nnames < MAX_EVENT_NAMES)
			snprintf(c.names[c.nnames++], sizeof(c.names[0]), "%s", name);
		return; /* an event, not a reply */
	}
	if (c.nreplies == MAX_REPLIES) {
		fprintf(stderr, "race clients: more than %u replies\n", MAX_REPLIES);
		abort();
	}
	r = &c.replies[c.nreplies++];
	r->who = who;
	r->id = json_is_integer(id) ? json_integer_value(id) : -1;
	r->err = error ? (int)json_integer_value(json_object_get(error, "code")) : 0;
	snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
	r->result = json_incref(json_object_get(msg, "result"));
}

/* Records each whole frame in who's buffer, and keeps the rest. */
static void take_frames(int who)
{
	for (;;) {
		uint32_t len;
		json_t *msg;

		if (c.in_len[who] < RDQ_FRAME_HEADER ||
		    rdq_frame_read_header(c.in[who], &len) < 0 ||
		    c.in_len[who] < RDQ_FRAME_HEADER + len)
			return;
		msg = json_loadb((const char *)c.in[who] + RDQ_FRAME_HEADER, len, 0, NULL);
		if (!msg) {
			fprintf(stderr, "race clients: rdqd sent a frame that is not JSON\n");
			abort();
		}
		record(who, msg);
		json_decref(msg);
		memmove(c.in[who], c.in[who] + RDQ_FRAME_HEADER + len,
			c.in_len[who] - RDQ_FRAME_HEADER - len);
		c.in_len[who] -= RDQ_FRAME_HEADER + len;
	}
}

/* Reads what is there and records each whole frame. Returns the bytes read. */
static size_t read_client(int who)
{
	size_t got = 0;

	while (c.fd[who] >= 0 && !c.eof[who] && !c.deaf[who]) {
		ssize_t n = recv(c.fd[who], c.in[who] + c.in_len[who],
				 sizeof(c.in[who]) - c.in_len[who], MSG_DONTWAIT);

		if (n == 0)
			c.eof[who] = true;
		if (n <= 0)
			break;
		c.in_len[who] += (size_t)n;
		got += (size_t)n;
		/* The buffer holds the largest frame, so taking whole ones always makes room. */
		take_frames(who);
	}
	return got;
}

void clients_pump(void)
{
	enum rdq_level level = rdq_level_current();
	unsigned quiet = 0;

	rdq_level_set(RDQ_LEVEL_DISPATCH);
	while (quiet < QUIET_TURNS) {
		size_t got = 0;

		event_base_loop(c.d->base, EVLOOP_NONBLOCK);
		for (int who = 0; who < c.n; who++)
			got += read_client(who);
		quiet = got ? 0 : quiet + 1;
	}
	rdq_level_set(level);
}

static void connect_client(int who)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", c.d->opt.socket_path);
	c.fd[who] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd[who] < 0 || connect(c.fd[who], (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("connect");
	c.eof[who] = false;
	c.deaf[who] = false;
	c.in_len[who] = 0;
}

void clients_open(struct rdqd *d, int n)
{
	c.d = d;
	c.n = n < CLIENTS_MAX ? n : CLIENTS_MAX;
	for (int who = 0; who < c.n; who++)
		connect_client(who);
	clients_pump();
}

void clients_reopen(int who)
{
	if (c.fd[who] >= 0)
		close(c.fd[who]);
	connect_client(who);
	clients_pump();
}

void clients_on_event(clients_event_fn fn)
{
	c.on_event = fn;
}

static void send_frame(int who, const void *frame, size_t len)
{
	if (c.fd[who] < 0)
		fail("send on a closed client");
	/* rdqd may have closed its end (a bad frame, its limits): that is the case's to see. */
	if (send(c.fd[who], frame, len, MSG_NOSIGNAL) != (ssize_t)len && errno != EPIPE &&
	    errno != ECONNRESET)
		fail("send");
	clients_pump();
}

void clients_send_id(int who, int64_t id, const char *op, json_t *args)
{
	json_t *msg;
	size_t len;
	uint8_t *buf;

	/* The protocol library is rdqd's too, but packing here is the client's doing. */
	alloc_faults.paused++;
	msg = rdq_request_new(id, op, args);
	buf = msg ? rdq_message_pack(msg, &len) : NULL;
	alloc_faults.paused--;
	if (!buf)
		fail("pack");
	send_frame(who, buf, len);
	free(buf);
	json_decref(msg);
}

int64_t clients_send(enum client_name who, const char *op, json_t *args)
{
	int64_t id = ++c.last_id;

	clients_send_id(who, id, op, args);
	return id;
}

void clients_send_raw(int who, const void *json, size_t len)
{
	uint8_t *frame = malloc(RDQ_FRAME_HEADER + len);

	if (!frame)
		fail("malloc");
	rdq_frame_write_header((uint32_t)len, frame);
	memcpy(frame + RDQ_FRAME_HEADER, json, len);
	send_frame(who, frame, RDQ_FRAME_HEADER + len);
	free(frame);
}

unsigned clients_nreplies(void)
{
	return c.nreplies;
}

const struct reply *clients_reply_at(unsigned i)
{
	return i < c.nreplies ? &c.replies[i] : NULL;
}

void clients_close(enum client_name who)
{
	close(c.fd[who]);
	c.fd[who] = -1;
	clients_pump();
}

void clients_reading(enum client_name who, bool on)
{
	c.deaf[who] = !on;
}

void clients_events(uint64_t *read, uint64_t *lost)
{
	*read = c.events;
	*lost = c.events_lost;
}

unsigned clients_events_named(const char *name)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c.nnames; i++)
		n += strcmp(c.names[i], name) == 0;
	return n;
}

bool clients_eof(int who)
{
	return c.eof[who];
}

bool clients_closed(enum client_name who)
{
	return c.fd[who] < 0;
}

unsigned clients_replies_for(enum client_name who, int64_t id, const struct reply **last)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c.nreplies; i++) {
		if (c.replies[i].who == (int)who && c.replies[i].id == id) {
			n++;
			if (last)
				*last = &c.replies[i];
		}
	}
	return n;
}

unsigned clients_replies_with(int err)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c.nreplies; i++)
		n += c.replies[i].err == err;
	return n;
}

void clients_forget_replies(void)
{
	for (unsigned i = 0; i < c.nreplies; i++)
		json_decref(c.replies[i].result);
	c.nreplies = 0;
}

void clients_reset(void)
{
	for (int who = 0; who < c.n; who++) {
		if (c.fd[who] >= 0)
			close(c.fd[who]);
		c.fd[who] = -1;
	}
	for (unsigned i = 0; i < c.nreplies; i++)
		json_decref(c.replies[i].result);
	c.nreplies = 0;
	c.last_id = 0;
	c.events = c.events_lost = 0;
	c.nnames = 0;
	memset(c.deaf, 0, sizeof(c.deaf));
	c.on_event = NULL;
}
