/* SPDX-License-Identifier: MIT */
#include "prometheus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* How a stats field becomes metrics. */
enum kind {
	COUNTER,   /* a count of events since rdqd started */
	GAUGE,	   /* a level now, which may go down */
	SECONDS,   /* a gauge that stats gives in µs */
	MAP,	   /* an object of counters, by the key given in label */
	INFO,	   /* a string, shown as label with the value 1 */
	HISTOGRAM, /* loop.histogram_us with loop.callbacks and loop.sum_us */
	COVERED,   /* written by another entry (part of the histogram) or the same as one */
};

/*
 * One field of stats: its group (NULL for a field at the top) and name, and
 * the metric it becomes. Entries of one name follow each other, each with
 * the same help; label is the entry's own label (name="value"), or for MAP
 * and INFO the label's name.
 */
struct metric {
	const char *group, *field;
	enum kind kind;
	const char *name, *label, *help;
};

#define NETWORK_REJECTED "Connection requests from remote peers rejected, by reason."

static const struct metric metrics[] = {
	{"requests", "received", COUNTER, "rdq_requests_received_total", NULL,
	 "Requests decoded from clients' frames."},
	{"requests", "rejected", COUNTER, "rdq_requests_rejected_total", NULL,
	 "Messages answered with an error before they became requests."},
	{"requests", "replied", COUNTER, "rdq_requests_replied_total", NULL,
	 "Replies written to a client connection."},
	{"requests", "dropped", COUNTER, "rdq_requests_dropped_total", NULL,
	 "Replies not written because their connection had closed."},
	{"requests", "completed", COUNTER, "rdq_requests_completed_total", NULL,
	 "Requests completed, whatever their status."},
	{"requests", "pending", GAUGE, "rdq_requests_pending", NULL,
	 "Requests not yet completed, a stats request among them."},
	{"requests", "by_status", MAP, "rdq_requests_completed_by_status_total", "status",
	 "Requests completed, by status: ok, an errno name, or other."},
	{"pool", "size", GAUGE, "rdq_pool_items", NULL, "Work items made."},
	{"pool", "free", GAUGE, "rdq_pool_free_items", NULL, "Work items in the pool, unused."},
	{"pool", "in_use", GAUGE, "rdq_pool_in_use_items", NULL,
	 "Work items out of the pool: queued, running or returning."},
	{"pool", "high_water", GAUGE, "rdq_pool_in_use_high_water_items", NULL,
	 "The most work items in use at once since rdqd started."},
	{"pool", "misses", COUNTER, "rdq_pool_misses_total", NULL,
	 "Times the pool was empty and a work item was made."},
	{"pool", "refused", COUNTER, "rdq_pool_refused_total", NULL,
	 "Work items refused because --pool-cap were in use (EBUSY)."},
	{"workers", "threads", GAUGE, "rdq_worker_threads", NULL, "Worker threads."},
	{"workers", "queued", GAUGE, "rdq_workers_queued_items", NULL,
	 "Steps waiting for a worker now."},
	{"workers", "run", COUNTER, "rdq_workers_run_total", NULL, "Steps run on worker threads."},
	{"workers", "deferred", COUNTER, "rdq_workers_deferred_total", NULL,
	 "Steps posted behind another step of the same event queue."},
	{"workers", "serial_max", GAUGE, "rdq_workers_serial_max_items", NULL,
	 "The most steps that waited on one event queue at once since rdqd started."},
	{"workers", "sync_scope", INFO, "rdq_workers_sync_scope_info", "scope",
	 "The synchronization scope (--sync-scope), as a label."},
	{NULL, "endpoints", GAUGE, "rdq_endpoints", NULL,
	 "Endpoints now: every user's, those peers made on listeners among them."},
	{NULL, "objects", GAUGE, "rdq_objects", NULL, "Endpoints and QPs now."},
	/* The same count as clients.open, which is shown. */
	{NULL, "connections", COVERED, NULL, NULL, NULL},
	{"clients", "open", GAUGE, "rdq_clients_open", NULL, "Client connections open now."},
	{"clients", "accepted", COUNTER, "rdq_clients_accepted_total", NULL,
	 "Client connections accepted."},
	{"clients", "refused", COUNTER, "rdq_clients_refused_total", NULL,
	 "Client connections turned away by --max-clients or --max-clients-per-user."},
	{"clients", "refused_nofd", COUNTER, "rdq_clients_refused_nofd_total", NULL,
	 "Client connections turned away because rdqd was out of file descriptors."},
	{"clients", "idle_closed", COUNTER, "rdq_clients_idle_closed_total", NULL,
	 "Client connections closed for being idle (--idle-timeout)."},
	{"events", "cm", COUNTER, "rdq_events_cm_total", NULL, "rdma_cm events read."},
	{"events", "cm_stale", COUNTER, "rdq_events_cm_stale_total", NULL,
	 "rdma_cm events for an endpoint already gone."},
	{"events", "sent", COUNTER, "rdq_events_sent_total", NULL, "Events sent to watchers."},
	{"events", "lost", COUNTER, "rdq_events_lost_total", NULL,
	 "Events not sent to a watcher that was not reading."},
	{"events", "by_type", MAP, "rdq_events_cm_by_type_total", "type",
	 "rdma_cm events read, by type."},
	{"data", "transport_failed", COUNTER, "rdq_data_transport_failed_total", NULL,
	 "Connections that failed under an endpoint."},
	{"data", "backlog_full", COUNTER, "rdq_data_backlog_full_total", NULL,
	 "Connections failed because --recv-backlog messages waited unread."},
	{"data", "recv_discarded", COUNTER, "rdq_data_recv_discarded_total", NULL,
	 "Messages that arrived for a QP already going away."},
	{"data", "echo_waited", COUNTER, "rdq_data_echo_waited_total", NULL,
	 "Echoes that waited for a free send slot of their device."},
	{"network", "requests", COUNTER, "rdq_network_requests_total", NULL,
	 "Connection requests from remote peers."},
	{"network", "accepted", COUNTER, "rdq_network_accepted_total", NULL,
	 "Connection requests from remote peers that became endpoints."},
	{"network", "rejected_listener_full", COUNTER, "rdq_network_rejected_total",
	 "reason=\"listener_full\"", NETWORK_REJECTED},
	{"network", "rejected_daemon_full", COUNTER, "rdq_network_rejected_total",
	 "reason=\"daemon_full\"", NETWORK_REJECTED},
	{"network", "rejected_nofd", COUNTER, "rdq_network_rejected_total", "reason=\"nofd\"",
	 NETWORK_REJECTED},
	{"network", "rejected_no_server", COUNTER, "rdq_network_rejected_total",
	 "reason=\"no_server\"", NETWORK_REJECTED},
	{"network", "rejected_other", COUNTER, "rdq_network_rejected_total", "reason=\"other\"",
	 NETWORK_REJECTED},
	{"network", "unannounced", COUNTER, "rdq_network_unannounced_total", NULL,
	 "Served connections closed as soon as made: the client serving the listener was gone."},
	{"network", "endpoints", GAUGE, "rdq_network_endpoints", NULL,
	 "Endpoints remote peers made on listeners, now."},
	{"network", "max_endpoints", GAUGE, "rdq_network_endpoints_max", NULL,
	 "The most endpoints remote peers may make (--max-network-endpoints)."},
	{"loop", "histogram_us", HISTOGRAM, "rdq_loop_callback_duration_seconds", NULL,
	 "How long the loop's callbacks took."},
	{"loop", "callbacks", COVERED, NULL, NULL, NULL},
	{"loop", "sum_us", COVERED, NULL, NULL, NULL},
	{"loop", "max_us", SECONDS, "rdq_loop_callback_duration_max_seconds", NULL,
	 "The longest loop callback since rdqd started."},
};

