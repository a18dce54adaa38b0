/* SPDX-License-Identifier: MIT */
/*
 * Memory that rdqd keeps for reuse (a pooled request, the JSON arena) is
 * poisoned for AddressSanitizer while it is not handed out, so that a use
 * after it was given back is reported as surely as a use after free.
 * Without ASan these do nothing.
 */
#ifndef RDQ_ENGINE_POISON_H
#define RDQ_ENGINE_POISON_H

#if defined(__SANITIZE_ADDRESS__)
#define RDQ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RDQ_ASAN 1
#endif
#endif

#ifdef RDQ_ASAN
#include <sanitizer/asan_interface.h>
#define rdq_poison(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define rdq_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define rdq_poison(p, n)   ((void)(p), (void)(n))
#define rdq_unpoison(p, n) ((void)(p), (void)(n))
#endif

#endif
