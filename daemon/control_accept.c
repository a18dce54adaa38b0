/* SPDX-License-Identifier: MIT */
/*
 * Accepting clients on the control socket, and running out of descriptors
 * while doing it. An accept that fails with EMFILE or ENFILE leaves the
 * client in the backlog and the socket readable: rdqd gives up a spare
 * descriptor to take the client and tell it why it is turned away, or,
 * without one, stops accepting for a while, so that the loop never spins on
 * a socket it cannot serve. Such an episode is logged once, when it starts
 * and when it ends; admission.c asks whether one lasts, to turn peers'
 * connection requests away too.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "control_internal.h"
#include "log.h"
#include "rdqd.h"

#define ACCEPTS_PER_CALLBACK 32

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
			control_refuse(fd, EMFILE,
				       "rdqd is out of file descriptors; try again later");
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
		conn_open(d, fd);
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

int control_listen(struct rdqd *d, const struct control_handlers *handlers)
{
	int fd;

	d->control_handlers = handlers;
	fd = control_socket_open(d);
	if (fd < 0)
		return fd;
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
	control_socket_close(d);
}
