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
#include <getopt.h>
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
#include "client.h"
#include "clock.h"
#include "cm.h"
#include "control.h"
#include "device.h"
#include "endpoint.h"
#include "engine/level.h"
#include "json_arena.h"
#include "log.h"
#include "metrics.h"
#include "object.h"
#include "rdq/client.h"
#include "rdqd.h"
#include "request.h"
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
		log_info("SIGHUP: nothing to reload");
		return;
	}
	log_info("%s received", strsignal((int)sig));
	rdqd_shutdown(d);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: rdqd [OPTIONS]\n"
		"The rdq daemon: owns RDMA endpoints for local clients (rdqctl, librdq).\n"
		"\n"
		"  -s, --socket PATH        control socket (default: /run/rdq/rdqd.sock as root,\n"
		"                           $XDG_RUNTIME_DIR/rdq/rdqd.sock otherwise, or\n"
		"                           /tmp/rdq-UID/rdqd.sock without XDG_RUNTIME_DIR)\n"
		"  -w, --workers N          worker threads (default: one per CPU)\n"
		"      --pool N             work items made at start (default: twice\n"
		"                           --max-pending, what one client's requests in\n"
		"                           flight need on both ends of a connection)\n"
		"      --pool-cap N         most work items in use; beyond, requests get EBUSY\n"
		"                           (default 0: no cap)\n"
		"      --max-pending N      pending requests per client connection (default 256)\n"
		"      --max-endpoints N    endpoints per user (default 16384); those that\n"
		"                           remote peers make on its listeners count apart\n"
		"      --max-network-endpoints N\n"
		"                           endpoints remote peers may make on all listeners\n"
		"                           together (default 16384); a peer past it, or past\n"
		"                           its listener's max_connections, is rejected\n"
		"      --max-clients N      client connections (default 1024); the last 1/16\n"
		"                           of them are kept for root\n"
		"      --max-clients-per-user N\n"
		"                           connections one user (not root) may hold (default:\n"
		"                           a quarter of --max-clients)\n"
		"      --idle-timeout S     close a connection that sent nothing for S seconds\n"
		"                           and has nothing pending or watched (default 300;\n"
		"                           0: never)\n"
		"      --sync-scope SCOPE   which endpoints' worker steps run one at a time, in\n"
		"                           order: endpoint (each endpoint's; default), device\n"
		"                           (all of them), none (no order)\n"
		"      --disconnect-timeout MS\n"
		"                           local deadline of ep.disconnect --wait when the\n"
		"                           request sets none (default 5000)\n"
		"      --max-message BYTES  largest RDMA message either way, 4096 to 1048576\n"
		"                           (default 65536)\n"
		"      --send-slots N       send buffers per RDMA device, each of --max-message\n"
		"                           bytes, 1 to 4096 (default: 8 MiB of them, at least\n"
		"                           16 and at most 256); an echo waits for a free one\n"
		"      --recv-backlog N     received messages an endpoint holds until a client\n"
		"                           reads them; one more fails the endpoint (default 64)\n"
		"      --metrics ADDR:PORT  serve the counters over HTTP at\n"
		"                           http://ADDR:PORT/metrics in the Prometheus text\n"
		"                           format (default: off). No authentication: bind a\n"
		"                           local address, such as 127.0.0.1:9464\n"
		"      --systemd            run as the systemd service: take the control socket\n"
		"                           from systemd (rdqd.socket) and fail without one.\n"
		"                           Without it a socket systemd passes is used too, and\n"
		"                           readiness and the watchdog are notified either way\n"
		"      --log-level LEVEL    log messages of LEVEL and above: err, warn, info\n"
		"                           (default) or debug\n"
		"  -v, --verbose            log debug messages (--log-level debug)\n"
		"  -q, --quiet              log warnings and errors only (--log-level warn)\n"
		"  -V, --version            print the version and exit\n"
		"  -h, --help               print this help and exit\n"
		"\n"
		"Runs in the foreground and logs to stderr with <N> priority prefixes.\n"
		"SIGTERM or SIGINT: stop accepting, cancel pending requests (ECANCELED),\n"
		"destroy all endpoints, exit 0. Without RDMA devices rdqd still serves status\n"
		"requests and fails RDMA requests with ENODEV.\n");
}

