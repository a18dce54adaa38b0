/* SPDX-License-Identifier: MIT */
/*
 * echo-peer: a foreign client of rdq's echo service, written against
 * librdmacm directly, for what rdqctl cannot do: messages up to the largest
 * rdqd allows (1 MiB), a message larger than that, and a peer that never
 * posts a receive.
 *
 * Usage:
 *   echo-peer ADDR PORT SIZE COUNT [DEPTH]
 *       sends COUNT messages of SIZE bytes, DEPTH at a time (default 1), each
 *       with its own byte pattern, and checks every byte of each echo
 *   echo-peer --deaf ADDR PORT SIZE COUNT WAIT_S
 *       sends COUNT messages but never posts a receive, then waits up to
 *       WAIT_S seconds for the other side to disconnect
 *   echo-peer --serve ADDR PORT COUNT
 *       the other way round: listens, accepts one connection (rdqd's
 *       ep.connect), and sends back each of COUNT messages (up to 1 MiB) as
 *       it came
 *   echo-peer --push ADDR PORT SIZE COUNT
 *       listens, accepts one connection (rdqd's ep.connect), says
 *       "connected", then sends COUNT messages of SIZE bytes, message i with
 *       echo's byte pattern for i, one each time it gets SIGUSR1, and says
 *       "sent I" once each completed: the test that owns it decides when a
 *       message arrives (before rdqd's client asks for it, or after)
 *   echo-peer --ask ADDR PORT WAIT_MS [TEXT...]
 *       a client of a request-answer service (rdqctl ep serve): says
 *       "connected", then sends each TEXT in turn and prints the answer's
 *       bytes and a newline, each waited for up to WAIT_MS; with no TEXT, it
 *       waits that long for the other side to disconnect
 *
 * Any of the client forms may begin with --from SRC: the connection comes
 * from the local address SRC (one host, many peers' addresses). A connect
 * the other side rejects prints "echo-peer: rejected: " and the text in the
 * reject's private data.
 *
 * Prints one line saying what happened. Exit status: 0 as expected; 1 the
 * echo was wrong or never came, or (--deaf) no disconnect came; 2 usage or
 * set-up; 3 a send failed (its completion status is printed); 4 (--ask) the
 * other side disconnected before an answer came; 5 the connect was rejected.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

static int fail(const char *what)
{
	fprintf(stderr, "echo-peer: %s: %s\n", what, strerror(errno));
	return 2;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --from SRC: the local address connections come from, or NULL (the route's). */
static const char *source;
/* A connect was rejected: main's exit status is 5. */
static bool rejected;

/* The reject's private data, as a peer that explains itself (rdqd) puts it. */
static void print_reject(struct rdma_cm_id *id)
{
	const struct rdma_cm_event *e = id->event;
	const char *text = e ? e->param.conn.private_data : NULL;
	size_t len = text ? strnlen(text, e->param.conn.private_data_len) : 0;

	printf("echo-peer: rejected: %.*s\n", (int)len, text ? text : "");
	fflush(stdout);
	rejected = true;
}

static struct rdma_cm_id *connect_to(const char *addr, const char *port, unsigned depth)
{
	struct rdma_addrinfo hints = {.ai_port_space = RDMA_PS_TCP}, *res, *src = NULL;
	struct rdma_addrinfo src_hints = {.ai_flags = RAI_PASSIVE, .ai_port_space = RDMA_PS_TCP};
	struct ibv_qp_init_attr attr = {
		.cap = {.max_send_wr = depth,
			.max_recv_wr = depth,
			.max_send_sge = 1,
			.max_recv_sge = 1},
		.sq_sig_all = 1,
		.qp_type = IBV_QPT_RC,
	};
	struct rdma_conn_param param = {.responder_resources = 1,
					.initiator_depth = 1,
					.retry_count = 6,
					.rnr_retry_count = 7};
	struct rdma_cm_id *id;

