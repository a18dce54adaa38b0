/* SPDX-License-Identifier: MIT */
/*
 * Talking to rdqd: connect on first use, send one request, wait for its reply.
 *
 * This uses rdq_client_send() and rdq_client_next() rather than rdq_call()
 * because the exit status needs what rdq_call() folds together: whether an
 * error came from rdqd (status 1, with its errno name) or from the
 * connection (status 3), e.g. an ETIMEDOUT of ep.connect from a local wait
 * that ran out. An error rdqd sends before closing the connection (it turns
 * a client away with EMFILE when it has too many) is rdqd's answer too:
 * status 1, with its reason.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "config.h"
#include "protocol/ops_table.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why the socket may refuse this user: a hint naming the group that may use it. */
static void permission_hint(const char *path)
{
	struct stat st;
	struct group *gr;

	if (stat(path, &st) == 0 && (gr = getgrgid(st.st_gid)) && st.st_gid != 0)
		fprintf(stderr, "rdqctl: %s: permission denied; is your user in group %s?\n", path,
			gr->gr_name);
	else
		fprintf(stderr, "rdqctl: %s: permission denied; may your user use this socket?\n",
			path);
}

int ctl_unreachable(struct ctl *ctl, int err)
{
	const char *name = rdq_strerrno(-err);
	char where[2 * sizeof(ctl->socket) + 8];

	if (err == -ETIMEDOUT) {
		/* The listen backlog is full: rdqd is stopped, stuck, or not accepting. */
		fprintf(stderr,
			"rdqctl: %s: rdqd did not take the connection within %d ms (ETIMEDOUT); "
			"is it stuck?\n",
			ctl->socket, ctl->wait_ms);
		return RDQCTL_EUNREACH;
	}
	if (err == -EACCES || err == -EPERM) {
		/* With the default, the system service's socket is the one that refuses. */
		permission_hint(ctl->default_socket && access(ctl->socket, F_OK) < 0
					? RDQ_SYSTEM_SOCKET
					: ctl->socket);
		return RDQCTL_EUNREACH;
	}
	if (ctl->default_socket && !ctl->client && strcmp(ctl->socket, RDQ_SYSTEM_SOCKET))
		snprintf(where, sizeof(where), "%s or %s", ctl->socket, RDQ_SYSTEM_SOCKET);
	else
		snprintf(where, sizeof(where), "%s", ctl->socket);
	if (strcmp(name, "E?") == 0)
		fprintf(stderr, "rdqctl: %s: %s; is rdqd running?\n", where, strerror(-err));
	else
		fprintf(stderr, "rdqctl: %s: %s (%s); is rdqd running?\n", where, strerror(-err),
			name);
	return RDQCTL_EUNREACH;
}

static int connect_once(struct ctl *ctl)
{
	int ret;

	if (ctl->client)
		return RDQCTL_OK;
	/* -t bounds the connect too: a full listen backlog would make it wait for ever. */
	ret = rdq_client_connect_timeout(ctl->default_socket ? NULL : ctl->socket, ctl->wait_ms,
					 &ctl->client);
	if (ret < 0) {
		ctl->client = NULL;
		/* librdq refused before connecting (the default socket's folder) and says why. */
		if (rdq_client_error(NULL)[0]) {
			fprintf(stderr, "rdqctl: %s\n", rdq_client_error(NULL));
			return RDQCTL_EUNREACH;
		}
		return ctl_unreachable(ctl, ret);
	}
	/* Later messages name the socket it reached. */
	snprintf(ctl->socket, sizeof(ctl->socket), "%s", rdq_client_path(ctl->client));
	return RDQCTL_OK;
}

int ctl_lost(struct ctl *ctl, int err, bool farewell)
{
	/* rdqd said why before it closed: its answer, and librdq's error holds the reason. */
	if (err == -ECONNRESET && farewell) {
		fprintf(stderr, "rdqctl: %s: %s\n", ctl->socket, rdq_client_error(ctl->client));
		return RDQCTL_EDAEMON;
	}
	if (err == -ECONNRESET) {
		fprintf(stderr, "rdqctl: %s: %s; is rdqd running?\n", ctl->socket,
			rdq_client_error(ctl->client));
		return RDQCTL_EUNREACH;
	}
	if (err == -EBADMSG) {
		fprintf(stderr, "rdqctl: %s: %s\n", ctl->socket, rdq_client_error(ctl->client));
		return RDQCTL_EUNREACH;
	}
	return ctl_unreachable(ctl, err);
}

bool ctl_is_farewell(const json_t *msg)
{
	return json_is_null(json_object_get(msg, "id")) && rdq_reply_status(msg, NULL) < 0;
}

