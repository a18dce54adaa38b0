/* SPDX-License-Identifier: MIT */
/*
 * rdqctl ep serve: the inetd of RDMA. rdqctl makes a serve listener on its
 * own connection to rdqd and answers every message a peer sends on it with
 * the output of a command run on the message: one command at a time per
 * peer, so that a peer's answers come in the order of its requests, and at
 * most --max-running at once over all peers. The peers and what they send
 * are serve_peers.c's; the commands, serve_runner.c's. With --direct the
 * listener is direct: each peer is connected on a QP of rdqctl's own, and
 * its messages move there (serve_direct.c).
 *
 * One poll() loop, no threads: the control socket, a signalfd (SIGCHLD,
 * SIGINT, SIGTERM), the pipes of the running commands and, direct, each
 * peer's completion channel.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cmds.h"
#include "protocol/defaults.h"
#include "serve_conf.h"
#include "serve_direct.h"
#include "serve_peers.h"

#define DEFAULT_MAX_RUNNING 4
#define MAX_MAX_RUNNING	    1024
#define DEFAULT_TIMEOUT_MS  10000

static void read_signals(struct server *srv, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			srv->stop = true;
	}
	serve_reap(srv);
}

/* How long poll() may sleep: until the next command deadline, send retry or direct sweep. */
static int poll_timeout(struct server *srv)
{
	int64_t now = runner_now_ms(), next = -1, deadline;
	struct peer *p;

	if (srv->sent)
		return 0;
	if (srv->direct && srv->peers)
		next = now + DIRECT_SWEEP_MS;
	for (p = srv->peers; p; p = p->next) {
		deadline = command_deadline(&p->cmd);
		if (deadline >= 0 && (next < 0 || deadline < next))
			next = deadline;
		if (p->retry_at && (next < 0 || p->retry_at < next))
			next = p->retry_at;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* After poll(): the pipes that are ready, the deadlines that passed, the commands done. */
static void serve_peers(struct server *srv, const struct pollfd *fds)
{
	int64_t now = runner_now_ms();
	struct peer *p, *next;

	for (p = srv->peers; p; p = next) {
		next = p->next;
		command_poll_ready(&p->cmd, fds, now);
		if (command_finished(&p->cmd))
			serve_command_done(srv, p);
		else if (p->retry_at && now >= p->retry_at && !p->send_id)
			serve_post_send(srv, p);
	}
}

/*
 * The poll array: the control socket, the signals, then each running
 * command's pipes and each direct peer's completion channel.
 */
static struct pollfd *poll_set(struct server *srv, int sfd, struct pollfd *fds, size_t *nfds)
{
	size_t n = 2, cap = 2;
	struct pollfd *grown;
	struct peer *p;

	for (p = srv->peers; p; p = p->next)
		cap += 3;
	grown = realloc(fds, cap * sizeof(*fds));
	if (!grown)
		return NULL;
	fds = grown;
	fds[0] = (struct pollfd){.fd = rdq_client_fd(srv->c), .events = POLLIN};
	fds[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	for (p = srv->peers; p; p = p->next)
		command_poll_add(&p->cmd, fds, &n);
	serve_direct_poll_add(srv, fds, &n);
	*nfds = n;
	return fds;
}

static int serve_loop(struct server *srv, int sfd)
{
	struct pollfd *fds = NULL, *grown;
	size_t nfds;
	int ret;

	while (!srv->stop) {
		srv->sent = false;
		if (!(srv->direct ? serve_direct_pump(srv) : serve_drain(srv)))
			break;
		serve_start_waiting(srv);
		grown = poll_set(srv, sfd, fds, &nfds);
		if (!grown) {
			fprintf(stderr, "rdqctl: out of memory\n");
			free(fds);
			return RDQCTL_EDAEMON;
		}
		fds = grown;
		ret = poll(fds, nfds, poll_timeout(srv));
		if (ret < 0 && errno != EINTR) {
			ret = -errno;
			free(fds);
			return ctl_unreachable(srv->ctl, ret);
		}
		if (ret > 0 && fds[1].revents)
			read_signals(srv, sfd);
		serve_peers(srv, fds);
	}
	free(fds);
	if (srv->lost)
		return ctl_lost(srv->ctl, srv->lost, srv->farewell);
	return RDQCTL_OK;
}

/* clang-format off */
static const char serve_usage[] =
	"Usage: rdqctl ep " EP_SERVE_USAGE
	"\n"
	"Listens on ADDR[:PORT] (port " RDQ_STR(RDQ_DEFAULT_PORT) " if left out) and answers each message a peer\n"
	"sends with the output of COMMAND, run with the message on its standard input\n"
	"(as the user running rdqctl, from PATH; its standard error is rdqctl's).\n"
	"One command at a time per peer, so answers come in order; peers are served\n"
	"at once up to N commands running. A command that exits non-zero, is killed,\n"
	"runs past the timeout, writes nothing or more than 1048576 bytes answers\n"
	"nothing: the peer's connection is closed, and rdqctl says why on stderr.\n"
	"Prints a line when it serves, and when a peer comes (accepted) or goes\n"
	"(closed); with -j one JSON object per line, also one per answer (answered).\n"
	"Runs until SIGINT or SIGTERM, which kill the commands still running.\n"
	"\n"
	"  --allow PREFIX    peers whose address it matches may connect (10.1.0.0/16,\n"
	"                    fd00::/8, a bare address, any, localhost; again, or a\n"
	"                    comma list)\n"
	"  --deny PREFIX     peers whose address it matches may not, unless an --allow\n"
	"                    prefix matches them; as --allow\n"
	"  --direct          a direct listener: each peer's connection is taken with a\n"
	"                    QP of this rdqctl's own, and its messages and answers\n"
	"                    (up to " RDQ_STR(DIRECT_MSG_SIZE) " bytes) move on it, not through rdqd;\n"
	"                    rdqd holds the connection while this rdqctl runs\n"
	"  --max-running N   commands running at once over all peers (default " RDQ_STR(DEFAULT_MAX_RUNNING) ");\n"
	"                    other requests wait their turn, in order\n"
	"  --timeout MS      a command's time to answer (default " RDQ_STR(DEFAULT_TIMEOUT_MS) "); then it is\n"
	"                    killed with everything in its process group\n"
	"  --config FILE     everything from FILE instead: one \"key = value\" a line\n"
	"                    (address, command, max-running, timeout, direct,\n"
	"                    wait-address, allow, deny), as rdq-serve@.service\n"
	"                    runs it; a bad file is named with its line, exit 2\n";
/* clang-format on */

/*
 * --config FILE: the address, the command and the options come from the
 * file alone, so that what runs is what the file says (others is true when
 * the command line has more). A file that cannot be used is a usage error,
 * exit 2: the unit's RestartPreventExitStatus=2 then leaves it stopped
 * rather than starting it again every second.
 */
static int serve_from_file(const char *path, const char *file, bool others, struct server *srv,
			   struct serve_conf *conf, char *addr, size_t addr_size, int *port)
{
	char err[600];

	if (others)
		return usage_error(path, "--config takes everything from its file: no address, "
					 "option or command beside it");
	conf->max_running = srv->runner.max_running;
	conf->timeout_ms = srv->runner.timeout_ms;
	if (serve_conf_read(file, conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "rdqctl: %s\n", err);
		return RDQCTL_EUSAGE;
	}
	if (arg_address(path, conf->address, addr, addr_size, port)) {
		fprintf(stderr, "rdqctl: %s: the address above is not ADDR[:PORT]\n", file);
		serve_conf_free(conf);
		return RDQCTL_EUSAGE;
	}
	srv->direct = conf->direct;
	srv->runner.max_running = conf->max_running;
	srv->runner.timeout_ms = conf->timeout_ms;
	srv->runner.argv = conf->argv;
	return RDQCTL_OK;
}

int ep_serve(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep serve";
	struct server srv = {
		.ctl = ctl,
		.runner = {.max_running = DEFAULT_MAX_RUNNING, .timeout_ms = DEFAULT_TIMEOUT_MS}};
	bool has_max = false, has_timeout = false, has_config = false, has_allow = false,
	     has_deny = false;
	struct serve_conf conf = {0};
	const char *config = NULL;
	const struct opt opts[] = {
		{.name = "--allow",
		 .metavar = "PREFIX",
		 .list = conf.allow,
		 .list_size = sizeof(conf.allow),
		 .seen = &has_allow},
		{.name = "--config", .metavar = "FILE", .text = &config, .seen = &has_config},
		{.name = "--deny",
		 .metavar = "PREFIX",
		 .list = conf.deny,
		 .list_size = sizeof(conf.deny),
		 .seen = &has_deny},
		{.name = "--direct", .seen = &srv.direct},
		{.name = "--max-running",
		 .metavar = "N",
		 .min = 1,
		 .max = MAX_MAX_RUNNING,
		 .value = &srv.runner.max_running,
		 .seen = &has_max},
		{.name = "--timeout",
		 .metavar = "MS",
		 .min = 1,
		 .max = INT_MAX,
		 .value = &srv.runner.timeout_ms,
		 .seen = &has_timeout},
		{0},
	};
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	int npos, port, ret, dashes, sfd;
	char *pos[1], addr[256];
	sigset_t mask, old;
	json_t *args, *result;

	/* Options and ADDR before "--"; the command, with its own options, after. */
	for (dashes = 0; dashes < argc && strcmp(argv[dashes], "--") != 0; dashes++)
		;
	ret = args_parse(path, serve_usage, opts, dashes, argv, pos, 0, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	if (has_config) {
		ret = serve_from_file(path, config,
				      npos || dashes < argc || srv.direct || has_max ||
					      has_timeout || has_allow || has_deny,
				      &srv, &conf, addr, sizeof(addr), &port);
		if (ret)
			return ret;
	} else {
		if (npos == 0)
			return usage_error(path, "missing argument");
		if (dashes + 1 >= argc)
			return usage_error(path, "no command: it goes after \"--\"");
		ret = arg_address(path, pos[0], addr, sizeof(addr), &port);
		if (ret)
			return ret;
		srv.runner.argv = argv + dashes + 1;
	}

	/*
	 * The signals come through a descriptor, so one that arrives while the
	 * loop works is read at its next poll(), never lost. A write to a
	 * command that has exited is an error to handle, not a signal.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigaction(SIGPIPE, &ignore, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		perror("rdqctl: signalfd");
		sigprocmask(SIG_SETMASK, &old, NULL);
		serve_conf_free(&conf);
		return RDQCTL_EDAEMON;
	}

	args = json_pack("{s:s, s:s}", "addr", addr, "mode", srv.direct ? "direct" : "serve");
	if (args && port >= 0)
		json_object_set_new(args, "port", json_integer(port));
	if (args && conf.wait_address)
		json_object_set_new(args, "wait_address", json_true());
	/* rdqd reads the prefixes (and names a bad one); the file's were read already. */
	if (args && conf.allow[0])
		json_object_set_new(args, "allow", json_string(conf.allow));
	if (args && conf.deny[0])
		json_object_set_new(args, "deny", json_string(conf.deny));
	ctl->priv = &srv;
	/* A direct server leaves rdqd's messages to librdq (requests, flushes). */
	ctl->on_other = srv.direct ? NULL : serve_on_other;
	ret = ctl_call(ctl, "ep.listen", args, -1, &result);
	if (ret == RDQCTL_OK) {
		srv.c = ctl->client;
		srv.listener = (uint64_t)json_integer_value(json_object_get(result, "ep"));
		json_decref(result);
		serve_announce(&srv, addr, port);
		ret = serve_loop(&srv, sfd);
	}
	serve_stop_all(&srv);
	/* Its endpoints go with it; closing the connection would do that too, later. */
	if (srv.listener && !srv.lost)
		rdq_call_timeout(srv.c, "ep.destroy",
				 json_pack("{s:I}", "ep", (json_int_t)srv.listener), 2000, NULL);
	ctl->on_other = NULL;
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	serve_conf_free(&conf);
	return ret;
}
