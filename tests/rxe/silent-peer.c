/* SPDX-License-Identifier: MIT */
/*
 * silent-peer: an rdma_cm listener that accepts connections and then never
 * answers a DREQ. A peer's disconnect request then stays pending, the way it
 * does when the remote host hangs, so the rxe suite can race cancel,
 * destroy, a local deadline or SIGTERM against it on one host.
 *
 * The DREP goes out only when this process exits: the kernel destroys its
 * rdma_cm_ids then, and a CM id destroyed while a DREQ waits answers it.
 * So killing silent-peer delivers a late DISCONNECTED to the other side.
 *
 * Usage: silent-peer ADDR [PORT]   (prints "listening", then one line per event)
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/rdma_cma.h>

static int fail(const char *what)
{
	fprintf(stderr, "silent-peer: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Accepts with a small QP of rdma_cm's own, which rdma_cm moves to RTS for us. */
static int accept_connection(struct rdma_cm_id *id)
{
	struct ibv_qp_init_attr attr = {
		.cap = {.max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};
	struct rdma_conn_param param = {.responder_resources = 1,
					.initiator_depth = 1,
					.retry_count = 7,
					.rnr_retry_count = 7};

	if (rdma_create_qp(id, NULL, &attr))
		return -errno;
	if (rdma_accept(id, &param))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct rdma_event_channel *channel;
	struct rdma_cm_event *event;
	struct rdma_cm_id *listener;
	struct addrinfo *ai;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: silent-peer ADDR [PORT]\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argc == 3 ? argv[2] : "7473", &hints, &ai)) {
		fprintf(stderr, "silent-peer: cannot resolve %s\n", argv[1]);
		return 2;
	}
	channel = rdma_create_event_channel();
	if (!channel)
		return fail("rdma_create_event_channel");
	if (rdma_create_id(channel, &listener, NULL, RDMA_PS_TCP))
		return fail("rdma_create_id");
	if (rdma_bind_addr(listener, ai->ai_addr) || rdma_listen(listener, 64))
		return fail("listen");
	freeaddrinfo(ai);
	printf("listening\n");
	fflush(stdout);

	/* A test tool: blocking on the channel is the point. It runs until killed. */
	while (rdma_get_cm_event(channel, &event) == 0) {
		struct rdma_cm_id *id = event->id;
		enum rdma_cm_event_type type = event->event;
		int ret = 0;

		printf("%s\n", rdma_event_str(type));
		fflush(stdout);
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST)
			ret = accept_connection(id);
		/*
		 * RDMA_CM_EVENT_DISCONNECTED: the peer's DREQ. The answer would be
		 * rdma_disconnect(id); not sending it is this tool's whole job.
		 */
		rdma_ack_cm_event(event);
		if (ret < 0) {
			fprintf(stderr, "silent-peer: accept: %s\n", strerror(-ret));
			rdma_reject(id, NULL, 0);
			rdma_destroy_id(id);
		}
	}
	return fail("rdma_get_cm_event");
}
