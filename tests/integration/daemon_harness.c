/* SPDX-License-Identifier: MIT */
#include "daemon_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How often a wait with nothing to poll (a socket not made yet) looks again. */
#define RETRY_MS 10

int64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - harness_now_ms();

	return left < 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Reaps pid if it has exited (status in *status); returns whether it has. */
static bool reap_pid(pid_t pid, int *status)
{
	pid_t r;

	do {
		r = waitpid(pid, status, WNOHANG);
	} while (r < 0 && errno == EINTR);
	return r == pid || (r < 0 && errno == ECHILD);
}

static bool reap(struct daemon *d)
{
	if (d->pid == 0)
		return true;
	if (!reap_pid(d->pid, &d->status))
		return false;
	d->pid = 0;
	return true;
}

/*
 * Waits up to ms for pid to exit, on a pidfd when the kernel has them: the exit wakes us at
 * once. Without pidfds, the wait is a bounded pause, and the caller looks again.
 */
static void wait_a_little(pid_t pid, int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
#ifdef SYS_pidfd_open
	int pidfd = pid ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;

	if (pidfd >= 0) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

		poll(&pfd, 1, ms);
		close(pidfd);
		return;
	}
#endif
	nanosleep(&ts, NULL);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Waits for *pid to exit by the deadline; on exit sets *pid to 0 and returns its code. */
static int wait_exit(pid_t *pid, int *status, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	if (*pid == 0)
		return exit_code(*status);
	while (!reap_pid(*pid, status)) {
		if (harness_now_ms() >= deadline)
			return -1;
		wait_a_little(*pid, left_ms(deadline) < 100 ? left_ms(deadline) : 100);
	}
	*pid = 0;
	return exit_code(*status);
}

pid_t proc_spawn(const char *const *argv, const char *out, const char *err)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Appending: out and err may be one file, written through two descriptors. */
		int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
		int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* A test that crashes must not leave its children behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (o < 0 || e < 0)
			_exit(126);
		dup2(o, STDOUT_FILENO);
		dup2(e, STDERR_FILENO);
		/* rdqd would take a socket from a test run under systemd: not ours. */
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("NOTIFY_SOCKET");
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

int proc_wait(pid_t pid, int timeout_ms)
{
	int status = 0;

	return wait_exit(&pid, &status, timeout_ms);
}

int proc_run(const char *const *argv, const char *out, const char *err, int timeout_ms)
{
	pid_t pid;
	int ret;

	if (out)
		unlink(out);
	if (err)
		unlink(err);
	pid = proc_spawn(argv, out, err);
	if (pid < 0)
		return -1;
	ret = proc_wait(pid, timeout_ms);
	if (ret < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, timeout_ms);
	}
	return ret;
}

bool proc_catches(pid_t pid, int sig)
{
	char path[64], line[256];
	bool caught = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long mask;

		if (sscanf(line, "SigCgt: %llx", &mask) == 1) {
			caught = mask & (1ull << (sig - 1));
			break;
		}
	}
	fclose(f);
	return caught;
}

int proc_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

int proc_wait_fd_count(pid_t pid, int want, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int n;

	while ((n = proc_fd_count(pid)) != want && harness_now_ms() < deadline)
		usleep(10 * 1000);
	return n;
}

int proc_settled_fd_count(pid_t pid)
{
	int64_t deadline = harness_now_ms() + 2000;
	int n = proc_fd_count(pid), before;

	do {
		before = n;
		usleep(100 * 1000);
		n = proc_fd_count(pid);
	} while (n != before && harness_now_ms() < deadline);
	return n;
}