static int daemon_error(json_t *reply)
{
	json_t *error = json_object_get(reply, "error");
	const char *name = json_string_value(json_object_get(error, "errno"));
	const char *message;
	int err = rdq_reply_status(reply, &message);

	if (!name)
		name = rdq_strerrno(-err);
	if (message && message[0])
		fprintf(stderr, "rdqctl: %s: %s\n", name, message);
	else
		fprintf(stderr, "rdqctl: %s: %s\n", name, strerror(-err));
	return RDQCTL_EDAEMON;
}

/*
 * rdqctl's options become the arguments the protocol's table names, and no
 * other: rdqd would ignore an argument it does not take, so a misspelt one
 * would pass unnoticed. Checked in every build but a release one, where the
 * tests run rdqctl's commands; a mismatch is rdqctl's bug, and it stops.
 */
static void check_args(const char *op, json_t *args)
{
	const struct rdq_op_spec *spec = rdq_op_find(op, strlen(op));
	const char *key;
	json_t *value;

	if (!RDQ_LEVEL_CHECKS)
		return;
	if (!spec) {
		fprintf(stderr, "rdqctl: bug: op %s is not in the protocol's table\n", op);
		abort();
	}
	json_object_foreach(args, key, value)
	{
		unsigned i = 0;

		while (i < spec->nargs && strcmp(spec->args[i].name, key) != 0)
			i++;
		if (i == spec->nargs) {
			fprintf(stderr, "rdqctl: bug: %s takes no argument %s\n", op, key);
			abort();
		}
	}
}

/* Sends a request (version 2 when v2) and waits for its reply, which it sets in *reply. */
static int call(struct ctl *ctl, const char *op, json_t *args, bool v2, const void *data,
		size_t len, int op_wait_ms, json_t **reply)
{
	int64_t id = -1, deadline = -1, wait = ctl->wait_ms;
	bool farewell = false;
	int ret;
	json_t *msg;

	*reply = NULL;
	check_args(op, args);
	ret = connect_once(ctl);
	if (ret) {
		json_decref(args);
		return ret;
	}
	ret = v2 ? rdq_client_send_data(ctl->client, op, args, data, len, &id)
		 : rdq_client_send(ctl->client, op, args, &id);
	if (ret == -EMSGSIZE) {
		fprintf(stderr, "rdqctl: %s\n", rdq_client_error(ctl->client));
		return RDQCTL_EUSAGE;
	}
	/* Closed already: what rdqd sent first may say why, so read on. */
	if (ret < 0 && ret != -ECONNRESET)
		return ctl_lost(ctl, ret, false);

	/* Let rdqd's own timeout answer first: its error says more than ours. */
	if (wait >= 0 && op_wait_ms >= 0 && (int64_t)op_wait_ms + RDQCTL_GRACE_MS > wait)
		wait = (int64_t)op_wait_ms + RDQCTL_GRACE_MS;
	if (wait >= 0)
		deadline = now_ms() + wait;

	for (;;) {
		int left = -1;

		if (deadline >= 0) {
			int64_t diff = deadline - now_ms();

			left = diff > INT_MAX ? INT_MAX : diff > 0 ? (int)diff : 0;
		}
		ret = rdq_client_next(ctl->client, left, &msg);
		if (ret == -EAGAIN) {
			fprintf(stderr,
				"rdqctl: %s: no reply to %s within %" PRId64
				" ms; is rdqd running?\n",
				ctl->socket, op, wait);
			return RDQCTL_EUNREACH;
		}
		if (ret < 0)
			return ctl_lost(ctl, ret, farewell);
		if (id >= 0 && rdq_message_is_reply(msg, id))
			break;
		farewell = ctl_is_farewell(msg);
		if (ctl->on_other)
			ctl->on_other(ctl, msg);
		json_decref(msg);
	}

	if (rdq_reply_status(msg, NULL) < 0) {
		ret = daemon_error(msg);
		json_decref(msg);
		return ret;
	}
	*reply = msg;
	return RDQCTL_OK;
}

int ctl_call(struct ctl *ctl, const char *op, json_t *args, int op_wait_ms, json_t **result)
{
	json_t *reply, *value;
	int ret;

	*result = NULL;
	ret = call(ctl, op, args, false, NULL, 0, op_wait_ms, &reply);
	if (ret)
		return ret;
	value = json_object_get(reply, "result");
	*result = value ? json_incref(value) : json_object();
	json_decref(reply);
	return RDQCTL_OK;
}

int ctl_call_data(struct ctl *ctl, const char *op, json_t *args, const void *data, size_t len,
		  int op_wait_ms, json_t **reply)
{
	return call(ctl, op, args, true, data, len, op_wait_ms, reply);
}