	if (source) {
		if (rdma_getaddrinfo(source, NULL, &src_hints, &src)) {
			fail("rdma_getaddrinfo of --from");
			return NULL;
		}
		hints.ai_src_addr = src->ai_src_addr;
		hints.ai_src_len = src->ai_src_len;
	}
	if (rdma_getaddrinfo(addr, port, &hints, &res)) {
		fail("rdma_getaddrinfo");
		if (src)
			rdma_freeaddrinfo(src);
		return NULL;
	}
	if (src)
		rdma_freeaddrinfo(src);
	if (rdma_create_ep(&id, res, NULL, &attr)) {
		fail("rdma_create_ep");
		rdma_freeaddrinfo(res);
		return NULL;
	}
	rdma_freeaddrinfo(res);
	if (rdma_connect(id, &param)) {
		/* A synchronous id keeps the event that failed the connect, the REJ's text in it.
		 */
		if (errno == ECONNREFUSED)
			print_reject(id);
		else
			fail("rdma_connect");
		rdma_destroy_ep(id);
		return NULL;
	}
	return id;
}

/* Message i's bytes: every value occurs, and no two messages are alike. */
static void fill(uint8_t *buf, size_t size, unsigned i)
{
	for (size_t j = 0; j < size; j++)
		buf[j] = (uint8_t)(i * 131u + j * 7u + (j >> 8));
}

/* Waits for the next send completion: 0, 3 when the send failed (said), or 2. */
static int send_done(struct rdma_cm_id *id, size_t size)
{
	struct ibv_wc wc;

	if (rdma_get_send_comp(id, &wc) <= 0)
		return fail("rdma_get_send_comp");
	if (wc.status != IBV_WC_SUCCESS) {
		printf("echo-peer: the send of %zu bytes failed: %s\n", size,
		       ibv_wc_status_str(wc.status));
		return 3;
	}
	return 0;
}

static int send_one(struct rdma_cm_id *id, uint8_t *buf, size_t size, struct ibv_mr *mr)
{
	if (rdma_post_send(id, NULL, buf, size, mr, 0))
		return fail("rdma_post_send");
	return send_done(id, size);
}

/*
 * Keeps depth messages in flight: message i goes out of, and comes back
 * into, slot i % depth; echoes arrive in order, each checked byte by byte.
 */
static int echo(struct rdma_cm_id *id, size_t size, unsigned count, unsigned depth)
{
	uint8_t *out = malloc(size * depth), *in = malloc(size * depth);
	struct ibv_mr *mr_out, *mr_in;
	unsigned sent = 0, got = 0;
	struct ibv_wc wc;
	int ret;

	if (!out || !in)
		return fail("malloc");
	mr_out = rdma_reg_msgs(id, out, size * depth);
	mr_in = rdma_reg_msgs(id, in, size * depth);
	if (!mr_out || !mr_in)
		return fail("rdma_reg_msgs");
	while (got < count) {
		while (sent < count && sent - got < depth) {
			uint8_t *o = out + (size_t)(sent % depth) * size;
			uint8_t *r = in + (size_t)(sent % depth) * size;

			fill(o, size, sent);
			memset(r, 0, size);
			if (rdma_post_recv(id, NULL, r, size, mr_in))
				return fail("rdma_post_recv");
			if (rdma_post_send(id, NULL, o, size, mr_out, 0))
				return fail("rdma_post_send");
			sent++;
		}
		ret = send_done(id, size);
		if (ret)
			return ret;
		if (rdma_get_recv_comp(id, &wc) <= 0)
			return fail("rdma_get_recv_comp");
		if (wc.status != IBV_WC_SUCCESS) {
			printf("echo-peer: echo %u did not come: %s\n", got,
			       ibv_wc_status_str(wc.status));
			return 1;
		}
		if (wc.byte_len != size || memcmp(in + (size_t)(got % depth) * size,
						  out + (size_t)(got % depth) * size, size)) {
			printf("echo-peer: echo %u differs: %u bytes back of %zu sent\n", got,
			       wc.byte_len, size);
			return 1;
		}
		got++;
	}
	printf("echo-peer: %u echoes of %zu bytes, every byte checked\n", count, size);
	rdma_dereg_mr(mr_out);
	rdma_dereg_mr(mr_in);
	free(out);
	free(in);
	return 0;
}

