/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "config.h"
#if RDQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "shares.h"
#include "clock.h"
#include "encode.h"
#include "engine/check.h"
#include "engine/level.h"
#include "engine/list.h"
#include "log.h"
#include "object.h"
#include "protocol/frame.h"
#include "protocol/message.h"
#include "protocol/socket_path.h"
#include "rdqd.h"

#define FRAMES_PER_CALLBACK  64		  /* then yield to other callbacks */
#define OUTPUT_HIGH	     (1u << 20)	  /* stop reading a client whose replies pile up */
#define OUTPUT_LOW	     (256u << 10) /* and resume below this */
#define ACCEPTS_PER_CALLBACK 32

struct conn {
	struct rdqd *d;
	rdq_handle_t handle;
	struct bufferevent *bev;
	struct event *resume; /* continues reading after a full batch */
	uid_t uid;
	pid_t pid;
	bool watch;			  /* sent events */
	struct list_node watching;	  /* in d->watchers while watch is set */
	bool closing;			  /* shutdown: close once the output is flushed */
	bool throttled;			  /* reading paused: too much output waiting */
	uint32_t skip;			  /* bytes of an oversize frame still to discard */
	struct event *idle;		  /* --idle-timeout: fires when it sent nothing for long */
	uint64_t events_lost;		  /* events not sent: its output was full; not told yet */
	struct control_requests requests; /* kept for request.c */
	struct list tied;		  /* kept for endpoint.c: the endpoints tied to it */
};

static struct conn *conn_get(struct rdqd *d, rdq_handle_t h)
{
	return handle_table_lookup(&d->conns, h, 0);
}

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

