/* SPDX-License-Identifier: MIT */
#include "reload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/level.h"
#include "declared.h"
#include "listen_file.h"
#include "log.h"
#include "rdqd.h"
#include "settings.h"
#include "work.h"

/* What the worker hands back: the file's values, or why there are none. */
struct reload_job {
	const char *file; /* or NULL: --no-config */
	bool required;
	struct settings_layer values;
	int status;
	char err[320];
	/* The declared listeners' folder (or ""), and what it holds now. */
	const char *listen_dir;
	struct listen_dir declared;
	char listen_dir_err[320]; /* why the folder could not be read, or "" */
};

static void reload_read(struct work_item *item)
{
	struct reload_job *job = item->data;

	RDQ_PASSIVE_ONLY();
	if (job->file)
		job->status = settings_read_file(job->file, job->required, &job->values, job->err,
						 sizeof(job->err));
	if (job->listen_dir[0])
		listen_dir_read(job->listen_dir, &job->declared, job->listen_dir_err,
				sizeof(job->listen_dir_err));
}

/*
 * Applies the file's values: all of the live options or, on any error in
 * the file, none. The command line still overrides the file.
 */
static void reload_apply(struct rdqd *d, struct reload_job *job)
{
	struct settings *s = d->settings;
	struct rdqd_options raw, applied = s->raw, effective;
	char was[160], now[160];
	unsigned changed = 0;

	if (job->status < 0) {
		log_err("reload: %s; the running settings stay", job->err);
		return;
	}
	settings_resolve(s, &job->values, &raw, NULL);
	for (unsigned i = 0; i < settings_count; i++) {
		if (setting_equal(i, &raw, &s->raw))
			continue;
		if (settings_table[i].live)
			setting_copy(i, &applied, &raw);
		else
			log_warn("%s changed in %s (%s, running with %s); takes effect on restart",
				 settings_table[i].name, job->file,
				 setting_format(i, &raw, now, sizeof(now)),
				 setting_format(i, &s->raw, was, sizeof(was)));
	}
	effective = applied;
	settings_derive(&effective);
	for (unsigned i = 0; i < settings_count; i++) {
		if (!settings_table[i].live || setting_equal(i, &effective, &d->opt))
			continue;
		log_info("reload: %s %s -> %s", settings_table[i].name,
			 setting_format(i, &d->opt, was, sizeof(was)),
			 setting_format(i, &effective, now, sizeof(now)));
		setting_copy(i, &d->opt, &effective);
		changed++;
	}
	/* The file's paths are not live: applied keeps pointing where s->raw did. */
	s->raw = applied;
	/* The two options whose value is copied elsewhere at start. */
	atomic_store_explicit(&log_max_priority, (int)d->opt.log_level, memory_order_relaxed);
	d->workers.pool_cap = d->opt.pool_cap;
	log_info("reloaded %s: %u option(s) changed", job->file, changed);
}

static void reload_done(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct reload_job *job = item->data;

	d->reload_queued = false;
	if (!d->shutting_down && job->file)
		reload_apply(d, job);
	/* Each file on its own: a bad one is logged, the others are applied. */
	if (!d->shutting_down && job->listen_dir[0])
		declared_apply(d, job->listen_dir, &job->declared, job->listen_dir_err);
	listen_dir_free(&job->declared);
	settings_layer_clear(&job->values);
	free(job);
	if (d->reload_again) {
		d->reload_again = false;
		reload_start(d);
	}
}

void reload_start(struct rdqd *d)
{
	struct work_item *item;
	struct reload_job *job;

	RDQ_DISPATCH_ONLY();
	if (d->shutting_down)
		return;
	if (!d->settings->file && !d->opt.listen_dir[0]) {
		log_info(
			"SIGHUP: no configuration file (--no-config) and no listen-dir; nothing to "
			"reload");
		return;
	}
	if (d->reload_queued) {
		d->reload_again = true;
		return;
	}
	log_info("SIGHUP: reading %s%s%s", d->settings->file ? d->settings->file : "",
		 d->settings->file && d->opt.listen_dir[0] ? " and " : "", d->opt.listen_dir);
	job = calloc(1, sizeof(*job));
	/* Uncapped: a reload may be what lifts a --pool-cap set too low. */
	item = job ? work_item_get_uncapped(&d->workers) : NULL;
	if (!item) {
		free(job);
		log_err("SIGHUP: cannot reload: out of memory");
		return;
	}
	job->file = d->settings->file;
	job->listen_dir = d->opt.listen_dir;
	job->required = d->settings->file_required;
	item->ctx = d;
	item->data = job;
	item->passive = reload_read;
	item->dispatch = reload_done;
	d->reload_queued = true;
	work_item_queue(&d->workers, item);
}
