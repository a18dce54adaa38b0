/* SPDX-License-Identifier: MIT */
/*
 * Execution levels, after KMDF's: every thread declares the level it runs
 * at. The libevent loop is DISPATCH: it must never block. Workers are
 * PASSIVE: they may sleep, wait and call anything.
 *
 * Every function that may block starts with RDQ_PASSIVE_ONLY(). When level
 * checks are armed (every build but release, and every test run) a call at
 * DISPATCH level aborts with a message naming the function, so a blocking
 * call that slips onto the loop is found by the first test that reaches it.
 */
#ifndef RDQ_ENGINE_LEVEL_H
#define RDQ_ENGINE_LEVEL_H

#include <stdbool.h>

enum rdq_level {
	RDQ_LEVEL_UNSET = 0, /* a thread rdq did not start: checks do not apply */
	RDQ_LEVEL_DISPATCH,  /* the loop thread: never blocks */
	RDQ_LEVEL_PASSIVE,   /* a worker thread: may block */
};

/* Declares the calling thread's level. */
void rdq_level_set(enum rdq_level level);

/* The calling thread's level. */
enum rdq_level rdq_level_current(void);

/* Aborts, naming function, unless the calling thread may block. */
void rdq_level_assert_passive(const char *function);

/* Aborts, naming function, unless the calling thread is the loop. */
void rdq_level_assert_dispatch(const char *function);

/* Arms or disarms the checks at run time (armed by default when built in). */
void rdq_level_checks_arm(bool armed);

#define RDQ_PASSIVE_ONLY()  rdq_level_assert_passive(__func__)
#define RDQ_DISPATCH_ONLY() rdq_level_assert_dispatch(__func__)

#endif
