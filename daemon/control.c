/* SPDX-License-Identifier: MIT */
/*
 * A client's connection, on the loop: made of a socket just accepted, read
 * frame by frame (each handed to session.c), closed when the client hangs
 * up, stays idle too long, or rdqd shuts down. It keeps, for the layers
 * above, the requests it has pending and the endpoints tied to it, so that
 * its close finds them. control_internal.h says which file holds the rest.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "control_internal.h"
#include "engine/check.h"
#include "engine/list.h"
#include "log.h"
#include "protocol/message.h"
#include "rdqd.h"
#include "shares.h"

#define FRAMES_PER_CALLBACK 64 /* then yield to other callbacks */

struct control_requests *control_requests(struct rdqd *d, rdq_handle_t h)
{
	struct conn *c = conn_get(d, h);

	return c ? &c->requests : NULL;
}

struct list *control_tied(struct rdqd *d, rdq_handle_t h)
{
	struct conn *c = conn_get(d, h);

	return c ? &c->tied : NULL;
}

/*
 * Here rather than with the other writes (control_output.c): session.c uses
 * it, so session.c uses this file, which makes the handlers' calls below
 * callbacks in the module graph (control_internal.h).
 */
void control_reject(struct rdqd *d, rdq_handle_t h, int64_t id, int err, const char *message)
{
	struct conn *c = conn_get(d, h);

	if (c) {
		conn_reject(c, id, err, message);
	} else {
		d->counters.rejected++;
		d->counters.dropped++;
	}
}

static void conn_close(struct conn *c);

/* Handles up to FRAMES_PER_CALLBACK frames, then lets other callbacks run. */
static void read_frames(struct conn *c)
{
	struct rdqd *d = c->d;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	rdq_handle_t h = c->handle;
	unsigned frames = 0;

	while (frames < FRAMES_PER_CALLBACK && !c->throttled) {
		const char *body;
		uint32_t len;
		int ret = conn_next_frame(c, &body, &len);

		if (ret == -EAGAIN)
			return;
		frames++;
		if (ret < 0)
			continue; /* answered already */
		d->control_handlers->frame(d, h, &c->requests, c->uid, c->pid, body, len);
		evbuffer_drain(in, len);
		/* Handlers do not close connections; this keeps a future one from using c freed. */
		if (!conn_get(d, h))
			return;
	}
	if (frames == FRAMES_PER_CALLBACK && !c->throttled)
		event_active(c->resume, EV_READ, 0);
}

/*
 * (Re)starts the idle clock of a connection: it just sent something. The
 * timeout is read each time, so a reload's new --idle-timeout (0: never)
 * reaches every connection at its next message.
 */
static void idle_arm(struct conn *c)
{
	struct timeval tv = {.tv_sec = c->d->opt.idle_timeout_s};

	if (tv.tv_sec)
		evtimer_add(c->idle, &tv);
	else
		evtimer_del(c->idle);
}

/* Says why, then closes once that is written (or at once if nothing waits to be). */
static void close_with_reason(struct conn *c, int err, const char *message)
{
	conn_reject(c, RDQ_NO_ID, err, message);
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (conn_output_length(c) == 0)
		conn_close(c);
}

/*
 * --idle-timeout: a connection that sent nothing for that long, has no
 * request pending and watches nothing is holding a share of --max-clients
 * for nothing; it is closed, and told why.
 */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct rdqd *d = c->d;
	uint64_t start = now_us();
	char msg[RDQ_ERRMSG_MAX];

	if (c->requests.count || c->watch || c->closing) {
		idle_arm(c);
	} else {
		snprintf(msg, sizeof(msg),
			 "idle for %u s with nothing pending: rdqd closes the connection "
			 "(--idle-timeout)",
			 d->opt.idle_timeout_s);
		d->counters.idle_closed++;
		close_with_reason(c, ETIMEDOUT, msg);
	}
	loop_histogram_record(d, start);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct rdqd *d = c->d;
	uint64_t start = now_us();

	idle_arm(c);
	read_frames(c);
	loop_histogram_record(d, start);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	on_read(NULL, arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing && conn_output_length(c) == 0) {
		conn_close(c);
		return;
	}
	conn_check_throttle(c);
	conn_report_lost_events(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_close(c);
}

