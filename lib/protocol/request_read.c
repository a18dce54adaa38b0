/* SPDX-License-Identifier: MIT */
#include "request_read.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "frame.h"
#include "utf8.h"

/*
 * The scanner of the common shapes. Each function returns false to decline:
 * the text is not one it reads, and jansson will say what it is.
 */
struct scan {
	const char *p, *end;
};

static void skip_space(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool take(struct scan *s, char c)
{
	skip_space(s);
	if (s->p == s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

/* A string of printable ASCII without escapes: its bytes are its value. */
static bool scan_string(struct scan *s, const char **str, size_t *len)
{
	const char *start;

	if (!take(s, '"'))
		return false;
	start = s->p;
	for (; s->p < s->end; s->p++) {
		unsigned char c = (unsigned char)*s->p;

		if (c == '"') {
			*str = start;
			*len = (size_t)(s->p - start);
			s->p++;
			return true;
		}
		if (c == '\\' || c < 0x20 || c >= 0x80)
			return false;
	}
	return false;
}

/* An integer of at most 18 digits (no overflow to think of), not the start of a real. */
static bool scan_int(struct scan *s, int64_t *v)
{
	bool negative = false;
	int64_t n = 0;
	int digits = 0;

	skip_space(s);
	if (s->p < s->end && *s->p == '-') {
		negative = true;
		s->p++;
	}
	if (s->p < s->end && *s->p == '0' && s->p + 1 < s->end && s->p[1] >= '0' && s->p[1] <= '9')
		return false; /* a leading zero: not JSON */
	for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
		if (++digits > 18)
			return false;
		n = n * 10 + (*s->p - '0');
	}
	if (digits == 0 || (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')))
		return false;
	*v = negative ? -n : n;
	return true;
}

enum literal { LIT_NONE, LIT_TRUE, LIT_FALSE, LIT_NULL };

static enum literal scan_literal(struct scan *s)
{
	static const struct {
		const char *text;
		size_t len;
		enum literal value;
	} words[] = {{"true", 4, LIT_TRUE}, {"false", 5, LIT_FALSE}, {"null", 4, LIT_NULL}};

	skip_space(s);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if ((size_t)(s->end - s->p) >= words[i].len &&
		    memcmp(s->p, words[i].text, words[i].len) == 0) {
			s->p += words[i].len;
			return words[i].value;
		}
	return LIT_NONE;
}

/* What comes next: a string, a number, a literal, or something the scanner declines. */
static char peek(struct scan *s)
{
	skip_space(s);
	return s->p < s->end ? *s->p : '\0';
}

/* Skips one scalar value: a string, an integer or a literal. */
static bool skip_scalar(struct scan *s)
{
	const char *str;
	size_t len;
	int64_t v;
	char c = peek(s);

	if (c == '"')
		return scan_string(s, &str, &len);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_int(s, &v);
	return scan_literal(s) != LIT_NONE;
}

/*
 * Names the object holds that the reader does not know, to find a duplicate
 * among them (jansson refuses one). A frame with more declines.
 */
#define UNKNOWN_KEYS 8
struct unknown_keys {
	const char *name[UNKNOWN_KEYS];
	size_t len[UNKNOWN_KEYS];
	unsigned n;
};

static bool unknown_key_new(struct unknown_keys *u, const char *name, size_t len)
{
	for (unsigned i = 0; i < u->n; i++)
		if (u->len[i] == len && memcmp(u->name[i], name, len) == 0)
			return false;
	if (u->n == UNKNOWN_KEYS)
		return false;
	u->name[u->n] = name;
	u->len[u->n++] = len;
	return true;
}

static bool key_is(const char *key, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(key, name, len) == 0;
}

/*
 * Scans an object of scalars ({"a":1,...}) from its '{', leaving s after its
 * '}'; declines one with a duplicate name or more than UNKNOWN_KEYS names.
 * The arguments' own scan relies on that.
 */
static bool skip_flat_object(struct scan *s)
{
	struct unknown_keys seen = {0};
	const char *key;
	size_t len;

	if (!take(s, '{'))
		return false;
	if (take(s, '}'))
		return true;
	do {
		if (!scan_string(s, &key, &len) || !unknown_key_new(&seen, key, len) ||
		    !take(s, ':') || !skip_scalar(s))
			return false;
	} while (take(s, ','));
	return take(s, '}');
}

enum envelope_field { F_V = 1, F_ID = 2, F_OP = 4, F_ARGS = 8, F_ATTACHMENT = 16 };

/* The envelope, without a tree; false to decline. */
static bool envelope_scan(struct rdq_envelope *e)
{
	struct scan s = {e->body, e->body + e->json_len};
	struct unknown_keys unknown = {0};
	int64_t v = 0, id = 0, attachment = 0;
	unsigned seen = 0;
	const char *key;
	size_t len;

	if (!take(&s, '{'))
		return false;
	if (!take(&s, '}')) {
		do {
			unsigned field = 0;
			bool ok;

			if (!scan_string(&s, &key, &len) || !take(&s, ':'))
				return false;
			if (key_is(key, len, "v")) {
				field = F_V;
				ok = scan_int(&s, &v);
			} else if (key_is(key, len, "id")) {
				field = F_ID;
				ok = scan_int(&s, &id);
			} else if (key_is(key, len, "op")) {
				field = F_OP;
				ok = scan_string(&s, &e->op, &e->op_len);
			} else if (key_is(key, len, "attachment")) {
				field = F_ATTACHMENT;
				ok = scan_int(&s, &attachment);
			} else if (key_is(key, len, "args")) {
				field = F_ARGS;
				e->args = s.p;
				ok = skip_flat_object(&s);
				e->args_len = (size_t)(s.p - e->args);
			} else {
				ok = unknown_key_new(&unknown, key, len) && skip_scalar(&s);
			}
			if (!ok || (seen & field))
				return false;
			seen |= field;
		} while (take(&s, ','));
		if (!take(&s, '}'))
			return false;
	}
	skip_space(&s);
	if (s.p != s.end)
		return false;
	/* What jansson's reader would find fault with, it should say. */
	if ((seen & (F_V | F_ID | F_OP)) != (F_V | F_ID | F_OP) || id < 0 || v < 1 ||
	    v > RDQ_PROTOCOL_VERSION)
		return false;
	if ((e->data || (seen & F_ATTACHMENT)) &&
	    (v < 2 || !e->data || !(seen & F_ATTACHMENT) || attachment < 0 ||
	     (uint64_t)attachment != e->data_len))
		return false;
	if (!(seen & F_ARGS))
		e->args = NULL;
	e->id = id;
	e->version = (int)v;
	return true;
}

/* Splits the body and checks the JSON's size: what both ways do first. */
static int envelope_start(const char *body, size_t len, struct rdq_envelope *e,
			  char err[RDQ_ERRMSG_MAX])
{
	memset(e, 0, sizeof(*e));
	e->id = RDQ_NO_ID;
	e->body = body;
	e->body_len = len;
	e->json_len = rdq_frame_split(body, len, &e->data, &e->data_len);
	if (e->json_len > RDQ_MAX_MESSAGE) {
		snprintf(err, RDQ_ERRMSG_MAX,
			 "the JSON of a frame is %zu bytes, over the limit of %u", e->json_len,
			 RDQ_MAX_MESSAGE);
		return -EMSGSIZE;
	}
	return 0;
}

/* Reads the body with jansson into e->tree, as every frame was once read. */
static int envelope_from_tree(const char *body, size_t len, struct rdq_envelope *e,
			      char err[RDQ_ERRMSG_MAX])
{
	int ret = rdq_request_decode(body, len, &e->tree, err);

	e->id = e->tree.id;
	if (ret < 0)
		return ret;
	e->version = e->tree.version;
	e->op = e->tree.op;
	e->op_len = json_string_length(json_object_get(e->tree.root, "op"));
	e->args = NULL;
	return 0;
}

int rdq_envelope_read(const char *body, size_t len, struct rdq_envelope *e,
		      char err[RDQ_ERRMSG_MAX])
{
	int ret = envelope_start(body, len, e, err);

	if (ret < 0 || envelope_scan(e))
		return ret;
	return envelope_from_tree(body, len, e, err);
}

int rdq_envelope_read_tree(const char *body, size_t len, struct rdq_envelope *e,
			   char err[RDQ_ERRMSG_MAX])
{
	int ret = envelope_start(body, len, e, err);

	return ret < 0 ? ret : envelope_from_tree(body, len, e, err);
}

void rdq_envelope_clear(struct rdq_envelope *e)
{
	rdq_request_msg_clear(&e->tree);
}

static void *field_of(void *out, const struct rdq_arg_spec *a)
{
	return (char *)out + a->offset;
}

static bool text_in_range(const struct rdq_arg_spec *a, size_t len)
{
	return (int64_t)len >= a->min && (a->max == 0 || (int64_t)len <= a->max);
}

static int choice_index(const struct rdq_arg_spec *a, const char *s, size_t len)
{
	for (int i = 0; a->choices[i]; i++)
		if (key_is(s, len, a->choices[i]))
			return i;
	return -1;
}

/* Every argument at its default; the absent text and handles are zero. */
static void args_default(const struct rdq_op_spec *op, void *out)
{
	memset(out, 0, op->size);
	for (unsigned i = 0; i < op->nargs; i++) {
		const struct rdq_arg_spec *a = &op->args[i];

		if (a->type == RDQ_ARG_INT)
			*(int64_t *)field_of(out, a) = a->def;
		else if (a->type == RDQ_ARG_BOOL)
			*(bool *)field_of(out, a) = a->def != 0;
		else if (a->type == RDQ_ARG_CHOICE)
			*(unsigned *)field_of(out, a) = (unsigned)a->def;
	}
}

/* One argument's value, scanned; false to decline (wrong type, out of range, anything odd). */
static bool arg_scan(struct scan *s, const struct rdq_arg_spec *a, void *out)
{
	const char *str;
	size_t len;
	int64_t v;
	int choice;
	enum literal lit;

	switch (a->type) {
	case RDQ_ARG_HANDLE:
		if (!scan_int(s, &v) || v <= 0)
			return false;
		*(uint64_t *)field_of(out, a) = (uint64_t)v;
		return true;
	case RDQ_ARG_INT:
		if (!scan_int(s, &v) || v < a->min || v > a->max)
			return false;
		*(int64_t *)field_of(out, a) = v;
		return true;
	case RDQ_ARG_BOOL:
		lit = scan_literal(s);
		if (lit != LIT_TRUE && lit != LIT_FALSE)
			return false;
		*(bool *)field_of(out, a) = lit == LIT_TRUE;
		return true;
	case RDQ_ARG_STRING:
		if (!scan_string(s, &str, &len) || !text_in_range(a, len))
			return false;
		*(struct rdq_text *)field_of(out, a) = (struct rdq_text){str, len};
		return true;
	case RDQ_ARG_CHOICE:
		if (!scan_string(s, &str, &len) || (choice = choice_index(a, str, len)) < 0)
			return false;
		*(unsigned *)field_of(out, a) = (unsigned)choice;
		return true;
	}
	return false;
}

/*
 * The arguments, without a tree; false to decline. The envelope's scan
 * checked the object's shape: scalars only, no name twice.
 */
static bool args_scan(const struct rdq_envelope *e, const struct rdq_op_spec *op, void *out)
{
	/* No "args": nothing to scan (and no pointer arithmetic on NULL). */
	struct scan s = {e->args, e->args ? e->args + e->args_len : NULL};
	uint32_t given = 0, required = 0; /* bit i: op->args[i] */
	const char *key;
	size_t len;

	for (unsigned i = 0; i < op->nargs; i++)
		if (op->args[i].required)
			required |= 1u << i;
	if (e->args && !take(&s, '{'))
		return false;
	if (e->args && !take(&s, '}')) {
		do {
			unsigned i;

			if (!scan_string(&s, &key, &len) || !take(&s, ':'))
				return false;
			for (i = 0; i < op->nargs && !key_is(key, len, op->args[i].name); i++)
				;
			if (i == op->nargs) {
				if (!skip_scalar(&s))
					return false;
				continue;
			}
			if (peek(&s) == 'n') { /* null: as if absent */
				if (scan_literal(&s) != LIT_NULL)
					return false;
				continue;
			}
			if (!arg_scan(&s, &op->args[i], out))
				return false;
			given |= 1u << i;
		} while (take(&s, ','));
		if (!take(&s, '}'))
			return false;
	}
	return (required & ~given) == 0;
}

/* One argument from jansson's tree, judged by message.h's readers. */
static int arg_from_tree(json_t *args, const struct rdq_arg_spec *a, void *out,
			 char err[RDQ_ERRMSG_MAX])
{
	const char *str = NULL;
	size_t len = 0;
	bool b;
	int ret;

	switch (a->type) {
	case RDQ_ARG_HANDLE:
		return rdq_arg_handle(args, a->name, a->required, field_of(out, a), err);
	case RDQ_ARG_INT:
		return rdq_arg_int(args, a->name, a->min, a->max, a->def, field_of(out, a), err);
	case RDQ_ARG_BOOL:
		ret = rdq_arg_bool(args, a->name, a->def != 0, &b, err);
		*(bool *)field_of(out, a) = b;
		return ret;
	case RDQ_ARG_STRING:
		ret = rdq_arg_string(args, a->name, a->required, &str, &len, err);
		if (ret < 0 || !str)
			return ret;
		if (!text_in_range(a, len)) {
			snprintf(err, RDQ_ERRMSG_MAX, "args.%s must be %lld to %lld characters",
				 a->name, (long long)a->min, (long long)a->max);
			return -EINVAL;
		}
		*(struct rdq_text *)field_of(out, a) = (struct rdq_text){str, len};
		return 0;
	case RDQ_ARG_CHOICE:
		ret = rdq_arg_string(args, a->name, a->required, &str, &len, err);
		if (ret < 0 || !str)
			return ret;
		if (choice_index(a, str, len) < 0) {
			size_t used =
				(size_t)snprintf(err, RDQ_ERRMSG_MAX, "args.%s must be", a->name);

			for (int i = 0; a->choices[i] && used < RDQ_ERRMSG_MAX; i++)
				used += (size_t)snprintf(err + used, RDQ_ERRMSG_MAX - used,
							 "%s\"%s\"",
							 i == 0		     ? " "
							 : a->choices[i + 1] ? ", "
									     : " or ",
							 a->choices[i]);
			return -EINVAL;
		}
		*(unsigned *)field_of(out, a) = (unsigned)choice_index(a, str, len);
		return 0;
	}
	return -EINVAL;
}

int rdq_args_read(struct rdq_envelope *e, const struct rdq_op_spec *op, void *out,
		  char err[RDQ_ERRMSG_MAX])
{
	int ret;

	args_default(op, out);
	if (!e->tree.root && args_scan(e, op, out))
		return 0;
	/* Declined: jansson reads the frame, and each argument is judged in the table's order. */
	if (!e->tree.root) {
		ret = envelope_from_tree(e->body, e->body_len, e, err);
		if (ret < 0)
			return ret;
		args_default(op, out);
	}
	for (unsigned i = 0; i < op->nargs; i++) {
		ret = arg_from_tree(e->tree.args, &op->args[i], out, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}