long proc_rss_kib(pid_t pid)
{
	char path[64], line[128];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

void daemon_plain_allocator(void)
{
	const char *given = getenv("ASAN_OPTIONS");
	char options[512];

	unsetenv("MALLOC_PERTURB_");
	snprintf(options, sizeof(options), "%s%squarantine_size_mb=0", given ? given : "",
		 given && *given ? ":" : "");
	setenv("ASAN_OPTIONS", options, 1);
}

bool proc_sanitized(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libasan") != NULL;
	fclose(f);
	return found;
}

char *file_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t size = 0;

	if (f && getdelim(&buf, &size, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf ? buf : strdup("");
}

int daemon_spawn(struct daemon *d, const char *const *extra)
{
	const char *rdqd = getenv("RDQD");
	const char *argv[32];
	unsigned n = 0;
	pid_t pid;

	if (!rdqd) {
		fprintf(stderr, "harness: RDQD is not set (run through meson test)\n");
		return -1;
	}
	argv[n++] = rdqd;
	argv[n++] = "-s";
	argv[n++] = d->socket;
	if (d->config[0]) {
		/* The file's log level counts: no -v over it. */
		argv[n++] = "--config";
		argv[n++] = d->config;
	} else {
		/* A configuration file of the machine's has no say in a test. */
		argv[n++] = "--no-config";
		argv[n++] = "-v";
	}
	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	pid = proc_spawn(argv, d->log, d->log);
	if (pid < 0)
		return -1;
	d->pid = pid;
	d->status = 0;
	return 0;
}

int daemon_wait_ready(struct daemon *d, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		int fd = raw_connect(d->socket);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (reap(d)) {
			fprintf(stderr, "harness: rdqd exited (status 0x%x) before serving %s\n",
				d->status, d->socket);
			return -1;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "harness: %s did not accept within %d ms\n", d->socket,
				timeout_ms);
			return -1;
		}
		wait_a_little(d->pid, RETRY_MS);
	}
}

/* Empties d and makes its temporary folder. Returns 0 or -1. */
static int daemon_prepare(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/rdq-it-XXXXXX");
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
		d->dir[0] = '\0';
		return -1;
	}
	snprintf(d->socket, sizeof(d->socket), "%s/rdqd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/rdqd.log", d->dir);
	return 0;
}

int daemon_start(struct daemon *d, const char *const *extra)
{
	if (daemon_prepare(d) < 0)
		return -1;
	if (daemon_spawn(d, extra) < 0 || daemon_wait_ready(d, HARNESS_START_MS) < 0) {
		daemon_dump_log(d);
		return -1;
	}
	return 0;
}

int daemon_write_config(struct daemon *d, const char *text)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(d->config, sizeof(d->config), "%s/rdqd.conf", d->dir);
	/* Written aside and renamed: a reload never reads half a file. */
	snprintf(tmp, sizeof(tmp), "%s.new", d->config);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, d->config) < 0) {
		fprintf(stderr, "harness: cannot write %s: %s\n", d->config, strerror(errno));
		return -1;
	}
	return 0;
}

int daemon_start_config(struct daemon *d, const char *config, const char *const *extra)
{
	if (daemon_prepare(d) < 0 || daemon_write_config(d, config) < 0)
		return -1;
	if (daemon_spawn(d, extra) < 0 || daemon_wait_ready(d, HARNESS_START_MS) < 0) {
		daemon_dump_log(d);
		return -1;
	}
	return 0;
}

void daemon_signal(struct daemon *d, int sig)
{
	if (d->pid)
		kill(d->pid, sig);
}

int daemon_pause(struct daemon *d)
{
	int status;

	if (!d->pid || kill(d->pid, SIGSTOP) < 0)
		return -1;
	/* The stop is asynchronous; WUNTRACED reports when it has happened. */
	while (waitpid(d->pid, &status, WUNTRACED) < 0)
		if (errno != EINTR)
			return -1;
	return WIFSTOPPED(status) ? 0 : -1;
}

void daemon_resume(struct daemon *d)
{
	daemon_signal(d, SIGCONT);
}

int daemon_wait_exit(struct daemon *d, int timeout_ms)
{
	return wait_exit(&d->pid, &d->status, timeout_ms);
}

int daemon_stop(struct daemon *d)
{
	int ret;

	if (!d->pid)
		return daemon_wait_exit(d, 0);
	daemon_signal(d, SIGTERM);
	ret = daemon_wait_exit(d, HARNESS_STOP_MS);
	if (ret < 0) {
		fprintf(stderr, "harness: rdqd did not exit within %d ms of SIGTERM; killing it\n",
			HARNESS_STOP_MS);
		daemon_dump_log(d);
		daemon_signal(d, SIGKILL);
		daemon_wait_exit(d, HARNESS_STOP_MS);
	}
	if (ret == 0 && daemon_log_has_sanitizer_report(d))
		ret = 1;
	return ret;
}

