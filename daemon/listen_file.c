/* SPDX-License-Identifier: MIT */
#include "listen_file.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/conf_file.h"
#include "engine/level.h"
#include "local_addrs.h"
#include "protocol/defaults.h"
#include "protocol/ops_table.h"

#define SUFFIX ".conf"

/* The keys, and the line that set each (0: not set). */
struct file_state {
	struct listen_decl *out;
	unsigned address_line, mode_line, max_line;
};

static int number(const char *text, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int decl_line(const struct conf_line *line, char *err, size_t err_size)
{
	struct file_state *st = line->arg;
	const char *key = line->key, *value = line->value;
	char why[200];

	if (strcmp(key, "address") == 0) {
		if (conf_key_once(line, &st->address_line, err, err_size) < 0)
			return -EINVAL;
		if (local_addr_parse(value, RDQ_DEFAULT_PORT, &st->out->addr, why, sizeof(why)) <
		    0) {
			snprintf(err, err_size, "address: %s", why);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "mode") == 0) {
		if (conf_key_once(line, &st->mode_line, err, err_size) < 0)
			return -EINVAL;
		/* serve and direct need a client that serves them: no declared listener has one. */
		if (strcmp(value, "echo") != 0) {
			snprintf(err, err_size,
				 "mode: \"%.40s\" is not a mode of a declared listener (echo)",
				 value);
			return -EINVAL;
		}
		st->out->mode = RDQ_MODE_ECHO;
		return 0;
	}
	if (strcmp(key, "max-connections") == 0) {
		if (conf_key_once(line, &st->max_line, err, err_size) < 0)
			return -EINVAL;
		if (number(value, 1, RDQ_MAX_MAX_CONNECTIONS, &st->out->max_connections) < 0) {
			snprintf(err, err_size,
				 "max-connections: \"%.40s\" is not a number from 1 to %u", value,
				 (unsigned)RDQ_MAX_MAX_CONNECTIONS);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "allow") == 0 || strcmp(key, "deny") == 0) {
		struct rdq_prefix_list *l =
			key[0] == 'a' ? &st->out->rules.allow : &st->out->rules.deny;

		/* Again and again, as systemd's IPAddressAllow=: each line adds its prefixes. */
		if (rdq_prefix_list_add(l, value, strlen(value), why, sizeof(why)) < 0) {
			snprintf(err, err_size, "%s: %s", key, why);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, err_size,
		 "unknown key \"%.60s\" (address, mode, max-connections, allow, deny)", key);
	return -EINVAL;
}

int listen_file_read(const char *path, const char *name, struct listen_decl *out, char *err,
		     size_t err_size)
{
	struct file_state st = {.out = out};
	int ret;

	RDQ_PASSIVE_ONLY();
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->mode = RDQ_MODE_ECHO;
	out->max_connections = RDQ_DEFAULT_MAX_CONNECTIONS;
	ret = conf_file_read(path, true, decl_line, &st, err, err_size);
	if (ret == 0 && !st.address_line) {
		snprintf(err, err_size, "%.250s: no address (address = ADDR:PORT)", path);
		ret = -EINVAL;
	}
	return ret;
}

/* A listener's name: what ep.show and the log call it, so plain characters only. */
static bool good_name(const char *name, size_t len)
{
	if (len == 0 || len >= LISTEN_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@'))
			return false;
	}
	return true;
}

static int declared_file(const struct dirent *de)
{
	size_t len = strlen(de->d_name);

	return de->d_name[0] != '.' && len > strlen(SUFFIX) &&
	       strcmp(de->d_name + len - strlen(SUFFIX), SUFFIX) == 0;
}

int listen_dir_read(const char *dir, struct listen_dir *out, char *err, size_t err_size)
{
	struct dirent **names = NULL;
	int n;

	RDQ_PASSIVE_ONLY();
	*out = (struct listen_dir){0};
	n = scandir(dir, &names, declared_file, alphasort);
	if (n < 0) {
		int ret = -errno;

		if (ret == -ENOENT)
			return 0;
		snprintf(err, err_size, "cannot read %s: %s", dir, strerror(-ret));
		return ret;
	}
	out->v = calloc((size_t)n + 1, sizeof(*out->v));
	for (int i = 0; i < n; i++) {
		struct listen_entry *e = out->v ? &out->v[out->n++] : NULL;
		size_t len = strlen(names[i]->d_name) - strlen(SUFFIX);
		char path[4096], name[LISTEN_NAME_MAX];

		if (e && !good_name(names[i]->d_name, len)) {
			e->status = -EINVAL;
			snprintf(e->err, sizeof(e->err),
				 "%s/%s: a listener's name is 1 to %d letters, digits, '-', '_', "
				 "'.' or '@'",
				 dir, names[i]->d_name, LISTEN_NAME_MAX - 1);
		} else if (e) {
			memcpy(name, names[i]->d_name, len);
			name[len] = '\0';
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			e->status = listen_file_read(path, name, &e->decl, e->err, sizeof(e->err));
		}
		free(names[i]);
	}
	free(names);
	if (!out->v) {
		snprintf(err, err_size, "cannot read %s: %s", dir, strerror(ENOMEM));
		return -ENOMEM;
	}
	return 0;
}

void listen_dir_free(struct listen_dir *l)
{
	free(l->v);
	*l = (struct listen_dir){0};
}

bool listen_decl_equal(const struct listen_decl *a, const struct listen_decl *b)
{
	return strcmp(a->name, b->name) == 0 && a->mode == b->mode &&
	       a->max_connections == b->max_connections &&
	       memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0;
}
