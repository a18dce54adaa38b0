/* SPDX-License-Identifier: MIT */
/*
 * accept-server: the synchronous server of docs/librdq.md ("Serving"), one
 * peer at a time, with watch on so that other events arrive among the
 * ep.accepted announcements. It serves PEERS peers on ADDR:PORT, answering
 * each request with its own bytes until the peer leaves, then checks that
 * rdq_accept() kept the other events for rdq_client_next(): none of them an
 * announcement, and among them each served endpoint's ep.destroyed (those of
 * the first peers arrive while rdq_accept() waits for the next one).
 *
 * Usage: accept-server -s SOCKET ADDR PORT PEERS
 * Prints "serving ADDR:PORT", then "served N request(s) from PEERS peer(s);
 * K other event(s) kept, each served endpoint's ep.destroyed among them"
 * and exits 0; 1 when something is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PEERS 16

#include <rdq/client.h>

int main(int argc, char **argv)
{
	const char *path = NULL;
	struct rdq_client *c;
	struct rdq_accepted peer;
	unsigned long served = 0, kept = 0;
	uint64_t listener, eps[MAX_PEERS];
	int opt, peers, ret, destroyed = 0;
	json_t *msg;

	while ((opt = getopt(argc, argv, "s:")) != -1)
		path = optarg;
	if (argc - optind != 3) {
		fprintf(stderr, "usage: accept-server -s SOCKET ADDR PORT PEERS\n");
		return 2;
	}
	peers = atoi(argv[optind + 2]);
	if (peers < 1 || peers > MAX_PEERS)
		return 2;
	if (rdq_client_connect(path, &c) < 0 || rdq_call(c, "watch", NULL, NULL) < 0 ||
	    rdq_ep_serve(c, argv[optind], atoi(argv[optind + 1]), &listener) < 0) {
		fprintf(stderr, "accept-server: cannot serve: %s\n", rdq_client_error(c));
		return 1;
	}
	printf("serving %s:%s\n", argv[optind], argv[optind + 1]);
	fflush(stdout);
	for (int i = 0; i < peers; i++) {
		void *req;
		size_t n;

		ret = rdq_accept(c, 60000, &peer);
		if (ret < 0 || peer.listener != listener || !peer.ep || !peer.peer[0]) {
			fprintf(stderr, "accept-server: accept %d: %s\n", i,
				ret < 0 ? rdq_strerrno(-ret)
					: "an announcement without its fields");
			return 1;
		}
		while ((ret = rdq_ep_recv(c, peer.ep, 60000, &req, &n)) == 0) {
			ret = rdq_ep_send(c, peer.ep, req, n, 0, 0);
			free(req);
			if (ret < 0)
				break;
			served++;
		}
		/* The peer left: its receive says so. */
		if (ret != -ECONNRESET && ret != -ENOTCONN) {
			fprintf(stderr, "accept-server: peer %d: %s\n", i, rdq_client_error(c));
			return 1;
		}
		rdq_ep_destroy(c, peer.ep);
		eps[i] = peer.ep;
	}
	/*
	 * Watched events that came meanwhile were kept, no announcement among
	 * them; the last peer's ep.destroyed may still be on its way.
	 */
	while (destroyed < peers && rdq_client_next(c, 5000, &msg) == 0) {
		const char *name = json_string_value(json_object_get(msg, "event"));
		uint64_t ep = (uint64_t)json_integer_value(json_object_get(msg, "ep"));

		if (rdq_event_accepted(msg, &peer) || !rdq_message_is_event(msg)) {
			fprintf(stderr,
				"accept-server: rdq_accept left an announcement or a reply\n");
			return 1;
		}
		for (int i = 0; name && strcmp(name, "ep.destroyed") == 0 && i < peers; i++)
			destroyed += eps[i] == ep;
		json_decref(msg);
		kept++;
	}
	if (destroyed < peers) {
		fprintf(stderr, "accept-server: %d of %d served endpoints' ep.destroyed kept\n",
			destroyed, peers);
		return 1;
	}
	printf("served %lu request(s) from %d peer(s); %lu other event(s) kept, each served "
	       "endpoint's ep.destroyed among them\n",
	       served, peers, kept);
	rdq_client_close(c);
	return 0;
}