static void conn_close(struct conn *c)
{
	struct rdqd *d = c->d;

	handle_table_remove(&d->conns, c->handle);
	list_remove(&d->watchers, &c->watching);
	d->counters.connections--;
	log_debug("client %llu (uid %u pid %d) closed", (unsigned long long)c->handle,
		  (unsigned)c->uid, (int)c->pid);
	shares_remove(d, c->uid, SHARE_CONNECTIONS);
	bufferevent_free(c->bev);
	event_free(c->resume);
	if (c->idle)
		event_free(c->idle);
	d->control_handlers->closed(d, c->handle, &c->requests, &c->tied);
	/* An endpoint left on the list would unlink itself from freed memory later. */
	RDQ_CHECK(!c->tied.first);
	free(c);
}

void conn_open(struct rdqd *d, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char why[RDQ_ERRMSG_MAX];
	struct conn *c;
	int ret;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	ret = shares_check_connection(d, cred.uid, why, sizeof(why));
	if (ret < 0) {
		control_refuse(fd, -ret, why);
		d->counters.refused++;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->d = d;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->resume = event_new(d->base, -1, 0, on_resume, c);
	/* Every connection has its idle timer, armed or not: SIGHUP may set --idle-timeout. */
	c->idle = evtimer_new(d->base, on_idle, c);
	if (!c->bev || !c->resume || !c->idle ||
	    handle_table_insert(&d->conns, c, 1, &c->handle) < 0) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->resume)
			event_free(c->resume);
		if (c->idle)
			event_free(c->idle);
		free(c);
		return;
	}
	shares_add(d, c->uid, SHARE_CONNECTIONS);
	idle_arm(c);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	d->counters.connections++;
	d->counters.accepted++;
	log_debug("client %llu: uid %u pid %d", (unsigned long long)c->handle, (unsigned)c->uid,
		  (int)c->pid);
}

static bool mark_closing(void *object, rdq_handle_t h, void *arg)
{
	struct conn *c = object;

	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	return true;
}

static bool first_flushed(void *object, rdq_handle_t h, void *arg)
{
	struct conn *c = object;

	if (conn_output_length(c) == 0) {
		*(struct conn **)arg = c;
		return false;
	}
	return true;
}

static bool first_any(void *object, rdq_handle_t h, void *arg)
{
	*(struct conn **)arg = object;
	return false;
}

void control_close_all(struct rdqd *d, bool force)
{
	struct conn *c;

	handle_table_foreach(&d->conns, 0, mark_closing, NULL);
	/*
	 * Those with nothing left to write close now; the others when their
	 * output drains, or, forced, now: a client that never reads must not
	 * keep the daemon from exiting.
	 */
	do {
		c = NULL;
		handle_table_foreach(&d->conns, 0, force ? first_any : first_flushed, &c);
		if (c)
			conn_close(c);
	} while (c);
}

unsigned control_connections(struct rdqd *d)
{
	return handle_table_count(&d->conns);
}

struct foreach_requests_ctx {
	bool (*fn)(struct control_requests *list, void *arg);
	void *arg;
};

static bool conn_requests_each(void *object, rdq_handle_t h, void *arg)
{
	struct foreach_requests_ctx *ctx = arg;
	struct conn *c = object;

	return ctx->fn(&c->requests, ctx->arg);
}

void control_foreach_requests(struct rdqd *d, bool (*fn)(struct control_requests *list, void *arg),
			      void *arg)
{
	struct foreach_requests_ctx ctx = {.fn = fn, .arg = arg};

	handle_table_foreach(&d->conns, 0, conn_requests_each, &ctx);
}
