/* SPDX-License-Identifier: MIT */
#include "level.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static _Thread_local enum rdq_level thread_level;
static atomic_bool checks_armed = RDQ_LEVEL_CHECKS;

void rdq_level_set(enum rdq_level level)
{
	thread_level = level;
}

enum rdq_level rdq_level_current(void)
{
	return thread_level;
}

void rdq_level_checks_arm(bool armed)
{
	atomic_store(&checks_armed, armed);
}

static void violation(const char *function, const char *rule)
{
	/* stderr is the only safe place left: we are about to abort. */
	fprintf(stderr, "<2>rdq: level violation: %s %s\n", function, rule);
	fflush(stderr);
	abort();
}

void rdq_level_assert_passive(const char *function)
{
	if (atomic_load_explicit(&checks_armed, memory_order_relaxed) &&
	    thread_level == RDQ_LEVEL_DISPATCH)
		violation(function, "may block and was called on the loop thread (dispatch level)");
}

void rdq_level_assert_dispatch(const char *function)
{
	if (atomic_load_explicit(&checks_armed, memory_order_relaxed) &&
	    thread_level == RDQ_LEVEL_PASSIVE)
		violation(function, "belongs to the loop thread and was called on a worker");
}
