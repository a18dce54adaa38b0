/* SPDX-License-Identifier: MIT */
#include "shutdown.h"

#include "config.h"
#if RDQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "control.h"
#include "endpoint.h"
#include "log.h"
#include "rdqd.h"

/* Seconds clients get, at shutdown, to read the replies waiting for them. */
#define SHUTDOWN_GRACE_S 5

static void on_shutdown_grace(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;

	log_warn("shutdown: closing clients that did not read their replies");
	control_close_all(d, true);
	event_base_loopexit(d->base, NULL);
}

void rdqd_check_exit(struct rdqd *d)
{
	if (workers_in_use(&d->workers))
		return;
	/* Objects made by work that was in flight when shutdown began: destroy them too. */
	if (handle_table_count(&d->objects)) {
		endpoint_destroy_all(d);
		if (workers_in_use(&d->workers))
			return;
	}
	if (d->counters.pending)
		return;
	control_close_all(d, false);
	if (control_connections(d) == 0) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	/* Some clients have replies they are not reading: give them a bounded time. */
	if (!d->shutdown_timer) {
		struct timeval grace = {.tv_sec = SHUTDOWN_GRACE_S};

		d->shutdown_timer = evtimer_new(d->base, on_shutdown_grace, d);
		if (d->shutdown_timer)
			evtimer_add(d->shutdown_timer, &grace);
	}
}

void rdqd_shutdown(struct rdqd *d)
{
	if (d->shutting_down)
		return;
	d->shutting_down = true;
#if RDQ_HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	log_info("shutting down: %u object(s), %llu request(s) pending",
		 handle_table_count(&d->objects), (unsigned long long)d->counters.pending);
	control_stop_accepting(d);
	/* Queued requests complete with ECANCELED; work in flight finishes on the workers. */
	endpoint_destroy_all(d);
	rdqd_check_exit(d);
}
