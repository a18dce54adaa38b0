/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with sd-daemon priority prefixes ("<3>"), which journald
 * reads as levels when rdqd runs under systemd.
 */
#ifndef RDQD_LOG_H
#define RDQD_LOG_H

#include <stdatomic.h>
#include <syslog.h>

/*
 * Messages above this priority (numerically) are dropped. Default LOG_INFO.
 * Atomic: the loop changes it on SIGHUP while workers log.
 */
extern atomic_int log_max_priority;

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
