/* SPDX-License-Identifier: MIT */
#include "json_read.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Deeper than any request; jansson itself allows 2048. */
#define MAX_DEPTH 32
/* An escaped string is unescaped here; a longer one is left to jansson. */
#define MAX_ESCAPED 256

struct reader {
	const char *p, *end;
	unsigned depth;
};

static json_t *read_value(struct reader *r);

static void skip_space(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool take(struct reader *r, char c)
{
	skip_space(r);
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return true;
	}
	return false;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends the UTF-8 of code point cp (below 0xD800, not 0) to out; returns the bytes written. */
static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	out[0] = (char)(0xE0 | cp >> 12);
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[2] = (char)(0x80 | (cp & 0x3F));
	return 3;
}

/*
 * Reads a string after its opening quote. Without escapes its bytes are
 * used where they are (*out points into the text); with them they are
 * unescaped into buf. Returns false to decline.
 */
static bool read_string(struct reader *r, char buf[MAX_ESCAPED], const char **out, size_t *len)
{
	const char *start = r->p;
	size_t n = 0;
	bool escaped = false;

	for (;;) {
		unsigned char c;

		if (r->p >= r->end)
			return false;
		c = (unsigned char)*r->p;
		if (c == '"')
			break;
		/* Control characters are an error, other bytes jansson's to check as UTF-8. */
		if (c < 0x20 || c >= 0x80)
			return false;
		if (c != '\\') {
			if (escaped && n < MAX_ESCAPED)
				buf[n] = (char)c;
			n++;
			r->p++;
			continue;
		}
		if (!escaped) {
			/* From here on the string is built in buf: copy what came before. */
			if (n > MAX_ESCAPED)
				return false;
			memcpy(buf, start, n);
			escaped = true;
		}
		if (r->end - r->p < 2 || n + 3 > MAX_ESCAPED)
			return false;
		c = (unsigned char)r->p[1];
		r->p += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			buf[n++] = (char)c;
			break;
		case 'b':
			buf[n++] = '\b';
			break;
		case 'f':
			buf[n++] = '\f';
			break;
		case 'n':
			buf[n++] = '\n';
			break;
		case 'r':
			buf[n++] = '\r';
			break;
		case 't':
			buf[n++] = '\t';
			break;
		case 'u': {
			unsigned cp = 0;

			if (r->end - r->p < 4)
				return false;
			for (int i = 0; i < 4; i++) {
				int h = hex_value(r->p[i]);

				if (h < 0)
					return false;
				cp = cp << 4 | (unsigned)h;
			}
			r->p += 4;
			/* A NUL, and surrogate pairs, are jansson's to judge. */
			if (cp == 0 || cp >= 0xD800)
				return false;
			n += put_utf8(buf + n, cp);
			break;
		}
		default:
			return false;
		}
	}
	if (escaped && n > MAX_ESCAPED)
		return false;
	*out = escaped ? buf : start;
	*len = escaped ? n : (size_t)(r->p - start);
	r->p++; /* the closing quote */
	return true;
}

/* An integer as jansson reads one: no leading zeros, no fraction or exponent, within 18 digits. */
static json_t *read_integer(struct reader *r)
{
	const char *start = r->p;
	bool negative = r->p < r->end && *r->p == '-';
	int64_t v = 0;
	int digits = 0;

	if (negative)
		r->p++;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		/* 18 digits always fit in int64_t; a longer number is jansson's to judge. */
		if (++digits > 18)
			return NULL;
		v = v * 10 + (*r->p - '0');
		r->p++;
	}
	if (digits == 0 || (digits > 1 && start[negative] == '0'))
		return NULL;
	/* A real (or something else glued on) is jansson's. */
	if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
		return NULL;
	return json_integer(negative ? -v : v);
}

static json_t *read_word(struct reader *r, const char *word, size_t n, json_t *value)
{
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return NULL;
	r->p += n;
	return value;
}

static json_t *read_object(struct reader *r)
{
	char buf[MAX_ESCAPED];
	json_t *obj = json_object();
	const char *key;
	size_t key_len;

	if (!obj)
		return NULL;
	if (take(r, '}'))
		return obj;
	do {
		json_t *value;

		if (!take(r, '"') || !read_string(r, buf, &key, &key_len) || !take(r, ':'))
			goto decline;
		/* A duplicate is refused; jansson says so. */
		if (json_object_getn(obj, key, key_len))
			goto decline;
		/* The key stays in this frame's buf (or the text) while the value is read. */
		value = read_value(r);
		if (!value || json_object_setn_new_nocheck(obj, key, key_len, value) < 0)
			goto decline;
	} while (take(r, ','));
	if (take(r, '}'))
		return obj;
decline:
	json_decref(obj);
	return NULL;
}

static json_t *read_array(struct reader *r)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	if (take(r, ']'))
		return arr;
	do {
		json_t *value = read_value(r);

		if (!value || json_array_append_new(arr, value) < 0)
			goto decline;
	} while (take(r, ','));
	if (take(r, ']'))
		return arr;
decline:
	json_decref(arr);
	return NULL;
}

static json_t *read_value(struct reader *r)
{
	char buf[MAX_ESCAPED];
	const char *s;
	json_t *v = NULL;
	size_t n;

	skip_space(r);
	if (r->p >= r->end)
		return NULL;
	switch (*r->p) {
	case '{':
	case '[':
		if (++r->depth > MAX_DEPTH)
			return NULL;
		r->p++;
		v = r->p[-1] == '{' ? read_object(r) : read_array(r);
		r->depth--;
		return v;
	case '"':
		r->p++;
		return read_string(r, buf, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
	case 't':
		return read_word(r, "true", 4, json_true());
	case 'f':
		return read_word(r, "false", 5, json_false());
	case 'n':
		return read_word(r, "null", 4, json_null());
	default:
		return read_integer(r);
	}
}

json_t *rdq_json_read(const char *text, size_t len)
{
	struct reader r = {.p = text, .end = text + len};
	json_t *v;

	skip_space(&r);
	/* jansson takes an object or an array at the top, nothing else. */
	if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
		return NULL;
	v = read_value(&r);
	skip_space(&r);
	if (v && r.p != r.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}
