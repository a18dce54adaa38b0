/* SPDX-License-Identifier: MIT */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "protocol/conf_file.h"
#include "config.h"
#include "engine/level.h"
#include "metrics.h"
#include "rdq/client.h"

static const struct setting_choice scopes[] = {
	{"endpoint", SYNC_ENDPOINT, "each endpoint's"},
	{"device", SYNC_DEVICE, "all of them"},
	{"none", SYNC_NONE, "no order"},
	{NULL, 0, NULL},
};

static const struct setting_choice levels[] = {
	{"err", LOG_ERR, NULL},	  {"warn", LOG_WARNING, NULL},
	{"info", LOG_INFO, NULL}, {"debug", LOG_DEBUG, NULL},
	{NULL, 0, NULL},
};

#define AT(field) offsetof(struct rdqd_options, field)

/*
 * live: the option's users read it from d->opt each time (a request, an
 * accept, a message), so SIGHUP may change it. The others size something
 * made at start (the worker threads, the work-item pool, the connection
 * table, each device's registered slots) or decide how an endpoint is
 * built for its whole life (its event queue), or are the socket itself.
 *
 * The socket's default depends on who runs rdqd (settings_resolve asks
 * librdq), so the table holds none and its help says it.
 */
const struct setting settings_table[] = {
	{"socket", 's', SETTING_TEXT, .offset = AT(socket_path), .in_file = true, .arg = "PATH",
	 .help = "control socket (default: " RDQ_SYSTEM_SOCKET " as root, "
		 "$XDG_RUNTIME_DIR/rdq/rdqd.sock otherwise, or /tmp/rdq-UID/rdqd.sock without "
		 "XDG_RUNTIME_DIR)"},
	{"workers", 'w', SETTING_NUMBER, 0, 256, 0, .offset = AT(workers), .in_file = true,
	 .note = "0: one per CPU", .arg = "N", .help = "worker threads"},
	{"pool", 0, SETTING_NUMBER, 0, 1u << 20, 0, .offset = AT(pool_prealloc), .in_file = true,
	 .note = "twice max-pending", .arg = "N",
	 .help = "work items made at start; the default is what one client's requests in flight "
		 "need on both ends of a connection"},
	{"pool-cap", 0, SETTING_NUMBER, 0, 1u << 24, 0, .offset = AT(pool_cap), .in_file = true,
	 .live = true, .note = "0: no cap", .arg = "N",
	 .help = "most work items in use; beyond, requests get EBUSY"},
	{"max-pending", 0, SETTING_NUMBER, 0, 1u << 20, 256, .offset = AT(max_pending),
	 .in_file = true, .live = true, .arg = "N",
	 .help = "pending requests per client connection"},
	{"max-endpoints", 0, SETTING_NUMBER, 0, 1u << 24, 16384, .offset = AT(max_endpoints),
	 .in_file = true, .live = true, .arg = "N",
	 .help = "endpoints per user; those that remote peers make on its listeners count apart"},
	{"max-network-endpoints", 0, SETTING_NUMBER, 1, 1u << 24, 16384,
	 .offset = AT(max_network_endpoints), .in_file = true, .live = true, .arg = "N",
	 .help = "endpoints remote peers may make on all listeners together; a peer past it, or "
		 "past its listener's max_connections, is rejected"},
	{"max-clients", 0, SETTING_NUMBER, 1, 1u << 20, 1024, .offset = AT(max_clients),
	 .in_file = true, .arg = "N",
	 .help = "client connections; the last 1/16 of them are kept for root"},
	{"max-clients-per-user", 0, SETTING_NUMBER, 1, 1u << 20, 0,
	 .offset = AT(max_clients_per_user), .in_file = true, .live = true,
	 .note = "a quarter of max-clients", .arg = "N",
	 .help = "connections one user (not root) may hold"},
	{"idle-timeout", 0, SETTING_NUMBER, 0, 86400, 300, .offset = AT(idle_timeout_s),
	 .in_file = true, .live = true, .arg = "S",
	 .help = "close a connection that sent nothing for S seconds and has nothing pending or "
		 "watched; 0: never"},
	{"sync-scope", 0, SETTING_CHOICE, .def = SYNC_ENDPOINT, .choices = scopes,
	 .offset = AT(sync_scope), .in_file = true, .arg = "SCOPE",
	 .help = "which endpoints' worker steps run one at a time, in order"},
	{"disconnect-timeout", 0, SETTING_NUMBER, 1, 3600000, 5000,
	 .offset = AT(disconnect_timeout_ms), .in_file = true, .live = true, .arg = "MS",
	 .help = "local deadline of ep.disconnect --wait when the request sets none"},
	{"max-message", 0, SETTING_NUMBER, 4096, 1u << 20, 65536, .offset = AT(max_message),
	 .in_file = true, .arg = "BYTES", .help = "largest RDMA message either way"},
	{"send-slots", 0, SETTING_NUMBER, 0, 4096, 0, .offset = AT(send_slots), .in_file = true,
	 .note = "0: 8 MiB of max-message slots per device, 16 to 256", .arg = "N",
	 .help = "send buffers per RDMA device, each of max-message bytes; an echo waits for a "
		 "free one"},
	{"recv-backlog", 0, SETTING_NUMBER, 1, 1u << 16, 64, .offset = AT(recv_backlog),
	 .in_file = true, .live = true, .arg = "N",
	 .help = "received messages an endpoint holds until a client reads them; one more fails "
		 "the endpoint"},
	{"log-level", 0, SETTING_CHOICE, .def = LOG_INFO, .choices = levels,
	 .offset = AT(log_level), .in_file = true, .live = true, .arg = "LEVEL",
	 .help = "log messages of LEVEL and above"},
	{"metrics", 0, SETTING_TEXT, .offset = AT(metrics), .in_file = true, .note = "empty: off",
	 .may_be_empty = true, .check = metrics_check_address, .arg = "ADDR:PORT",
	 .help = "serve the counters over HTTP at http://ADDR:PORT/metrics in the Prometheus "
		 "text format; no authentication: bind a local address, such as 127.0.0.1:9464"},
	{"listen-dir", 0, SETTING_TEXT, .offset = AT(listen_dir), .in_file = true,
	 .def_text = RDQ_LISTEN_DIR, .may_be_empty = true, .arg = "PATH",
	 .help = "the declared listeners' folder: one NAME.conf per listener, kept up from the "
		 "start and read again on SIGHUP; a folder that does not exist, or an empty "
		 "value, declares none"},
	{"systemd", 0, SETTING_FLAG, .offset = AT(systemd),
	 .help = "run as the systemd service: take the control socket from systemd "
		 "(rdqd.socket) and fail without one. Without it a socket systemd passes is used "
		 "too, and readiness and the watchdog are notified either way"},
};

