/* SPDX-License-Identifier: MIT */
/*
 * Invariants of rdq's own code, checked in every build (assert() is gone in
 * release builds). A failed check is a bug in rdqd, never a client's doing,
 * and going on would break a promise such as "every request completes once":
 * it aborts, naming the place, so that systemd restarts a clean daemon.
 */
#ifndef RDQ_ENGINE_CHECK_H
#define RDQ_ENGINE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

_Noreturn static inline void rdq_check_failed(const char *what, const char *function,
					      const char *file, int line)
{
	fprintf(stderr, "<2>rdq: bug: %s:%d: %s: check failed: %s\n", file, line, function, what);
	fflush(stderr);
	abort();
}

#define RDQ_CHECK(cond) ((cond) ? (void)0 : rdq_check_failed(#cond, __func__, __FILE__, __LINE__))

#endif
