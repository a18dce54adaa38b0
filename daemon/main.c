/* SPDX-License-Identifier: MIT */
/*
 * rdqd: start-up, the loop, and shutdown.
 *
 * Start-up runs before the loop and may block (opening devices). Then the
 * main thread becomes the loop (DISPATCH level) until shutdown, which
 * stops accepting, destroys every endpoint on workers, and leaves the loop
 * only when no work item is out (rundown) and every client has its replies.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "config.h"
#if RDQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "shares.h"
#include "session.h"
#include "clock.h"
#include "cm.h"
#include "control.h"
#include "declared.h"
#include "device.h"
#include "endpoint.h"
#include "listen_file.h"
#include "engine/level.h"
#include "log.h"
#include "metrics.h"
#include "object.h"
#include "rdq/client.h"
#include "rdqd.h"
#include "qp.h"
#include "request.h"
#include "reload.h"
#include "settings.h"
#include "shutdown.h"
#include "work.h"

static void notify(const char *state)
{
#if RDQ_HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();

	rdqd_work_returned(d);
	loop_histogram_record(d, start);
}

/*
 * systemd's watchdog (WatchdogSec=): the keep-alive comes from a timer on the
 * loop, not from a thread of its own, so a loop that stops turning stops it
 * and systemd restarts the service.
 */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();

	notify("WATCHDOG=1");
	loop_histogram_record(d, start);
}

static int watchdog_start(struct rdqd *d)
{
#if RDQ_HAVE_SYSTEMD
	uint64_t usec = 0;
	struct timeval half;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	half.tv_sec = (time_t)(usec / 2 / 1000000u);
	half.tv_usec = (suseconds_t)(usec / 2 % 1000000u);
	d->watchdog_timer = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
	if (!d->watchdog_timer)
		return -ENOMEM;
	evtimer_add(d->watchdog_timer, &half);
	log_info("systemd watchdog: every %llu ms", (unsigned long long)(usec / 2000u));
#else
	(void)d;
#endif
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct rdqd *d = arg;

	if (sig == SIGHUP) {
		reload_start(d);
		return;
	}
	log_info("%s received", strsignal((int)sig));
	rdqd_shutdown(d);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: rdqd [OPTIONS]\n"
		     "The rdq daemon: owns RDMA endpoints for local clients (rdqctl, librdq).\n"
		     "\n");
	settings_help(out);
	fprintf(out,
		"\n"
		"Runs in the foreground and logs to stderr with <N> priority prefixes.\n"
		"SIGTERM or SIGINT: stop accepting, cancel pending requests (ECANCELED),\n"
		"destroy all endpoints, exit 0. Without RDMA devices rdqd still serves status\n"
		"requests and fails RDMA requests with ENODEV.\n");
}

/*
 * Each QP holds a completion channel, an fd: a thousand connections need
 * more fds than the usual soft limit of 1024. Take what the hard limit allows.
 */
/*
 * The loop's event base. With epoll's change list, the adds and removes of a
 * loop iteration (a bufferevent's write interest comes and goes with each
 * reply it flushes) reach the kernel as one epoll_ctl per descriptor that
 * changed, at the next wait, rather than one per change.
 */
static struct event_base *new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the fd limit: %s", strerror(errno));
	else
		log_debug("fd limit raised to %llu", (unsigned long long)rl.rlim_cur);
}

static int start(struct rdqd *d, struct listen_dir *declared)
{
	static const int signals[RDQD_SIGNALS] = {SIGTERM, SIGINT, SIGHUP};
	int ret;

	d->listen_fd = -1;
	d->device_watch.uevent_fd = -1;
	d->spare_fd = -1;
	d->start_ms = now_ms();
	raise_fd_limit();
	d->base = new_base();
	if (!d->base)
		return -ENOMEM;
	if (handle_table_init(&d->objects, 1u << 24, object_acquire) < 0 ||
	    handle_table_init(&d->conns, d->opt.max_clients + 16, NULL) < 0)
		return -ENOMEM;
	ret = workers_start(&d->workers, d->opt.workers, d->opt.pool_prealloc, d->opt.pool_cap,
			    sizeof(struct rdqd_work));
	if (ret < 0) {
		log_err("cannot start workers: %s", strerror(-ret));
		return ret;
	}
	endpoints_init(d);
	d->done_event = event_new(d->base, d->workers.done_fd, EV_READ | EV_PERSIST, on_done, d);
	if (!d->done_event)
		return -ENOMEM;
	event_add(d->done_event, NULL);
	for (unsigned i = 0; i < RDQD_SIGNALS; i++) {
		d->signal_events[i] = evsignal_new(d->base, signals[i], on_signal, d);
		if (!d->signal_events[i])
			return -ENOMEM;
		evsignal_add(d->signal_events[i], NULL);
	}
	ret = cm_start(d);
	if (ret < 0)
		return ret;
	/* After the devices are read: a declared listener whose address is there listens now. */
	declared_start(d, declared);
	/* Before the control socket: a busy metrics port fails the start before any client came. */
	ret = metrics_start(d);
	if (ret < 0)
		return ret;
	ret = session_start(d);
	if (ret < 0) {
		log_err("cannot serve %s: %s", d->opt.socket_path, strerror(-ret));
		return ret;
	}
	return watchdog_start(d);
}

