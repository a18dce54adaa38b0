/* SPDX-License-Identifier: MIT */
/*
 * The options as a person reads them: --print-config (each value in force
 * and where it came from) and --help, both written from the settings' one
 * table (settings.c), so that a new option shows in both.
 */
#include "settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

void settings_print(FILE *out, const struct settings *s, const struct settings_layer *file,
		    const struct rdqd_options *opt, const enum setting_origin *origin)
{
	char value[160];

	fprintf(out, "# rdqd %s: the options in force (rdqd --print-config), from %s\n",
		RDQ_VERSION, s->file ? s->file : "no file (--no-config)");
	for (unsigned i = 0; i < settings_count; i++) {
		const struct setting *st = &settings_table[i];

		setting_format(i, opt, value, sizeof(value));
		if (!st->in_file) {
			fprintf(out, "# %s: %s (the command line only)\n", st->name, value);
			continue;
		}
		fprintf(out, "%s = %s  # ", st->name, value);
		if (origin[i] == ORIGIN_FILE)
			fprintf(out, "%s:%u\n", s->file, file->line[i]);
		else if (origin[i] == ORIGIN_COMMAND_LINE)
			fprintf(out, "command line\n");
		else if (st->note)
			fprintf(out, "default (%s)\n", st->note);
		else
			fprintf(out, "default\n");
	}
}

/* --help's layout: descriptions start at HELP_COLUMN, lines stay shorter than HELP_WIDTH. */
#define HELP_COLUMN 27
#define HELP_WIDTH  80

/* One paragraph of --help, built piece by piece; the longest is about 600 characters. */
struct help_text {
	char buf[2048];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
help_add(struct help_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* A piece that does not fit is cut, and the text stays terminated. */
	t->len += (size_t)n;
	if (t->len >= sizeof(t->buf))
		t->len = sizeof(t->buf) - 1;
}

/* Adds names as "a, b and c", each after prefix. */
static void help_add_list(struct help_text *t, const char *prefix, const char *const *names,
			  unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		help_add(t, "%s%s%s", i == 0 ? "" : i + 1 < n ? ", " : " and ", prefix, names[i]);
}

/*
 * Writes text from column col, which the caller has reached, breaking it at
 * blanks so that no line reaches HELP_WIDTH; a new line starts at column indent.
 */
static void help_wrap(FILE *out, unsigned col, unsigned indent, const char *text)
{
	bool line_start = true;

	for (;;) {
		size_t len;

		text += strspn(text, " ");
		if (!*text)
			break;
		len = strcspn(text, " ");
		if (!line_start && col + 1 + len >= HELP_WIDTH) {
			fprintf(out, "\n%*s", (int)indent, "");
			col = indent;
			line_start = true;
		}
		if (!line_start) {
			fputc(' ', out);
			col++;
		}
		fwrite(text, 1, len, out);
		col += (unsigned)len;
		line_start = false;
		text += len;
	}
	fputc('\n', out);
}

/* One option's lines: its names and argument, then what it does, at HELP_COLUMN. */
static void help_option(FILE *out, char short_name, const char *name, const char *arg,
			const char *text)
{
	int n = short_name ? fprintf(out, "  -%c, --%s", short_name, name)
			   : fprintf(out, "      --%s", name);

	if (arg)
		n += fprintf(out, " %s", arg);
	/* Two blanks at least between the names and the text: the man page check splits there. */
	if (n + 2 > HELP_COLUMN) {
		fputc('\n', out);
		n = 0;
	}
	fprintf(out, "%*s", HELP_COLUMN - n, "");
	help_wrap(out, HELP_COLUMN, HELP_COLUMN, text);
}

/* What a table entry does, its choices, its range and its default, as --help says them. */
static void setting_help(const struct setting *s, struct help_text *t)
{
	const char *def = s->note;
	char value[32];
	const char *sep = " (";

	help_add(t, "%s", s->help ? s->help : "");
	if (s->kind == SETTING_CHOICE) {
		help_add(t, ": ");
		for (const struct setting_choice *c = s->choices; c->name; c++) {
			help_add(t, "%s%s",
				 c == s->choices ? ""
				 : c[1].name	 ? ", "
						 : " or ",
				 c->name);
			if (c->help)
				help_add(t, " (%s)", c->help);
			if (c->value == s->def && !def)
				def = c->name;
		}
	}
	if (s->kind == SETTING_NUMBER) {
		help_add(t, "%s%u to %u", sep, s->min, s->max);
		sep = "; ";
		if (!def) {
			snprintf(value, sizeof(value), "%u", s->def);
			def = value;
		}
	}
	if (s->kind == SETTING_TEXT && !def)
		def = s->def_text;
	if (def) {
		/* A note starts with the value it explains ("0: no cap"), or stands for it. */
		bool stands_for_it = def == s->note && !strstr(def, ": ");

		help_add(t, "%sdefault%s %s", sep, stands_for_it ? ":" : "", def);
	}
	if (def || s->kind == SETTING_NUMBER)
		help_add(t, ")");
}

void settings_help(FILE *out)
{
	const char *only_cli[SETTINGS_MAX + CLI_ACTIONS_MAX], *live[SETTINGS_MAX];
	unsigned n_cli = 0, n_live = 0;
	struct help_text t;

	for (unsigned i = 0; i < settings_count; i++) {
		const struct setting *s = &settings_table[i];

		t.len = 0;
		setting_help(s, &t);
		help_option(out, s->short_name, s->name, s->arg, t.buf);
		if (!s->in_file)
			only_cli[n_cli++] = s->name;
		if (s->live)
			live[n_live++] = s->name;
	}
	for (unsigned i = 0; i < cli_action_count; i++) {
		help_option(out, cli_actions[i].short_name, cli_actions[i].name, cli_actions[i].arg,
			    cli_actions[i].help);
		only_cli[n_cli++] = cli_actions[i].name;
	}

	t.len = 0;
	help_add(&t, "The configuration file holds \"key = value\" lines, the keys being the long "
		     "options above but those of the command line only: ");
	help_add_list(&t, "--", only_cli, n_cli);
	help_add(&t, ". Options on the command line override it. SIGHUP reads it again and "
		     "applies at once ");
	help_add_list(&t, "", live, n_live);
	help_add(&t, "; the others take effect on restart.");
	fputc('\n', out);
	help_wrap(out, 0, 0, t.buf);
}
