/* SPDX-License-Identifier: MIT */
/*
 * Running a program with pipes on its standard input and output, in a
 * process group of its own, for rdqctl ep serve. The caller's ends are
 * non-blocking, for a poll() loop that writes the input and reads the output
 * as each is ready.
 */
#ifndef RDQCTL_SPAWN_H
#define RDQCTL_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct spawned {
	pid_t pid;     /* also the process group's id */
	int stdin_fd;  /* write end of the program's standard input */
	int stdout_fd; /* read end of its standard output */
};

/*
 * Starts argv[0] (found on PATH) with argv, as this process's user, in a new
 * process group; its standard error is this process's. The child starts
 * with no signal blocked and SIGPIPE at its default, whatever the caller
 * blocks or ignores. Both of the caller's ends are non-blocking and
 * close-on-exec, so no later child holds them. Returns 0 and fills *out, or
 * a negative errno; a program that cannot be executed starts anyway and
 * exits with 127 after saying why on standard error (as a shell does).
 */
int spawn_start(char *const argv[], struct spawned *out);

/* Kills the program and whatever it started in its process group (SIGKILL). */
void spawn_kill(pid_t pid);

/*
 * Describes a wait status: "exited with status 3", "was killed by signal 9
 * (Killed)". Returns buf.
 */
const char *spawn_describe(int status, char *buf, size_t size);

#endif
