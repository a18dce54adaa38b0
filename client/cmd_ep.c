/* SPDX-License-Identifier: MIT */
/* rdqctl ep: listen, connect, send, recv, disconnect, destroy, show (serve: cmd_serve.c). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "protocol/addr_prefix.h"
#include "protocol/defaults.h"
#include "protocol/message.h"
#include "print.h"

#define LISTEN_USAGE                                                                               \
	"listen ADDR[:PORT] [--tied] [--backlog N] [--max-connections N] [--wait-address]\n"       \
	"  [--allow PREFIX]... [--deny PREFIX]...\n"
#define CONNECT_USAGE	 "connect ADDR[:PORT] [--timeout MS] [--tied]\n"
#define SEND_USAGE	 "send EP DATA|@FILE|- [--wait] [--timeout MS]\n"
#define RECV_USAGE	 "recv EP [--timeout MS] [--out FILE]\n"
#define DISCONNECT_USAGE "disconnect EP [--qp QP] [--timeout MS] [--wait]\n"
#define DESTROY_USAGE	 "destroy EP\n"
#define SHOW_USAGE	 "show [EP]\n"

/* Laid out as printed; clang-format would break the lines at the macros. */
/* clang-format off */
static const char ep_usage[] =
	"Usage: rdqctl ep COMMAND [ARGS...]\n"
	"\n"
	"  " LISTEN_USAGE
	"        listen for connections (port " RDQ_STR(RDQ_DEFAULT_PORT) " if left out); prints the\n"
	"        endpoint. At most N peers are connected to it at once (default\n"
	"        " RDQ_STR(RDQ_DEFAULT_MAX_CONNECTIONS) ", up to " RDQ_STR(RDQ_MAX_MAX_CONNECTIONS) "): rdqd rejects the others and tells them why.\n"
	"        --wait-address: an ADDR on no interface (or no RDMA device) yet\n"
	"        is waited for, and the listener listens when it comes, and again\n"
	"        each time it comes back; ADDR must then be numeric.\n"
	"        --allow and --deny: which peers may connect, by address prefix\n"
	"        (10.1.0.0/16, fd00::/8, a bare address, any, localhost; again, or\n"
	"        comma lists, up to " RDQ_STR(RDQ_PREFIX_MAX) " each): a peer an --allow prefix matches is\n"
	"        admitted, else one a --deny prefix matches is rejected, else\n"
	"        admitted\n"
	"  " CONNECT_USAGE
	"        connect to a listener; prints the endpoint and its QP number. Both\n"
	"        are rdqd's and stay after rdqctl exits: a direct endpoint (its QP\n"
	"        its client's) lives only while its client runs, so only ep serve\n"
	"        --direct, which keeps running, makes them\n"
	"  " SEND_USAGE
	"        send DATA, the bytes of FILE, or of standard input (-), exactly: 1\n"
	"        byte to rdqd's --max-message (65536 unless set); rdqd answers once\n"
	"        the send is posted, or with --wait once it completed (--timeout\n"
	"        bounds that wait). A send that fails later fails the connection:\n"
	"        the endpoint's next send or recv says why\n"
	"  " RECV_USAGE
	"        wait for one message (--timeout 0: do not wait) and print its bytes\n"
	"        and a newline, or write exactly its bytes to FILE (- : standard\n"
	"        output, without the newline)\n"
	"  " DISCONNECT_USAGE
	"        disconnect; prints \"state disconnecting\" once the DREQ is sent, or\n"
	"        with --wait \"status 0\" once the disconnect is complete and the QP\n"
	"        is in error\n"
	"  " EP_SERVE_USAGE
	"        answer each message peers send to ADDR with the output of COMMAND\n"
	"        run on it (rdqctl ep serve help); until interrupted\n"
	"  " DESTROY_USAGE
	"        destroy an endpoint (a listener takes its accepted endpoints along)\n"
	"  " SHOW_USAGE
	"        list endpoints, or one (the default command); PEERS is a listener's\n"
	"        connected peers / its --max-connections; MODE is echo, serve or\n"
	"        direct; a direct endpoint's QP is its client's: process PID, QP\n"
	"        number QPN. NAME is a declared listener's (rdqd's listen-dir); a\n"
	"        listener that waits is waiting or failed, and WHY says for what;\n"
	"        RULES counts a listener's --allow and --deny prefixes, and ep show\n"
	"        EP lists them\n"
	"\n"
	"ADDR is IPv4 or IPv6: 10.0.0.1:7472, [fe80::1]:7472, or a bare address.\n"
	"--tied destroys the endpoint when this rdqctl exits; EP and QP are integers.\n"
	"Timeouts are in milliseconds; the daemon's default is " RDQ_STR(RDQ_DEFAULT_TIMEOUT_MS) " (for disconnect,\n"
	"rdqd's --disconnect-timeout).\n";
