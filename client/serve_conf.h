/* SPDX-License-Identifier: MIT */
/*
 * rdqctl ep serve --config FILE: a served command described by a file in
 * rdqd.conf's syntax (`key = value` a line, `#` comments), so that a unit
 * (rdq-serve@.service) can name one file per instance instead of a command
 * line that systemd would have to split. What a bad file says names the
 * file and the line, as rdqd does for its own files.
 */
#ifndef RDQCTL_SERVE_CONF_H
#define RDQCTL_SERVE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/addr_prefix.h"

struct serve_conf {
	char address[256]; /* ADDR[:PORT] as written, for arg_address() */
	char **argv;	   /* the command's words, NULL-terminated; serve_conf_free frees them */
	int64_t max_running, timeout_ms; /* left as they were when the file does not set them */
	bool direct;
	bool wait_address; /* listen before the address exists, and wait for it */
	/* Which peers may connect: ep.listen's allow and deny, comma-separated; "" for none. */
	char allow[RDQ_PREFIX_TEXT_MAX], deny[RDQ_PREFIX_TEXT_MAX];
	struct rdq_peer_rules rules; /* the same, read: a bad prefix is named with its line */
};

/*
 * Reads path into conf, whose max_running and timeout_ms hold the defaults.
 * Returns 0, or -errno with "PATH:LINE: why" (or "cannot read PATH: why")
 * in err; conf then holds nothing to free.
 */
int serve_conf_read(const char *path, struct serve_conf *conf, char *err, size_t err_size);

/* Frees what serve_conf_read allocated; accepts a conf it never filled. */
void serve_conf_free(struct serve_conf *conf);

#endif