#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

struct writer {
	rdq_text_sink sink;
	void *ctx;
	int err;	  /* the sink's first error; nothing is written after it */
	const char *last; /* the name of the last # TYPE line */
};

static void put(struct writer *w, const char *text, size_t len)
{
	if (!w->err && len)
		w->err = w->sink(w->ctx, text, len);
}

static void puts_(struct writer *w, const char *text)
{
	put(w, text, strlen(text));
}

/*
 * text with the escapes of the format: a backslash and a newline always,
 * a double quote too inside a label value (not in help text).
 */
static void put_escaped(struct writer *w, const char *text, bool label)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\\')
			puts_(w, "\\\\");
		else if (*p == '\n')
			puts_(w, "\\n");
		else if (*p == '"' && label)
			puts_(w, "\\\"");
		else
			put(w, p, 1);
	}
}

static void put_integer(struct writer *w, json_int_t v)
{
	char text[24];

	put(w, text, (size_t)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, v));
}

/* Whole µs as seconds, exactly: "0.000512", "2.5", "0". */
static void put_seconds(struct writer *w, uint64_t us)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%" PRIu64 ".%06" PRIu64, us / 1000000u,
			 us % 1000000u);

	while (text[n - 1] == '0')
		n--;
	if (text[n - 1] == '.')
		n--;
	put(w, text, (size_t)n);
}

