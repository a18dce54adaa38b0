/* SPDX-License-Identifier: MIT */
#include "conf_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops blanks at both ends of text, in place. */
static char *trim(char *text)
{
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	end = text + strlen(text);
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return text;
}

/* Cuts a comment off line: a '#' at its start or after a blank, so a value may hold one. */
static void cut_comment(char *line)
{
	for (char *p = line; *p; p++) {
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

static int one_line(char *line, unsigned lineno, conf_line_fn *line_meaning, void *arg, char *err,
		    size_t err_size)
{
	char *eq, *key;

	cut_comment(line);
	key = trim(line);
	if (!*key)
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		snprintf(err, err_size, "\"%.60s\" is not \"key = value\"", key);
		return -EINVAL;
	}
	*eq = '\0';
	return line_meaning(&(struct conf_line){arg, trim(key), trim(eq + 1), lineno}, err,
			    err_size);
}

int conf_key_once(const struct conf_line *line, unsigned *first, char *err, size_t err_size)
{
	if (*first) {
		snprintf(err, err_size, "%s is set again (first on line %u)", line->key, *first);
		return -EINVAL;
	}
	*first = line->lineno;
	return 0;
}

int conf_file_read(const char *path, bool required, conf_line_fn *line_meaning, void *arg,
		   char *err, size_t err_size)
{
	char *line = NULL, why[256];
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		if (ret == -ENOENT && !required)
			return 0;
		snprintf(err, err_size, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		ret = one_line(line, lineno, line_meaning, arg, why, sizeof(why));
		if (ret < 0) {
			snprintf(err, err_size, "%s:%u: %s", path, lineno, why);
			break;
		}
	}
	if (ret == 0 && ferror(f)) {
		ret = -EIO;
		snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
	}
	free(line);
	fclose(f);
	return ret;
}
