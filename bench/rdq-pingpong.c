/* SPDX-License-Identifier: MIT */
/*
 * rdq-pingpong: the round-trip latency of one message through rdqd, for
 * comparison with rdma-pingpong (the same exchange on rdma_cm directly).
 * It asks rdqd for an endpoint connected to ADDR:PORT (rdqd's own listener:
 * its passive endpoint echoes), then times each round trip as a client of
 * rdqd sees it: by default one ep.sendrecv (the send and the receive of its
 * echo in one request), -P an ep.send and an ep.recv written together, -S
 * the same one after the other, -1 the same in protocol version 1; -D
 * over a direct connection instead: rdqd connects this program's own QP,
 * and each message goes over it, never through rdqd, from and into the
 * QP's registered buffers (rdq_direct_send_buffer, rdq_direct_recv_borrow)
 * as rdma-pingpong's do.
 *
 * Usage: rdq-pingpong [-1|-P|-S|-D] [-s SOCKET] [-w WARMUP] ADDR[:PORT] SIZE ITERS
 *
 * After WARMUP round trips (default 100) it times ITERS more and prints
 *   rdqpingpong size SIZE iters ITERS p50_us P50 p99_us P99
 * or, when a message of SIZE bytes cannot go through rdqd's interface,
 *   rdqpingpong size SIZE skipped: WHY
 * Every echo is compared with what was sent, byte by byte.
 * Exit status: 0 measured or skipped; 1 a request failed or an echo was
 * wrong; 2 usage; 3 rdqd cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdq/client.h>
#include <rdq/direct.h>

#include "percentile.h"

/* How long ep.recv waits for an echo: one that takes longer has been lost. */
#define RECV_TIMEOUT_MS 10000

/* -D: a direct connection, whose QP carries the messages. */
static int use_direct;
static struct rdq_direct *direct;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* -1: the bytes travel in protocol version 1, as JSON strings, rather than as attachments. */
static int version1;
/* How a round trip goes through rdqd (version 2). */
static enum {
	MODE_SENDRECV,	 /* one ep.sendrecv: one request, one reply */
	MODE_PAIR,	 /* -P: ep.send and ep.recv written together, two replies */
	MODE_SEQUENTIAL, /* -S: the receive asked for once the send was answered */
} mode;

/*
 * The send and its receive written together, as a client that knows it
 * wants the echo does: rdqd answers the send once posted and the receive
 * when the echo is there, and the client waits for both replies. Returns
 * 0 (the echo in *echo, *echo_len: free() it) or a negative errno.
 */
static int exchange_pipelined(struct rdq_client *c, json_int_t ep, const char *out, size_t len,
			      void **echo, size_t *echo_len)
{
	int64_t send_id, recv_id;
	int ret, pending = 2;
	const void *data;
	json_t *msg;

	*echo = NULL;
	ret = rdq_client_send_data(c, "ep.send", json_pack("{s:I}", "ep", ep), out, len, &send_id);
	if (ret == 0)
		ret = rdq_client_send_data(
			c, "ep.recv",
			json_pack("{s:I, s:i}", "ep", ep, "timeout_ms", RECV_TIMEOUT_MS), NULL, 0,
			&recv_id);
	while (ret == 0 && pending) {
		ret = rdq_client_next(c, RECV_TIMEOUT_MS + 5000, &msg);
		if (ret < 0)
			break;
		if (rdq_message_is_reply(msg, send_id) || rdq_message_is_reply(msg, recv_id)) {
			pending--;
			ret = rdq_reply_status(msg, NULL);
			if (ret == 0 && rdq_message_is_reply(msg, recv_id) &&
			    rdq_message_data(msg, &data, echo_len)) {
				*echo = malloc(*echo_len ? *echo_len : 1);
				if (*echo)
					memcpy(*echo, data, *echo_len);
				else
					ret = -ENOMEM;
			}
		}
		json_decref(msg);
	}
	return ret;
}

/*
 * One round trip through rdqd: out (len bytes) leaves with ep.send, and
 * ep.recv brings its echo back into in (room for len bytes), *in_len its
 * length; this is the only function that knows how they travel. By
 * default they are the attachments of protocol version 2 (exact bytes, no
 * escaping, up to --max-message) of one ep.sendrecv (rdq_ep_sendrecv); -P
 * writes an ep.send and an ep.recv together; -S asks for the receive once
 * the send was answered (rdq_ep_send then rdq_ep_recv); -1 carries them as
 * version 1's JSON strings, one after the other (text only; a frame's
 * 64 KiB bound them). Returns 0 or a negative errno (then
 * rdq_client_error() says more).
 */
