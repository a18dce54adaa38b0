/* SPDX-License-Identifier: MIT */
/*
 * The race world's allocator seam: rdqd's own sources (daemon/, the engine,
 * the protocol library) are built here with malloc, calloc, realloc and
 * strdup renamed to these, which count each call and fail the one a test
 * asks for (ENOMEM), as SQLite's out-of-memory loops do. Unarmed, they are
 * the C library's.
 */
#ifndef RACE_ALLOC_H
#define RACE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *race_malloc(size_t size);
void *race_calloc(size_t n, size_t size);
void *race_realloc(void *p, size_t size);
char *race_strdup(const char *s);

/* What the seam counts while armed. */
struct alloc_faults {
	bool armed;
	uint64_t count;	  /* allocations since armed */
	uint64_t fail_at; /* the one that fails (1: the first), 0: none */
	bool failed;	  /* it came */
	unsigned paused;  /* the test's own side is running (a client packing a request) */
	/* Where each allocation came from (its caller), for the report of sites reached. */
	void (*site)(void *caller, bool failed);
};

extern struct alloc_faults alloc_faults;

#endif
