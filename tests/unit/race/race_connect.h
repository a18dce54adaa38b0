/* SPDX-License-Identifier: MIT */
#ifndef RACE_CONNECT_H
#define RACE_CONNECT_H

/* Runs the race tables of making a connection (active and passive). Returns the failures. */
int race_connect_run(void);

#endif