static int exchange(struct rdq_client *c, json_int_t ep, const char *out, size_t len, char *in,
		    size_t *in_len)
{
	json_t *result;
	const char *data;
	void *echo;
	int ret;

	if (!version1) {
		if (mode == MODE_SEQUENTIAL) {
			ret = rdq_ep_send(c, (uint64_t)ep, out, len, 0, 0);
			if (ret == 0)
				ret = rdq_ep_recv(c, (uint64_t)ep, RECV_TIMEOUT_MS, &echo, in_len);
		} else if (mode == MODE_PAIR) {
			ret = exchange_pipelined(c, ep, out, len, &echo, in_len);
		} else {
			ret = rdq_ep_sendrecv(c, (uint64_t)ep, out, len, RECV_TIMEOUT_MS, &echo,
					      in_len);
		}
		if (ret < 0)
			return ret;
		memcpy(in, echo, *in_len < len ? *in_len : len);
		free(echo);
		return 0;
	}
	ret = rdq_call(c, "ep.send", json_pack("{s:I, s:s%}", "ep", ep, "data", out, len), NULL);
	if (ret < 0)
		return ret;
	ret = rdq_call(c, "ep.recv",
		       json_pack("{s:I, s:i}", "ep", ep, "timeout_ms", RECV_TIMEOUT_MS), &result);
	if (ret < 0)
		return ret;
	/* An echo that is not UTF-8 comes as "hex": not what was sent, so it fails the check. */
	data = json_string_value(json_object_get(result, "data"));
	*in_len = data ? json_string_length(json_object_get(result, "data")) : 0;
	if (data)
		memcpy(in, data, *in_len < len ? *in_len : len);
	json_decref(result);
	return 0;
}

/*
 * One round trip over the direct connection's own QP, timed in *us as
 * rdma-pingpong times its own: the message is written into the QP's
 * registered send buffer before the clock starts, the echo read where it
 * arrived after it stops; in between, the post and the wait, no copy.
 */
static int direct_round_trip(const char *out, size_t len, char *in, size_t *in_len, double *us)
{
	const void *echo;
	void *buf;
	double t0;
	int ret = rdq_direct_send_buffer(direct, &buf);

	if (ret < 0)
		return ret;
	memcpy(buf, out, len);
	t0 = now_us();
	ret = rdq_direct_send_post(direct, len);
	if (ret == 0)
		ret = rdq_direct_recv_borrow(direct, &echo, RECV_TIMEOUT_MS);
	*us = now_us() - t0;
	if (ret < 0)
		return ret;
	*in_len = (size_t)ret;
	memcpy(in, echo, *in_len < len ? *in_len : len);
	return rdq_direct_recv_done(direct);
}

/*
 * Message seq: letters (version 1's JSON carries them as they are), with the
 * sequence number at both ends so that an echo of an earlier message shows.
 */
static void fill(char *buf, size_t size, unsigned long seq)
{
	char stamp[24];
	int n = snprintf(stamp, sizeof(stamp), "%010lu", seq);

	for (size_t j = 0; j < size; j++)
		buf[j] = (char)('a' + (j * 7 + (j >> 8)) % 26);
	if (size >= 2 * (size_t)n) {
		memcpy(buf, stamp, (size_t)n);
		memcpy(buf + size - (size_t)n, stamp, (size_t)n);
	}
}

/* Asks rdqd for an endpoint connected to addr:port (-D: direct); its handle in *ep. */
static int connect_ep(struct rdq_client *c, const char *target, size_t size, json_int_t *ep)
{
	char addr[64], *colon;
	int port = 7472, ret;
	json_t *result;

	snprintf(addr, sizeof(addr), "%s", target);
	colon = strrchr(addr, ':');
	if (colon) {
		*colon = 0;
		port = atoi(colon + 1);
	}
	if (use_direct) {
		struct rdq_direct_opts opts = {.msg_size = size < 64 ? 64 : (uint32_t)size,
					       .timeout_ms = 10000};

		ret = rdq_direct_connect(c, addr, port, &opts, &direct);
		if (ret < 0) {
			fprintf(stderr, "rdq-pingpong: direct connect to %s:%d: %s\n", addr, port,
				rdq_client_error(c));
			direct = NULL;
			return ret;
		}
		*ep = (json_int_t)rdq_direct_ep(direct);
		return 0;
	}
	/* Tied: should this program die, rdqd destroys the endpoint when the connection closes. */
	ret = rdq_call(c, "ep.connect",
		       json_pack("{s:s, s:i, s:i, s:b}", "addr", addr, "port", port, "timeout_ms",
				 10000, "tied", 1),
		       &result);
	if (ret < 0) {
		fprintf(stderr, "rdq-pingpong: ep.connect %s:%d: %s\n", addr, port,
			rdq_client_error(c));
		return ret;
	}
	*ep = json_integer_value(json_object_get(result, "ep"));
	json_decref(result);
	return 0;
}

