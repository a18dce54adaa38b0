/* SPDX-License-Identifier: MIT */
/*
 * rdma-echo-server: an echo service written against librdmacm and
 * libibverbs directly, with no daemon in between: the baseline that
 * bench/serve-rtt.sh sets rdqd's echo and examples/echo-server (a serve-mode
 * listener through rdqd) beside, with rdma-pingpong as the peer of all three.
 *
 * Usage: rdma-echo-server [-m MAXSIZE] [-d DEPTH] ADDR PORT
 *
 * It listens on ADDR:PORT, prints
 *   rdma-echo-server: listening ADDR:PORT
 * and sends every message that arrives on a connection back on that
 * connection, unchanged, for any number of connections at once. Each
 * connection has DEPTH (default 16) receive buffers of MAXSIZE (default
 * 65536) bytes posted ahead, so a peer may have that many messages in
 * flight; a longer message fails the peer's send. The echo is sent from the
 * buffer the message arrived in, and that buffer is posted for a receive
 * again once the echo's send completed: no copy.
 *
 * The shape of it: the main thread takes the rdma_cm events (connection
 * requests, disconnections); each connection has a thread of its own that
 * waits for completions as rdma-pingpong does (armed CQ, blocking read of
 * the completion channel, then a poll), so a peer waiting for its echo
 * wakes exactly one thread. SIGINT or SIGTERM stops it: every connection is
 * disconnected, and it prints how many messages it echoed on how many
 * connections. Exit status: 0 stopped by a signal; 1 a failure while
 * serving; 2 usage or set-up.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* One connection: its verbs objects, its buffers and the thread that echoes on it. */
struct conn {
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *bufs; /* depth buffers of max_size bytes, end to end */
	pthread_t thread;
	int running;	      /* the thread was started and not joined yet */
	unsigned long echoed; /* written by the thread, read after the join */
	struct conn *next;    /* the main thread's list of open connections */
};

static size_t max_size = 65536;
static unsigned depth = 16;
static struct conn *conns;
static unsigned long total_echoed, total_conns;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "rdma-echo-server: %s: %s\n", what, strerror(err));
	return -1;
}

/* Posts buffer i of c for a receive; the work request id is the buffer's index. */
static int post_recv(struct conn *c, unsigned i)
{
	struct ibv_sge sge = {.addr = (uintptr_t)(c->bufs + (size_t)i * max_size),
			      .length = (uint32_t)max_size,
			      .lkey = c->mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = i, .sg_list = &sge, .num_sge = 1}, *bad;
	int ret = ibv_post_recv(c->id->qp, &wr, &bad);

	return ret ? fail("ibv_post_recv", ret) : 0;
}