/* clang-format on */

#define USAGE(cmd) ("Usage: rdqctl ep " cmd)

#define TIMEOUT_OPT(value_, seen_)                                                                 \
	{                                                                                          \
		.name = "--timeout", .metavar = "MS", .min = 0, .max = INT_MAX, .value = (value_), \
		.seen = (seen_)                                                                    \
	}

static void listen_text(json_t *result)
{
	const char *state = json_string_value(json_object_get(result, "state"));

	printf("ep %" JSON_INTEGER_FORMAT "%s%s\n",
	       json_integer_value(json_object_get(result, "ep")), state ? " state " : "",
	       state ? state : "");
}

static int ep_listen(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep listen";
	int64_t backlog = 0, max_connections = 0;
	bool tied = false, has_backlog = false, has_max = false, wait_address = false;
	bool has_allow = false, has_deny = false;
	char allow[RDQ_PREFIX_TEXT_MAX] = "", deny[RDQ_PREFIX_TEXT_MAX] = "";
	const struct opt opts[] = {
		{.name = "--allow",
		 .metavar = "PREFIX",
		 .list = allow,
		 .list_size = sizeof(allow),
		 .seen = &has_allow},
		{.name = "--deny",
		 .metavar = "PREFIX",
		 .list = deny,
		 .list_size = sizeof(deny),
		 .seen = &has_deny},
		{.name = "--tied", .seen = &tied},
		{.name = "--wait-address", .seen = &wait_address},
		{.name = "--backlog",
		 .metavar = "N",
		 .min = 1,
		 .max = INT_MAX,
		 .value = &backlog,
		 .seen = &has_backlog},
		{.name = "--max-connections",
		 .metavar = "N",
		 .min = 1,
		 .max = RDQ_MAX_MAX_CONNECTIONS,
		 .value = &max_connections,
		 .seen = &has_max},
		{0},
	};
	char *pos[1], addr[256];
	json_t *args, *result;
	int npos, port, ret;

	ret = args_parse(path, USAGE(LISTEN_USAGE), opts, argc, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_address(path, pos[0], addr, sizeof(addr), &port);
	if (ret)
		return ret;

	args = json_pack("{s:s}", "addr", addr);
	if (port >= 0)
		json_object_set_new(args, "port", json_integer(port));
	if (has_backlog)
		json_object_set_new(args, "backlog", json_integer(backlog));
	if (has_max)
		json_object_set_new(args, "max_connections", json_integer(max_connections));
	if (tied)
		json_object_set_new(args, "tied", json_true());
	if (wait_address)
		json_object_set_new(args, "wait_address", json_true());
	if (has_allow)
		json_object_set_new(args, "allow", json_string(allow));
	if (has_deny)
		json_object_set_new(args, "deny", json_string(deny));

	ret = ctl_call(ctl, "ep.listen", args, -1, &result);
	if (ret)
		return ret;
	print_result(result, listen_text);
	json_decref(result);
	return RDQCTL_OK;
}

static void connect_text(json_t *result)
{
	printf("ep %" JSON_INTEGER_FORMAT " qp %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(result, "ep")),
	       json_integer_value(json_object_get(result, "qp")));
}

static int ep_connect(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep connect";
	int64_t timeout = RDQ_DEFAULT_TIMEOUT_MS;
	bool tied = false, has_timeout = false;
	const struct opt opts[] = {
		{.name = "--tied", .seen = &tied},
		TIMEOUT_OPT(&timeout, &has_timeout),
		{0},
	};
	char *pos[1], addr[256];
	json_t *args, *result;
	int npos, port, ret;

	ret = args_parse(path, USAGE(CONNECT_USAGE), opts, argc, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_address(path, pos[0], addr, sizeof(addr), &port);
	if (ret)
		return ret;

	args = json_pack("{s:s}", "addr", addr);
	if (port >= 0)
		json_object_set_new(args, "port", json_integer(port));
	if (has_timeout)
		json_object_set_new(args, "timeout_ms", json_integer(timeout));
	if (tied)
		json_object_set_new(args, "tied", json_true());

	ret = ctl_call(ctl, "ep.connect", args, (int)timeout, &result);
	if (ret)
		return ret;
	print_result(result, connect_text);
	json_decref(result);
	return RDQCTL_OK;
}

/*
 * Reads all of f (at most RDQ_MAX_DATA bytes) into a new buffer. Returns
 * RDQCTL_OK, or RDQCTL_EUSAGE after saying why.
 */
static int read_all(const char *path, const char *name, FILE *f, uint8_t **out, size_t *len)
{
	uint8_t *buf = malloc(RDQ_MAX_DATA + 1);
	size_t n;

	if (!buf)
		return usage_error(path, "out of memory");
	n = fread(buf, 1, RDQ_MAX_DATA + 1, f);
	if (ferror(f)) {
		free(buf);
		return usage_error(path, "cannot read %s: %s", name, strerror(errno));
	}
	if (n > RDQ_MAX_DATA) {
		free(buf);
		return usage_error(path, "%s holds more than %u bytes, the largest message", name,
				   RDQ_MAX_DATA);
	}
	*out = buf;
	*len = n;
	return RDQCTL_OK;
}

/* The bytes DATA stands for: itself, @FILE's contents, or standard input's (-). */
static int send_data(const char *path, const char *arg, uint8_t **out, size_t *len)
{
	FILE *f;
	int ret;

	if (strcmp(arg, "-") == 0)
		return read_all(path, "standard input", stdin, out, len);
	if (arg[0] != '@') {
		*len = strlen(arg);
		*out = (uint8_t *)strdup(arg);
		return *out ? RDQCTL_OK : usage_error(path, "out of memory");
	}
	f = fopen(arg + 1, "rb");
	if (!f)
		return usage_error(path, "cannot open %s: %s", arg + 1, strerror(errno));
	ret = read_all(path, arg + 1, f, out, len);
	fclose(f);
	return ret;
}

static int ep_send(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep send";
	json_t *args, *reply;
	char *pos[2];
	int npos, ret;
	int64_t ep, timeout = RDQ_DEFAULT_TIMEOUT_MS;
	bool has_timeout = false, wait = false;
	uint8_t *data;
	size_t len;
	struct opt opts[] = {
		TIMEOUT_OPT(&timeout, &has_timeout),
		{.name = "--wait", .seen = &wait},
		{0},
	};

	ret = args_parse(path, USAGE(SEND_USAGE), opts, argc, argv, pos, 2, 2, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_handle(path, "EP", pos[0], &ep);
	if (ret)
		return ret;
	ret = send_data(path, pos[1], &data, &len);
	if (ret)
		return ret;

	args = json_pack("{s:I, s:b}", "ep", (json_int_t)ep, "wait", wait);
	if (args && has_timeout)
		json_object_set_new(args, "timeout_ms", json_integer(timeout));
	ret = ctl_call_data(ctl, "ep.send", args, data, len, wait ? (int)timeout : -1, &reply);
	free(data);
	if (ret)
		return ret;
	/* Silent on success in text, like ip(8); -j shows the byte count. */
	print_result(json_object_get(reply, "result"), NULL);
	json_decref(reply);
	return RDQCTL_OK;
}

/* Writes all of data to FILE, or to standard output for "-". */
static int write_out(const char *path, const char *name, const void *data, size_t len)
{
	bool out = strcmp(name, "-") == 0;
	FILE *f = out ? stdout : fopen(name, "wb");
	bool ok;

	if (!f)
		return usage_error(path, "cannot open %s: %s", name, strerror(errno));
	ok = fwrite(data, 1, len, f) == len;
	ok = (out ? fflush(f) : fclose(f)) == 0 && ok;
	if (!ok)
		return usage_error(path, "cannot write %s: %s", name, strerror(errno));
	return RDQCTL_OK;
}

static int ep_recv(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep recv";
	int64_t timeout = RDQ_DEFAULT_TIMEOUT_MS, ep;
	bool has_timeout = false, has_out = false;
	const char *out = NULL;
	const struct opt opts[] = {
		TIMEOUT_OPT(&timeout, &has_timeout),
		{.name = "--out", .metavar = "FILE", .text = &out, .seen = &has_out},
		{0},
	};
	json_t *args, *reply, *result;
	const void *data;
	size_t len = 0;
	char *pos[1];
	int npos, ret;

	ret = args_parse(path, USAGE(RECV_USAGE), opts, argc, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_handle(path, "EP", pos[0], &ep);
	if (ret)
		return ret;

	args = json_pack("{s:I}", "ep", (json_int_t)ep);
	if (args && has_timeout)
		json_object_set_new(args, "timeout_ms", json_integer(timeout));
	ret = ctl_call_data(ctl, "ep.recv", args, NULL, 0, (int)timeout, &reply);
	if (ret)
		return ret;
	if (!rdq_message_data(reply, &data, &len)) {
		json_decref(reply);
		fprintf(stderr, "rdqctl: rdqd's ep.recv reply carries no data\n");
		return RDQCTL_EDAEMON;
	}
	result = json_object_get(reply, "result");
	if (out) {
		ret = write_out(path, out, data, len);
		if (ret == RDQCTL_OK && strcmp(out, "-") != 0)
			print_result(result, NULL);
	} else if (print_is_json()) {
		/* As version 1 shows it: "data" when it is text, else "hex". */
		rdq_message_set_text(result, data, len);
		print_result(result, NULL);
	} else {
		/* The bytes as they came, then a newline. */
		fwrite(data, 1, len, stdout);
		putchar('\n');
	}
	json_decref(reply);
	return ret;
}

static void disconnect_text(json_t *result)
{
	json_t *status = json_object_get(result, "status");

	/* With --wait rdqd reports the outcome (status); without, how far it got (state). */
	if (json_is_integer(status))
		printf("status %" JSON_INTEGER_FORMAT "\n", json_integer_value(status));
	else
		print_pairs("", result, NULL);
}

static int ep_disconnect(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep disconnect";
	int64_t timeout = RDQ_DEFAULT_TIMEOUT_MS, qp = 0, ep;
	bool has_timeout = false, has_qp = false, wait = false;
	const struct opt opts[] = {
		/* A QP handle, not a QP number: past a slot's first use it exceeds 32 bits. */
		{.name = "--qp",
		 .metavar = "QP",
		 .min = 1,
		 .max = INT64_MAX,
		 .value = &qp,
		 .seen = &has_qp},
		TIMEOUT_OPT(&timeout, &has_timeout),
		{.name = "--wait", .seen = &wait},
		{0},
	};
	json_t *args, *result;
	char *pos[1];
	int npos, ret;

	ret = args_parse(path, USAGE(DISCONNECT_USAGE), opts, argc, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_handle(path, "EP", pos[0], &ep);
	if (ret)
		return ret;

	/* "wait" always goes out, so the CLI's default (false) holds whatever rdqd's is. */
	args = json_pack("{s:I, s:b}", "ep", (json_int_t)ep, "wait", wait);
	if (has_qp)
		json_object_set_new(args, "qp", json_integer(qp));
	if (has_timeout)
		json_object_set_new(args, "timeout_ms", json_integer(timeout));
	/* Without --timeout rdqd's deadline is its --disconnect-timeout: -t bounds the wait. */
	ret = ctl_call(ctl, "ep.disconnect", args, has_timeout ? (int)timeout : -1, &result);
	if (ret)
		return ret;
	print_result(result, disconnect_text);
	json_decref(result);
	return RDQCTL_OK;
}

static int ep_destroy(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep destroy";
	json_t *result;
	char *pos[1];
	int npos, ret;
	int64_t ep;

	ret = args_parse(path, USAGE(DESTROY_USAGE), NULL, argc, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_handle(path, "EP", pos[0], &ep);
	if (ret)
		return ret;
	ret = ctl_call(ctl, "ep.destroy", json_pack("{s:I}", "ep", (json_int_t)ep), -1, &result);
	if (ret)
		return ret;
	print_result(result, NULL);
	json_decref(result);
	return RDQCTL_OK;
}

/* "allow  10.1.0.0/16 fd00::/8": a listener's prefixes, when ep.show gave them. */
static void print_prefixes(json_t *row, const char *list)
{
	json_t *prefixes = json_object_get(row, list), *p;
	size_t i;

	if (!json_array_size(prefixes))
		return;
	printf("%-6s", list);
	json_array_foreach(prefixes, i, p)
	{
		printf(" %s", json_string_value(p));
	}
	printf("\n");
}

static void show_text(json_t *result)
{
	/*
	 * NAME, WHY and RULES last: the columns before keep their places for
	 * scripts that count them.
	 */
	static const struct print_column cols[] = {
		{"EP", "ep"},	       {"QP", "qp"},
		{"ROLE", "role"},      {"MODE", "mode"},
		{"STATE", "state"},    {"LOCAL", "local"},
		{"REMOTE", "remote"},  {"PARENT", "parent"},
		{"PEERS", "peers"},    {"OWNER", "owner"},
		{"PID", "client_pid"}, {"QPN", "qp_num"},
		{"SENT", "sent"},      {"RECEIVED", "received"},
		{"ECHOED", "echoed"},  {"NAME", "name"},
		{"WHY", "reason"},     {"RULES", "rules"},
	};
	json_t *rows = json_object_get(result, "endpoints"), *row;
	size_t i;

	json_array_foreach(rows, i, row)
	{
		json_t *max = json_object_get(row, "max_connections");

		/*
		 * Handle 0 names nothing: a listener has no QP, and only a passive
		 * endpoint has a parent. A missing cell prints "-".
		 */
		if (json_integer_value(json_object_get(row, "qp")) == 0)
			json_object_del(row, "qp");
		if (json_integer_value(json_object_get(row, "parent")) == 0)
			json_object_del(row, "parent");
		/*
		 * A direct endpoint's QP is its client's, not rdqd's: the process
		 * and the QP number (none until attached) say whose. An active one
		 * has no listener's mode, but is direct all the same.
		 */
		if (json_is_integer(json_object_get(row, "client_pid")) &&
		    !json_object_get(row, "mode"))
			json_object_set_new(row, "mode", json_string("direct"));
		if (json_integer_value(json_object_get(row, "qp_num")) == 0)
			json_object_del(row, "qp_num");
		/* A listener's peers, of how many it takes at once: "3/1024". */
		if (json_is_integer(max))
			json_object_set_new(
				row, "peers",
				json_sprintf(
					"%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
					json_integer_value(json_object_get(row, "connections")),
					json_integer_value(max)));
	}
	print_table(cols, sizeof(cols) / sizeof(cols[0]), rows);
	/* One listener shown: its prefixes, under the table (too long for a cell). */
	json_array_foreach(rows, i, row)
	{
		print_prefixes(row, "allow");
		print_prefixes(row, "deny");
	}
}

static int ep_show(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl ep show";
	json_t *args = NULL, *result;
	char *pos[1];
	int npos, ret;
	int64_t ep;

	ret = args_parse(path, USAGE(SHOW_USAGE), NULL, argc, argv, pos, 0, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	if (npos) {
		ret = arg_handle(path, "EP", pos[0], &ep);
		if (ret)
			return ret;
		args = json_pack("{s:I}", "ep", (json_int_t)ep);
	}
	if (args)
		ret = ctl_call(ctl, "ep.show", args, -1, &result);
	else
		ret = ctl_call_pages(ctl, "ep.show", NULL, "endpoints", &result);
	if (ret)
		return ret;
	print_result(result, show_text);
	json_decref(result);
	return RDQCTL_OK;
}

static const struct cmd ep_cmds[] = {
	{"connect", ep_connect}, {"destroy", ep_destroy}, {"disconnect", ep_disconnect},
	{"listen", ep_listen},	 {"recv", ep_recv},	  {"send", ep_send},
	{"serve", ep_serve},	 {"show", ep_show},	  {NULL, ep_show},
};

const struct cmd_level ep_level = {
	.path = "rdqctl ep",
	.usage = ep_usage,
	.cmds = ep_cmds,
};