/* Times warmup + iters round trips into lat: 0, 1 on a failure, or 0 with *skipped set. */
static int measure(struct rdq_client *c, json_int_t ep, size_t size, unsigned long warmup,
		   unsigned long iters, double *lat, int *skipped)
{
	char *out = malloc(size), *in = malloc(size);
	int ret = 0;

	if (!out || !in) {
		ret = 1;
		fprintf(stderr, "rdq-pingpong: out of memory\n");
	}
	for (unsigned long i = 0; !ret && i < warmup + iters; i++) {
		size_t got;
		double t0, us;

		fill(out, size, i + 1);
		if (direct) {
			ret = direct_round_trip(out, size, in, &got, &us);
		} else {
			t0 = now_us();
			ret = exchange(c, ep, out, size, in, &got);
			us = now_us() - t0;
		}
		/* Too large for rdqd's interface: no figure for this size, and no failure. */
		if (ret == -EMSGSIZE && i == 0) {
			printf("rdqpingpong size %zu skipped: %s (EMSGSIZE)\n", size,
			       rdq_client_error(c));
			*skipped = 1;
			ret = 0;
			break;
		}
		if (ret < 0) {
			fprintf(stderr, "rdq-pingpong: message %lu: %s (%s)\n", i + 1,
				rdq_client_error(c), rdq_strerrno(-ret));
			ret = 1;
		} else if (got != size || memcmp(in, out, size) != 0) {
			printf("rdq-pingpong: message %lu: the echo differs from what was sent "
			       "(%zu bytes back of %zu)\n",
			       i + 1, got, size);
			ret = 1;
		} else if (i >= warmup) {
			lat[i - warmup] = us;
		}
	}
	free(out);
	free(in);
	return ret;
}

int main(int argc, char **argv)
{
	const char *socket = NULL;
	unsigned long warmup = 100, iters;
	int opt, ret, skipped = 0;
	struct rdq_client *c;
	json_int_t ep;
	size_t size;
	double *lat;

	while ((opt = getopt(argc, argv, "1DPSs:w:")) != -1) {
		switch (opt) {
		case 'D':
			use_direct = 1;
			break;
		case '1':
			version1 = 1;
			break;
		case 'P':
			mode = MODE_PAIR;
			break;
		case 'S':
			mode = MODE_SEQUENTIAL;
			break;
		case 's':
			socket = optarg;
			break;
		case 'w':
			warmup = strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	size = strtoul(argv[optind + 1], NULL, 10);
	iters = strtoul(argv[optind + 2], NULL, 10);
	if (size == 0 || size > (1u << 30) || iters == 0)
		goto usage;
	lat = calloc(iters, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "rdq-pingpong: out of memory\n");
		return 1;
	}
	ret = rdq_client_connect(socket, &c);
	if (ret < 0) {
		fprintf(stderr, "rdq-pingpong: cannot reach rdqd: %s\n", strerror(-ret));
		free(lat);
		return 3;
	}
	ret = connect_ep(c, argv[optind], size, &ep) < 0;
	if (!ret) {
		ret = measure(c, ep, size, warmup, iters, lat, &skipped);
		if (!ret && !skipped) {
			percentile_sort(lat, iters);
			printf("rdqpingpong size %zu iters %lu p50_us %.1f p99_us %.1f\n", size,
			       iters, percentile(lat, iters, 0.50), percentile(lat, iters, 0.99));
		}
		/* A clean end for the listener's passive endpoint too, then the handle. */
		if (direct) {
			rdq_direct_close(direct); /* its id goes: the peer gets a DREQ */
		} else {
			rdq_call(c, "ep.disconnect", json_pack("{s:I, s:b}", "ep", ep, "wait", 1),
				 NULL);
			rdq_call(c, "ep.destroy", json_pack("{s:I}", "ep", ep), NULL);
		}
	}
	rdq_client_close(c);
	free(lat);
	return ret;
usage:
	fprintf(stderr, "usage: rdq-pingpong [-1|-P|-S|-D] [-s SOCKET] [-w WARMUP] ADDR[:PORT] "
			"SIZE ITERS\n");
	return 2;
}
