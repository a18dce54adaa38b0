/* SPDX-License-Identifier: MIT */
#include "clock.h"

#include <time.h>

#include "rdqd.h"

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_ms(void)
{
	return now_us() / 1000u;
}

void loop_histogram_record(struct rdqd *d, uint64_t start_us)
{
	uint64_t us = now_us() - start_us;
	unsigned b = 0;

	while (b < LOOP_HIST_BUCKETS - 1 && us >= (1ull << b))
		b++;
	d->hist.buckets[b]++;
	d->hist.count++;
	d->hist.sum_us += us;
	if (us > d->hist.max_us)
		d->hist.max_us = us;
}
