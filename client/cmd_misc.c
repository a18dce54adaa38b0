/* SPDX-License-Identifier: MIT */
/* rdqctl's one-word objects: stats, status, version and monitor. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "config.h"
#include "print.h"
#include "protocol/prometheus.h"

static int simple_call(struct ctl *ctl, const char *path, const char *usage, const char *op,
		       void (*text)(json_t *result), int argc, char **argv)
{
	json_t *result;
	int npos, ret;

	ret = args_parse(path, usage, NULL, argc, argv, NULL, 0, 0, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = ctl_call(ctl, op, NULL, -1, &result);
	if (ret)
		return ret;
	print_result(result, text);
	json_decref(result);
	return RDQCTL_OK;
}

/*
 * rdqd's loop histogram is an array of counts in power-of-two buckets: [i]
 * holds callbacks that took less than 2^i us, the last one all longer ones.
 * Text shows the buckets that are not empty, labelled by their bound.
 */
static json_t *histogram_labels(json_t *hist)
{
	size_t i, last = json_array_size(hist) - 1;
	json_t *labels = json_object(), *count;
	char label[32];

	json_array_foreach(hist, i, count)
	{
		if (json_integer_value(count) == 0)
			continue;
		if (i == last && i > 0)
			snprintf(label, sizeof(label), ">=%llu", 1ull << (i - 1));
		else
			snprintf(label, sizeof(label), "<%llu", 1ull << i);
		json_object_set(labels, label, count);
	}
	return labels;
}

static void stats_text(json_t *result)
{
	json_t *copy = json_deep_copy(result);
	json_t *loop = json_object_get(copy, "loop");
	json_t *hist = json_object_get(loop, "histogram_us");

	if (json_is_array(hist) && json_array_size(hist) < 64)
		json_object_set_new(loop, "histogram_us", histogram_labels(hist));
	print_fields(copy);
	json_decref(copy);
}

/* rdq_prometheus_write's text straight to stdout. */
static int stdout_sink(void *ctx, const char *text, size_t len)
{
	return fwrite(text, 1, len, stdout) == len ? 0 : -EIO;
}

int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl stats";
	bool prometheus = false;
	const struct opt opts[] = {
		{.name = "--prometheus", .seen = &prometheus},
		{0},
	};
	json_t *result;
	int npos, ret;

	ret = args_parse(
		path,
		"Usage: rdqctl stats [--prometheus]\n\n"
		"Prints rdqd's counters, one group per line: requests, pool, workers,\n"
		"endpoints, connections, events and the loop's callback histogram.\n\n"
		"  --prometheus   print them in the Prometheus text format (0.0.4) instead,\n"
		"                 as rdqd --metrics serves them (for node_exporter's\n"
		"                 textfile collector)\n",
		opts, argc, argv, NULL, 0, 0, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = ctl_call(ctl, "stats", NULL, -1, &result);
	if (ret)
		return ret;
	if (!prometheus) {
		print_result(result, stats_text);
	} else if (rdq_prometheus_write(result, stdout_sink, NULL) < 0) {
		/* As for any output that cannot be written (rdqctl.c): status 1. */
		perror("rdqctl: writing output");
		ret = RDQCTL_EDAEMON;
	}
	json_decref(result);
	return ret;
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	return simple_call(ctl, "rdqctl status",
			   "Usage: rdqctl status\n\n"
			   "Prints rdqd's pid, uptime, whether RDMA is usable, and how many\n"
			   "devices and endpoints it has.\n",
			   "status", print_fields, argc, argv);
}

static void version_text(json_t *result)
{
	printf("rdqd %s (protocol %" JSON_INTEGER_FORMAT ")\n",
	       json_string_value(json_object_get(result, "version")),
	       json_integer_value(json_object_get(result, "protocol")));
}

int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl version";
	json_t *result;
	int npos, ret;

	ret = args_parse(path,
			 "Usage: rdqctl version\n\n"
			 "Prints the versions of rdqctl, librdq and rdqd, and the protocol's.\n",
			 NULL, argc, argv, NULL, 0, 0, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	/* The client's half is known without rdqd, so it shows even when rdqd is down. */
	if (!print_is_json())
		printf("rdqctl %s (librdq %s)\n", RDQ_VERSION, rdq_version());
	ret = ctl_call(ctl, "version", NULL, -1, &result);
	if (ret)
		return ret;
	json_object_set_new(result, "client", json_string(RDQ_VERSION));
	json_object_set_new(result, "librdq", json_string(rdq_version()));
	print_result(result, version_text);
	json_decref(result);
	return RDQCTL_OK;
}

/* --- monitor --- */

struct monitor {
	int64_t count; /* stop after this many events; 0: never */
	int64_t seen;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void event_text(json_t *event)
{
	/* "v" is the same on every line: only JSON keeps it. */
	static const char *const skip[] = {"v", "event", NULL};

	print_pairs(json_string_value(json_object_get(event, "event")), event, skip);
}

/* Prints msg if it is an event; replies to other requests are not ours to show. */
static void monitor_show(struct ctl *ctl, json_t *msg)
{
	struct monitor *mon = ctl->priv;

	if (!rdq_message_is_event(msg) || (mon->count && mon->seen == mon->count))
		return;
	print_stream(msg, event_text);
	mon->seen++;
}

int cmd_monitor(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl monitor";
	struct monitor mon = {0};
	bool has_count = false;
	const struct opt opts[] = {
		{.name = "--count",
		 .metavar = "N",
		 .min = 1,
		 .max = INT64_MAX,
		 .value = &mon.count,
		 .seen = &has_count},
		{0},
	};
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block, old;
	json_t *result, *msg;
	bool farewell = false; /* the last message was rdqd's reason for closing */
	int npos, ret;

	ret = args_parse(path,
			 "Usage: rdqctl monitor [--count N]\n\n"
			 "Prints each event as it arrives (one line each; one JSON object\n"
			 "per line with -j) until N events have come or until interrupted.\n",
			 opts, argc, argv, NULL, 0, 0, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;

	/* Events may come before the reply to watch: ctl_call() hands them to monitor_show(). */
	ctl->priv = &mon;
	ctl->on_other = monitor_show;
	ret = ctl_call(ctl, "watch", json_pack("{s:b}", "on", 1), -1, &result);
	ctl->on_other = NULL;
	if (ret)
		return ret;
	json_decref(result);

	/*
	 * From here SIGINT and SIGTERM end the loop cleanly. They stay blocked except
	 * inside ppoll(), so one that comes between the check of stop and the wait is
	 * not lost.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	while (!stop && (!mon.count || mon.seen < mon.count)) {
		struct pollfd pfd = {.fd = rdq_client_fd(ctl->client), .events = POLLIN};

		ret = rdq_client_next(ctl->client, 0, &msg);
		if (ret == 0) {
			farewell = ctl_is_farewell(msg);
			monitor_show(ctl, msg);
			json_decref(msg);
			continue;
		}
		if (ret != -EAGAIN) {
			/* After a farewell, the close is rdqd's answer: its reason, status 1. */
			ret = ctl_lost(ctl, ret, farewell);
			goto out;
		}
		if (ppoll(&pfd, 1, NULL, &old) < 0 && errno != EINTR) {
			ret = ctl_unreachable(ctl, -errno);
			goto out;
		}
	}
	ret = RDQCTL_OK;
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}
