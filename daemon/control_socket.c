/* SPDX-License-Identifier: MIT */
/*
 * The control socket's file: taken from systemd (socket activation), or
 * made at --socket, with its folder if missing. A socket left by an rdqd
 * that died is removed; anything else found there is left alone, and rdqd
 * says why it cannot start.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#if RDQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "control_internal.h"
#include "log.h"
#include "protocol/message.h"
#include "protocol/socket_path.h"
#include "rdqd.h"

/* Makes the socket's folder (0755 for /run/rdq, else 0700) if missing. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (mkdir(dir, getuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Removes a socket file left by a daemon that died. Anything else at path is
 * left alone: a socket that still answers (another rdqd), and whatever is
 * not a socket at all.
 */
static int clear_stale(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, ret = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket: not touching it; choose another --socket",
			path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0) {
		log_err("%s: another rdqd is serving there", path);
		ret = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		unlink(path);
	}
	close(fd);
	return ret;
}

static int open_socket(struct rdqd *d)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *path = d->opt.socket_path;
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	ret = make_parent(path);
	if (ret < 0)
		return ret;
	if (d->opt.socket_default) {
		char why[RDQ_ERRMSG_MAX + 64];

		ret = rdq_socket_dir_check(path, why, sizeof(why));
		if (ret < 0) {
			log_err("%s", why);
			return ret;
		}
	}
	ret = clear_stale(path, &addr);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 128) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	d->listen_fd_ours = true;
	return fd;
}

int control_socket_open(struct rdqd *d)
{
	int fd = -1;

#if RDQ_HAVE_SYSTEMD
	/* Socket activation: systemd made and bound the socket for us. */
	if (sd_listen_fds(1) == 1) {
		fd = SD_LISTEN_FDS_START;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		log_info("control socket from systemd");
	}
#endif
	if (fd < 0 && d->opt.systemd) {
		/* The service's socket is rdqd.socket's; one of our own would be elsewhere. */
		log_err("--systemd: systemd passed no control socket; start rdqd through "
			"rdqd.socket");
		return -ENOTSOCK;
	}
	if (fd < 0) {
		fd = open_socket(d);
		if (fd < 0)
			return fd;
		log_info("control socket %s", d->opt.socket_path);
	}
	return fd;
}

void control_socket_close(struct rdqd *d)
{
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (d->listen_fd_ours)
			unlink(d->opt.socket_path);
	}
	d->listen_fd = -1;
}
