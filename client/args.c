/* SPDX-License-Identifier: MIT */
/* Arguments of leaf commands: options, handles and addresses. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"

static bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Decimal only: a leading zero or sign is not special, and nothing may follow. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s[0] < '0' || s[0] > '9') {
		if (s[0] != '-' || min >= 0)
			return -EINVAL;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int args_parse(const char *path, const char *usage, const struct opt *opts, int argc, char **argv,
	       char **pos, int npos_min, int npos_max, int *npos)
{
	bool options = true;
	const struct opt *o;
	int i;

	*npos = 0;
	if (argc > 0 && strcmp(argv[0], "help") == 0) {
		fputs(usage, stdout);
		return -1;
	}
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (options && strcmp(arg, "--") == 0) {
			options = false;
			continue;
		}
		if (options && is_help(arg)) {
			fputs(usage, stdout);
			return -1;
		}
		if (!options || arg[0] != '-' || arg[1] == '\0') {
			if (*npos == npos_max)
				return usage_error(path, "unexpected argument \"%s\"", arg);
			pos[(*npos)++] = argv[i];
			continue;
		}

		for (o = opts; o && o->name; o++)
			if (strcmp(arg, o->name) == 0)
				break;
		if (!o || !o->name)
			return usage_error(path, "unknown option \"%s\"", arg);
		*o->seen = true;
		if (!o->metavar)
			continue;
		if (i + 1 == argc)
			return usage_error(path, "%s needs a value (%s)", o->name, o->metavar);
		i++;
		if (o->text) {
			*o->text = argv[i];
			continue;
		}
		if (o->list) {
			size_t len = strlen(o->list);

			if (len + strlen(argv[i]) + 2 > o->list_size)
				return usage_error(path, "%s: more than %zu bytes in all", o->name,
						   o->list_size - 1);
			snprintf(o->list + len, o->list_size - len, "%s%s", len ? "," : "",
				 argv[i]);
			continue;
		}
		if (parse_int(argv[i], o->min, o->max, o->value) < 0)
			return usage_error(
				path, "%s %s: expected an integer from %" PRId64 " to %" PRId64,
				o->name, argv[i], o->min, o->max);
	}
	if (*npos < npos_min)
		return usage_error(path, "missing argument");
	return RDQCTL_OK;
}

int arg_number(const char *path, const char *what, const char *noun, const char *s, int64_t *out)
{
	if (parse_int(s, 1, INT64_MAX, out) < 0)
		return usage_error(path, "%s \"%s\" is not %s (a positive integer)", what, s, noun);
	return RDQCTL_OK;
}

int arg_handle(const char *path, const char *what, const char *s, int64_t *out)
{
	return arg_number(path, what, "a handle", s, out);
}

int arg_address(const char *path, const char *s, char *buf, size_t size, int *port)
{
	const char *colon = strrchr(s, ':');
	const char *addr = s, *port_str = NULL;
	size_t len = strlen(s);
	int64_t value;

	if (s[0] == '[') {
		/* [V6] or [V6]:PORT: the brackets keep the port apart from the address. */
		const char *close = strchr(s, ']');

		if (!close || (close[1] != '\0' && close[1] != ':'))
			return usage_error(path, "bad address \"%s\": expected [ADDR]:PORT", s);
		addr = s + 1;
		len = (size_t)(close - addr);
		if (close[1] == ':')
			port_str = close + 2;
	} else if (colon && strchr(s, ':') == colon) {
		/* One colon: ADDR:PORT. More than one is a bare IPv6 address. */
		len = (size_t)(colon - s);
		port_str = colon + 1;
	}

	if (len == 0 || len >= size)
		return usage_error(path, "bad address \"%s\"", s);
	memcpy(buf, addr, len);
	buf[len] = '\0';

	*port = -1;
	if (port_str) {
		if (parse_int(port_str, 0, 65535, &value) < 0)
			return usage_error(path, "bad port in \"%s\": expected 0 to 65535", s);
		*port = (int)value;
	}
	return RDQCTL_OK;
}
