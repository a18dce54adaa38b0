/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

int log_max_priority = LOG_INFO;

void log_msg(int priority, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (priority > log_max_priority)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from the loop and workers never interleave. */
	fprintf(stderr, "<%d>%s\n", priority, line);
}
