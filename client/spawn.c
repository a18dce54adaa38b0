/* SPDX-License-Identifier: MIT */
/* Starting a program behind two pipes, in its own process group. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void close_pair(int p[2])
{
	close(p[0]);
	close(p[1]);
}

/* In the child: only async-signal-safe calls, then exec or _exit. */
static void run_child(char *const argv[], int in_fd, int out_fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	char msg[512];
	int len;

	/* Its own group, so that a kill reaches everything it starts. */
	setpgid(0, 0);
	/* A blocked or ignored signal stays so across exec: give the program a clean start. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	execvp(argv[0], argv);
	len = snprintf(msg, sizeof(msg), "rdqctl: cannot run %s: %s\n", argv[0], strerror(errno));
	if (len > 0)
		(void)!write(STDERR_FILENO, msg,
			     (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg));
	_exit(127);
}

int spawn_start(char *const argv[], struct spawned *out)
{
	int in[2], outp[2], ret;
	pid_t pid;

	/* Close-on-exec: a pipe end inherited by another child would hold its EOF back. */
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(outp, O_CLOEXEC) < 0) {
		ret = -errno;
		close_pair(in);
		return ret;
	}
	/* Only our ends: the program's stay blocking, as programs expect. */
	ret = set_nonblocking(in[1]);
	if (ret == 0)
		ret = set_nonblocking(outp[0]);
	if (ret < 0)
		goto fail;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto fail;
	}
	if (pid == 0)
		run_child(argv, in[0], outp[1]);
	/* Both sides set the group, so it exists before either one relies on it. */
	setpgid(pid, pid);
	close(in[0]);
	close(outp[1]);
	out->pid = pid;
	out->stdin_fd = in[1];
	out->stdout_fd = outp[0];
	return 0;
fail:
	close_pair(in);
	close_pair(outp);
	return ret;
}

void spawn_kill(pid_t pid)
{
	if (pid > 0)
		kill(-pid, SIGKILL);
}

const char *spawn_describe(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "ended with wait status %d", status);
	return buf;
}
