/* SPDX-License-Identifier: MIT */
/*
 * The trace: a ring of the last steps in words, printed with the seed when a
 * schedule fails, so that a person can read what led there and replay it.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define TRACE_LINES 50
#define TRACE_WIDTH 200

static char lines[TRACE_LINES][TRACE_WIDTH];
static uint64_t written;
bool trace_verbose;
uint64_t trace_digest;

void trace(const char *fmt, ...)
{
	char *line = lines[written % TRACE_LINES];
	int n = snprintf(line, TRACE_WIDTH, "%6llu  ", (unsigned long long)sim.step);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + n, TRACE_WIDTH - (size_t)n, fmt, ap);
	va_end(ap);
	written++;
	/* FNV-1a over every line: two runs of a seed took the same steps if their digests match. */
	for (const char *c = line; *c; c++)
		trace_digest = (trace_digest ^ (uint8_t)*c) * 0x100000001b3ull;
	if (trace_verbose)
		fprintf(stderr, "%llu %s\n", (unsigned long long)sim.seed, line);
}

void trace_reset(void)
{
	written = 0;
	trace_digest = 0xcbf29ce484222325ull;
}

void trace_print(void)
{
	uint64_t first = written > TRACE_LINES ? written - TRACE_LINES : 0;

	fprintf(stderr, "the last %llu steps of seed %llu:\n",
		(unsigned long long)(written - first), (unsigned long long)sim.seed);
	for (uint64_t i = first; i < written; i++)
		fprintf(stderr, "  %s\n", lines[i % TRACE_LINES]);
	fprintf(stderr, "replay: tests/sim/run --seed %llu\n", (unsigned long long)sim.seed);
}

_Noreturn void sim_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\nsim: seed %llu failed at step %llu: ", (unsigned long long)sim.seed,
		(unsigned long long)sim.step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "sim: found after %llu steps in all\n",
		(unsigned long long)(steps_before + sim.step));
	trace_print();
	fflush(stderr);
	_Exit(1);
}