static void put_header(struct writer *w, const char *name, const char *type, const char *help)
{
	puts_(w, "# HELP ");
	puts_(w, name);
	puts_(w, " ");
	put_escaped(w, help, false);
	puts_(w, "\n# TYPE ");
	puts_(w, name);
	puts_(w, " ");
	puts_(w, type);
	puts_(w, "\n");
}

/* name{labels} (the braces only with labels), then a space. */
static void put_name(struct writer *w, const char *name, const char *labels)
{
	puts_(w, name);
	if (labels) {
		puts_(w, "{");
		puts_(w, labels);
		puts_(w, "}");
	}
	puts_(w, " ");
}

/* name{label="value"} 1, value escaped. */
static void put_labelled(struct writer *w, const char *name, const char *label, const char *value)
{
	puts_(w, name);
	puts_(w, "{");
	puts_(w, label);
	puts_(w, "=\"");
	put_escaped(w, value, true);
	puts_(w, "\"} ");
}

static const json_t *field_of(const json_t *stats, const char *group, const char *field)
{
	return json_object_get(group ? json_object_get(stats, group) : stats, field);
}

static uint64_t as_count(const json_t *v)
{
	json_int_t n = json_integer_value(v);

	return n > 0 ? (uint64_t)n : 0;
}

/*
 * The loop histogram: histogram_us[i] counts callbacks shorter than 2^i µs
 * (and at least half that), the last one every longer callback. Prometheus
 * buckets are cumulative and inclusive (le): < 2^i µs is within le 2^i µs.
 */
static void put_histogram(struct writer *w, const struct metric *m, const json_t *loop,
			  const json_t *hist)
{
	size_t n = json_array_size(hist);
	uint64_t cumulative = 0;

	if (n > 64)
		n = 64; /* 2^63 µs is as far as the bounds go */
	put_header(w, m->name, "histogram", m->help);
	for (size_t i = 0; i + 1 < n; i++) {
		cumulative += as_count(json_array_get(hist, i));
		puts_(w, m->name);
		puts_(w, "_bucket{le=\"");
		put_seconds(w, (uint64_t)1 << i);
		puts_(w, "\"} ");
		put_integer(w, (json_int_t)cumulative);
		puts_(w, "\n");
	}
	if (n)
		cumulative += as_count(json_array_get(hist, n - 1));
	puts_(w, m->name);
	puts_(w, "_bucket{le=\"+Inf\"} ");
	put_integer(w, (json_int_t)cumulative);
	puts_(w, "\n");
	if (json_object_get(loop, "sum_us")) {
		puts_(w, m->name);
		puts_(w, "_sum ");
		put_seconds(w, as_count(json_object_get(loop, "sum_us")));
		puts_(w, "\n");
	}
	/* loop.callbacks counts the same callbacks; the count that matches the buckets is shown. */
	puts_(w, m->name);
	puts_(w, "_count ");
	put_integer(w, (json_int_t)cumulative);
	puts_(w, "\n");
}