/* Sends without ever posting a receive, then waits for the other side to give up. */
static int deaf(struct rdma_cm_id *id, size_t size, unsigned count, int wait_s)
{
	uint8_t *out = calloc(1, size);
	struct rdma_event_channel *channel;
	struct rdma_cm_event *event;
	struct ibv_mr *mr;
	long start;
	int ret;

	if (!out)
		return fail("calloc");
	mr = rdma_reg_msgs(id, out, size);
	if (!mr)
		return fail("rdma_reg_msgs");
	for (unsigned i = 0; i < count; i++) {
		fill(out, size, i);
		ret = send_one(id, out, size, mr);
		if (ret)
			return ret;
	}
	/* Events from here on come through a channel this process can wait on with a bound. */
	channel = rdma_create_event_channel();
	if (!channel || rdma_migrate_id(id, channel))
		return fail("rdma_migrate_id");
	start = now_ms();
	for (;;) {
		struct pollfd p = {.fd = channel->fd, .events = POLLIN};
		long left = wait_s * 1000L - (now_ms() - start);

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			printf("echo-peer: no disconnect within %d s\n", wait_s);
			return 1;
		}
		if (rdma_get_cm_event(channel, &event))
			return fail("rdma_get_cm_event");
		ret = event->event == RDMA_CM_EVENT_DISCONNECTED;
		rdma_ack_cm_event(event);
		if (ret)
			break;
	}
	printf("echo-peer: sent %u, received nothing; disconnected by the other side after "
	       "%ld ms\n",
	       count, now_ms() - start);
	return 0;
}

/* The largest message rdqd sends (its largest --max-message). */
#define SERVE_MAX (1u << 20)

/* Listens on ADDR PORT and takes one connection, with its receive posted first; NULL: said. */
static struct rdma_cm_id *accept_one(const char *addr, const char *port, struct rdma_cm_id **lid,
				     uint8_t *buf, struct ibv_mr **mr)
{
	struct rdma_addrinfo hints = {.ai_flags = RAI_PASSIVE, .ai_port_space = RDMA_PS_TCP}, *res;
	struct ibv_qp_init_attr attr = {
		.cap = {.max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1},
		.sq_sig_all = 1,
		.qp_type = IBV_QPT_RC,
	};
	struct rdma_cm_id *id;

	if (rdma_getaddrinfo(addr, port, &hints, &res)) {
		fail("rdma_getaddrinfo");
		return NULL;
	}
	if (rdma_create_ep(lid, res, NULL, &attr)) {
		fail("rdma_create_ep");
		return NULL;
	}
	rdma_freeaddrinfo(res);
	if (rdma_listen(*lid, 1)) {
		fail("rdma_listen");
		return NULL;
	}
	printf("echo-peer: listening\n");
	fflush(stdout);
	if (rdma_get_request(*lid, &id)) {
		fail("rdma_get_request");
		return NULL;
	}
	*mr = rdma_reg_msgs(id, buf, SERVE_MAX);
	/* A receive is posted before the accept: the first message never meets RNR. */
	if (!*mr || rdma_post_recv(id, NULL, buf, SERVE_MAX, *mr) || rdma_accept(id, NULL)) {
		fail("rdma_accept");
		return NULL;
	}
	return id;
}

/* Takes one connection on ADDR PORT and echoes count messages on it. */
static int serve(const char *addr, const char *port, unsigned count)
{
	uint8_t *buf = malloc(SERVE_MAX);
	struct rdma_cm_id *listen_id, *id;
	struct ibv_mr *mr;
	struct ibv_wc wc;
	unsigned n;
	int ret = 0;

	if (!buf)
		return fail("malloc");
	id = accept_one(addr, port, &listen_id, buf, &mr);
	if (!id)
		return 2;
	for (n = 0; n < count && ret == 0; n++) {
		if (rdma_get_recv_comp(id, &wc) <= 0 || wc.status != IBV_WC_SUCCESS) {
			printf("echo-peer: message %u did not arrive: %s\n", n + 1,
			       ibv_wc_status_str(wc.status));
			ret = 1;
			break;
		}
		if (rdma_post_send(id, NULL, buf, wc.byte_len, mr, 0))
			return fail("rdma_post_send");
		ret = send_done(id, wc.byte_len);
		if (ret == 0 && n + 1 < count && rdma_post_recv(id, NULL, buf, SERVE_MAX, mr))
			return fail("rdma_post_recv");
	}
	if (ret == 0)
		printf("echo-peer: served %u messages\n", count);
	rdma_disconnect(id);
	rdma_dereg_mr(mr);
	rdma_destroy_ep(id);
	rdma_destroy_ep(listen_id);
	free(buf);
	return ret;
}