const unsigned settings_count = sizeof(settings_table) / sizeof(settings_table[0]);

_Static_assert(sizeof(settings_table) / sizeof(settings_table[0]) <= SETTINGS_MAX,
	       "SETTINGS_MAX is too small for the table");

/* The command line's options that set no value of the table, only what rdqd does. */
enum cli_action {
	CLI_VERBOSE,
	CLI_QUIET,
	CLI_CONFIG,
	CLI_NO_CONFIG,
	CLI_PRINT_CONFIG,
	CLI_VERSION,
	CLI_HELP,
};

/* In --help's order, after the table. */
const struct settings_cli_action cli_actions[] = {
	[CLI_VERBOSE] = {"verbose", 'v', false, NULL, "log debug messages (--log-level debug)"},
	[CLI_QUIET] = {"quiet", 'q', false, NULL,
		       "log warnings and errors only (--log-level warn)"},
	[CLI_CONFIG] =
		{"config", 0, true, "PATH",
		 "read the configuration file PATH, which must exist (default: " RDQ_CONFIG_FILE
		 ", if it exists)"},
	[CLI_NO_CONFIG] = {"no-config", 0, false, NULL, "read no configuration file"},
	[CLI_PRINT_CONFIG] = {"print-config", 0, false, NULL,
			      "print each option's value and where it came from, in the file's "
			      "format, and exit"},
	[CLI_VERSION] = {"version", 'V', false, NULL, "print the version and exit"},
	[CLI_HELP] = {"help", 'h', false, NULL, "print this help and exit"},
};

