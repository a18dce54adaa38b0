/* SPDX-License-Identifier: MIT */
/* The one print path of rdqctl: JSON or human text. */
#include "print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CELL_MAX 256

static bool json_mode;
static bool json_pretty;

void print_set_json(bool json, bool pretty)
{
	json_mode = json;
	json_pretty = pretty;
}

bool print_is_json(void)
{
	return json_mode;
}

static void dump(json_t *value, size_t flags)
{
	json_dumpf(value, stdout, flags | JSON_ENCODE_ANY);
	putchar('\n');
}

void print_result(json_t *result, void (*text)(json_t *result))
{
	if (json_mode)
		dump(result, json_pretty ? JSON_INDENT(2) : JSON_COMPACT);
	else if (text)
		text(result);
}

void print_stream(json_t *item, void (*text)(json_t *item))
{
	if (json_mode)
		dump(item, JSON_COMPACT);
	else if (text)
		text(item);
	/* A reader at the other end of a pipe wants each item as it comes. */
	fflush(stdout);
}

static const char *compact(json_t *value, char *buf, size_t size)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);

	snprintf(buf, size, "%s", text ? text : "?");
	free(text);
	return buf;
}

const char *print_scalar(json_t *value, bool quote, char *buf, size_t size)
{
	const char *s;

	if (!value)
		return "-";
	switch (json_typeof(value)) {
	case JSON_INTEGER:
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		return buf;
	case JSON_REAL:
		snprintf(buf, size, "%g", json_real_value(value));
		return buf;
	case JSON_TRUE:
		return "yes";
	case JSON_FALSE:
		return "no";
	case JSON_STRING:
		/* JSON quoting keeps the pairs of a line apart. */
		s = json_string_value(value);
		if (quote && (s[0] == '\0' || strchr(s, ' ')))
			return compact(value, buf, size);
		snprintf(buf, size, "%s", s);
		return buf;
	case JSON_OBJECT:
	case JSON_ARRAY:
		return compact(value, buf, size);
	case JSON_NULL:
	default:
		return "-";
	}
}

void print_table(const struct print_column *cols, size_t ncols, json_t *rows)
{
	char cell[CELL_MAX];
	size_t width[24];
	json_t *row;
	size_t c, i;

	if (ncols > sizeof(width) / sizeof(width[0]))
		ncols = sizeof(width) / sizeof(width[0]);
	for (c = 0; c < ncols; c++)
		width[c] = strlen(cols[c].title);
	json_array_foreach(rows, i, row)
	{
		for (c = 0; c < ncols; c++) {
			size_t len = strlen(print_scalar(json_object_get(row, cols[c].key), false,
							 cell, sizeof(cell)));

			if (len > width[c])
				width[c] = len;
		}
	}

	for (c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c].title,
		       c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row)
	{
		for (c = 0; c < ncols; c++)
			printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0,
			       print_scalar(json_object_get(row, cols[c].key), false, cell,
					    sizeof(cell)),
			       c + 1 < ncols ? "  " : "\n");
	}
}

static bool in_list(const char *key, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

void print_pairs(const char *prefix, json_t *obj, const char *const *skip)
{
	bool space = prefix[0] != '\0';
	char value[CELL_MAX];
	const char *key;
	json_t *member;

	fputs(prefix, stdout);
	json_object_foreach(obj, key, member)
	{
		if (in_list(key, skip))
			continue;
		printf("%s%s %s", space ? " " : "", key,
		       print_scalar(member, true, value, sizeof(value)));
		space = true;
	}
	putchar('\n');
}

static bool is_scalar(json_t *value)
{
	return !json_is_object(value) && !json_is_array(value);
}

/* An array's elements, space-separated; an object's members as pairs. */
static void print_inline(json_t *value)
{
	char cell[CELL_MAX];
	const char *key;
	json_t *member;
	size_t i;
	bool first = true;

	if (json_is_array(value)) {
		json_array_foreach(value, i, member)
		{
			printf("%s%s", first ? "" : " ",
			       print_scalar(member, true, cell, sizeof(cell)));
			first = false;
		}
		if (first)
			putchar('-');
		return;
	}
	json_object_foreach(value, key, member)
	{
		printf("%s%s %s", first ? "" : "  ", key,
		       print_scalar(member, true, cell, sizeof(cell)));
		first = false;
	}
	if (first)
		putchar('-');
}

void print_fields(json_t *obj)
{
	char cell[CELL_MAX];
	const char *key, *sub_key;
	json_t *value, *sub;
	int width = 0;

	json_object_foreach(obj, key, value)
	{
		if ((int)strlen(key) > width)
			width = (int)strlen(key);
	}

	json_object_foreach(obj, key, value)
	{
		bool line_open = true;
		bool any = false;

		printf("%-*s  ", width, key);
		if (!json_is_object(value)) {
			if (is_scalar(value))
				puts(print_scalar(value, false, cell, sizeof(cell)));
			else {
				print_inline(value);
				putchar('\n');
			}
			continue;
		}

		/* The group's counters first, on its own line... */
		json_object_foreach(value, sub_key, sub)
		{
			if (!is_scalar(sub))
				continue;
			printf("%s%s %s", any ? "  " : "", sub_key,
			       print_scalar(sub, true, cell, sizeof(cell)));
			any = true;
		}
		if (any) {
			putchar('\n');
			line_open = false;
		}
		/* ...then each breakdown (by_status, histogram_us) on a line below. */
		json_object_foreach(value, sub_key, sub)
		{
			if (is_scalar(sub))
				continue;
			if (!line_open)
				printf("%-*s  ", width, "");
			printf("%s: ", sub_key);
			print_inline(sub);
			putchar('\n');
			line_open = false;
		}
		if (line_open)
			putchar('\n');
	}
}
