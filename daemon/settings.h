/* SPDX-License-Identifier: MIT */
/*
 * rdqd's options: one table drives the command line (getopt_long), the
 * configuration file, --print-config and SIGHUP's reload, so a value is
 * checked by the same code whichever source it comes from.
 *
 * The file holds `key = value` lines, the keys being the long options'
 * names; `#` starts a comment (at the start of a line or after a blank).
 * A value comes from one of three layers, each overriding the one before,
 * key by key: the table's defaults, the file, the command line. --help is
 * written from the same table: an option added there is listed there.
 */
#ifndef RDQD_SETTINGS_H
#define RDQD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rdqd.h"

/* Room in a layer for each entry of the table (it has fewer). */
#define SETTINGS_MAX 32

enum setting_kind {
	SETTING_NUMBER, /* an unsigned from min to max */
	SETTING_CHOICE, /* one name of choices, stored as its value */
	SETTING_TEXT,	/* a string (const char *): a path, an address */
	SETTING_FLAG,	/* no argument: sets a bool; the command line only */
};

/* A name a SETTING_CHOICE accepts and the value it stands for. */
struct setting_choice {
	const char *name;
	unsigned value;
	const char *help; /* what it means, for --help, or NULL */
};

struct setting {
	const char *name; /* the long option, and the file's key */
	char short_name;  /* or 0 */
	enum setting_kind kind;
	unsigned min, max;    /* SETTING_NUMBER */
	unsigned def;	      /* default (SETTING_NUMBER, SETTING_CHOICE) */
	const char *def_text; /* default (SETTING_TEXT; NULL: ""), but the socket's */
	const struct setting_choice *choices; /* SETTING_CHOICE: ends with a NULL name */
	size_t offset;			      /* of the value in struct rdqd_options */
	bool in_file;			      /* the file may set it */
	bool live; /* SIGHUP applies it to the running daemon (its users read it each time) */
	const char *note;  /* what the default means, when it is no plain number, or NULL */
	bool may_be_empty; /* SETTING_TEXT: "" is a value (the feature is off) */
	/* SETTING_TEXT: checks a value; 0, or -EINVAL with why in err. NULL: any text. */
	int (*check)(const char *text, char *err, size_t err_size);
	/*
	 * --help: the argument's name ("N", "PATH"; NULL for a flag) and what the
	 * option does. --help adds the choices, the range and the default itself.
	 */
	const char *arg;
	const char *help;
};

/* The table, in --help's order. */
extern const struct setting settings_table[];
extern const unsigned settings_count;

/* The command line's options that set no value of the table, only what rdqd does. */
struct settings_cli_action {
	const char *name;
	char short_name;
	bool has_arg;
	const char *arg, *help; /* for --help, as in struct setting */
};
#define CLI_ACTIONS_MAX 8
extern const struct settings_cli_action cli_actions[];
extern const unsigned cli_action_count;

enum setting_origin {
	ORIGIN_DEFAULT,
	ORIGIN_FILE,
	ORIGIN_COMMAND_LINE,
};

/* The values one source sets, by index in the table: the file's or the command line's. */
struct settings_layer {
	bool set[SETTINGS_MAX];
	unsigned value[SETTINGS_MAX]; /* SETTING_NUMBER, SETTING_CHOICE, SETTING_FLAG */
	char *text[SETTINGS_MAX];     /* SETTING_TEXT; owned, freed by settings_layer_clear */
	unsigned line[SETTINGS_MAX];  /* the file's line that set it */
};

/* What rdqd was started with. */
struct settings {
	const char *file;   /* the file to read, or NULL (--no-config) */
	bool file_required; /* named by --config: a missing one is an error */
	bool print;	    /* --print-config */
	struct settings_layer cli;
	struct settings_layer start_file; /* the file read at start: opt's paths may point here */
	char default_socket[108]; /* the socket's default, by user; "" if it would not fit */
	/* The values in force before derived defaults (settings_derive); the loop's alone. */
	struct rdqd_options raw;
};

/* What settings_parse_args found rdqd should do. */
enum settings_action {
	SETTINGS_RUN,	  /* start (or --print-config) */
	SETTINGS_HELP,	  /* -h */
	SETTINGS_VERSION, /* -V */
};

/*
 * Reads the command line into s (s zeroed by the caller), the file's name
 * included (the default one unless --config or --no-config). Returns 0 and
 * sets *action, or -EINVAL after printing why on stderr.
 */
int settings_parse_args(struct settings *s, int argc, char **argv, enum settings_action *action);

/*
 * Reads a configuration file into out (zeroed by the caller). A file that
 * does not exist is an empty one unless required. Returns 0, or -errno with
 * a message in err naming the file and the line ("FILE:LINE: ..."). Blocks
 * (a file read): start-up or a worker only.
 */
int settings_read_file(const char *path, bool required, struct settings_layer *out, char *err,
		       size_t err_size);

/*
 * The options that the defaults, file and s's command line make together,
 * before derived defaults: into opt, and where each came from into origin
 * (may be NULL). opt's strings point into file, s or the table.
 */
void settings_resolve(const struct settings *s, const struct settings_layer *file,
		      struct rdqd_options *opt, enum setting_origin *origin);

/* Fills in the defaults that depend on other options (--pool, --max-clients-per-user). */
void settings_derive(struct rdqd_options *opt);

/* Whether setting i holds the same value in a and b. */
bool setting_equal(unsigned i, const struct rdqd_options *a, const struct rdqd_options *b);

/* Copies setting i's value from src to dst. */
void setting_copy(unsigned i, struct rdqd_options *dst, const struct rdqd_options *src);

/* Writes setting i's value of opt as the file would hold it into buf. Returns buf. */
const char *setting_format(unsigned i, const struct rdqd_options *opt, char *buf, size_t size);

/*
 * --print-config: one `key = value` line per option the file accepts,
 * each with where its value came from (the file's lines from file).
 */
void settings_print(FILE *out, const struct settings *s, const struct settings_layer *file,
		    const struct rdqd_options *opt, const enum setting_origin *origin);

/*
 * --help's list of options, from the table and the command line's own
 * options, and what the configuration file and SIGHUP take of them.
 */
void settings_help(FILE *out);

/* Frees what a layer owns and empties it. */
void settings_layer_clear(struct settings_layer *l);

/* Frees what s owns (its layers); d->opt's paths may point there, so only at exit. */
void settings_fini(struct settings *s);

#endif
