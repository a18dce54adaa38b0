/* SPDX-License-Identifier: MIT */
/*
 * The commands rdqctl ep serve runs, one per request: each is given the
 * request on its standard input and its output is read back whole, within a
 * time limit and the largest message; at most max_running run at once. The
 * pipes are served by the caller's poll() loop (command_poll_add,
 * command_poll_ready), so that a command that writes much before it has
 * read all of its input never blocks on a full pipe while rdqctl blocks on
 * the other one. Nothing here knows of peers or of rdqd.
 */
#ifndef RDQCTL_SERVE_RUNNER_H
#define RDQCTL_SERVE_RUNNER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spawn.h"

struct runner {
	char **argv; /* COMMAND [ARGS...] */
	int64_t max_running;
	int64_t timeout_ms;
	int64_t running; /* commands started and not yet done or abandoned */
};

/* One run of the command; proc.pid 0: none runs. */
struct command {
	struct spawned proc;
	bool exited, timed_out, too_big;
	int status;		    /* the wait status, once exited */
	const unsigned char *input; /* the request, owned by the caller while it runs */
	size_t in_len;
	size_t in_off;	    /* bytes of the request written to its input */
	unsigned char *out; /* its output so far */
	size_t out_len;
	int64_t started, deadline;
	int in_idx, out_idx; /* the pipes' slots in the poll array, -1: not polled */
};

/* The clock of the deadlines: monotonic milliseconds. */
int64_t runner_now_ms(void);

/* True while fewer than max_running commands run. */
bool runner_has_room(const struct runner *r);

/* Makes a command that runs nothing, with no pipe open. */
void command_init(struct command *cmd);

/* True while the command runs (from command_start until command_end or command_abandon). */
bool command_running(const struct command *cmd);

/*
 * Starts r's command with len bytes at input for its standard input (they
 * must stay until the command ends), counted as running, due by now plus
 * r's timeout. Returns 0, or a negative errno and nothing runs.
 */
int command_start(struct runner *r, struct command *cmd, const unsigned char *input, size_t len);

/* Kills the command, if one runs, and drops its output; its exit is reaped later, as nobody's. */
void command_abandon(struct runner *r, struct command *cmd);

/* Notes the exit of process pid, if it is the command's: pid and its wait status, from waitpid. */
void command_reaped(struct command *cmd, pid_t pid, int status);

/* Adds the command's open pipes to the poll array at fds + *n (room for two), counting them. */
void command_poll_add(struct command *cmd, struct pollfd *fds, size_t *n);

/*
 * After poll() on the array command_poll_add filled: writes the input and
 * reads the output as their pipes are ready, and kills the command when it
 * ran past its deadline or wrote more than a message holds.
 */
void command_poll_ready(struct command *cmd, const struct pollfd *fds, int64_t now);

/* When poll() must wake up for the command: its deadline, or -1 for none. */
int64_t command_deadline(const struct command *cmd);

/* True when the command exited and its output is at its end: time for command_end. */
bool command_finished(const struct command *cmd);

/*
 * Ends a finished command: it no longer counts as running. Returns true if
 * it answered (exited with 0 and wrote from 1 byte up to a message), its
 * output then in cmd->out; false, with why it did not in why, if it ran past
 * the timeout, wrote too much, failed or wrote nothing (what it wrote is
 * left in cmd->out either way).
 */
bool command_end(struct runner *r, struct command *cmd, char *why, size_t size);

/* Hands over the output of an ended command: the caller frees it. Sets *len. */
unsigned char *command_take_output(struct command *cmd, size_t *len);

#endif
