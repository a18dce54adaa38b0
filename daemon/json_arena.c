/* SPDX-License-Identifier: MIT */
#include "json_arena.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "engine/level.h"
#include "engine/poison.h"

/*
 * 512 KiB holds the largest request (64 KiB of JSON) decoded, with room for
 * its reply; a typical request uses a few KiB of it, so only those pages
 * are ever touched. What does not fit goes to malloc and is freed as usual.
 */
#define ARENA_SIZE  (512u << 10)
#define ARENA_ALIGN alignof(max_align_t)

static alignas(max_align_t) unsigned char block[ARENA_SIZE];
static size_t used;		  /* bytes handed out since the last reset */
static unsigned depth;		  /* open scopes; the loop's alone */
static _Thread_local bool scoped; /* this thread is the loop, inside a scope */

static bool in_block(const void *p)
{
	return (const unsigned char *)p >= block && (const unsigned char *)p < block + ARENA_SIZE;
}

static void *arena_malloc(size_t size)
{
	size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	void *p;

	if (!scoped)
		return malloc(size);
	if (need < size || need > ARENA_SIZE - used)
		return malloc(size);
	p = block + used;
	used += need;
	rdq_unpoison(p, size);
	return p;
}

/* A node from the block is given back all at once, when the scope ends. */
static void arena_free(void *p)
{
	if (!in_block(p))
		free(p);
}

void json_arena_install(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
	rdq_poison(block, ARENA_SIZE);
}

void json_arena_enter(void)
{
	RDQ_DISPATCH_ONLY();
	depth++;
	scoped = true;
}

void json_arena_leave(void)
{
	RDQ_DISPATCH_ONLY();
	if (--depth)
		return;
	scoped = false;
	rdq_poison(block, used);
	used = 0;
}