static void stop(struct rdqd *d)
{
	metrics_stop(d);
	control_stop_accepting(d);
	control_close_all(d, true);
	if (d->shutdown_timer)
		event_free(d->shutdown_timer);
	if (d->workers.threads)
		workers_stop(&d->workers);
	endpoints_fini(d);
	device_watch_stop(d);
	cm_close(d);
	for (unsigned i = 0; i < RDQD_SIGNALS; i++)
		if (d->signal_events[i])
			event_free(d->signal_events[i]);
	if (d->done_event)
		event_free(d->done_event);
	if (d->watchdog_timer)
		event_free(d->watchdog_timer);
	declared_stop(d);
	handle_table_fini(&d->objects);
	handle_table_fini(&d->conns);
	shares_fini(d);
	request_pool_drain(d);
	/*
	 * The base first: freeing it frees the closed connections' outputs, and
	 * the messages lent to them come back to the spares.
	 */
	if (d->base)
		event_base_free(d->base);
	qp_message_spares_free(d);
}

/*
 * The options from the command line and the configuration file into
 * d->opt, or --print-config's output. Returns -1 to go on, or the exit code.
 */
static int configure(struct rdqd *d, struct settings *s, struct listen_dir *declared, int argc,
		     char **argv)
{
	enum setting_origin origin[SETTINGS_MAX];
	enum settings_action action;
	char err[320];

	if (settings_parse_args(s, argc, argv, &action) < 0)
		return 2;
	if (action == SETTINGS_HELP) {
		usage(stdout);
		return 0;
	}
	if (action == SETTINGS_VERSION) {
		printf("rdqd %s\n", RDQ_VERSION);
		return 0;
	}
	if (s->file &&
	    settings_read_file(s->file, s->file_required, &s->start_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "rdqd: %s\n", err);
		return 2;
	}
	settings_resolve(s, &s->start_file, &s->raw, origin);
	d->opt = s->raw;
	settings_derive(&d->opt);
	if (!d->opt.socket_path[0]) {
		fprintf(stderr, "rdqd: the default socket path is too long; use --socket\n");
		return 2;
	}
	if (s->print) {
		settings_print(stdout, s, &s->start_file, &d->opt, origin);
		return 0;
	}
	/* A bad declared listener stops the start, as a bad line of the file does. */
	if (declared_read_at_start(d->opt.listen_dir, declared) < 0)
		return 2;
	log_max_priority = (int)d->opt.log_level;
	d->settings = s;
	return -1;
}

int main(int argc, char **argv)
{
	static struct settings settings;
	struct listen_dir declared = {0};
	struct rdqd d = {0};
	int ret;

	ret = configure(&d, &settings, &declared, argc, argv);
	if (ret >= 0) {
		settings_fini(&settings);
		return ret;
	}
	signal(SIGPIPE, SIG_IGN);
	ret = start(&d, &declared);
	listen_dir_free(&declared);
	if (ret < 0) {
		rdq_level_set(RDQ_LEVEL_PASSIVE);
		stop(&d);
		settings_fini(&settings);
		return 1;
	}
	log_info("rdqd %s ready: %u worker(s)", RDQ_VERSION, d.workers.nthreads);
	notify("READY=1\nSTATUS=serving");

	rdq_level_set(RDQ_LEVEL_DISPATCH);
	event_base_dispatch(d.base);
	rdq_level_set(RDQ_LEVEL_PASSIVE);

	stop(&d);
	log_info("rdqd stopped: %llu request(s) received, %llu completed",
		 (unsigned long long)d.counters.received, (unsigned long long)d.counters.completed);
	settings_fini(&settings);
	return 0;
}