static size_t output_length(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void check_throttle(struct conn *c)
{
	size_t out = output_length(c);

	if (!c->throttled && out >= OUTPUT_HIGH) {
		c->throttled = true;
		bufferevent_disable(c->bev, EV_READ);
	} else if (c->throttled && out < OUTPUT_LOW && !c->closing) {
		c->throttled = false;
		bufferevent_enable(c->bev, EV_READ);
		event_active(c->resume, EV_READ, 0);
	}
}

/*
 * Messages are encoded once, into this buffer, which the loop reuses for
 * every message, then framed into the connection's output: no allocation
 * of ours per reply, and no second pass to learn the size first. Room for
 * the frame's header comes before the body, so that header and body go out
 * in one piece, and one byte after it holds the NUL before an attachment.
 */
static uint8_t scratch[RDQ_FRAME_HEADER + RDQ_MAX_MESSAGE + 1]; /* the loop's alone */
#define SCRATCH_BODY ((char *)scratch + RDQ_FRAME_HEADER)

char *control_body(void)
{
	return SCRATCH_BODY;
}

/*
 * Frames body (len bytes) into c's output, then the attachment after a NUL
 * when data is not NULL. body is the scratch buffer's, or any other text
 * without an attachment.
 */
static int conn_write_frame(struct conn *c, const char *body, size_t len, const void *data,
			    size_t data_len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t header[RDQ_FRAME_HEADER];
	int ret = 0;

	RDQ_DISPATCH_ONLY();
	if (len == 0)
		return -EINVAL; /* the encoder could not write it */
	if (len > RDQ_MAX_MESSAGE)
		return -EMSGSIZE; /* the encoder wrote only what fits, and said what it needed */
	if (body == SCRATCH_BODY) {
		size_t head = RDQ_FRAME_HEADER + len;

		if (data)
			scratch[head++] = '\0';
		rdq_frame_write_header((uint32_t)(data ? len + 1 + data_len : len), scratch);
		/* Room for the whole frame first: a frame half written would break the stream. */
		if (evbuffer_expand(out, head + data_len) < 0 ||
		    evbuffer_add(out, scratch, head) < 0 ||
		    (data && data_len && evbuffer_add(out, data, data_len) < 0))
			ret = -ENOMEM;
	} else {
		rdq_frame_write_header((uint32_t)len, header);
		if (evbuffer_expand(out, sizeof(header) + len) < 0 ||
		    evbuffer_add(out, header, sizeof(header)) < 0 ||
		    evbuffer_add(out, body, len) < 0)
			ret = -ENOMEM;
	}
	check_throttle(c);
	return ret;
}

int control_send_body(struct rdqd *d, rdq_handle_t h, size_t len, const void *data, size_t data_len)
{
	struct conn *c = conn_get(d, h);

	return c ? conn_write_frame(c, SCRATCH_BODY, len, data, data_len) : -ENOENT;
}

int control_reply(struct control_requests *requests, size_t len, const void *data, size_t data_len)
{
	struct conn *c = list_entry(requests, struct conn, requests);

	return conn_write_frame(c, SCRATCH_BODY, len, data, data_len);
}

bool control_can_announce(struct rdqd *d, rdq_handle_t h)
{
	struct conn *c = conn_get(d, h);

	return c && !c->closing && output_length(c) < OUTPUT_HIGH;
}

int control_announce(struct rdqd *d, rdq_handle_t h, size_t len)
{
	struct conn *c = conn_get(d, h);
	int ret;

	if (!c || c->closing)
		return -ENOENT;
	if (output_length(c) >= OUTPUT_HIGH)
		return -ENOBUFS;
	ret = conn_write_frame(c, SCRATCH_BODY, len, NULL, 0);
	if (ret == 0)
		d->counters.events_sent++;
	return ret;
}

struct broadcast_ctx {
	uid_t owner;
	size_t len; /* of the event, encoded once in the scratch buffer */
	uint64_t sent;
};

/*
 * Tells a watcher how many events it missed while its output was full,
 * once it reads again. It is told before any newer event.
 */
static void report_lost_events(struct conn *c)
{
	char text[96]; /* its own: the scratch buffer holds the event being broadcast */
	struct event_view lost = {.kind = EVENT_EVENTS_LOST, .count = c->events_lost};

	if (!c->events_lost || output_length(c) >= OUTPUT_LOW)
		return;
	if (conn_write_frame(c, text, encode_event(text, sizeof(text), &lost), NULL, 0) == 0)
		c->events_lost = 0;
}

static void broadcast_one(struct conn *c, struct broadcast_ctx *b)
{
	if (c->closing || !object_visible(b->owner, c->uid))
		return;
	/*
	 * A watcher that does not read must not make rdqd hold its events
	 * without bound: past the output limit they are counted, not kept, and
	 * it gets "events.lost" when it reads again.
	 */
	report_lost_events(c);
	if (c->events_lost || output_length(c) >= OUTPUT_HIGH) {
		c->events_lost++;
		c->d->counters.events_lost++;
	} else if (conn_write_frame(c, SCRATCH_BODY, b->len, NULL, 0) == 0) {
		b->sent++;
	}
}

void control_broadcast(struct rdqd *d, uid_t owner, const struct event_view *event)
{
	struct broadcast_ctx b = {.owner = owner};

	/* Only the watchers: an event costs nothing per connection that does not watch. */
	if (!d->watchers.first)
		return;
	/* Encoded once, whatever the number of watchers; each gets a copy of the bytes. */
	b.len = encode_event(SCRATCH_BODY, RDQ_MAX_MESSAGE, event);
	for (struct list_node *n = d->watchers.first, *next; n; n = next) {
		next = n->next;
		broadcast_one(list_entry(n, struct conn, watching), &b);
	}
	d->counters.events_sent += b.sent;
}

/* Answers a message that never became a request. */
static void reject(struct conn *c, int64_t id, int err, const char *message)
{
	size_t len = encode_reply_error(SCRATCH_BODY, RDQ_MAX_MESSAGE, RDQ_PROTOCOL_V1, id, err,
					message);

	c->d->counters.rejected++;
	if (conn_write_frame(c, SCRATCH_BODY, len, NULL, 0) == 0)
		c->d->counters.replied++;
	else
		c->d->counters.dropped++;
}

void control_reject(struct rdqd *d, rdq_handle_t h, int64_t id, int err, const char *message)
{
	struct conn *c = conn_get(d, h);

	if (c) {
		reject(c, id, err, message);
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
		size_t avail = evbuffer_get_length(in);
		uint8_t header[RDQ_FRAME_HEADER];
		uint32_t len;
		int ret;

		if (c->skip) {
			size_t n = avail < c->skip ? avail : c->skip;

			evbuffer_drain(in, n);
			c->skip -= (uint32_t)n;
			if (c->skip)
				return;
			continue;
		}
		if (avail < RDQ_FRAME_HEADER)
			return;
		evbuffer_copyout(in, header, sizeof(header));
		ret = rdq_frame_read_header(header, &len);
		/* This rdqd's frames hold at most an attachment of --max-message bytes. */
		if (ret == 0 && len > RDQ_MAX_MESSAGE + 1 + d->opt.max_message)
			ret = -EMSGSIZE;
		if (ret == -EMSGSIZE) {
			char msg[RDQ_ERRMSG_MAX];

			snprintf(msg, sizeof(msg),
				 "a frame of %u bytes exceeds the limit of %u (64 KiB of JSON, and "
				 "an attachment of at most --max-message, %u bytes)",
				 len, RDQ_MAX_MESSAGE + 1 + d->opt.max_message, d->opt.max_message);
			evbuffer_drain(in, RDQ_FRAME_HEADER);
			c->skip = len;
			reject(c, RDQ_NO_ID, EMSGSIZE, msg);
			frames++;
			continue;
		}
		if (ret < 0) {
			evbuffer_drain(in, RDQ_FRAME_HEADER);
			reject(c, RDQ_NO_ID, EBADMSG, "an empty frame");
			frames++;
			continue;
		}
		if (avail < RDQ_FRAME_HEADER + len)
			return;
		evbuffer_drain(in, RDQ_FRAME_HEADER);
		d->control_handlers->frame(d, h, &c->requests, c->uid,
					   (const char *)evbuffer_pullup(in, len), len);
		evbuffer_drain(in, len);
		frames++;
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
	reject(c, RDQ_NO_ID, err, message);
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (output_length(c) == 0)
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

	if (c->closing && output_length(c) == 0) {
		conn_close(c);
		return;
	}
	check_throttle(c);
	report_lost_events(c);
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

/* Turns a new socket away with one error frame; the write is best effort, never blocking. */
static void refuse(int fd, int err, const char *message)
{
	size_t len = encode_reply_error(SCRATCH_BODY, RDQ_MAX_MESSAGE, RDQ_PROTOCOL_V1, RDQ_NO_ID,
					err, message);

	if (len > 0 && len <= RDQ_MAX_MESSAGE) {
		rdq_frame_write_header((uint32_t)len, scratch);
		if (send(fd, scratch, RDQ_FRAME_HEADER + len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* The client will see the connection close instead. */
		}
	}
	close(fd);
}

static void accept_one(struct rdqd *d, int fd)
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
		refuse(fd, -ret, why);
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

static int open_spare(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* An episode of EMFILE/ENFILE begins (once: it is logged once). */
static void starving(struct rdqd *d, int err)
{
	if (d->fd_starved)
		return;
	d->fd_starved = true;
	d->starved_refused = 0;
	log_warn("out of file descriptors (%s): clients and connection requests are turned away "
		 "until some are free; raise LimitNOFILE= or close endpoints",
		 strerror(err));
}

/* The episode is over: a descriptor could be had again. */
static void starving_over(struct rdqd *d)
{
	if (!d->fd_starved)
		return;
	d->fd_starved = false;
	d->accept_backoff_ms = 0;
	log_info("descriptors are free again: accepting clients (%llu turned away meanwhile)",
		 (unsigned long long)d->starved_refused);
}

void control_fd_shortage(struct rdqd *d, int err)
{
	starving(d, err);
}

/*
 * Only an accept that succeeds ends an episode in on_accept, and no client
 * may come: so whoever asks while one lasts tries a descriptor of its own.
 */
bool control_fd_starved(struct rdqd *d)
{
	int fd;

	if (!d->fd_starved)
		return false;
	fd = open_spare();
	if (fd < 0)
		return true;
	close(fd);
	if (d->spare_fd < 0)
		d->spare_fd = open_spare();
	starving_over(d);
	return false;
}

/*
 * accept failed with EMFILE or ENFILE: the client is still waiting in the
 * backlog and the socket stays readable. Give up the spare descriptor to
 * take the client and tell it why it is turned away; without a spare, stop
 * accepting for a while (doubling up to a second), so that the loop never
 * spins on a socket it cannot serve.
 */
static bool accept_starved(struct rdqd *d, int lfd, int err)
{
	int fd;

	starving(d, err);
	if (d->spare_fd >= 0) {
		close(d->spare_fd);
		d->spare_fd = -1;
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			refuse(fd, EMFILE, "rdqd is out of file descriptors; try again later");
			d->counters.refused_nofd++;
			d->starved_refused++;
		}
		d->spare_fd = open_spare();
		if (fd >= 0 && d->spare_fd >= 0)
			return true;
	}
	/* Not even the spare: wait for descriptors to come free. */
	d->accept_backoff_ms = d->accept_backoff_ms ? d->accept_backoff_ms * 2 : 50;
	if (d->accept_backoff_ms > 1000)
		d->accept_backoff_ms = 1000;
	event_del(d->listen_event);
	evtimer_add(d->accept_timer, &(struct timeval){.tv_usec = d->accept_backoff_ms * 1000});
	return false;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();

	for (int i = 0; i < ACCEPTS_PER_CALLBACK; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			if (!accept_starved(d, lfd, errno))
				break;
			continue;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			break;
		}
		starving_over(d);
		if (d->spare_fd < 0)
			d->spare_fd = open_spare();
		accept_one(d, fd);
	}
	loop_histogram_record(d, start);
}

/* The backoff is over: listen again (a client waiting in the backlog wakes on_accept). */
static void on_accept_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;

	if (d->spare_fd < 0)
		d->spare_fd = open_spare();
	if (d->listen_event)
		event_add(d->listen_event, NULL);
}

/* Makes the socket's folder (0755 for /run/rdq, else 0700) if missing. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (mkdir(dir, getuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Removes a socket file left by a daemon that died. Anything else at path is
 * left alone: a socket that still answers (another rdqd), and whatever is
 * not a socket at all.
 */
static int clear_stale(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, ret = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket: not touching it; choose another --socket",
			path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0) {
		log_err("%s: another rdqd is serving there", path);
		ret = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		unlink(path);
	}
	close(fd);
	return ret;
}

static int open_socket(struct rdqd *d)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *path = d->opt.socket_path;
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	ret = make_parent(path);
	if (ret < 0)
		return ret;
	if (d->opt.socket_default) {
		char why[RDQ_ERRMSG_MAX + 64];

		ret = rdq_socket_dir_check(path, why, sizeof(why));
		if (ret < 0) {
			log_err("%s", why);
			return ret;
		}
	}
	ret = clear_stale(path, &addr);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 128) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	d->listen_fd_ours = true;
	return fd;
}

