/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

atomic_int log_max_priority = LOG_INFO;

void log_msg(int priority, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (priority > atomic_load_explicit(&log_max_priority, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from the loop and workers never interleave. */
	fprintf(stderr, "<%d>%s\n", priority, line);
}
