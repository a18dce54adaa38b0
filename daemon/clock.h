/* SPDX-License-Identifier: MIT */
/* Time, and how long the loop's callbacks take (stats' loop histogram). */
#ifndef RDQD_CLOCK_H
#define RDQD_CLOCK_H

#include <stdint.h>

struct rdqd;

/* Monotonic time. */
uint64_t now_ms(void);
uint64_t now_us(void);

/* Records a loop callback that started at start_us (from now_us). */
void loop_histogram_record(struct rdqd *d, uint64_t start_us);

#endif