static int parse_uint(const char *arg, const char *name, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v > max) {
		fprintf(stderr, "rdqd: %s: \"%s\" is not a number from 0 to %u\n", name, arg, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_log_level(const char *arg, int *out)
{
	static const struct {
		const char *name;
		int priority;
	} levels[] = {
		{"err", LOG_ERR},
		{"warn", LOG_WARNING},
		{"info", LOG_INFO},
		{"debug", LOG_DEBUG},
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(arg, levels[i].name) == 0) {
			*out = levels[i].priority;
			return 0;
		}
	}
	fprintf(stderr, "rdqd: --log-level: \"%s\" is not err, warn, info or debug\n", arg);
	return -EINVAL;
}

static int parse_scope(const char *arg, enum sync_scope *out)
{
	for (enum sync_scope s = SYNC_ENDPOINT; s <= SYNC_NONE; s++) {
		if (strcmp(arg, sync_scope_name(s)) == 0) {
			*out = s;
			return 0;
		}
	}
	fprintf(stderr, "rdqd: --sync-scope: \"%s\" is not endpoint, device or none\n", arg);
	return -EINVAL;
}

static int parse_options(int argc, char **argv, struct rdqd_options *opt, char *path,
			 size_t path_size)
{
	enum {
		OPT_POOL = 256,
		OPT_POOL_CAP,
		OPT_MAX_PENDING,
		OPT_MAX_EP,
		OPT_MAX_NET_EP,
		OPT_MAX_CLIENTS,
		OPT_MAX_CLIENTS_PER_USER,
		OPT_IDLE_TIMEOUT,
		OPT_SYSTEMD,
		OPT_SYNC_SCOPE,
		OPT_DISCONNECT_TIMEOUT,
		OPT_MAX_MESSAGE,
		OPT_RECV_BACKLOG,
		OPT_SEND_SLOTS,
		OPT_LOG_LEVEL,
		OPT_METRICS,
	};
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"workers", required_argument, NULL, 'w'},
		{"pool", required_argument, NULL, OPT_POOL},
		{"pool-cap", required_argument, NULL, OPT_POOL_CAP},
		{"max-pending", required_argument, NULL, OPT_MAX_PENDING},
		{"max-endpoints", required_argument, NULL, OPT_MAX_EP},
		{"max-network-endpoints", required_argument, NULL, OPT_MAX_NET_EP},
		{"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
		{"max-clients-per-user", required_argument, NULL, OPT_MAX_CLIENTS_PER_USER},
		{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
		{"systemd", no_argument, NULL, OPT_SYSTEMD},
		{"sync-scope", required_argument, NULL, OPT_SYNC_SCOPE},
		{"disconnect-timeout", required_argument, NULL, OPT_DISCONNECT_TIMEOUT},
		{"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
		{"recv-backlog", required_argument, NULL, OPT_RECV_BACKLOG},
		{"send-slots", required_argument, NULL, OPT_SEND_SLOTS},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c, ret = 0;

	*opt = (struct rdqd_options){.max_pending = 256,
				     .max_endpoints = 16384,
				     .max_network_endpoints = 16384,
				     .max_clients = 1024,
				     .idle_timeout_s = 300,
				     .sync_scope = SYNC_ENDPOINT,
				     .disconnect_timeout_ms = 5000,
				     .max_message = 65536,
				     .recv_backlog = 64};
	if (rdq_default_socket_path(path, path_size) < 0) {
		fprintf(stderr, "rdqd: the default socket path is too long; use --socket\n");
		return 2;
	}
	opt->socket_path = path;
	opt->socket_default = true;
	while ((c = getopt_long(argc, argv, "s:w:vqVh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt->socket_path = optarg;
			opt->socket_default = false;
			break;
		case 'w':
			ret = parse_uint(optarg, "--workers", 256, &opt->workers);
			break;
		case OPT_POOL:
			ret = parse_uint(optarg, "--pool", 1u << 20, &opt->pool_prealloc);
			break;
		case OPT_POOL_CAP:
			ret = parse_uint(optarg, "--pool-cap", 1u << 24, &opt->pool_cap);
			break;
		case OPT_MAX_PENDING:
			ret = parse_uint(optarg, "--max-pending", 1u << 20, &opt->max_pending);
			break;
		case OPT_MAX_EP:
			ret = parse_uint(optarg, "--max-endpoints", 1u << 24, &opt->max_endpoints);
			break;
		case OPT_MAX_NET_EP:
			ret = parse_uint(optarg, "--max-network-endpoints", 1u << 24,
					 &opt->max_network_endpoints);
			if (ret == 0 && opt->max_network_endpoints == 0) {
				fprintf(stderr,
					"rdqd: --max-network-endpoints must be at least 1\n");
				ret = -EINVAL;
			}
			break;
		case OPT_MAX_CLIENTS:
			ret = parse_uint(optarg, "--max-clients", 1u << 20, &opt->max_clients);
			if (ret == 0 && opt->max_clients == 0) {
				fprintf(stderr, "rdqd: --max-clients must be at least 1\n");
				ret = -EINVAL;
			}
			break;
		case OPT_MAX_CLIENTS_PER_USER:
			ret = parse_uint(optarg, "--max-clients-per-user", 1u << 20,
					 &opt->max_clients_per_user);
			if (ret == 0 && opt->max_clients_per_user == 0) {
				fprintf(stderr,
					"rdqd: --max-clients-per-user must be at least 1\n");
				ret = -EINVAL;
			}
			break;
		case OPT_IDLE_TIMEOUT:
			ret = parse_uint(optarg, "--idle-timeout", 86400, &opt->idle_timeout_s);
			break;
		case OPT_SYSTEMD:
			opt->systemd = true;
			break;
		case OPT_SYNC_SCOPE:
			ret = parse_scope(optarg, &opt->sync_scope);
			break;
		case OPT_DISCONNECT_TIMEOUT:
			ret = parse_uint(optarg, "--disconnect-timeout", 3600000,
					 &opt->disconnect_timeout_ms);
			if (ret == 0 && opt->disconnect_timeout_ms == 0) {
				fprintf(stderr, "rdqd: --disconnect-timeout must be at least 1\n");
				ret = -EINVAL;
			}
			break;
		case OPT_MAX_MESSAGE:
			ret = parse_uint(optarg, "--max-message", 1u << 20, &opt->max_message);
			if (ret == 0 && opt->max_message < 4096) {
				fprintf(stderr, "rdqd: --max-message must be at least 4096\n");
				ret = -EINVAL;
			}
			break;
		case OPT_RECV_BACKLOG:
			ret = parse_uint(optarg, "--recv-backlog", 1u << 16, &opt->recv_backlog);
			if (ret == 0 && opt->recv_backlog == 0) {
				fprintf(stderr, "rdqd: --recv-backlog must be at least 1\n");
				ret = -EINVAL;
			}
			break;
		case OPT_SEND_SLOTS:
			ret = parse_uint(optarg, "--send-slots", 4096, &opt->send_slots);
			if (ret == 0 && opt->send_slots == 0) {
				fprintf(stderr, "rdqd: --send-slots must be at least 1\n");
				ret = -EINVAL;
			}
			break;
		case OPT_METRICS:
			opt->metrics = optarg;
			ret = metrics_parse_address(optarg, &opt->metrics_addr,
						    &opt->metrics_addr_len);
			break;
		case OPT_LOG_LEVEL:
			ret = parse_log_level(optarg, &log_max_priority);
			break;
		case 'v':
			log_max_priority = LOG_DEBUG;
			break;
		case 'q':
			log_max_priority = LOG_WARNING;
			break;
		case 'V':
			printf("rdqd %s\n", RDQ_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'rdqd --help'.\n");
			return 2;
		}
		if (ret < 0)
			return 2;
	}
	if (!opt->pool_prealloc)
		opt->pool_prealloc = 2 * opt->max_pending;
	if (!opt->max_clients_per_user)
		opt->max_clients_per_user = opt->max_clients / 4 ? opt->max_clients / 4 : 1;
	if (optind < argc) {
		fprintf(stderr, "rdqd: unexpected argument \"%s\"; try 'rdqd --help'\n",
			argv[optind]);
		return 2;
	}
	return 0;
}

/*
 * Each QP holds a completion channel, an fd: a thousand connections need
 * more fds than the usual soft limit of 1024. Take what the hard limit allows.
 */
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

static int start(struct rdqd *d)
{
	static const int signals[RDQD_SIGNALS] = {SIGTERM, SIGINT, SIGHUP};
	int ret;

	d->listen_fd = -1;
	d->uevent_fd = -1;
	d->spare_fd = -1;
	d->start_ms = now_ms();
	raise_fd_limit();
	d->base = event_base_new();
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
	d->qp_event = endpoint_qp_event;
	ret = device_watch_start(d, cm_attach);
	if (ret < 0)
		return ret;
	/* Before the control socket: a busy metrics port fails the start before any client came. */
	ret = metrics_start(d);
	if (ret < 0)
		return ret;
	ret = control_listen(d, &client_handlers);
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
	handle_table_fini(&d->objects);
	handle_table_fini(&d->conns);
	shares_fini(d);
	request_pool_drain(d);
	if (d->base)
		event_base_free(d->base);
}

int main(int argc, char **argv)
{
	char path[108];
	struct rdqd d = {0};
	int ret;

	ret = parse_options(argc, argv, &d.opt, path, sizeof(path));
	if (ret)
		return ret;
	signal(SIGPIPE, SIG_IGN);
	json_arena_install();
	ret = start(&d);
	if (ret < 0) {
		rdq_level_set(RDQ_LEVEL_PASSIVE);
		stop(&d);
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
	return 0;
}
