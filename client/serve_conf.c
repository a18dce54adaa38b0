/* SPDX-License-Identifier: MIT */
#include "serve_conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/conf_file.h"

#define MAX_MAX_RUNNING 1024
#define MAX_WORDS	256

/* The line that set each key (0: not set), so a key set twice names the first. */
struct conf_state {
	struct serve_conf *conf;
	unsigned address, command, max_running, timeout, direct, wait_address;
};

static void free_words(char **words)
{
	if (!words)
		return;
	for (char **w = words; *w; w++)
		free(*w);
	free(words);
}

/*
 * Splits a command into words at blanks; '...' and "..." keep blanks in a
 * word (no escapes, no variables: a shell does that, as `sh -c '...'`).
 * Returns the words, or NULL with why in err.
 */
static char **split_words(const char *text, char *err, size_t err_size)
{
	char **words = calloc(MAX_WORDS + 1, sizeof(*words));
	size_t n = 0, len = strlen(text);
	char *word = malloc(len + 1);
	const char *p = text;

	if (!words || !word) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	while (*p) {
		size_t w = 0;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		while (*p && !isspace((unsigned char)*p)) {
			if (*p == '\'' || *p == '"') {
				const char *close = strchr(p + 1, *p);

				if (!close) {
					snprintf(err, err_size, "command: a %c that is not closed",
						 *p);
					goto fail;
				}
				memcpy(word + w, p + 1, (size_t)(close - p - 1));
				w += (size_t)(close - p - 1);
				p = close + 1;
			} else {
				word[w++] = *p++;
			}
		}
		if (n == MAX_WORDS) {
			snprintf(err, err_size, "command: more than %d words", MAX_WORDS);
			goto fail;
		}
		word[w] = '\0';
		words[n] = strdup(word);
		if (!words[n++]) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
	}
	free(word);
	if (n == 0) {
		snprintf(err, err_size, "command: empty");
		free_words(words);
		return NULL;
	}
	return words;
fail:
	free(word);
	free_words(words);
	return NULL;
}

static int number(const char *key, const char *value, int64_t hi, int64_t *out, char *err,
		  size_t err_size)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || errno || *end || v < 1 || v > hi) {
		snprintf(err, err_size, "%s: \"%.40s\" is not a number from 1 to %lld", key, value,
			 (long long)hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int yes_no(const char *key, const char *value, bool *out, char *err, size_t err_size)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
		*out = value[0] == 'y';
		return 0;
	}
	snprintf(err, err_size, "%s: \"%.40s\" is not yes or no", key, value);
	return -EINVAL;
}

/* allow or deny, again and again as rdqd's listen.d: each line adds its prefixes. */
static int rules_line(struct serve_conf *c, const char *key, const char *value, char *err,
		      size_t err_size)
{
	bool allow = key[0] == 'a';
	struct rdq_prefix_list *l = allow ? &c->rules.allow : &c->rules.deny;
	char *text = allow ? c->allow : c->deny, why[200];
	size_t len = strlen(text);
	int ret = rdq_prefix_list_add(l, value, strlen(value), why, sizeof(why));

	if (ret == 0 && len + strlen(value) + 2 > sizeof(c->allow)) {
		snprintf(why, sizeof(why), "more than %zu bytes in all", sizeof(c->allow) - 1);
		ret = -E2BIG;
	}
	if (ret < 0) {
		snprintf(err, err_size, "%s: %s", key, why);
		return -EINVAL;
	}
	snprintf(text + len, sizeof(c->allow) - len, "%s%s", len ? "," : "", value);
	return 0;
}

static int serve_line(const struct conf_line *line, char *err, size_t err_size)
{
	struct conf_state *st = line->arg;
	struct serve_conf *c = st->conf;
	const char *key = line->key, *value = line->value;

	if (strcmp(key, "address") == 0) {
		if (conf_key_once(line, &st->address, err, err_size) < 0)
			return -EINVAL;
		if (!*value || strlen(value) >= sizeof(c->address)) {
			snprintf(err, err_size, "address: \"%.60s\" is not ADDR[:PORT]", value);
			return -EINVAL;
		}
		snprintf(c->address, sizeof(c->address), "%s", value);
		return 0;
	}
	if (strcmp(key, "command") == 0) {
		if (conf_key_once(line, &st->command, err, err_size) < 0)
			return -EINVAL;
		c->argv = split_words(value, err, err_size);
		return c->argv ? 0 : -EINVAL;
	}
	if (strcmp(key, "max-running") == 0)
		return conf_key_once(line, &st->max_running, err, err_size) < 0
			       ? -EINVAL
			       : number(key, value, MAX_MAX_RUNNING, &c->max_running, err,
					err_size);
	if (strcmp(key, "timeout") == 0)
		return conf_key_once(line, &st->timeout, err, err_size) < 0
			       ? -EINVAL
			       : number(key, value, INT_MAX, &c->timeout_ms, err, err_size);
	if (strcmp(key, "direct") == 0)
		return conf_key_once(line, &st->direct, err, err_size) < 0
			       ? -EINVAL
			       : yes_no(key, value, &c->direct, err, err_size);
	if (strcmp(key, "wait-address") == 0)
		return conf_key_once(line, &st->wait_address, err, err_size) < 0
			       ? -EINVAL
			       : yes_no(key, value, &c->wait_address, err, err_size);
	if (strcmp(key, "allow") == 0 || strcmp(key, "deny") == 0)
		return rules_line(c, key, value, err, err_size);
	snprintf(err, err_size,
		 "unknown key \"%.60s\" (address, command, max-running, timeout, direct, "
		 "wait-address, allow, deny)",
		 key);
	return -EINVAL;
}

int serve_conf_read(const char *path, struct serve_conf *conf, char *err, size_t err_size)
{
	struct conf_state st = {.conf = conf};
	int ret = conf_file_read(path, true, serve_line, &st, err, err_size);

	if (ret == 0 && (!st.address || !st.command)) {
		snprintf(err, err_size, "%.250s: no %s", path,
			 !st.address ? "address (address = ADDR[:PORT])"
				     : "command (command = COMMAND [ARGS...])");
		ret = -EINVAL;
	}
	if (ret < 0)
		serve_conf_free(conf);
	return ret;
}

void serve_conf_free(struct serve_conf *conf)
{
	free_words(conf->argv);
	conf->argv = NULL;
}
