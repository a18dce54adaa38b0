/* SPDX-License-Identifier: MIT */
#include "json_write.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "message.h"

static void put(struct rdq_json_out *o, const char *text, size_t n)
{
	if (o->len < o->size)
		memcpy(o->buf + o->len, text, n < o->size - o->len ? n : o->size - o->len);
	o->len += n;
}

static void put_char(struct rdq_json_out *o, char c)
{
	if (o->len < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_integer(struct rdq_json_out *o, json_int_t v)
{
	char digits[24];
	size_t n = sizeof(digits);
	/* As unsigned, so that the most negative value has a magnitude too. */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		digits[--n] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (v < 0)
		digits[--n] = '-';
	put(o, digits + n, sizeof(digits) - n);
}

/* As jansson writes a real: 17 significant digits, and always a '.' or an exponent. */
static void put_real(struct rdq_json_out *o, double v)
{
	char text[32], *e;
	int n;

	if (!isfinite(v)) {
		o->bad = true;
		return;
	}
	n = snprintf(text, sizeof(text) - 2, "%.17g", v);
	if (n < 0 || (size_t)n >= sizeof(text) - 2) {
		o->bad = true;
		return;
	}
	/* A locale may use a comma; JSON needs a point. */
	for (char *c = text; *c; c++)
		if (*c == ',')
			*c = '.';
	if (!strpbrk(text, ".eE")) {
		text[n++] = '.';
		text[n++] = '0';
		text[n] = '\0';
	}
	/* An exponent without its '+' or leading zeros: 1e+05 is 1e5. */
	e = strpbrk(text, "eE");
	if (e) {
		char *from = e + 1, *to = e + 1;

		if (*from == '-')
			*to++ = *from++;
		else if (*from == '+')
			from++;
		while (*from == '0' && from[1])
			from++;
		memmove(to, from, strlen(from) + 1);
		n = (int)strlen(text);
	}
	put(o, text, (size_t)n);
}

/*
 * A string's bytes (valid UTF-8: jansson checked them), quoted and escaped
 * as jansson does: the quote, the backslash and the control characters;
 * everything else as it is.
 */
static void put_string(struct rdq_json_out *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
	size_t run = 0;

	put_char(o, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = {'\\', 0};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(o, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		put(o, esc, n);
	}
	put(o, s + run, len - run);
	put_char(o, '"');
}

static void put_value(struct rdq_json_out *o, const json_t *v)
{
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *item;

		put_char(o, '{');
		/* In the order the keys were set, as jansson's own serialiser. */
		json_object_foreach((json_t *)v, key, item)
		{
			if (!first)
				put_char(o, ',');
			first = false;
			put_string(o, key, strlen(key));
			put_char(o, ':');
			put_value(o, item);
		}
		put_char(o, '}');
		break;
	}
	case JSON_ARRAY:
		put_char(o, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				put_char(o, ',');
			put_value(o, json_array_get(v, i));
		}
		put_char(o, ']');
		break;
	case JSON_STRING:
		put_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put_integer(o, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(o, json_real_value(v));
		break;
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	case JSON_FALSE:
		put(o, "false", 5);
		break;
	case JSON_NULL:
		put(o, "null", 4);
		break;
	}
}

void rdq_json_out_init(struct rdq_json_out *o, char *buf, size_t size)
{
	*o = (struct rdq_json_out){.buf = buf, .size = buf ? size : 0};
}

size_t rdq_json_out_end(const struct rdq_json_out *o)
{
	return o->bad || o->depth || o->after_key ? 0 : o->len;
}

/* Before a value: the comma that separates it from the one before, unless a name precedes it. */
static void value_starts(struct rdq_json_out *o)
{
	uint32_t bit = 1u << o->depth;

	if (o->after_key)
		o->after_key = false;
	else if (o->has_member & bit)
		put_char(o, ',');
	o->has_member |= bit;
}

static void open_container(struct rdq_json_out *o, char c)
{
	value_starts(o);
	if (o->depth + 1 >= RDQ_JSON_DEPTH) {
		o->bad = true;
		return;
	}
	o->depth++;
	o->has_member &= ~(1u << o->depth);
	put_char(o, c);
}

static void close_container(struct rdq_json_out *o, char c)
{
	if (o->depth == 0 || o->after_key) {
		o->bad = true;
		return;
	}
	o->depth--;
	put_char(o, c);
}

void rdq_json_begin_object(struct rdq_json_out *o)
{
	open_container(o, '{');
}

void rdq_json_end_object(struct rdq_json_out *o)
{
	close_container(o, '}');
}

void rdq_json_begin_array(struct rdq_json_out *o)
{
	open_container(o, '[');
}

void rdq_json_end_array(struct rdq_json_out *o)
{
	close_container(o, ']');
}

void rdq_json_key(struct rdq_json_out *o, const char *name)
{
	uint32_t bit = 1u << o->depth;

	if (o->after_key || o->depth == 0) {
		o->bad = true;
		return;
	}
	if (o->has_member & bit)
		put_char(o, ',');
	o->has_member |= bit;
	put_char(o, '"');
	put(o, name, strlen(name));
	put(o, "\":", 2);
	o->after_key = true;
}

void rdq_json_int(struct rdq_json_out *o, int64_t v)
{
	value_starts(o);
	put_integer(o, v);
}

void rdq_json_bool(struct rdq_json_out *o, bool v)
{
	value_starts(o);
	if (v)
		put(o, "true", 4);
	else
		put(o, "false", 5);
}

void rdq_json_null(struct rdq_json_out *o)
{
	value_starts(o);
	put(o, "null", 4);
}

void rdq_json_string(struct rdq_json_out *o, const char *s, size_t len)
{
	value_starts(o);
	put_string(o, s, len);
}

void rdq_json_hex(struct rdq_json_out *o, const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *bytes = data;

	value_starts(o);
	put_char(o, '"');
	for (size_t i = 0; i < len; i++) {
		put_char(o, digits[bytes[i] >> 4]);
		put_char(o, digits[bytes[i] & 15]);
	}
	put_char(o, '"');
}

void rdq_json_cstring(struct rdq_json_out *o, const char *s)
{
	if (s)
		rdq_json_string(o, s, strlen(s));
	else
		rdq_json_null(o);
}

size_t rdq_json_write(const json_t *value, char *buf, size_t size)
{
	struct rdq_json_out o = {.buf = buf, .size = buf ? size : 0};

	if (!value)
		return 0;
	put_value(&o, value);
	return o.bad ? 0 : o.len;
}
