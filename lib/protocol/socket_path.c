/* SPDX-License-Identifier: MIT */
/*
 * Where rdqd listens by default: one rule for the daemon and its clients,
 * so that both sides agree without being told.
 */
#include <rdq/client.h>

#include "socket_path.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rdq_default_socket_path(char *buf, size_t size)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	uid_t uid = geteuid();
	int n;

	if (uid == 0)
		n = snprintf(buf, size, "%s", RDQ_SYSTEM_SOCKET);
	else if (dir && dir[0] == '/')
		n = snprintf(buf, size, "%s/rdq/rdqd.sock", dir);
	else
		n = snprintf(buf, size, "/tmp/rdq-%u/rdqd.sock", (unsigned int)uid);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int rdq_socket_dir_check(const char *socket_path, char *why, size_t size)
{
	char dir[4096];
	struct stat st;
	uid_t uid = geteuid();

	snprintf(dir, sizeof(dir), "%s", socket_path);
	dirname(dir);
	if (lstat(dir, &st) < 0)
		return 0;
	/*
	 * In a folder someone else controls, another user could put a socket of
	 * their own where rdqctl looks for rdqd's, or move rdqd's away.
	 */
	if (!S_ISDIR(st.st_mode))
		snprintf(why, size, "%s is not a folder (a link?): refusing to use it", dir);
	else if (st.st_uid != uid)
		snprintf(why, size, "%s belongs to uid %u, not to you (uid %u): refusing to use it",
			 dir, (unsigned)st.st_uid, (unsigned)uid);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, size, "%s is writable by others (mode %03o): refusing to use it", dir,
			 (unsigned)(st.st_mode & 0777));
	else
		return 0;
	return -EPERM;
}
