/* SPDX-License-Identifier: MIT */
/*
 * serve-client: a librdq client of a served listener. It connects an
 * endpoint through rdqd to ADDR:PORT and sends COUNT requests of mixed
 * sizes, 1 byte to SIZE bytes (the smallest and the largest among them),
 * each of bytes that differ from request to request, and checks that each
 * answer is the request's bytes exactly (an echo server's answer), in order.
 * Every other request goes as ep.send then ep.recv, the others as one
 * ep.sendrecv.
 *
 * Usage: serve-client [-s SOCKET] ADDR PORT COUNT SIZE
 * Prints "COUNT answers of 1 to SIZE bytes (TOTAL bytes), every byte
 * checked" and exits 0; exits 1 at the first wrong or missing answer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdq/client.h>

/* A size for request i: the extremes first, then a spread that covers the range. */
static size_t size_of(unsigned i, size_t max, uint32_t *seed)
{
	if (i == 0)
		return 1;
	if (i == 1)
		return max;
	*seed = *seed * 1103515245u + 12345u;
	/* Half small (up to 256 bytes, and never over max), half anywhere: both sides of a page. */
	return 1 + (*seed >> 8) % (i % 2 && max > 256 ? 256 : max);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	struct rdq_client *c;
	unsigned count, i;
	uint64_t ep, total = 0;
	uint32_t seed = 7;
	size_t max, n;
	uint8_t *out;
	json_t *result;
	int opt, ret;

	while ((opt = getopt(argc, argv, "s:")) != -1)
		path = optarg;
	if (argc - optind != 4) {
		fprintf(stderr, "usage: serve-client [-s SOCKET] ADDR PORT COUNT SIZE\n");
		return 2;
	}
	count = (unsigned)atoi(argv[optind + 2]);
	max = (size_t)atol(argv[optind + 3]);
	out = malloc(max ? max : 1);
	if (!out || !max || max > RDQ_MAX_DATA || rdq_client_connect(path, &c) < 0) {
		fprintf(stderr, "serve-client: cannot start: %s\n", rdq_client_error(NULL));
		return 2;
	}
	ret = rdq_call(
		c, "ep.connect",
		json_pack("{s:s, s:i}", "addr", argv[optind], "port", atoi(argv[optind + 1])),
		&result);
	if (ret < 0) {
		fprintf(stderr, "serve-client: connect: %s: %s\n", rdq_strerrno(-ret),
			rdq_client_error(c));
		return 1;
	}
	ep = (uint64_t)json_integer_value(json_object_get(result, "ep"));
	json_decref(result);

	for (i = 0; i < count; i++) {
		size_t len = size_of(i, max, &seed);
		void *in;

		/* Bytes that depend on the request's number and place: a swap or a shift shows. */
		for (size_t k = 0; k < len; k++)
			out[k] = (uint8_t)(k * 31 + i * 7 + (k >> 8));
		if (i % 2) {
			ret = rdq_ep_sendrecv(c, ep, out, len, 10000, &in, &n);
		} else {
			ret = rdq_ep_send(c, ep, out, len, 0, 0);
			if (ret == 0)
				ret = rdq_ep_recv(c, ep, 10000, &in, &n);
		}
		if (ret < 0) {
			fprintf(stderr, "serve-client: request %u (%zu bytes): %s: %s\n", i, len,
				rdq_strerrno(-ret), rdq_client_error(c));
			return 1;
		}
		if (n != len || memcmp(in, out, len) != 0) {
			fprintf(stderr, "serve-client: answer %u: %zu bytes, wanted the %zu sent\n",
				i, n, len);
			return 1;
		}
		free(in);
		total += len;
	}
	printf("%u answers of 1 to %zu bytes (%llu bytes), every byte checked\n", count, max,
	       (unsigned long long)total);
	rdq_ep_destroy(c, ep);
	rdq_client_close(c);
	free(out);
	return 0;
}
