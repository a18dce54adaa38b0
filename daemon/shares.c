/* SPDX-License-Identifier: MIT */
#include "shares.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "rdqd.h"

/*
 * Counts per uid, in an open-addressing table keyed by uid: an accept or a
 * new endpoint costs the same however many there are. An entry stays when
 * its counts drop to zero (a user who connected once is likely
 * to again), so lookups never meet a hole; the table grows at half full.
 */
struct uid_slot {
	uid_t uid;
	unsigned count[SHARE_KINDS];
	bool used;
};

static size_t slot_of(uid_t uid, size_t cap)
{
	return ((size_t)uid * 2654435761u) & (cap - 1);
}

static struct uid_slot *find(struct rdqd *d, uid_t uid, bool add)
{
	struct uid_shares *t = &d->uid_shares;
	size_t i;

	if (add && (t->used + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct uid_slot *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return NULL;
		for (size_t j = 0; j < t->cap; j++) {
			if (!t->slots[j].used)
				continue;
			for (i = slot_of(t->slots[j].uid, cap); slots[i].used;
			     i = (i + 1) & (cap - 1))
				;
			slots[i] = t->slots[j];
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	if (!t->cap)
		return NULL;
	for (i = slot_of(uid, t->cap); t->slots[i].used; i = (i + 1) & (t->cap - 1))
		if (t->slots[i].uid == uid)
			return &t->slots[i];
	if (!add)
		return NULL;
	t->slots[i] = (struct uid_slot){.uid = uid, .used = true};
	t->used++;
	return &t->slots[i];
}

unsigned shares_count(struct rdqd *d, uid_t uid, enum share_kind kind)
{
	struct uid_slot *s = find(d, uid, false);

	return s ? s->count[kind] : 0;
}

int shares_check_connection(struct rdqd *d, uid_t uid, char *why, size_t size)
{
	unsigned max = d->opt.max_clients;
	unsigned reserve = max / ROOT_RESERVE_DIV ? max / ROOT_RESERVE_DIV : 1;
	uint64_t open = d->counters.connections;

	if (open >= max) {
		snprintf(why, size, "too many clients (%u)", max);
		return -EMFILE;
	}
	if (uid == 0)
		return 0;
	if (open + reserve >= max) {
		snprintf(why, size, "too many clients (the last %u of %u are kept for root)",
			 reserve, max);
		return -EMFILE;
	}
	if (shares_count(d, uid, SHARE_CONNECTIONS) >= d->opt.max_clients_per_user) {
		snprintf(why, size, "too many connections for uid %u (--max-clients-per-user %u)",
			 (unsigned)uid, d->opt.max_clients_per_user);
		return -EDQUOT;
	}
	return 0;
}

void shares_add(struct rdqd *d, uid_t uid, enum share_kind kind)
{
	struct uid_slot *s = find(d, uid, true);

	d->uid_shares.total[kind]++;
	/* Out of memory for the table: it goes uncounted rather than refused. */
	if (s)
		s->count[kind]++;
}

void shares_remove(struct rdqd *d, uid_t uid, enum share_kind kind)
{
	struct uid_slot *s = find(d, uid, false);

	if (s && s->count[kind])
		s->count[kind]--;
	if (d->uid_shares.total[kind])
		d->uid_shares.total[kind]--;
}

uint64_t shares_total(struct rdqd *d, enum share_kind kind)
{
	return d->uid_shares.total[kind];
}

void shares_fini(struct rdqd *d)
{
	free(d->uid_shares.slots);
	d->uid_shares = (struct uid_shares){0};
}
