/* SPDX-License-Identifier: MIT */
/* The ping-pong benchmarks' summary of their round trips: percentiles by nearest rank. */
#ifndef RDQ_BENCH_PERCENTILE_H
#define RDQ_BENCH_PERCENTILE_H

#include <stddef.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts the n values, for percentile(). */
static inline void percentile_sort(double *values, size_t n)
{
	qsort(values, n, sizeof(*values), by_value);
}

/* The nearest-rank percentile q (0 < q <= 1) of n sorted values. */
static inline double percentile(const double *sorted, size_t n, double q)
{
	size_t rank = (size_t)((double)n * q + 0.999999);

	return sorted[rank ? rank - 1 : 0];
}

#endif
