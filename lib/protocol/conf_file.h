/* SPDX-License-Identifier: MIT */
/*
 * The `key = value` files of rdq: rdqd.conf and each declared listener of
 * listen.d (read by rdqd), each served command's file of /etc/rdq/serve (read
 * by rdqctl). One reader cuts the lines, so all have the same syntax and
 * all name the file and the line of what they cannot use; what a key
 * means is the caller's.
 *
 * One `key = value` a line; blanks around both are dropped, blank lines
 * too. A `#` at the start of a line or after a blank starts a comment.
 */
#ifndef RDQ_CONF_FILE_H
#define RDQ_CONF_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* One line of a file: its key and value, both trimmed. */
struct conf_line {
	void *arg; /* the caller's, given to conf_file_read */
	const char *key, *value;
	unsigned lineno;
};

/*
 * What a line means. Returns 0, or -errno with why in err (without the
 * file and the line, which the reader adds).
 */
typedef int conf_line_fn(const struct conf_line *line, char *err, size_t err_size);

/*
 * For a key that may be set once: records in *first the line that sets it
 * (0: not set yet). Returns 0, or -EINVAL with "KEY is set again (first on
 * line N)" in err when it was set before.
 */
int conf_key_once(const struct conf_line *line, unsigned *first, char *err, size_t err_size);

/*
 * Reads path line by line into line_meaning. A file that does not exist is an empty
 * one unless required. Returns 0, or the first -errno with "PATH:LINE: why"
 * (or "cannot read PATH: why") in err. Blocks (a file read): in rdqd, at
 * start-up or on a worker only (its callers check).
 */
int conf_file_read(const char *path, bool required, conf_line_fn *line_meaning, void *arg,
		   char *err, size_t err_size);

#endif