static void put_metric(struct writer *w, const json_t *stats, const struct metric *m)
{
	const json_t *v = field_of(stats, m->group, m->field);
	static const char *const types[] = {
		[COUNTER] = "counter", [GAUGE] = "gauge", [SECONDS] = "gauge",
		[MAP] = "counter",     [INFO] = "gauge",
	};
	const char *key;
	json_t *count;

	if (!v || m->kind == COVERED)
		return;
	if (m->kind == HISTOGRAM) {
		if (json_is_array(v))
			put_histogram(w, m, json_object_get(stats, m->group), v);
		return;
	}
	if (!w->last || strcmp(w->last, m->name) != 0)
		put_header(w, m->name, types[m->kind], m->help);
	w->last = m->name;
	switch (m->kind) {
	case MAP:
		/* const: json_object_foreach only reads the object. */
		json_object_foreach((json_t *)v, key, count)
		{
			put_labelled(w, m->name, m->label, key);
			put_integer(w, json_integer_value(count));
			puts_(w, "\n");
		}
		return;
	case INFO:
		if (json_is_string(v)) {
			put_labelled(w, m->name, m->label, json_string_value(v));
			puts_(w, "1\n");
		}
		return;
	case SECONDS:
		put_name(w, m->name, m->label);
		put_seconds(w, as_count(v));
		puts_(w, "\n");
		return;
	default:
		put_name(w, m->name, m->label);
		put_integer(w, json_integer_value(v));
		puts_(w, "\n");
		return;
	}
}

static bool known(const char *group, const char *field)
{
	for (size_t i = 0; i < N_METRICS; i++)
		if (strcmp(metrics[i].field, field) == 0 &&
		    (group ? metrics[i].group && strcmp(metrics[i].group, group) == 0
			   : !metrics[i].group))
			return true;
	return false;
}

/* A name of [a-z0-9_] from stats' own names, for a field without an entry. */
static void put_name_part(struct writer *w, const char *part)
{
	for (const char *p = part; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		put(w, &c, 1);
	}
}

/* rdq_group_field, or rdq_field at the top. */
static void put_unknown_name(struct writer *w, const char *group, const char *field)
{
	puts_(w, "rdq_");
	if (group) {
		put_name_part(w, group);
		puts_(w, "_");
	}
	put_name_part(w, field);
}

/*
 * A numeric field no entry describes: untyped, so that a new counter of
 * rdqd is seen before this table learns of it.
 */
static void put_unknown(struct writer *w, const char *group, const char *field, const json_t *v)
{
	puts_(w, "# HELP ");
	put_unknown_name(w, group, field);
	puts_(w, " The stats field ");
	if (group) {
		put_escaped(w, group, false);
		puts_(w, ".");
	}
	put_escaped(w, field, false);
	puts_(w, ".\n# TYPE ");
	put_unknown_name(w, group, field);
	puts_(w, " untyped\n");
	put_unknown_name(w, group, field);
	puts_(w, " ");
	put_integer(w, json_integer_value(v));
	puts_(w, "\n");
}

static void put_unknowns(struct writer *w, const json_t *obj, const char *group)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		if (known(group, key))
			continue;
		if (json_is_integer(v))
			put_unknown(w, group, key, v);
		else if (!group && json_is_object(v))
			put_unknowns(w, v, key);
	}
}

int rdq_prometheus_write(const json_t *stats, rdq_text_sink sink, void *ctx)
{
	struct writer w = {.sink = sink, .ctx = ctx};

	if (!json_is_object(stats))
		return -EINVAL;
	for (size_t i = 0; i < N_METRICS; i++)
		put_metric(&w, stats, &metrics[i]);
	put_unknowns(&w, stats, NULL);
	return w.err;
}

int rdq_prometheus_write_text(const char *json, size_t len, rdq_text_sink sink, void *ctx)
{
	json_t *stats = json_loadb(json, len, 0, NULL);
	int ret = stats ? rdq_prometheus_write(stats, sink, ctx) : -EINVAL;

	json_decref(stats);
	return ret;
}
