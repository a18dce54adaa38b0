/* SPDX-License-Identifier: MIT */
/*
 * Where rdqd listens by default: one rule for the daemon and its clients,
 * so that both sides agree without being told.
 */
#include <rdq/client.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
