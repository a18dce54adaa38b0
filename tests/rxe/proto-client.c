/* SPDX-License-Identifier: MIT */
/*
 * proto-client: one librdq client of rdqd that speaks both protocol
 * versions over a real connection, for what rdqctl does not show:
 *
 *   - version 1 still works: ep.send with text in args.data, and ep.recv's
 *     reply with the text in "data", or "hex" for bytes that are not UTF-8;
 *   - pipelining: DEPTH version 2 ep.send requests written back to back,
 *     then their replies read, then DEPTH ep.recv the same way; every reply
 *     comes, once, and every message comes back exactly, in order.
 *
 * Usage: proto-client SOCKET ADDR PORT DEPTH   (rdqd's echo listens on ADDR:PORT)
 * Prints a line per check; exit status 0 when all passed, 1 otherwise.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdq/client.h>

static int failures;

static void check(bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAILED", what);
	failures += !ok;
}

/* Version 1: text goes and comes back in the JSON; bytes that are not text come back as hex. */
static void version1(struct rdq_client *c, json_int_t ep)
{
	static const unsigned char binary[] = {0xff, 0x00, 0x41};
	json_t *result = NULL;
	int ret;

	ret = rdq_call(c, "ep.send", json_pack("{s:I, s:s}", "ep", ep, "data", "hello v1"), NULL);
	check(ret == 0, "version 1 ep.send with args.data");
	ret = rdq_call(c, "ep.recv", json_pack("{s:I}", "ep", ep), &result);
	check(ret == 0 && !strcmp(json_string_value(json_object_get(result, "data")), "hello v1"),
	      "version 1 ep.recv gives the text in \"data\"");
	json_decref(result);

	ret = rdq_ep_send(c, (uint64_t)ep, binary, sizeof(binary), 0, 0);
	check(ret == 0, "version 2 ep.send of bytes that are not UTF-8");
	ret = rdq_call(c, "ep.recv", json_pack("{s:I}", "ep", ep), &result);
	check(ret == 0 && json_string_value(json_object_get(result, "hex")) &&
		      !strcmp(json_string_value(json_object_get(result, "hex")), "ff0041"),
	      "version 1 ep.recv gives them as \"hex\"");
	json_decref(result);
}

/* Message i of the pipelined run: its own length and bytes, NULs included. */
static size_t fill(unsigned char *buf, unsigned i)
{
	size_t len = 1 + (i * 997u) % 4096;

	for (size_t j = 0; j < len; j++)
		buf[j] = (unsigned char)(i + j * 13u);
	return len;
}

/* Reads n replies to the ids first..first+n-1, in any order; checks each came once. */
static bool read_replies(struct rdq_client *c, int64_t first, unsigned n, json_t **replies)
{
	for (unsigned got = 0; got < n; got++) {
		json_t *msg;
		int64_t id;

		if (rdq_client_next(c, 10000, &msg) < 0)
			return false;
		id = json_integer_value(json_object_get(msg, "id"));
		if (id < first || id >= first + (int64_t)n || replies[id - first]) {
			json_decref(msg);
			return false;
		}
		replies[id - first] = msg;
	}
	return true;
}

static void pipelined(struct rdq_client *c, json_int_t ep, unsigned depth)
{
	unsigned char buf[4096];
	json_t **replies = calloc(depth, sizeof(*replies));
	int64_t id, first = -1;
	bool sent = true, exact = true;

	for (unsigned i = 0; i < depth; i++) {
		size_t len = fill(buf, i);

		sent &= rdq_client_send_data(c, "ep.send", json_pack("{s:I}", "ep", ep), buf, len,
					     &id) == 0;
		if (first < 0)
			first = id;
	}
	check(sent && read_replies(c, first, depth, replies),
	      "every pipelined ep.send is answered once");
	for (unsigned i = 0; i < depth; i++) {
		sent &= replies[i] && rdq_reply_status(replies[i], NULL) == 0;
		json_decref(replies[i]);
		replies[i] = NULL;
	}
	check(sent, "every pipelined ep.send succeeded");

	first = -1;
	for (unsigned i = 0; i < depth; i++) {
		sent &= rdq_client_send_data(c, "ep.recv", json_pack("{s:I}", "ep", ep), NULL, 0,
					     &id) == 0;
		if (first < 0)
			first = id;
	}
	check(sent && read_replies(c, first, depth, replies),
	      "every pipelined ep.recv is answered once");
	for (unsigned i = 0; i < depth; i++) {
		size_t len = fill(buf, i), got = 0;
		const void *data = NULL;

		exact &= replies[i] && rdq_message_data(replies[i], &data, &got) && got == len &&
			 !memcmp(data, buf, len);
		json_decref(replies[i]);
	}
	check(exact, "every echo came back exactly, in order");
	free(replies);
}

int main(int argc, char **argv)
{
	struct rdq_client *c;
	json_t *result = NULL;
	json_int_t ep;

	if (argc != 5) {
		fprintf(stderr, "usage: proto-client SOCKET ADDR PORT DEPTH\n");
		return 2;
	}
	if (rdq_client_connect(argv[1], &c) < 0) {
		fprintf(stderr, "proto-client: cannot connect to %s\n", argv[1]);
		return 2;
	}
	if (rdq_call(
		    c, "ep.connect",
		    json_pack("{s:s, s:i, s:b}", "addr", argv[2], "port", atoi(argv[3]), "tied", 1),
		    &result) < 0) {
		fprintf(stderr, "proto-client: ep.connect: %s\n", rdq_client_error(c));
		return 2;
	}
	ep = json_integer_value(json_object_get(result, "ep"));
	json_decref(result);
	version1(c, ep);
	pipelined(c, ep, (unsigned)atoi(argv[4]));
	rdq_client_close(c);
	return failures ? 1 : 0;
}
