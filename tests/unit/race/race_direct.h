/* SPDX-License-Identifier: MIT */
#ifndef RACE_DIRECT_H
#define RACE_DIRECT_H

/* Runs the race tables of direct endpoints (active and passive). Returns the failures. */
int race_direct_run(void);

#endif
