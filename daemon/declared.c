/* SPDX-License-Identifier: MIT */
#include "declared.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr_watch.h"
#include "device.h"
#include "ep_wait.h"
#include "listen_file.h"
#include "log.h"
#include "rdqd.h"

int declared_read_at_start(const char *dir, struct listen_dir *out)
{
	char err[320];
	int ret = 0;

	if (!dir[0])
		return 0;
	if (listen_dir_read(dir, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "rdqd: %s\n", err);
		return -EINVAL;
	}
	for (unsigned i = 0; i < out->n; i++) {
		if (out->v[i].status < 0) {
			fprintf(stderr, "rdqd: %s\n", out->v[i].err);
			ret = -EINVAL;
		}
	}
	if (ret < 0)
		listen_dir_free(out);
	return ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct declared *)a)->decl.name,
		      ((const struct declared *)b)->decl.name);
}

static int name_is(const void *key, const void *entry)
{
	return strcmp(key, ((const struct declared *)entry)->decl.name);
}

/* Makes decl's listener; the set keeps decl either way, to compare at the next reload. */
static struct declared make(struct rdqd *d, const struct listen_decl *decl, const char *what)
{
	struct declared made = {.decl = *decl, .ep = ep_wait_declare(d, decl)};

	if (made.ep)
		log_info("listener %s: %s, ep %llu", decl->name, what, made.ep);
	return made;
}

void declared_apply(struct rdqd *d, const char *dir_path, const struct listen_dir *dir,
		    const char *dir_err)
{
	struct declared_set old = d->declared, now = {0};
	unsigned added = 0, removed = 0, changed = 0, kept = 0, bad = 0, ruled = 0;
	bool *taken;

	if (dir_err && dir_err[0]) {
		log_err("reload: %s; the declared listeners stay as they were", dir_err);
		return;
	}
	now.v = calloc(dir->n + old.n + 1, sizeof(*now.v));
	taken = calloc(old.n + 1, sizeof(*taken));
	if (!now.v || !taken) {
		free(now.v);
		free(taken);
		log_err("reload: out of memory; the declared listeners stay as they were");
		return;
	}
	for (unsigned i = 0; i < dir->n; i++) {
		const struct listen_entry *e = &dir->v[i];
		struct declared *was =
			e->decl.name[0] && old.n
				? bsearch(e->decl.name, old.v, old.n, sizeof(*old.v), name_is)
				: NULL;

		if (e->status < 0) {
			bad++;
			log_err("%s; %s%s %s", e->err, e->decl.name[0] ? "listener " : "the file",
				e->decl.name, was ? "stays as it was" : "is left out");
		} else if (was && listen_decl_equal(&was->decl, &e->decl) &&
			   rdq_peer_rules_equal(&was->decl.rules, &e->decl.rules) &&
			   ep_wait_declared_alive(d, was->ep)) {
			kept++;
		} else if (was && listen_decl_equal(&was->decl, &e->decl) &&
			   ep_wait_declared_rules(d, was->ep, &e->decl.rules) == 0) {
			/* Only its rules: the listener and its connections stay. */
			log_info("listener %s: new address rules, for the peers that come from now "
				 "on",
				 e->decl.name);
			was->decl = e->decl;
			ruled++;
		} else if (was) {
			ep_wait_undeclare(d, was->ep);
			*was = make(d, &e->decl, "made again from its changed file");
			changed++;
		} else {
			now.v[now.n++] = make(d, &e->decl, "declared");
			added++;
		}
		if (was) {
			now.v[now.n++] = *was;
			taken[was - old.v] = true;
		}
	}
	/* What is left of the old set: files that are gone. */
	for (unsigned i = 0; i < old.n; i++) {
		if (taken[i])
			continue;
		log_info("listener %s: its file is gone; destroying it", old.v[i].decl.name);
		ep_wait_undeclare(d, old.v[i].ep);
		removed++;
	}
	free(taken);
	free(old.v);
	qsort(now.v, now.n, sizeof(*now.v), by_name);
	d->declared = now;
	log_info("declared listeners (%s): %u added, %u removed, %u changed, %u with new address "
		 "rules, %u unchanged, %u bad file(s)",
		 dir_path, added, removed, changed, ruled, kept, bad);
}

void declared_start(struct rdqd *d, struct listen_dir *dir)
{
	for (unsigned i = 0; i < RDQD_LISTEN_WAIT_BUCKETS; i++)
		d->listen_wait_buckets[i] = (struct list){0};
	addr_watch_start(d, ep_wait_address_changed, ep_wait_all_look_again);
	device_watch_subscribe(d, ep_wait_all_look_again);
	if (dir->n)
		declared_apply(d, d->opt.listen_dir, dir, NULL);
}

void declared_stop(struct rdqd *d)
{
	free(d->declared.v);
	d->declared = (struct declared_set){0};
	addr_watch_stop(d);
}
