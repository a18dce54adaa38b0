/* SPDX-License-Identifier: MIT */
/*
 * The loop's JSON arena: while the loop decodes a request, runs its handler
 * and builds and writes its reply or an event, every allocation jansson
 * makes on the loop thread comes from one block that is reset afterwards,
 * instead of a malloc and a free per JSON node. Other threads, and the loop
 * outside a scope, get malloc.
 *
 * What is made in a scope must not outlive it: a handler copies what it
 * keeps (the request's arguments are borrowed; results and events are sent
 * and dropped within the scope). tests/unit/check-json-scope.py holds the
 * rule: no json_incref() in rdqd, and JSON members of structs only where it
 * lists them. Built with AddressSanitizer the block is poisoned outside its
 * scopes, which catches a stale node touched by rdqd's own code (not one
 * read inside jansson, which is not instrumented).
 */
#ifndef RDQD_JSON_ARENA_H
#define RDQD_JSON_ARENA_H

#include <stddef.h>

/* Routes jansson's allocations through the arena; once, before the loop runs. */
void json_arena_install(void);

/*
 * Opens a scope on the loop; scopes nest, and the block is reset when the
 * outermost one closes.
 */
void json_arena_enter(void);
void json_arena_leave(void);

#endif
