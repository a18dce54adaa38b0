/* SPDX-License-Identifier: MIT */
/*
 * The integration suite's harness: a real rdqd on a socket in a fresh
 * temporary folder, and the raw-socket helpers that speak the framing of
 * docs/protocol.md by hand (to send what librdq never would).
 *
 * Every wait is bounded by a deadline; none is a sleep standing in for an
 * event. The binaries come from the environment (RDQD, RDQCTL), set by
 * tests/integration/meson.build.
 */
#ifndef RDQ_TESTS_DAEMON_HARNESS_H
#define RDQ_TESTS_DAEMON_HARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

/* Generous: a sanitized build on a loaded machine is slow, and a deadline is only a bound. */
#define HARNESS_START_MS 10000
#define HARNESS_STOP_MS	 10000
#define HARNESS_REPLY_MS 10000

struct daemon {
	pid_t pid;    /* 0 once reaped */
	int status;   /* wait() status once reaped */
	char dir[64]; /* the temporary folder, removed by daemon_cleanup() */
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char log[PATH_MAX];    /* rdqd's stderr */
	char config[PATH_MAX]; /* its configuration file, or "" for none (--no-config) */
};

/*
 * Makes a temporary folder and starts `rdqd -s DIR/rdqd.sock --no-config -v
 * [extra...]` with its stderr in DIR/rdqd.log, then waits until the socket
 * accepts. Returns 0, or -1 after printing why and the daemon's log.
 */
int daemon_start(struct daemon *d, const char *const *extra);

/*
 * The same with a configuration file, DIR/rdqd.conf holding config: `rdqd -s
 * DIR/rdqd.sock --config DIR/rdqd.conf [extra...]` (no -v: the file's log
 * level counts).
 */
int daemon_start_config(struct daemon *d, const char *config, const char *const *extra);

/* (Re)writes d's configuration file DIR/rdqd.conf, whole at once. Returns 0 or -1. */
int daemon_write_config(struct daemon *d, const char *text);

/* Starts rdqd on an existing struct's socket path again (the folder is kept). */
int daemon_spawn(struct daemon *d, const char *const *extra);

/* Waits until the socket accepts a connection or rdqd exits. Returns 0 or -1. */
int daemon_wait_ready(struct daemon *d, int timeout_ms);

/* Sends sig to rdqd. */
void daemon_signal(struct daemon *d, int sig);

/* Stops rdqd (SIGSTOP) and returns once it is stopped; daemon_resume() continues it. */
int daemon_pause(struct daemon *d);
void daemon_resume(struct daemon *d);

/*
 * Waits up to timeout_ms for rdqd to exit; returns its exit code (0..255), 128 + the signal
 * that killed it, or -1 if it is still running at the deadline.
 */
int daemon_wait_exit(struct daemon *d, int timeout_ms);

/*
 * SIGTERM and daemon_wait_exit(HARNESS_STOP_MS); kills it if it did not exit. A sanitizer's
 * report in the log makes an exit 0 count as 1.
 */
int daemon_stop(struct daemon *d);

/* Kills rdqd if still running, removes the folder. Safe to call twice. */
void daemon_cleanup(struct daemon *d);

/* Prints rdqd's log on stderr (for a failing test). */
void daemon_dump_log(const struct daemon *d);

/* Whether rdqd's log holds a sanitizer's report (ASan, UBSan, LSan); prints it if so. */
bool daemon_log_has_sanitizer_report(const struct daemon *d);

/* Whether rdqd's log contains text. */
bool daemon_log_contains(const struct daemon *d, const char *text);

/* Whether path exists (the socket file). */
bool path_exists(const char *path);

/* --- other processes (rdqctl) --- */

/*
 * Starts argv[0] with argv, its stdout and stderr appended to the files out and err (NULL:
 * /dev/null).
 * Returns the pid, or -1.
 */
pid_t proc_spawn(const char *const *argv, const char *out, const char *err);