/* Sends len bytes of buffer i of c back: the message that just arrived in it. */
static int post_echo(struct conn *c, unsigned i, uint32_t len)
{
	struct ibv_sge sge = {.addr = (uintptr_t)(c->bufs + (size_t)i * max_size),
			      .length = len,
			      .lkey = c->mr->lkey};
	struct ibv_send_wr wr = {.wr_id = i,
				 .sg_list = &sge,
				 .num_sge = len ? 1 : 0,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	int ret = ibv_post_send(c->id->qp, &wr, &bad);

	return ret ? fail("ibv_post_send", ret) : 0;
}

/*
 * Blocks until the channel reports the CQ, then re-arms it before the poll
 * that follows, so that a completion landing between that poll and the next
 * wait still raises an event.
 */
static int wait_event(struct conn *c)
{
	struct ibv_cq *cq;
	void *ctx;

	if (ibv_get_cq_event(c->channel, &cq, &ctx))
		return fail("ibv_get_cq_event", errno);
	ibv_ack_cq_events(cq, 1);
	if (ibv_req_notify_cq(cq, 0))
		return fail("ibv_req_notify_cq", errno);
	return 0;
}

/*
 * A connection's thread: a receive's completion sends the buffer back, the
 * send's completion posts the buffer for a receive again. It ends at the
 * first completion in error: the flushes that follow the main thread moving
 * the QP to the error state when the connection goes, or a real failure,
 * which it reports.
 */
static void *echo_loop(void *arg)
{
	struct conn *c = arg;

	for (;;) {
		struct ibv_wc wc[16];
		int n = ibv_poll_cq(c->cq, 16, wc);

		if (n < 0) {
			fail("ibv_poll_cq", EIO);
			return NULL;
		}
		if (n == 0) {
			if (wait_event(c))
				return NULL;
			continue;
		}
		for (int k = 0; k < n; k++) {
			unsigned i = (unsigned)wc[k].wr_id;

			if (wc[k].status != IBV_WC_SUCCESS) {
				if (wc[k].status != IBV_WC_WR_FLUSH_ERR)
					fprintf(stderr,
						"rdma-echo-server: a completion failed: %s\n",
						ibv_wc_status_str(wc[k].status));
				return NULL;
			}
			if (wc[k].opcode == IBV_WC_RECV) {
				if (post_echo(c, i, wc[k].byte_len))
					return NULL;
				c->echoed++;
			} else if (post_recv(c, i)) {
				return NULL;
			}
		}
	}
}

/*
 * Ends a connection and frees it: disconnects (which answers the peer's
 * DREQ), moves the QP to the error state so that its posted receives are
 * flushed and its thread wakes and ends, joins the thread, and destroys
 * the verbs objects and the id. Only the main thread calls this, after
 * acknowledging the connection's last rdma_cm event (destroying an id waits
 * for that).
 */
static void conn_close(struct conn *c)
{
	struct ibv_qp_attr err = {.qp_state = IBV_QPS_ERR};

	if (c->id->qp) {
		rdma_disconnect(c->id);
		ibv_modify_qp(c->id->qp, &err, IBV_QP_STATE);
	}
	if (c->running) {
		pthread_join(c->thread, NULL);
		total_echoed += c->echoed;
		total_conns++;
	}
	if (c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->channel)
		ibv_destroy_comp_channel(c->channel);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	rdma_destroy_id(c->id);
	free(c->bufs);
	free(c);
}

/* Unlinks c from the list of open connections and closes it. */
static void conn_forget(struct conn *c)
{
	for (struct conn **p = &conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	conn_close(c);
}

/*
 * Makes a connection's verbs objects for a connection request's id and
 * posts every receive, so that the peer's first message finds a buffer.
 * Returns 0, or -1 with what failed reported.
 */
static int conn_setup(struct conn *c)
{
	struct ibv_qp_init_attr attr = {
		.cap = {.max_send_wr = depth,
			.max_recv_wr = depth,
			.max_send_sge = 1,
			.max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};

	c->pd = ibv_alloc_pd(c->id->verbs);
	if (!c->pd)
		return fail("ibv_alloc_pd", errno);
	c->channel = ibv_create_comp_channel(c->id->verbs);
	if (!c->channel)
		return fail("ibv_create_comp_channel", errno);
	/* One CQ for both directions: every buffer's whole cycle is seen in one place. */
	c->cq = ibv_create_cq(c->id->verbs, (int)(2 * depth), NULL, c->channel, 0);
	if (!c->cq)
		return fail("ibv_create_cq", errno);
	attr.send_cq = c->cq;
	attr.recv_cq = c->cq;
	if (rdma_create_qp(c->id, c->pd, &attr))
		return fail("rdma_create_qp", errno);
	c->bufs = malloc((size_t)depth * max_size);
	if (!c->bufs)
		return fail("malloc", errno);
	c->mr = ibv_reg_mr(c->pd, c->bufs, (size_t)depth * max_size, IBV_ACCESS_LOCAL_WRITE);
	if (!c->mr)
		return fail("ibv_reg_mr", errno);
	for (unsigned i = 0; i < depth; i++)
		if (post_recv(c, i))
			return -1;
	if (ibv_req_notify_cq(c->cq, 0))
		return fail("ibv_req_notify_cq", errno);
	return 0;
}

/*
 * Accepts a connection request on id: its verbs objects, the accept, and
 * the thread that echoes on it. The thread is made with SIGINT and SIGTERM
 * blocked, so that they reach the main thread and interrupt its wait for
 * rdma_cm events. Returns 0 when the connection is served; -1 when it was
 * rejected or failed, and the caller closes it (id->context, or the bare id
 * when that is NULL) once the request's event is acknowledged.
 */
static int conn_accept(struct rdma_cm_id *id)
{
	struct rdma_conn_param param = {.responder_resources = 1,
					.initiator_depth = 1,
					.retry_count = 6,
					.rnr_retry_count = 7};
	struct conn *c = calloc(1, sizeof(*c));
	sigset_t block, old;

	if (!c) {
		fail("calloc", errno);
		rdma_reject(id, NULL, 0);
		return -1;
	}
	c->id = id;
	id->context = c;
	if (conn_setup(c)) {
		rdma_reject(id, NULL, 0);
		return -1;
	}
	if (rdma_accept(id, &param)) {
		fail("rdma_accept", errno);
		return -1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	c->running = pthread_create(&c->thread, NULL, echo_loop, c) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!c->running) {
		fprintf(stderr, "rdma-echo-server: pthread_create failed\n");
		return -1;
	}
	c->next = conns;
	conns = c;
	return 0;
}

/* Binds a listening id to addr:port. Returns 0, or -1 with what failed reported. */
static int listen_on(struct rdma_cm_id *listener, const char *addr, const char *port)
{
	struct rdma_addrinfo hints = {.ai_flags = RAI_PASSIVE, .ai_port_space = RDMA_PS_TCP}, *res;
	int ret;

	if (rdma_getaddrinfo(addr, port, &hints, &res))
		return fail("rdma_getaddrinfo", errno);
	ret = rdma_bind_addr(listener, res->ai_src_addr);
	rdma_freeaddrinfo(res);
	if (ret)
		return fail("rdma_bind_addr", errno);
	if (rdma_listen(listener, 128))
		return fail("rdma_listen", errno);
	return 0;
}

/*
 * Takes rdma_cm events until a signal stops it. A connection's events come
 * on the listener's channel: a request is accepted; its end (a
 * disconnection, or a connection that never got established) closes it,
 * once the event is acknowledged, since destroying an id waits for that.
 * Returns 0 when stopped, 1 when the channel failed.
 */
static int serve(struct rdma_event_channel *events)
{
	while (!stop) {
		struct rdma_cm_event *ev;
		struct rdma_cm_id *id;
		enum rdma_cm_event_type type;

		if (rdma_get_cm_event(events, &ev)) {
			if (errno == EINTR)
				continue;
			fail("rdma_get_cm_event", errno);
			return 1;
		}
		id = ev->id;
		type = ev->event;
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			/* The new id is the event's own: accept (or reject) before acknowledging.
			 */
			int served = conn_accept(id) == 0;

			rdma_ack_cm_event(ev);
			if (!served && id->context)
				conn_close(id->context);
			else if (!served)
				rdma_destroy_id(id);
			continue;
		}
		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
			if (id->context)
				conn_forget(id->context);
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			fprintf(stderr, "rdma-echo-server: the device went away\n");
			return 1;
		default: /* established, timewait exit: nothing to do */
			break;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: the wait returns */
	struct rdma_event_channel *events;
	struct rdma_cm_id *listener;
	int opt, ret;

	while ((opt = getopt(argc, argv, "m:d:")) != -1) {
		if (opt == 'm')
			max_size = strtoul(optarg, NULL, 10);
		else if (opt == 'd')
			depth = (unsigned)strtoul(optarg, NULL, 10);
		else
			goto usage;
	}
	if (argc - optind != 2 || max_size == 0 || max_size > (1u << 30) || depth == 0 ||
	    depth > 4096)
		goto usage;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	events = rdma_create_event_channel();
	if (!events) {
		fail("rdma_create_event_channel", errno);
		return 2;
	}
	if (rdma_create_id(events, &listener, NULL, RDMA_PS_TCP)) {
		fail("rdma_create_id", errno);
		return 2;
	}
	if (listen_on(listener, argv[optind], argv[optind + 1]))
		return 2;
	printf("rdma-echo-server: listening %s:%s\n", argv[optind], argv[optind + 1]);
	fflush(stdout);
	ret = serve(events);
	while (conns)
		conn_forget(conns);
	printf("rdma-echo-server: echoed %lu message(s) on %lu connection(s)\n", total_echoed,
	       total_conns);
	rdma_destroy_id(listener);
	rdma_destroy_event_channel(events);
	return ret;
usage:
	fprintf(stderr, "usage: rdma-echo-server [-m MAXSIZE] [-d DEPTH] ADDR PORT\n");
	return 2;
}
