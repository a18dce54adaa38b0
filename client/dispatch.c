/* SPDX-License-Identifier: MIT */
/* Command tables: finding a command by a word or a unique prefix of it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

int usage_error(const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try \"%s help\")\n", path);
	return RDQCTL_EUSAGE;
}

static bool is_prefix(const char *word, const char *of)
{
	return strncmp(word, of, strlen(word)) == 0;
}

int cmd_run(struct ctl *ctl, const struct cmd_level *level, int argc, char **argv)
{
	const struct cmd *found = NULL, *cmd;
	const char *word;
	int matches = 0;
	bool help;

	if (argc == 0) {
		for (cmd = level->cmds; cmd->word; cmd++)
			;
		return cmd->run(ctl, 0, argv);
	}

	word = argv[0];
	if (strcmp(word, "-h") == 0 || strcmp(word, "--help") == 0 || strcmp(word, "help") == 0) {
		fputs(level->usage, stdout);
		return RDQCTL_OK;
	}
	if (word[0] == '-')
		return usage_error(level->path, "unknown option \"%s\"", word);
	if (word[0] == '\0')
		return usage_error(level->path, "empty command");

	/* An exact word wins; otherwise the prefix must name one command. "help" counts too. */
	help = is_prefix(word, "help");
	matches = help;
	for (cmd = level->cmds; cmd->word; cmd++) {
		if (strcmp(word, cmd->word) == 0) {
			found = cmd;
			matches = 1;
			break;
		}
		if (is_prefix(word, cmd->word)) {
			found = cmd;
			matches++;
		}
	}
	if (matches == 0)
		return usage_error(level->path, "unknown command \"%s\"", word);
	if (matches > 1) {
		char names[256] = "";
		size_t len = 0;

		for (cmd = level->cmds; cmd->word; cmd++)
			if (is_prefix(word, cmd->word) && len < sizeof(names))
				len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
							len ? ", " : "", cmd->word);
		if (help && len < sizeof(names))
			snprintf(names + len, sizeof(names) - len, ", help");
		return usage_error(level->path, "\"%s\" is ambiguous: %s", word, names);
	}
	if (!found) {
		fputs(level->usage, stdout);
		return RDQCTL_OK;
	}
	return found->run(ctl, argc - 1, argv + 1);
}