/* --push: count messages of size bytes, each when SIGUSR1 says so. */
static int push(const char *addr, const char *port, size_t size, unsigned count)
{
	uint8_t *buf = malloc(SERVE_MAX);
	struct rdma_cm_id *listen_id, *id;
	struct ibv_mr *mr;
	sigset_t go;
	int sig, ret = 0;

	/* Blocked before anyone can know the pid's purpose: a signal waits for sigwait. */
	sigemptyset(&go);
	sigaddset(&go, SIGUSR1);
	sigprocmask(SIG_BLOCK, &go, NULL);
	if (!buf || size == 0 || size > SERVE_MAX || count == 0)
		return 2;
	id = accept_one(addr, port, &listen_id, buf, &mr);
	if (!id)
		return 2;
	printf("echo-peer: connected\n");
	fflush(stdout);
	for (unsigned i = 0; i < count && ret == 0; i++) {
		if (sigwait(&go, &sig))
			return fail("sigwait");
		fill(buf, size, i);
		ret = send_one(id, buf, size, mr);
		if (ret == 0)
			printf("echo-peer: sent %u\n", i);
		fflush(stdout);
	}
	rdma_disconnect(id);
	rdma_dereg_mr(mr);
	rdma_destroy_ep(id);
	rdma_destroy_ep(listen_id);
	free(buf);
	return ret;
}

/* What --ask waits for: an answer, the other side's disconnect, or the time running out. */
enum outcome { ANSWERED, DISCONNECTED, TIMED_OUT, BROKEN };

/*
 * Waits up to wait_ms for the receive posted on id to complete (ANSWERED,
 * its length in *len) while watching channel for a disconnect. Send
 * completions are taken as they come; a failed one is BROKEN.
 */
static enum outcome await_answer(struct rdma_cm_id *id, struct rdma_event_channel *channel,
				 long wait_ms, bool want_answer, uint32_t *len)
{
	long start = now_ms();
	struct rdma_cm_event *event;
	struct ibv_wc wc;
	int n;

	for (;;) {
		struct pollfd p = {.fd = channel->fd, .events = POLLIN};

		while ((n = ibv_poll_cq(id->send_cq, 1, &wc)) > 0)
			if (wc.status != IBV_WC_SUCCESS) {
				printf("echo-peer: a send failed: %s\n",
				       ibv_wc_status_str(wc.status));
				return BROKEN;
			}
		n = want_answer ? ibv_poll_cq(id->recv_cq, 1, &wc) : 0;
		if (n > 0 && wc.status == IBV_WC_SUCCESS) {
			*len = wc.byte_len;
			return ANSWERED;
		}
		/* A receive flushed: the QP went to error, as a disconnect does. */
		if (n > 0)
			return DISCONNECTED;
		if (now_ms() - start >= wait_ms)
			return TIMED_OUT;
		/* Short waits: completions are polled, not signalled. */
		if (poll(&p, 1, 10) > 0) {
			if (rdma_get_cm_event(channel, &event))
				return BROKEN;
			n = event->event == RDMA_CM_EVENT_DISCONNECTED;
			rdma_ack_cm_event(event);
			if (n)
				return DISCONNECTED;
		}
	}
}