/*
 * Waits up to timeout_ms for pid to exit and reaps it; returns its exit code, 128 + the
 * signal that killed it, or -1 if it still runs at the deadline.
 */
int proc_wait(pid_t pid, int timeout_ms);

/*
 * proc_spawn, then proc_wait up to timeout_ms; one still running then is
 * killed (and reaped). Returns its exit code as proc_wait does, or -1 if it
 * had to be killed. out and err are emptied first.
 */
int proc_run(const char *const *argv, const char *out, const char *err, int timeout_ms);

/* Whether pid catches sig (it installed its handler: /proc/PID/status SigCgt). */
bool proc_catches(pid_t pid, int sig);

/* Open descriptors of pid (/proc/PID/fd), or -1. */
int proc_fd_count(pid_t pid);

/* Waits up to timeout_ms until pid holds want descriptors; returns the last count seen. */
int proc_wait_fd_count(pid_t pid, int want, int timeout_ms);

/* pid's descriptors once they stop changing (the same count 100 ms apart, within 2 s). */
int proc_settled_fd_count(pid_t pid);

/* Resident memory of pid in KiB (VmRSS of /proc/PID/status), or -1. */
long proc_rss_kib(pid_t pid);

/*
 * For tests that measure rdqd's memory: daemons started from now on keep and
 * reuse freed memory as the allocator does in service. Without this, meson's
 * MALLOC_PERTURB_ (glibc then keeps what it freed resident) or
 * AddressSanitizer's quarantine (freed memory is not reused for a while)
 * would count as memory kept.
 */
void daemon_plain_allocator(void);

/*
 * Whether pid runs under AddressSanitizer (libasan is mapped). Its allocator
 * pads every block and keeps memory by size class, so memory bounds made for
 * glibc's do not apply there; LeakSanitizer checks rdqd's leaks at its exit
 * instead (daemon_stop counts its report as a failure).
 */
bool proc_sanitized(pid_t pid);

/* Reads a whole file into a new string ("" if it cannot), for checking output. */
char *file_read(const char *path);

/* Monotonic milliseconds, for deadlines. */
int64_t harness_now_ms(void);

/* --- raw sockets --- */

/* Connects a blocking Unix stream socket to path; returns the fd or -errno. */
int raw_connect(const char *path);

/* Writes all of buf, waiting (up to the deadline) for room. Returns 0 or -errno/-ETIMEDOUT. */
int raw_write(int fd, const void *buf, size_t len, int timeout_ms);

/* Writes one frame: the 4-byte big-endian length, then body. */
int raw_send_frame(int fd, const void *body, size_t len);

/* Writes a header that declares len bytes, without a body. */
int raw_send_header(int fd, uint32_t len);

/*
 * Writes the frame of body to fd again and again, never reading, until limit
 * bytes are written or rdqd takes nothing for stuck_ms (then *stuck, if
 * given, is true). Returns the bytes written.
 */
size_t raw_flood(int fd, const char *body, size_t limit, int stuck_ms, bool *stuck);

/* Builds a frame (header and body) into a new buffer; *out_len gets its size. */
uint8_t *frame_build(const void *body, size_t len, size_t *out_len);

/*
 * Reads one whole frame and parses it. Returns 0 and sets *msg, -ETIMEDOUT,
 * -ECONNRESET (closed), or -EBADMSG (not a JSON object).
 */
int raw_read_message(int fd, int timeout_ms, json_t **msg);

/* --- reading replies --- */

/* The "errno" of an error reply ("ENOENT"), or "ok" for a success, or "?" for neither. */
const char *reply_errno(const json_t *reply);

/* The error message of an error reply, or "". */
const char *reply_message(const json_t *reply);

/* The reply's id, or -1 when it is null or missing. */
int64_t reply_id(const json_t *reply);

/* Whether the reply's id is JSON null (not missing: null). */
bool reply_id_is_null(const json_t *reply);

#endif