const unsigned cli_action_count = sizeof(cli_actions) / sizeof(cli_actions[0]);
_Static_assert(sizeof(cli_actions) / sizeof(cli_actions[0]) <= CLI_ACTIONS_MAX,
	       "CLI_ACTIONS_MAX is too small");
#define CLI_ACTIONS (sizeof(cli_actions) / sizeof(cli_actions[0]))

static unsigned *number_at(struct rdqd_options *opt, const struct setting *s)
{
	return (unsigned *)((char *)opt + s->offset);
}

static unsigned number_of(const struct rdqd_options *opt, const struct setting *s)
{
	return *(const unsigned *)((const char *)opt + s->offset);
}

static const char *path_of(const struct rdqd_options *opt, const struct setting *s)
{
	return *(const char *const *)((const char *)opt + s->offset);
}

static int find_setting(const char *name)
{
	for (unsigned i = 0; i < settings_count; i++)
		if (strcmp(settings_table[i].name, name) == 0)
			return (int)i;
	return -1;
}

static bool is_cli_action(const char *name)
{
	for (unsigned i = 0; i < CLI_ACTIONS; i++)
		if (strcmp(cli_actions[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Checks text as a value of s; the one check of both sources. Returns 0 and
 * sets *value (numbers and choices), or -EINVAL with why in err.
 */
static int parse_value(const struct setting *s, const char *text, unsigned *value, char *err,
		       size_t err_size)
{
	char *end;
	unsigned long v;
	size_t n = 0;

	switch (s->kind) {
	case SETTING_NUMBER:
		/* Digits only: strtoul alone would take blanks and a sign, and wrap "-1". */
		errno = 0;
		v = strtoul(text, &end, 10);
		if (!isdigit((unsigned char)text[0]) || errno || *end || v < s->min || v > s->max) {
			snprintf(err, err_size, "\"%s\" is not a number from %u to %u", text,
				 s->min, s->max);
			return -EINVAL;
		}
		*value = (unsigned)v;
		return 0;
	case SETTING_CHOICE:
		for (const struct setting_choice *c = s->choices; c->name; c++) {
			if (strcmp(text, c->name) == 0) {
				*value = c->value;
				return 0;
			}
		}
		n = (size_t)snprintf(err, err_size, "\"%s\" is not ", text);
		for (const struct setting_choice *c = s->choices; c->name && n < err_size; c++)
			n += (size_t)snprintf(err + n, err_size - n, "%s%s",
					      c == s->choices ? ""
					      : c[1].name     ? ", "
							      : " or ",
					      c->name);
		return -EINVAL;
	case SETTING_TEXT:
		if (!text[0] && !s->may_be_empty) {
			snprintf(err, err_size, "a value is needed");
			return -EINVAL;
		}
		if (!text[0])
			return 0;
		return s->check ? s->check(text, err, err_size) : 0;
	case SETTING_FLAG:
		break;
	}
	snprintf(err, err_size, "takes no value");
	return -EINVAL;
}

/* Sets table entry i in layer l to text, already checked. Returns 0 or -ENOMEM. */
static int layer_set(struct settings_layer *l, unsigned i, const char *text, unsigned value)
{
	if (settings_table[i].kind == SETTING_TEXT) {
		char *copy = strdup(text);

		if (!copy)
			return -ENOMEM;
		free(l->text[i]);
		l->text[i] = copy;
	}
	l->value[i] = value;
	l->set[i] = true;
	return 0;
}

void settings_layer_clear(struct settings_layer *l)
{
	for (unsigned i = 0; i < SETTINGS_MAX; i++)
		free(l->text[i]);
	memset(l, 0, sizeof(*l));
}

void settings_fini(struct settings *s)
{
	settings_layer_clear(&s->cli);
	settings_layer_clear(&s->start_file);
}

/* One command-line option that sets a value of the table. Returns 0 or -errno (printed). */
static int cli_setting(struct settings *s, unsigned i, const char *arg)
{
	const struct setting *st = &settings_table[i];
	char err[160];
	unsigned value = 1;
	int ret;

	if (st->kind != SETTING_FLAG) {
		ret = parse_value(st, arg, &value, err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "rdqd: --%s: %s\n", st->name, err);
			return ret;
		}
	}
	ret = layer_set(&s->cli, i, arg, value);
	if (ret < 0)
		fprintf(stderr, "rdqd: %s\n", strerror(-ret));
	return ret;
}

int settings_parse_args(struct settings *s, int argc, char **argv, enum settings_action *action)
{
	struct option longopts[SETTINGS_MAX + CLI_ACTIONS + 1];
	char shortopts[2 * (SETTINGS_MAX + CLI_ACTIONS) + 1];
	unsigned n = 0, k = 0;
	int c, log_level = find_setting("log-level");

	/* getopt's val: the short name if there is one, else 256 + the index over both lists. */
	for (unsigned i = 0; i < settings_count + CLI_ACTIONS; i++) {
		bool table = i < settings_count;
		const char *name =
			table ? settings_table[i].name : cli_actions[i - settings_count].name;
		char short_name = table ? settings_table[i].short_name
					: cli_actions[i - settings_count].short_name;
		bool has_arg = table ? settings_table[i].kind != SETTING_FLAG
				     : cli_actions[i - settings_count].has_arg;

		longopts[n++] = (struct option){name, has_arg ? required_argument : no_argument,
						NULL, short_name ? short_name : 256 + (int)i};
		if (short_name) {
			shortopts[k++] = short_name;
			if (has_arg)
				shortopts[k++] = ':';
		}
	}
	longopts[n] = (struct option){0};
	shortopts[k] = '\0';

	s->file = RDQ_CONFIG_FILE;
	*action = SETTINGS_RUN;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		unsigned i = 0;

		if (c == '?' || c == ':') {
			fprintf(stderr, "Try 'rdqd --help'.\n");
			return -EINVAL;
		}
		if (c >= 256) {
			i = (unsigned)c - 256;
		} else {
			while (longopts[i].val != c)
				i++;
		}
		if (i < settings_count) {
			if (cli_setting(s, i, optarg) < 0)
				return -EINVAL;
			continue;
		}
		switch ((enum cli_action)(i - settings_count)) {
		case CLI_CONFIG:
			if (!optarg[0]) {
				fprintf(stderr, "rdqd: --config: a path is needed (--no-config "
						"reads none)\n");
				return -EINVAL;
			}
			s->file = optarg;
			s->file_required = true;
			break;
		case CLI_NO_CONFIG:
			s->file = NULL;
			s->file_required = false;
			break;
		case CLI_PRINT_CONFIG:
			s->print = true;
			break;
		case CLI_VERBOSE:
			layer_set(&s->cli, (unsigned)log_level, "debug", LOG_DEBUG);
			break;
		case CLI_QUIET:
			layer_set(&s->cli, (unsigned)log_level, "warn", LOG_WARNING);
			break;
		case CLI_VERSION:
			*action = SETTINGS_VERSION;
			return 0;
		case CLI_HELP:
			*action = SETTINGS_HELP;
			return 0;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rdqd: unexpected argument \"%s\"; try 'rdqd --help'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (rdq_default_socket_path(s->default_socket, sizeof(s->default_socket)) < 0)
		s->default_socket[0] = '\0';
	return 0;
}

/* One line of the file (conf_file.c cut it). Returns 0, or -errno with why in err. */
static int file_line(const struct conf_line *line, char *err, size_t err_size)
{
	struct settings_layer *out = line->arg;
	const char *key = line->key, *text = line->value;
	char why[160];
	unsigned value = 0;
	int i, ret;

	i = find_setting(key);
	if (i < 0 && !is_cli_action(key)) {
		snprintf(err, err_size, "unknown key \"%.60s\"", key);
		return -EINVAL;
	}
	if (i < 0 || !settings_table[i].in_file) {
		snprintf(err, err_size, "%s is an option of the command line only", key);
		return -EINVAL;
	}
	if (out->set[i]) {
		snprintf(err, err_size, "%s is set again (first on line %u)", key, out->line[i]);
		return -EINVAL;
	}
	ret = parse_value(&settings_table[i], text, &value, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, err_size, "%s: %s", key, why);
		return ret;
	}
	ret = layer_set(out, (unsigned)i, text, value);
	if (ret < 0) {
		snprintf(err, err_size, "%s", strerror(-ret));
		return ret;
	}
	out->line[i] = line->lineno;
	return 0;
}

int settings_read_file(const char *path, bool required, struct settings_layer *out, char *err,
		       size_t err_size)
{
	int ret;

	RDQ_PASSIVE_ONLY();
	ret = conf_file_read(path, required, file_line, out, err, err_size);
	if (ret < 0)
		settings_layer_clear(out);
	return ret;
}

static void store(struct rdqd_options *opt, unsigned i, const struct settings_layer *l)
{
	const struct setting *s = &settings_table[i];

	if (s->kind == SETTING_TEXT)
		*(const char **)((char *)opt + s->offset) = l->text[i];
	else if (s->kind == SETTING_FLAG)
		*(bool *)((char *)opt + s->offset) = l->value[i] != 0;
	else
		*number_at(opt, s) = l->value[i];
}

void settings_resolve(const struct settings *s, const struct settings_layer *file,
		      struct rdqd_options *opt, enum setting_origin *origin)
{
	memset(opt, 0, sizeof(*opt));
	for (unsigned i = 0; i < settings_count; i++) {
		const struct setting *st = &settings_table[i];
		enum setting_origin from = ORIGIN_DEFAULT;

		if (st->kind == SETTING_TEXT)
			*(const char **)((char *)opt + st->offset) = st->offset == AT(socket_path)
									     ? s->default_socket
								     : st->def_text ? st->def_text
										    : "";
		else if (st->kind != SETTING_FLAG)
			*number_at(opt, st) = st->def;
		if (file && file->set[i]) {
			store(opt, i, file);
			from = ORIGIN_FILE;
		}
		if (s->cli.set[i]) {
			store(opt, i, &s->cli);
			from = ORIGIN_COMMAND_LINE;
		}
		if (origin)
			origin[i] = from;
		/* Clients find the default path by themselves; rdqd then makes its folder too. */
		if (st->offset == AT(socket_path))
			opt->socket_default = from == ORIGIN_DEFAULT;
	}
}

void settings_derive(struct rdqd_options *opt)
{
	if (!opt->pool_prealloc)
		opt->pool_prealloc = 2 * opt->max_pending;
	if (!opt->max_clients_per_user)
		opt->max_clients_per_user = opt->max_clients / 4 ? opt->max_clients / 4 : 1;
}

bool setting_equal(unsigned i, const struct rdqd_options *a, const struct rdqd_options *b)
{
	const struct setting *s = &settings_table[i];

	if (s->kind == SETTING_TEXT)
		return strcmp(path_of(a, s), path_of(b, s)) == 0;
	if (s->kind == SETTING_FLAG)
		return *(const bool *)((const char *)a + s->offset) ==
		       *(const bool *)((const char *)b + s->offset);
	return number_of(a, s) == number_of(b, s);
}

void setting_copy(unsigned i, struct rdqd_options *dst, const struct rdqd_options *src)
{
	const struct setting *s = &settings_table[i];

	if (s->kind == SETTING_TEXT)
		*(const char **)((char *)dst + s->offset) = path_of(src, s);
	else if (s->kind == SETTING_FLAG)
		*(bool *)((char *)dst + s->offset) = *(const bool *)((const char *)src + s->offset);
	else
		*number_at(dst, s) = number_of(src, s);
}

const char *setting_format(unsigned i, const struct rdqd_options *opt, char *buf, size_t size)
{
	const struct setting *s = &settings_table[i];

	switch (s->kind) {
	case SETTING_NUMBER:
		snprintf(buf, size, "%u", number_of(opt, s));
		break;
	case SETTING_CHOICE:
		snprintf(buf, size, "?");
		for (const struct setting_choice *c = s->choices; c->name; c++)
			if (c->value == number_of(opt, s))
				snprintf(buf, size, "%s", c->name);
		break;
	case SETTING_TEXT:
		snprintf(buf, size, "%s", path_of(opt, s));
		break;
	case SETTING_FLAG:
		snprintf(buf, size, "%s",
			 *(const bool *)((const char *)opt + s->offset) ? "yes" : "no");
		break;
	}
	return buf;
}