void daemon_cleanup(struct daemon *d)
{
	if (d->pid) {
		daemon_signal(d, SIGKILL);
		daemon_wait_exit(d, HARNESS_STOP_MS);
	}
	if (d->dir[0]) {
		unlink(d->socket);
		unlink(d->log);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}

void daemon_dump_log(const struct daemon *d)
{
	char *text = file_read(d->log);

	fprintf(stderr, "---- rdqd log (%s) ----\n%s---- end of rdqd log ----\n", d->log, text);
	free(text);
}

bool daemon_log_has_sanitizer_report(const struct daemon *d)
{
	/* UBSan prints and goes on; the exit status alone would not tell. */
	static const char *const marks[] = {"runtime error:", "Sanitizer", NULL};

	for (const char *const *m = marks; *m; m++) {
		if (daemon_log_contains(d, *m)) {
			daemon_dump_log(d);
			return true;
		}
	}
	return false;
}

bool daemon_log_contains(const struct daemon *d, const char *text)
{
	char *log = file_read(d->log);
	bool found = strstr(log, text) != NULL;

	free(log);
	return found;
}

/* --- raw sockets --- */

int raw_connect(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int raw_write(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	const uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (poll(&pfd, 1, left_ms(deadline)) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

uint8_t *frame_build(const void *body, size_t len, size_t *out_len)
{
	uint8_t *buf = malloc(4 + len);

	if (!buf)
		return NULL;
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	if (len)
		memcpy(buf + 4, body, len);
	*out_len = 4 + len;
	return buf;
}

int raw_send_frame(int fd, const void *body, size_t len)
{
	size_t n;
	uint8_t *buf = frame_build(body, len, &n);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = raw_write(fd, buf, n, HARNESS_REPLY_MS);
	free(buf);
	return ret;
}

int raw_send_header(int fd, uint32_t len)
{
	uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			(uint8_t)len};

	return raw_write(fd, h, sizeof(h), HARNESS_REPLY_MS);
}

/* Reads exactly len bytes by the deadline. */
static int read_exact(int fd, void *buf, size_t len, int64_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (poll(&pfd, 1, left_ms(deadline)) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int raw_read_message(int fd, int timeout_ms, json_t **msg)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	uint8_t h[4];
	uint32_t len;
	char *body;
	int ret;

	*msg = NULL;
	ret = read_exact(fd, h, sizeof(h), deadline);
	if (ret < 0)
		return ret;
	len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	/* rdqd never sends more than RDQ_MAX_MESSAGE; anything else is a broken stream. */
	if (len == 0 || len > 65536)
		return -EBADMSG;
	body = malloc(len);
	if (!body)
		return -ENOMEM;
	ret = read_exact(fd, body, len, deadline);
	if (ret == 0) {
		*msg = json_loadb(body, len, 0, NULL);
		if (!json_is_object(*msg)) {
			json_decref(*msg);
			*msg = NULL;
			ret = -EBADMSG;
		}
	}
	free(body);
	return ret;
}

/* --- reading replies --- */

const char *reply_errno(const json_t *reply)
{
	json_t *ok = json_object_get(reply, "ok");
	const char *name;

	if (json_is_true(ok))
		return "ok";
	name = json_string_value(json_object_get(json_object_get(reply, "error"), "errno"));
	return json_is_false(ok) && name ? name : "?";
}

const char *reply_message(const json_t *reply)
{
	const char *m =
		json_string_value(json_object_get(json_object_get(reply, "error"), "message"));

	return m ? m : "";
}

int64_t reply_id(const json_t *reply)
{
	json_t *id = json_object_get(reply, "id");

	return json_is_integer(id) ? (int64_t)json_integer_value(id) : -1;
}

bool reply_id_is_null(const json_t *reply)
{
	return json_is_null(json_object_get(reply, "id"));
}

size_t raw_flood(int fd, const char *body, size_t limit, int stuck_ms, bool *stuck)
{
	size_t flen, len = 0, off = 0, written = 0;
	uint8_t *frame = frame_build(body, strlen(body), &flen);
	uint8_t batch[64 * 64];

	if (stuck)
		*stuck = false;
	if (!frame || flen > sizeof(batch)) {
		free(frame);
		return 0;
	}
	while (len + flen <= sizeof(batch)) {
		memcpy(batch + len, frame, flen);
		len += flen;
	}
	free(frame);
	while (written < limit) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, batch + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			written += (size_t)n;
			off = (off + (size_t)n) % len;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			break;
		if (poll(&pfd, 1, stuck_ms) == 0) {
			if (stuck)
				*stuck = true;
			break;
		}
	}
	return written;
}
