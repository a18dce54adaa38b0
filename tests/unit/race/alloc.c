/* SPDX-License-Identifier: MIT */
/* The allocator seam (alloc.h): this file is built without the renaming. */
#include "alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct alloc_faults alloc_faults;

/* Whether this allocation is the one to fail; noted with its caller. */
static bool fails(void *caller)
{
	bool fail;

	if (!alloc_faults.armed || alloc_faults.paused)
		return false;
	fail = ++alloc_faults.count == alloc_faults.fail_at;
	if (fail)
		alloc_faults.failed = true;
	if (alloc_faults.site)
		alloc_faults.site(caller, fail);
	if (fail)
		errno = ENOMEM;
	return fail;
}

void *race_malloc(size_t size)
{
	return fails(__builtin_return_address(0)) ? NULL : malloc(size);
}

void *race_calloc(size_t n, size_t size)
{
	return fails(__builtin_return_address(0)) ? NULL : calloc(n, size);
}

void *race_realloc(void *p, size_t size)
{
	return fails(__builtin_return_address(0)) ? NULL : realloc(p, size);
}

char *race_strdup(const char *s)
{
	return fails(__builtin_return_address(0)) ? NULL : strdup(s);
}
