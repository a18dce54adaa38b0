/* SPDX-License-Identifier: MIT */
/*
 * rdqctl: the command line of rdqd, in the style of iproute2:
 *   rdqctl [-j] [-p] [-s PATH] [-t MS] OBJECT COMMAND [ARGS...]
 * This file holds main(), the global options and the table of objects.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "config.h"
#include "print.h"

static const char usage[] =
	"Usage: rdqctl [OPTIONS] OBJECT COMMAND [ARGS...]\n"
	"\n"
	"Objects and commands:\n"
	"  dev show                          RDMA devices and their ports\n"
	"  ep listen|connect|send|recv|disconnect|destroy|show|serve\n"
	"                                    endpoints (rdqctl ep help)\n"
	"  qp destroy QP                     destroy an endpoint's QP, not the endpoint\n"
	"  request list                      pending requests (the default command)\n"
	"  cancel RID                        cancel a pending request (from request list)\n"
	"  stats [--prometheus]              the daemon's counters (--prometheus: as\n"
	"                                    Prometheus text)\n"
	"  status                            is rdqd up, and how busy\n"
	"  version                           client and daemon versions\n"
	"  monitor [--count N]               print events as they happen\n"
	"  help                              this text\n"
	"\n"
	"Options:\n"
	"  -j, --json            print the result as JSON\n"
	"  -p, --pretty          indent the JSON (with -j)\n"
	"  -s, --socket PATH     rdqd's control socket (default: the user's own rdqd at\n"
	"                        $XDG_RUNTIME_DIR/rdq/rdqd.sock, else the system\n"
	"                        service's at " RDQ_SYSTEM_SOCKET "; root: the latter)\n"
	"  -t, --timeout MS      how long to wait for rdqd to take the connection, and then\n"
	"                        for a reply (default 10000; 0 waits forever)\n"
	"  -V, --version         print rdqctl's version and exit (no daemon needed;\n"
	"                        \"rdqctl version\" asks rdqd for its own too)\n"
	"  -h, --help            this text\n"
	"\n"
	"Words may be shortened to any unique prefix: rdqctl ep sh = rdqctl ep show.\n"
	"Exit status: 0 ok, 1 rdqd answered with an error, 2 usage error, 3 rdqd unreachable.\n";

static int no_object(struct ctl *ctl, int argc, char **argv)
{
	fputs(usage, stderr);
	return RDQCTL_EUSAGE;
}

static int cmd_dev(struct ctl *ctl, int argc, char **argv)
{
	return cmd_run(ctl, &dev_level, argc, argv);
}

static int cmd_ep(struct ctl *ctl, int argc, char **argv)
{
	return cmd_run(ctl, &ep_level, argc, argv);
}

static int cmd_qp(struct ctl *ctl, int argc, char **argv)
{
	return cmd_run(ctl, &qp_level, argc, argv);
}

static int cmd_request(struct ctl *ctl, int argc, char **argv)
{
	return cmd_run(ctl, &request_level, argc, argv);
}

static const struct cmd objects[] = {
	{"cancel", cmd_cancel},	  {"dev", cmd_dev},	  {"ep", cmd_ep},
	{"monitor", cmd_monitor}, {"qp", cmd_qp},	  {"request", cmd_request},
	{"stats", cmd_stats},	  {"status", cmd_status}, {"version", cmd_version},
	{NULL, no_object},
};

static const struct cmd_level top_level = {
	.path = "rdqctl",
	.usage = usage,
	.cmds = objects,
};

static const struct option options[] = {
	{"json", no_argument, NULL, 'j'},
	{"pretty", no_argument, NULL, 'p'},
	{"socket", required_argument, NULL, 's'},
	{"timeout", required_argument, NULL, 't'},
	{"version", no_argument, NULL, 'V'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct ctl ctl = {.wait_ms = RDQCTL_DEFAULT_WAIT_MS};
	const char *socket = NULL;
	bool json = false, pretty = false;
	char *end;
	long wait;
	int c, ret;

	opterr = 0;
	/* "+": options end at OBJECT; what follows belongs to the command. */
	while ((c = getopt_long(argc, argv, "+jps:t:Vh", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			pretty = true;
			break;
		case 's':
			socket = optarg;
			break;
		case 't':
			wait = strtol(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end || wait > INT_MAX)
				return usage_error("rdqctl", "-t %s: expected milliseconds",
						   optarg);
			ctl.wait_ms = wait == 0 ? -1 : (int)wait;
			break;
		case 'V':
			printf("rdqctl %s (librdq %s)\n", RDQ_VERSION, rdq_version());
			return RDQCTL_OK;
		case 'h':
			fputs(usage, stdout);
			return RDQCTL_OK;
		default:
			if (optopt && strchr("st", optopt))
				return usage_error("rdqctl", "option -%c needs a value", optopt);
			return usage_error("rdqctl", "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	/* As in iproute2, -p only shapes JSON: alone it changes nothing. */
	print_set_json(json, pretty);

	if (socket) {
		if (strlen(socket) >= sizeof(ctl.socket))
			return usage_error("rdqctl", "socket path too long: %s", socket);
		strcpy(ctl.socket, socket);
	} else if (rdq_default_socket_path(ctl.socket, sizeof(ctl.socket)) < 0) {
		return usage_error("rdqctl", "default socket path too long; use -s PATH");
	} else {
		ctl.default_socket = true;
	}

	ret = cmd_run(&ctl, &top_level, argc - optind, argv + optind);
	rdq_client_close(ctl.client);
	if (fflush(stdout) != 0 && ret == RDQCTL_OK) {
		perror("rdqctl: writing output");
		ret = RDQCTL_EDAEMON;
	}
	return ret;
}
