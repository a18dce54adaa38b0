/* SPDX-License-Identifier: MIT */
#include "errname.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define E(x)                                                                                       \
	{                                                                                          \
		x, #x                                                                              \
	}

/* The errors the daemon produces, and the common ones the kernel passes up. */
static const struct {
	int value;
	const char *name;
} errno_names[] = {
	E(EPERM),    E(ENOENT),		 E(EINTR),	  E(EIO),	   E(E2BIG),
	E(EBADF),    E(EAGAIN),		 E(ENOMEM),	  E(EACCES),	   E(EFAULT),
	E(EBUSY),    E(EEXIST),		 E(ENODEV),	  E(EINVAL),	   E(EMFILE),
	E(ENOSPC),   E(ERANGE),		 E(EPROTO),	  E(EBADMSG),	   E(EOVERFLOW),
	E(EMSGSIZE), E(EPROTONOSUPPORT), E(EOPNOTSUPP),	  E(EADDRINUSE),   E(EADDRNOTAVAIL),
	E(ENETDOWN), E(ENETUNREACH),	 E(ECONNABORTED), E(ECONNRESET),   E(ENOBUFS),
	E(EISCONN),  E(ENOTCONN),	 E(ETIMEDOUT),	  E(ECONNREFUSED), E(EHOSTUNREACH),
	E(EALREADY), E(EINPROGRESS),	 E(ECANCELED),	  E(EDQUOT),	   E(ESHUTDOWN),
	E(ENOTSUP),  E(ENOSYS),		 E(ENXIO),	  E(ESRCH),	   E(ENAMETOOLONG),
	E(EPIPE),    E(ENOTSOCK),
};

const char *rdq_errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].value == err)
			return errno_names[i].name;
	return "E?";
}

int rdq_errno_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (strcmp(errno_names[i].name, name) == 0)
			return errno_names[i].value;
	return 0;
}
