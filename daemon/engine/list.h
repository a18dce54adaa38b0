/* SPDX-License-Identifier: MIT */
/*
 * An intrusive doubly linked list: the node lives in the listed object, so
 * adding and taking out cost O(1) and allocate nothing. A zeroed list is
 * empty and a zeroed node is unlinked, so neither needs initialising. Not
 * thread-safe: each list belongs to one thread (in rdqd, the loop).
 */
#ifndef RDQ_ENGINE_LIST_H
#define RDQ_ENGINE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
	bool linked;
};

struct list {
	struct list_node *first, *last;
};

/* The object a node is the member of. */
#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline bool list_linked(const struct list_node *n)
{
	return n->linked;
}

static inline void list_push_back(struct list *l, struct list_node *n)
{
	n->next = NULL;
	n->prev = l->last;
	if (l->last)
		l->last->next = n;
	else
		l->first = n;
	l->last = n;
	n->linked = true;
}

static inline void list_push_front(struct list *l, struct list_node *n)
{
	n->prev = NULL;
	n->next = l->first;
	if (l->first)
		l->first->prev = n;
	else
		l->last = n;
	l->first = n;
	n->linked = true;
}

/* Takes n out of l, which must be the list it is in; an unlinked n is left alone. */
static inline void list_remove(struct list *l, struct list_node *n)
{
	if (!n->linked)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		l->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->last = n->prev;
	n->prev = n->next = NULL;
	n->linked = false;
}

#endif
