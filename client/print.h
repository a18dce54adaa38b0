/* SPDX-License-Identifier: MIT */
/*
 * rdqctl's output: every result goes through print_result() (or
 * print_stream() for monitor), which writes JSON with -j and otherwise hands
 * the result to the command's text formatter, built from the helpers below.
 */
#ifndef RDQCTL_PRINT_H
#define RDQCTL_PRINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Chooses the output: human text (json false) or JSON, pretty or compact. */
void print_set_json(bool json, bool pretty);

/* True when -j was given: commands must then print only through print_result(). */
bool print_is_json(void);

/* Writes result as JSON on stdout with -j, else calls text(result) (NULL: print nothing). */
void print_result(json_t *result, void (*text)(json_t *result));

/* As print_result() for one item of a stream: JSON always takes one line; flushes stdout. */
void print_stream(json_t *item, void (*text)(json_t *item));

/*
 * Formats a scalar for a person into buf and returns buf: integers in
 * decimal, true/false as yes/no, null or missing as "-". Strings are copied
 * as they are, or JSON-quoted when quote is set and they hold a space or are
 * empty. Objects and arrays become compact JSON.
 */
const char *print_scalar(json_t *value, bool quote, char *buf, size_t size);

struct print_column {
	const char *title; /* the header, e.g. "STATE" */
	const char *key;   /* the member of each row object */
};

/* Prints rows (an array of objects) as a table with a header line, columns aligned. */
void print_table(const struct print_column *cols, size_t ncols, json_t *rows);

/*
 * Prints prefix, then obj's members as "name value" pairs on the same line,
 * separated by spaces, leaving out the keys listed in skip (NULL-terminated;
 * may be NULL).
 */
void print_pairs(const char *prefix, json_t *obj, const char *const *skip);

/*
 * Prints obj's members as aligned "name  value" lines. A member that is an
 * object shows its scalars as pairs on its line and each of its objects or
 * arrays on a line of its own below, indented.
 */
void print_fields(json_t *obj);

#endif