/* --ask: each text a request, each answer printed as it came. */
static int ask(const char *addr, const char *port, long wait_ms, char **texts, int ntexts)
{
	struct rdma_event_channel *channel;
	uint8_t *in = malloc(SERVE_MAX), *out = malloc(SERVE_MAX);
	struct rdma_cm_id *id = connect_to(addr, port, 4);
	struct ibv_mr *mr_in, *mr_out;
	enum outcome got = TIMED_OUT;
	uint32_t len = 0;
	int i;

	if (!id || !in || !out)
		return rejected ? 5 : 2;
	mr_in = rdma_reg_msgs(id, in, SERVE_MAX);
	mr_out = rdma_reg_msgs(id, out, SERVE_MAX);
	channel = rdma_create_event_channel();
	if (!mr_in || !mr_out || !channel || rdma_migrate_id(id, channel))
		return fail("set-up");
	printf("echo-peer: connected\n");
	fflush(stdout);
	for (i = 0; i < ntexts; i++) {
		size_t size = strlen(texts[i]);

		if (size == 0 || size > SERVE_MAX)
			return 2;
		memcpy(out, texts[i], size);
		/* The receive first: the answer may come before the send's completion. */
		if (rdma_post_recv(id, NULL, in, SERVE_MAX, mr_in) ||
		    rdma_post_send(id, NULL, out, size, mr_out, 0))
			return fail("rdma_post_send");
		got = await_answer(id, channel, wait_ms, true, &len);
		if (got != ANSWERED)
			break;
		fwrite(in, 1, len, stdout);
		putchar('\n');
		fflush(stdout);
	}
	if (ntexts == 0)
		got = await_answer(id, channel, wait_ms, false, &len);
	if (got == DISCONNECTED)
		printf("echo-peer: disconnected by the other side\n");
	else if (got == TIMED_OUT)
		printf("echo-peer: %s within %ld ms\n", ntexts ? "no answer" : "no disconnect",
		       wait_ms);
	if (got != DISCONNECTED)
		rdma_disconnect(id);
	rdma_destroy_ep(id);
	return got == ANSWERED ? 0 : got == DISCONNECTED ? (ntexts ? 4 : 0) : 1;
}

int main(int argc, char **argv)
{
	bool is_deaf = argc > 1 && !strcmp(argv[1], "--deaf");
	char **a = argv + 1 + is_deaf;
	struct rdma_cm_id *id;
	unsigned count, depth = 1;
	size_t size;
	int ret;

	if (argc > 2 && !strcmp(argv[1], "--from")) {
		source = argv[2];
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
		is_deaf = argc > 1 && !strcmp(argv[1], "--deaf");
		a = argv + 1 + is_deaf;
	}
	if (argc >= 5 && !strcmp(argv[1], "--ask"))
		return ask(argv[2], argv[3], atol(argv[4]), argv + 5, argc - 5);
	if (argc == 5 && !strcmp(argv[1], "--serve"))
		return serve(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10));
	if (argc == 6 && !strcmp(argv[1], "--push"))
		return push(argv[2], argv[3], strtoul(argv[4], NULL, 10),
			    (unsigned)strtoul(argv[5], NULL, 10));
	if (is_deaf ? argc != 7 : argc != 5 && argc != 6) {
		fprintf(stderr, "usage: echo-peer ADDR PORT SIZE COUNT [DEPTH]\n"
				"       echo-peer --deaf ADDR PORT SIZE COUNT WAIT_S\n"
				"       echo-peer --serve ADDR PORT COUNT\n"
				"       echo-peer --push ADDR PORT SIZE COUNT\n"
				"       echo-peer --ask ADDR PORT WAIT_MS [TEXT...]\n"
				"       (each client form may begin with --from SRC)\n");
		return 2;
	}
	if (!is_deaf && argc == 6)
		depth = (unsigned)strtoul(a[4], NULL, 10);
	if (depth == 0 || depth > 64) {
		fprintf(stderr, "echo-peer: DEPTH must be 1 to 64\n");
		return 2;
	}
	size = strtoul(a[2], NULL, 10);
	count = (unsigned)strtoul(a[3], NULL, 10);
	if (size == 0 || count == 0) {
		fprintf(stderr, "echo-peer: SIZE and COUNT must be at least 1\n");
		return 2;
	}
	id = connect_to(a[0], a[1], depth > 4 ? depth : 4);
	if (!id)
		return rejected ? 5 : 2;
	ret = is_deaf ? deaf(id, size, count, atoi(a[4])) : echo(id, size, count, depth);
	rdma_disconnect(id);
	rdma_destroy_ep(id);
	return ret;
}