int control_listen(struct rdqd *d, const struct control_handlers *handlers)
{
	int fd = -1;

	d->control_handlers = handlers;
#if RDQ_HAVE_SYSTEMD
	/* Socket activation: systemd made and bound the socket for us. */
	if (sd_listen_fds(1) == 1) {
		fd = SD_LISTEN_FDS_START;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		log_info("control socket from systemd");
	}
#endif
	if (fd < 0 && d->opt.systemd) {
		/* The service's socket is rdqd.socket's; one of our own would be elsewhere. */
		log_err("--systemd: systemd passed no control socket; start rdqd through "
			"rdqd.socket");
		return -ENOTSOCK;
	}
	if (fd < 0) {
		fd = open_socket(d);
		if (fd < 0)
			return fd;
		log_info("control socket %s", d->opt.socket_path);
	}
	d->listen_fd = fd;
	d->listen_event = event_new(d->base, fd, EV_READ | EV_PERSIST, on_accept, d);
	d->accept_timer = evtimer_new(d->base, on_accept_timer, d);
	d->spare_fd = open_spare();
	if (!d->listen_event || !d->accept_timer)
		return -ENOMEM;
	event_add(d->listen_event, NULL);
	return 0;
}

void control_stop_accepting(struct rdqd *d)
{
	if (d->listen_event)
		event_free(d->listen_event);
	d->listen_event = NULL;
	if (d->accept_timer)
		event_free(d->accept_timer);
	d->accept_timer = NULL;
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	d->spare_fd = -1;
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (d->listen_fd_ours)
			unlink(d->opt.socket_path);
	}
	d->listen_fd = -1;
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

	if (output_length(c) == 0) {
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

void control_set_watch(struct rdqd *d, rdq_handle_t h, bool on)
{
	struct conn *c = conn_get(d, h);

	if (!c || c->watch == on)
		return;
	c->watch = on;
	if (on)
		list_push_front(&d->watchers, &c->watching);
	else
		list_remove(&d->watchers, &c->watching);
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
