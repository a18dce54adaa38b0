/* SPDX-License-Identifier: MIT */
#include "prometheus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "stats_fields.h"

/*
 * One field of stats (stats_fields.h): its group ("" for a field at the
 * top) and name, and the metric it becomes.
 */
struct metric {
	const char *group, *field;
	enum rdq_stats_kind kind;
	const char *name, *label, *help;
};

#define METRIC(group, field, kind, name, label, help)                                              \
	{#group, #field, RDQ_STATS_##kind, name, label, help},

static const struct metric metrics[] = {RDQ_STATS_FIELDS(METRIC)};

#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

struct writer {
	rdq_text_sink sink;
	void *ctx;
	int err; /* the sink's first error; nothing is written after it */
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

/* m's value in stats, or NULL when stats lacks it. */
static const json_t *value_of(const json_t *stats, const struct metric *m)
{
	return json_object_get(m->group[0] ? json_object_get(stats, m->group) : stats, m->field);
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

/* m's samples, its value v; the family's header is already written. */
static void put_samples(struct writer *w, const struct metric *m, const json_t *v)
{
	const char *key;
	json_t *count;

	switch (m->kind) {
	case RDQ_STATS_MAP:
		/* const: json_object_foreach only reads the object. */
		json_object_foreach((json_t *)v, key, count)
		{
			put_labelled(w, m->name, m->label, key);
			put_integer(w, json_integer_value(count));
			puts_(w, "\n");
		}
		return;
	case RDQ_STATS_INFO:
		if (json_is_string(v)) {
			put_labelled(w, m->name, m->label, json_string_value(v));
			puts_(w, "1\n");
		}
		return;
	case RDQ_STATS_SECONDS:
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

/* Whether an entry before metrics[i] has its name: then its family is written already. */
static bool written_before(size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (metrics[j].name && strcmp(metrics[j].name, metrics[i].name) == 0)
			return true;
	return false;
}

/*
 * The family metrics[first] begins: one # HELP and # TYPE, then the samples
 * of every entry of its name, wherever the entry is. The format wants a
 * family's samples together, and the table is in wire order, which need not
 * keep them so (network.unannounced sits among the rejected reasons). A
 * scan of the table per family: it has a few dozen entries.
 */
static void put_family(struct writer *w, const json_t *stats, size_t first)
{
	static const char *const types[] = {
		[RDQ_STATS_COUNTER] = "counter", [RDQ_STATS_GAUGE] = "gauge",
		[RDQ_STATS_SECONDS] = "gauge",	 [RDQ_STATS_MAP] = "counter",
		[RDQ_STATS_INFO] = "gauge",
	};
	const struct metric *m = &metrics[first];
	bool headed = false;

	if (m->kind == RDQ_STATS_COVERED || written_before(first))
		return;
	if (m->kind == RDQ_STATS_HISTOGRAM) {
		const json_t *v = value_of(stats, m);

		if (json_is_array(v))
			put_histogram(w, m, json_object_get(stats, m->group), v);
		return;
	}
	for (size_t i = first; i < N_METRICS; i++) {
		const json_t *v;

		if (!metrics[i].name || strcmp(metrics[i].name, m->name) != 0)
			continue;
		v = value_of(stats, &metrics[i]);
		if (!v)
			continue;
		if (!headed)
			put_header(w, m->name, types[m->kind], m->help);
		headed = true;
		put_samples(w, &metrics[i], v);
	}
}

static bool known(const char *group, const char *field)
{
	for (size_t i = 0; i < N_METRICS; i++)
		if (strcmp(metrics[i].field, field) == 0 &&
		    strcmp(metrics[i].group, group ? group : "") == 0)
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
		put_family(&w, stats, i);
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
