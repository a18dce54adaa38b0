/* SPDX-License-Identifier: MIT */
/* The commands of rdqctl ep serve: started, fed, read, bounded in time and size, ended. */
#include "serve_runner.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rdq/client.h>

int64_t runner_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool runner_has_room(const struct runner *r)
{
	return r->running < r->max_running;
}

void command_init(struct command *cmd)
{
	cmd->proc.stdin_fd = cmd->proc.stdout_fd = -1;
}

bool command_running(const struct command *cmd)
{
	return cmd->proc.pid != 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int command_start(struct runner *r, struct command *cmd, const unsigned char *input, size_t len)
{
	int ret = spawn_start(r->argv, &cmd->proc);

	if (ret < 0) {
		cmd->proc.pid = 0;
		return ret;
	}
	r->running++;
	cmd->exited = cmd->timed_out = cmd->too_big = false;
	cmd->input = input;
	cmd->in_len = len;
	cmd->in_off = 0;
	cmd->out = NULL;
	cmd->out_len = 0;
	cmd->started = runner_now_ms();
	cmd->deadline = cmd->started + r->timeout_ms;
	if (len == 0)
		close_fd(&cmd->proc.stdin_fd);
	return 0;
}

void command_abandon(struct runner *r, struct command *cmd)
{
	if (!cmd->proc.pid)
		return;
	spawn_kill(cmd->proc.pid);
	close_fd(&cmd->proc.stdin_fd);
	close_fd(&cmd->proc.stdout_fd);
	cmd->proc.pid = 0;
	r->running--;
	free(cmd->out);
	cmd->out = NULL;
	cmd->out_len = 0;
}

void command_reaped(struct command *cmd, pid_t pid, int status)
{
	if (cmd->proc.pid == pid) {
		cmd->exited = true;
		cmd->status = status;
	}
}

void command_poll_add(struct command *cmd, struct pollfd *fds, size_t *n)
{
	cmd->in_idx = cmd->out_idx = -1;
	if (cmd->proc.stdin_fd >= 0) {
		cmd->in_idx = (int)*n;
		fds[(*n)++] = (struct pollfd){.fd = cmd->proc.stdin_fd, .events = POLLOUT};
	}
	if (cmd->proc.stdout_fd >= 0) {
		cmd->out_idx = (int)*n;
		fds[(*n)++] = (struct pollfd){.fd = cmd->proc.stdout_fd, .events = POLLIN};
	}
}

static void write_input(struct command *cmd)
{
	ssize_t n = write(cmd->proc.stdin_fd, cmd->input + cmd->in_off, cmd->in_len - cmd->in_off);

	if (n > 0)
		cmd->in_off += (size_t)n;
	/* EPIPE: it stopped reading; its exit status decides whether that was an error. */
	if (cmd->in_off == cmd->in_len || (n < 0 && errno != EAGAIN && errno != EINTR))
		close_fd(&cmd->proc.stdin_fd);
}

static void read_output(struct command *cmd)
{
	for (;;) {
		unsigned char *grown;
		size_t room = 65536;
		ssize_t n;

		/* One byte past the largest message tells that it is too large. */
		if (cmd->out_len + room > RDQ_MAX_DATA + 1)
			room = RDQ_MAX_DATA + 1 - cmd->out_len;
		grown = realloc(cmd->out, cmd->out_len + room);
		if (!grown) {
			cmd->too_big = true;
			break;
		}
		cmd->out = grown;
		n = read(cmd->proc.stdout_fd, cmd->out + cmd->out_len, room);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			close_fd(&cmd->proc.stdout_fd);
			return;
		}
		cmd->out_len += (size_t)n;
		if (cmd->out_len > RDQ_MAX_DATA) {
			cmd->too_big = true;
			break;
		}
	}
	/* Nothing it writes from here on can be sent: stop it now. */
	spawn_kill(cmd->proc.pid);
	close_fd(&cmd->proc.stdin_fd);
	close_fd(&cmd->proc.stdout_fd);
}

void command_poll_ready(struct command *cmd, const struct pollfd *fds, int64_t now)
{
	if (cmd->in_idx >= 0 && fds[cmd->in_idx].revents && cmd->proc.stdin_fd >= 0)
		write_input(cmd);
	if (cmd->out_idx >= 0 && fds[cmd->out_idx].revents && cmd->proc.stdout_fd >= 0)
		read_output(cmd);
	if (cmd->proc.pid && !cmd->timed_out && now >= cmd->deadline) {
		cmd->timed_out = true;
		spawn_kill(cmd->proc.pid);
		close_fd(&cmd->proc.stdin_fd);
		close_fd(&cmd->proc.stdout_fd);
	}
}

int64_t command_deadline(const struct command *cmd)
{
	return cmd->proc.pid && !cmd->timed_out ? cmd->deadline : -1;
}

bool command_finished(const struct command *cmd)
{
	return cmd->proc.pid && cmd->exited && cmd->proc.stdout_fd < 0;
}

bool command_end(struct runner *r, struct command *cmd, char *why, size_t size)
{
	const char *name = r->argv[0];
	int status = cmd->status;
	char how[128];

	close_fd(&cmd->proc.stdin_fd);
	cmd->proc.pid = 0;
	r->running--;
	spawn_describe(status, how, sizeof(how));
	if (!cmd->timed_out && !cmd->too_big && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    cmd->out_len > 0)
		return true;
	if (cmd->timed_out)
		snprintf(why, size, "%s ran past --timeout %" PRId64 " ms and was killed", name,
			 r->timeout_ms);
	else if (cmd->too_big)
		snprintf(why, size, "%s wrote more than %u bytes, the largest message", name,
			 RDQ_MAX_DATA);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(why, size, "%s %s", name, how);
	else
		snprintf(why, size, "%s wrote nothing", name);
	return false;
}

unsigned char *command_take_output(struct command *cmd, size_t *len)
{
	unsigned char *out = cmd->out;

	*len = cmd->out_len;
	cmd->out = NULL;
	cmd->out_len = 0;
	return out;
}
