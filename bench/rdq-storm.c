/* SPDX-License-Identifier: MIT */
/*
 * rdq-storm: the connection storm through rdqd, for comparison with
 * rdma-core's cmtime. Connects N endpoints to a listener (all requests in
 * flight at once, at most --window), then disconnects them all the same
 * way, and prints the time of each phase: total and per connection.
 *
 * Usage: rdq-storm [-s SOCKET] [-n N] [-w WINDOW] ADDR[:PORT]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdq/client.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sends n requests made by make(i), at most window in flight; collects each reply's result. */
static int storm(struct rdq_client *c, int n, int window, json_t *(*make)(int i, void *arg),
		 const char *op, void *arg, json_t **results)
{
	int sent = 0, done = 0;
	int64_t first_id = -1;

	while (done < n) {
		while (sent < n && sent - done < window) {
			int64_t id;
			int ret = rdq_client_send(c, op, make(sent, arg), &id);

			if (ret < 0)
				return ret;
			if (first_id < 0)
				first_id = id;
			sent++;
		}
		json_t *msg;
		int ret = rdq_client_next(c, 60000, &msg);

		if (ret < 0)
			return ret;
		if (rdq_message_is_event(msg)) {
			json_decref(msg);
			continue;
		}
		const char *why;
		int status = rdq_reply_status(msg, &why);
		int64_t id = json_integer_value(json_object_get(msg, "id"));

		if (status < 0) {
			fprintf(stderr, "rdq-storm: %s %lld failed: %s: %s\n", op,
				(long long)(id - first_id), rdq_strerrno(-status), why);
			json_decref(msg);
			return status;
		}
		if (results)
			results[id - first_id] = json_incref(json_object_get(msg, "result"));
		json_decref(msg);
		done++;
	}
	return 0;
}

struct target {
	const char *addr;
	int port;
};

static json_t *make_connect(int i, void *arg)
{
	struct target *t = arg;

	return json_pack("{s:s, s:i, s:i, s:b}", "addr", t->addr, "port", t->port, "timeout_ms",
			 30000, "tied", 1);
}

static json_t **eps;

static json_t *make_disconnect(int i, void *arg)
{
	return json_pack("{s:O, s:b, s:i}", "ep", json_object_get(eps[i], "ep"), "wait", 1,
			 "timeout_ms", 30000);
}

static json_t *make_destroy(int i, void *arg)
{
	return json_pack("{s:O}", "ep", json_object_get(eps[i], "ep"));
}

int main(int argc, char **argv)
{
	const char *socket = NULL;
	struct target t = {.port = 7472};
	int n = 100, window = 200, opt, ret;
	struct rdq_client *c;
	char addr[64], *colon;
	double t0, t1, t2;

	while ((opt = getopt(argc, argv, "s:n:w:h")) != -1) {
		switch (opt) {
		case 's':
			socket = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: rdq-storm [-s SOCKET] [-n N] [-w WINDOW] ADDR[:PORT]\n");
			return 2;
		}
	}
	if (optind >= argc || n <= 0 || window <= 0) {
		fprintf(stderr, "usage: rdq-storm [-s SOCKET] [-n N] [-w WINDOW] ADDR[:PORT]\n");
		return 2;
	}
	snprintf(addr, sizeof(addr), "%s", argv[optind]);
	colon = strrchr(addr, ':');
	if (colon) {
		*colon = 0;
		t.port = atoi(colon + 1);
	}
	t.addr = addr;
	ret = rdq_client_connect(socket, &c);
	if (ret < 0) {
		fprintf(stderr, "rdq-storm: cannot reach rdqd: %s\n", strerror(-ret));
		return 3;
	}
	eps = calloc((size_t)n, sizeof(*eps));
	t0 = now_ms();
	ret = storm(c, n, window, make_connect, "ep.connect", &t, eps);
	t1 = now_ms();
	if (ret == 0)
		ret = storm(c, n, window, make_disconnect, "ep.disconnect", NULL, NULL);
	t2 = now_ms();
	if (ret == 0)
		ret = storm(c, n, window, make_destroy, "ep.destroy", NULL, NULL);
	if (ret < 0)
		return 1;
	printf("rdq-storm n=%d connect %.1f ms (%.0f us/conn) disconnect %.1f ms (%.0f us/conn)\n",
	       n, t1 - t0, (t1 - t0) * 1e3 / n, t2 - t1, (t2 - t1) * 1e3 / n);
	for (int i = 0; i < n; i++)
		json_decref(eps[i]);
	free(eps);
	rdq_client_close(c);
	return 0;
}
