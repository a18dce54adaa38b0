/* SPDX-License-Identifier: MIT */
/*
 * rdqctl's shared pieces: the global options, the command tables and their
 * dispatcher, argument parsing and the call to rdqd.
 *
 * Command handlers return the process exit status (enum rdqctl_exit), not
 * -errno: each of them is the end of a path from main(), and the status is
 * what the user sees.
 */
#ifndef RDQCTL_CMDS_H
#define RDQCTL_CMDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include <rdq/client.h>

enum rdqctl_exit {
	RDQCTL_OK = 0,
	RDQCTL_EDAEMON = 1,  /* rdqd answered with an error */
	RDQCTL_EUSAGE = 2,   /* bad command line */
	RDQCTL_EUNREACH = 3, /* no daemon, or it went away or did not answer */
};

/* Commands that take --timeout wait this much longer than it for the reply. */
#define RDQCTL_GRACE_MS	       5000
#define RDQCTL_DEFAULT_WAIT_MS 10000

struct ctl {
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* resolved path */
	bool default_socket;	   /* no -s: the user's daemon, else the system service's */
	int wait_ms;		   /* -t: how long to wait for a reply; -1 forever */
	struct rdq_client *client; /* connected on first use */
	/* Called for messages other than the awaited reply (monitor's events). */
	void (*on_other)(struct ctl *ctl, json_t *msg);
	void *priv; /* on_other's own state */
};

struct cmd {
	const char *word; /* NULL marks the default entry, which ends the table */
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

struct cmd_level {
	const char *path;  /* "rdqctl ep", for messages */
	const char *usage; /* what help prints */
	const struct cmd *cmds;
};

/*
 * Runs the command argv[0] names in level (a unique prefix is enough), with
 * the remaining arguments; no arguments run the default entry. "help", -h and
 * --help print the level's usage.
 */
int cmd_run(struct ctl *ctl, const struct cmd_level *level, int argc, char **argv);

/* Prints "<path>: <message> (try "<path> help")" on stderr; returns RDQCTL_EUSAGE. */
int usage_error(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Options of a leaf command: a flag (metavar NULL), a word (text set), or
 * an integer in [min, max].
 */
struct opt {
	const char *name;    /* "--timeout" */
	const char *metavar; /* "MS", or NULL for a flag */
	int64_t min, max;
	int64_t *value;	   /* set for an integer option */
	const char **text; /* set for a word option: the argument as given */
	/*
	 * Set for a word option that may come again (--allow): each argument
	 * is appended to list (list_size bytes), after a comma.
	 */
	char *list;
	size_t list_size;
	bool *seen; /* set to true when given */
};

/*
 * Parses a leaf command's arguments: options from opts (in any position),
 * "--" to end them, and between npos_min and npos_max positional arguments
 * stored in pos. Returns RDQCTL_OK, -1 after printing usage for "help" (as
 * the first argument), -h or --help, or RDQCTL_EUSAGE after printing why.
 */
int args_parse(const char *path, const char *usage, const struct opt *opts, int argc, char **argv,
	       char **pos, int npos_min, int npos_max, int *npos);

/*
 * Parses a positive decimal integer: what names the argument ("RID"), noun
 * what it stands for ("a request number"). Prints why not and returns
 * RDQCTL_EUSAGE.
 */
int arg_number(const char *path, const char *what, const char *noun, const char *s, int64_t *out);

/* arg_number() for a handle (EP, QP). */
int arg_handle(const char *path, const char *what, const char *s, int64_t *out);

/*
 * Splits ADDR:PORT, [V6]:PORT or a bare ADDR into addr (written into buf)
 * and port (-1 when absent). Returns RDQCTL_OK or RDQCTL_EUSAGE after
 * printing why.
 */
int arg_address(const char *path, const char *s, char *buf, size_t size, int *port);

/*
 * Sends op with args (stolen) and waits for its reply, up to the -t wait or
 * op_wait_ms + RDQCTL_GRACE_MS, whichever is longer (op_wait_ms < 0: none).
 * On success returns RDQCTL_OK and sets *result (caller json_decref()s it).
 * Otherwise prints the error on stderr and returns RDQCTL_EDAEMON,
 * RDQCTL_EUNREACH, or RDQCTL_EUSAGE when the request is too large to send.
 */
int ctl_call(struct ctl *ctl, const char *op, json_t *args, int op_wait_ms, json_t **result);

/*
 * ctl_call in protocol version 2: data (NULL: none) goes as the request's
 * attachment, and *reply is the whole reply, for rdq_message_data().
 */
int ctl_call_data(struct ctl *ctl, const char *op, json_t *args, const void *data, size_t len,
		  int op_wait_ms, json_t **reply);

/*
 * ctl_call for a list that comes in pages: asks page after page (args, stolen,
 * may be NULL, get the cursor "after") and gives the whole list in
 * *result as {key: [...]}. Returns as ctl_call does.
 */
int ctl_call_pages(struct ctl *ctl, const char *op, json_t *args, const char *key, json_t **result);

/* Prints why talking to rdqd failed (err a negative errno); returns RDQCTL_EUNREACH. */
int ctl_unreachable(struct ctl *ctl, int err);

/*
 * Whether msg is what rdqd sends before it closes a connection on purpose
 * (turning a client away): an error that answers no request (null id).
 */
bool ctl_is_farewell(const json_t *msg);

/*
 * Prints why the connection to rdqd failed (err a negative errno from
 * librdq). farewell: the last message read was ctl_is_farewell(), so a close
 * (-ECONNRESET) is rdqd's answer, printed with its reason, RDQCTL_EDAEMON.
 * Otherwise returns RDQCTL_EUNREACH.
 */
int ctl_lost(struct ctl *ctl, int err, bool farewell);

/* The commands of the objects dev, ep, qp and request (cmd_dev.c, cmd_ep.c, ...). */
extern const struct cmd_level dev_level;
extern const struct cmd_level ep_level;
extern const struct cmd_level qp_level;
extern const struct cmd_level request_level;

/* rdqctl ep serve's usage line, for its help and rdqctl ep help. */
#define EP_SERVE_USAGE                                                                             \
	"serve ADDR[:PORT] [--direct] [--max-running N] [--timeout MS] -- COMMAND [ARGS...]\n"     \
	"  serve --config FILE\n"

/*
 * rdqctl ep serve (cmd_serve.c): answers what peers send on a serve listener
 * with a command's output, until SIGINT or SIGTERM (then RDQCTL_OK).
 */
int ep_serve(struct ctl *ctl, int argc, char **argv);

/* rdqctl cancel RID (cmd_request.c): op cancel with args.rid. */
int cmd_cancel(struct ctl *ctl, int argc, char **argv);

/*
 * The one-word objects (cmd_misc.c). Each takes the arguments after its word
 * and returns the exit status: stats, status and version print the reply of
 * the op of the same name; monitor turns on watch and prints events until
 * --count N of them came or SIGINT/SIGTERM.
 */
int cmd_stats(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_version(struct ctl *ctl, int argc, char **argv);
int cmd_monitor(struct ctl *ctl, int argc, char **argv);

#endif
