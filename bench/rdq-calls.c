/* SPDX-License-Identifier: MIT */
/*
 * rdq-calls: N requests of one operation through one connection to rdqd,
 * at most DEPTH in flight (1: one at a time), and the rate it got. Used to
 * count what a request costs rdqd (bench/alloc-count.sh) and to time the
 * control plane.
 *
 * Usage: rdq-calls [-s SOCKET] [-n N] [-P DEPTH] [-a ARGS] [-t OP2 [-T ARGS2]] OP
 *   ARGS: the requests' arguments, a JSON object ('{"ep":2,"data":"x","wait":true}')
 *   OP2:  every other request is OP2 instead (with ARGS2): ep.send, then ep.recv
 */
#include <getopt.h>
#include <stdbool.h>
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

int main(int argc, char **argv)
{
	const char *socket = NULL, *op, *args_text = NULL, *op2 = NULL, *args2_text = NULL;
	json_t *args = NULL, *args2 = NULL;
	int n = 10000, depth = 1, sent = 0, done = 0, opt, ret;
	struct rdq_client *c;
	double t0, ms;

	while ((opt = getopt(argc, argv, "s:n:P:a:t:T:h")) != -1) {
		switch (opt) {
		case 't':
			op2 = optarg;
			break;
		case 'T':
			args2_text = optarg;
			break;
		case 'a':
			args_text = optarg;
			break;
		case 's':
			socket = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'P':
			depth = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || n <= 0 || depth <= 0)
		goto usage;
	op = argv[optind];
	if (args2_text)
		args2 = json_loads(args2_text, 0, NULL);
	if (args_text)
		args = json_loads(args_text, 0, NULL);
	if ((args_text && !json_is_object(args)) || (args2_text && !json_is_object(args2))) {
		{
			fprintf(stderr, "rdq-calls: -a takes a JSON object\n");
			return 2;
		}
	}
	ret = rdq_client_connect(socket, &c);
	if (ret < 0) {
		fprintf(stderr, "rdq-calls: cannot reach rdqd: %s\n", strerror(-ret));
		return 3;
	}
	t0 = now_ms();
	while (done < n) {
		json_t *msg;
		const char *why;

		while (sent < n && sent - done < depth) {
			int64_t id;

			bool second = op2 && sent % 2;
			json_t *a = second ? args2 : args;

			ret = rdq_client_send(c, second ? op2 : op, a ? json_deep_copy(a) : NULL,
					      &id);
			if (ret < 0) {
				fprintf(stderr, "rdq-calls: send: %s\n", strerror(-ret));
				return 1;
			}
			sent++;
		}
		ret = rdq_client_next(c, 10000, &msg);
		if (ret < 0) {
			fprintf(stderr, "rdq-calls: reply: %s\n", strerror(-ret));
			return 1;
		}
		if (rdq_message_is_event(msg)) {
			json_decref(msg);
			continue;
		}
		if (rdq_reply_status(msg, &why) < 0) {
			fprintf(stderr, "rdq-calls: %s failed: %s\n", op, why);
			return 1;
		}
		json_decref(msg);
		done++;
	}
	ms = now_ms() - t0;
	printf("rdq-calls %s n=%d depth=%d: %.1f ms, %.0f requests/s\n", op, n, depth, ms,
	       n * 1e3 / ms);
	rdq_client_close(c);
	return 0;

usage:
	fprintf(stderr, "usage: rdq-calls [-s SOCKET] [-n N] [-P DEPTH] [-a ARGS] [-t OP2 [-T "
			"ARGS2]] OP\n");
	return 2;
}
