/* SPDX-License-Identifier: MIT */
/*
 * recv-client: one message from rdqd through librdq, checked byte by byte,
 * for counting its copies (tests/rxe/data.sh runs it under the
 * alloc-count preload; what it counts is librdq's, since this program copies
 * nothing of the message itself).
 *
 * Usage: recv-client SOCKET EP SIZE INDEX [--next]
 *   rdq_ep_recv() on endpoint EP; with --next, an ep.recv request sent with
 *   rdq_client_send_data() and its reply read with rdq_client_next() and
 *   rdq_message_data() instead. The message must be SIZE bytes with
 *   echo-peer's byte pattern for message INDEX.
 * Exit status: 0 the message came exactly; 1 it did not; 2 usage or set-up.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdq/client.h>

/* echo-peer's pattern for message i (its fill()). */
static bool pattern_ok(const uint8_t *buf, size_t size, unsigned i)
{
	for (size_t j = 0; j < size; j++)
		if (buf[j] != (uint8_t)(i * 131u + j * 7u + (j >> 8)))
			return false;
	return true;
}

/* The reply to an ep.recv sent on its own, read as rdq_client_next() gives it. */
static int recv_next(struct rdq_client *c, uint64_t ep, json_t **reply, const void **data,
		     size_t *len)
{
	int64_t id;
	int ret;

	ret = rdq_client_send_data(
		c, "ep.recv", json_pack("{s:I, s:i}", "ep", (json_int_t)ep, "timeout_ms", 60000),
		NULL, 0, &id);
	while (ret == 0) {
		ret = rdq_client_next(c, 70000, reply);
		if (ret < 0)
			return ret;
		if (rdq_message_is_reply(*reply, id))
			break;
		json_decref(*reply);
	}
	if (ret == 0)
		ret = rdq_reply_status(*reply, NULL);
	if (ret == 0 && !rdq_message_data(*reply, data, len))
		ret = -EBADMSG;
	return ret;
}

int main(int argc, char **argv)
{
	bool next = argc == 6 && !strcmp(argv[5], "--next");
	struct rdq_client *c;
	json_t *reply = NULL;
	const void *data;
	void *owned = NULL;
	size_t size, len = 0;
	uint64_t ep;
	unsigned index;
	int ret;

	if (argc != 5 && !next) {
		fprintf(stderr, "usage: recv-client SOCKET EP SIZE INDEX [--next]\n");
		return 2;
	}
	ep = strtoull(argv[2], NULL, 10);
	size = strtoul(argv[3], NULL, 10);
	index = (unsigned)strtoul(argv[4], NULL, 10);
	if (rdq_client_connect(argv[1], &c) < 0) {
		fprintf(stderr, "recv-client: cannot connect to %s\n", argv[1]);
		return 2;
	}
	if (next) {
		ret = recv_next(c, ep, &reply, &data, &len);
	} else {
		ret = rdq_ep_recv(c, ep, 60000, &owned, &len);
		data = owned;
	}
	if (ret < 0) {
		fprintf(stderr, "recv-client: %s: %s\n", rdq_strerrno(-ret), rdq_client_error(c));
		rdq_client_close(c);
		return 2;
	}
	ret = len == size && pattern_ok(data, len, index) ? 0 : 1;
	printf("recv-client: %zu bytes%s\n", len, ret ? ", not the message sent" : ", exact");
	json_decref(reply);
	free(owned);
	rdq_client_close(c);
	return ret;
}
