/* SPDX-License-Identifier: MIT */
/*
 * rdma-pingpong: the round-trip latency of one message against an echo
 * service (rdqd's passive endpoints), written against librdmacm and
 * libibverbs directly: the baseline that bench/echo-lat.sh sets rdq-pingpong
 * (the same exchange through rdqd) beside.
 *
 * Usage: rdma-pingpong [-w WARMUP] [-t START] ADDR PORT SIZE ITERS
 *
 * After WARMUP round trips (default 100) it times ITERS more, each from the
 * post of the send to the completion of the echo's receive, and prints
 *   pingpong size SIZE iters ITERS p50_us P50 p99_us P99 rps RPS t0 T0 t1 T1
 * RPS is ITERS over the time the ITERS round trips took together; T0 and T1
 * are when they began and ended, in seconds on CLOCK_MONOTONIC, so that the
 * requests per second of several clients at once (bench/serve-rtt.sh) can be
 * taken over the span from the first one's start to the last one's end.
 * With -t it waits after the warm-up until the realtime clock reads START
 * (seconds since the epoch), so that clients started together time together.
 * The completions are waited for as ib_send_lat -e does: armed CQ, blocking
 * read of the completion channel, then a poll. Every echo's length and the
 * sequence stamps at both ends are checked, every 16th echo byte by byte.
 * Exit status: 0 measured; 1 an echo was wrong or failed; 2 usage or
 * set-up. An echo that never comes leaves it waiting: run it under timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "percentile.h"

/* The work request ids, to tell the two completions of a round trip apart. */
enum { WR_SEND = 1, WR_RECV = 2 };

struct pingpong {
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *out, *in;
	size_t size;
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "rdma-pingpong: %s: %s\n", what, strerror(err));
	return 2;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Sleeps until the realtime clock reads start (seconds since the epoch); at once if it did. */
static void wait_until(time_t start)
{
	struct timespec at = {.tv_sec = start};

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
}

/*
 * Connects with the synchronous rdma_cm calls (no event channel): set-up is
 * not measured, and this keeps it short. The PD, CQ and channel are made by
 * hand, after address resolution gave the device, so that the completions
 * come through one channel this program waits on itself.
 */
static int connect_to(struct pingpong *p, const char *addr, const char *port)
{
	struct rdma_addrinfo hints = {.ai_port_space = RDMA_PS_TCP}, *res;
	struct ibv_qp_init_attr attr = {
		.cap = {.max_send_wr = 2, .max_recv_wr = 2, .max_send_sge = 1, .max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	struct rdma_conn_param param = {.responder_resources = 1,
					.initiator_depth = 1,
					.retry_count = 6,
					.rnr_retry_count = 7};
	int ret;

	ret = rdma_getaddrinfo(addr, port, &hints, &res);
	if (ret)
		return fail("rdma_getaddrinfo", errno);
	ret = rdma_create_ep(&p->id, res, NULL, NULL);
	rdma_freeaddrinfo(res);
	if (ret)
		return fail("rdma_create_ep", errno);
	p->pd = ibv_alloc_pd(p->id->verbs);
	if (!p->pd)
		return fail("ibv_alloc_pd", errno);
	p->channel = ibv_create_comp_channel(p->id->verbs);
	if (!p->channel)
		return fail("ibv_create_comp_channel", errno);
	/* One CQ for both directions: a round trip is one wait that sees both completions. */
	p->cq = ibv_create_cq(p->id->verbs, 4, NULL, p->channel, 0);
	if (!p->cq)
		return fail("ibv_create_cq", errno);
	attr.send_cq = p->cq;
	attr.recv_cq = p->cq;
	if (rdma_create_qp(p->id, p->pd, &attr))
		return fail("rdma_create_qp", errno);
	/* One registration for both buffers, laid end to end. */
	p->out = malloc(2 * p->size);
	if (!p->out)
		return fail("malloc", errno);
	p->in = p->out + p->size;
	p->mr = ibv_reg_mr(p->pd, p->out, 2 * p->size, IBV_ACCESS_LOCAL_WRITE);
	if (!p->mr)
		return fail("ibv_reg_mr", errno);
	if (ibv_req_notify_cq(p->cq, 0))
		return fail("ibv_req_notify_cq", errno);
	if (rdma_connect(p->id, &param))
		return fail("rdma_connect", errno);
	return 0;
}

static void teardown(struct pingpong *p)
{
	if (p->id && p->id->qp)
		rdma_disconnect(p->id);
	if (p->mr)
		ibv_dereg_mr(p->mr);
	if (p->id && p->id->qp)
		rdma_destroy_qp(p->id);
	if (p->cq)
		ibv_destroy_cq(p->cq);
	if (p->channel)
		ibv_destroy_comp_channel(p->channel);
	if (p->pd)
		ibv_dealloc_pd(p->pd);
	if (p->id)
		rdma_destroy_ep(p->id);
	free(p->out);
}

/*
 * Blocks until the channel reports the CQ, then re-arms it. Arming before
 * the poll that follows means a completion that lands between the poll and
 * the next wait still raises an event, so no completion is slept through.
 * The read blocks without a bound, as ib_send_lat -e does, so that both pay
 * the same system calls per wait; bench/echo-lat.sh bounds the whole run.
 */
static int wait_event(struct pingpong *p)
{
	struct ibv_cq *cq;
	void *ctx;

	if (ibv_get_cq_event(p->channel, &cq, &ctx))
		return fail("ibv_get_cq_event", errno);
	ibv_ack_cq_events(cq, 1);
	if (ibv_req_notify_cq(cq, 0))
		return fail("ibv_req_notify_cq", errno);
	return 0;
}

/*
 * The stamps written into the message's first and last 8 bytes: an echo of
 * an earlier message, or a receive buffer left as it was, shows at once.
 */
static void stamp(uint8_t *buf, size_t size, uint64_t seq)
{
	size_t n = size < 8 ? size : 8;

	memcpy(buf, &seq, n);
	if (size >= 16)
		memcpy(buf + size - 8, &seq, 8);
}

/*
 * One round trip: the receive is posted before the send, so the echo never
 * waits for a buffer (an RNR retry would cost milliseconds and say nothing
 * about the echo). Returns 0 with *us the time from the send's post to the
 * echo's completion; 1 when the echo failed; 2 on a local error.
 */
static int round_trip(struct pingpong *p, uint64_t seq, double *us)
{
	struct ibv_sge out = {
		.addr = (uintptr_t)p->out, .length = (uint32_t)p->size, .lkey = p->mr->lkey};
	struct ibv_sge in = {
		.addr = (uintptr_t)p->in, .length = (uint32_t)p->size, .lkey = p->mr->lkey};
	struct ibv_send_wr swr = {
		.wr_id = WR_SEND, .sg_list = &out, .num_sge = 1, .opcode = IBV_WR_SEND};
	struct ibv_recv_wr rwr = {.wr_id = WR_RECV, .sg_list = &in, .num_sge = 1}, *bad_rwr;
	struct ibv_send_wr *bad_swr;
	int sent = 0, got = 0, ret;
	uint32_t got_len = 0;
	double t0;

	stamp(p->out, p->size, seq);
	ret = ibv_post_recv(p->id->qp, &rwr, &bad_rwr);
	if (ret)
		return fail("ibv_post_recv", ret);
	t0 = now_us();
	ret = ibv_post_send(p->id->qp, &swr, &bad_swr);
	if (ret)
		return fail("ibv_post_send", ret);
	while (!sent || !got) {
		struct ibv_wc wc[2];
		int n = ibv_poll_cq(p->cq, 2, wc);

		if (n < 0)
			return fail("ibv_poll_cq", EIO);
		if (n == 0) {
			ret = wait_event(p);
			if (ret)
				return ret;
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				printf("rdma-pingpong: message %llu: %s failed: %s\n",
				       (unsigned long long)seq,
				       wc[i].wr_id == WR_SEND ? "the send" : "the echo",
				       ibv_wc_status_str(wc[i].status));
				return 1;
			}
			if (wc[i].wr_id == WR_SEND) {
				sent = 1;
			} else {
				got = 1;
				got_len = wc[i].byte_len;
			}
		}
	}
	*us = now_us() - t0;
	if (got_len != p->size) {
		printf("rdma-pingpong: message %llu: %u bytes back of %zu sent\n",
		       (unsigned long long)seq, got_len, p->size);
		return 1;
	}
	return 0;
}

/* Checks the echo in the receive buffer: the stamps always, the whole message when full. */
static int check(const struct pingpong *p, uint64_t seq, int full)
{
	size_t n = p->size < 8 ? p->size : 8, tail = p->size - n;
	int differs =
		full ? memcmp(p->in, p->out, p->size) != 0
		     : memcmp(p->in, p->out, n) != 0 || memcmp(p->in + tail, p->out + tail, n) != 0;

	if (differs)
		printf("rdma-pingpong: message %llu: the echo differs from what was sent\n",
		       (unsigned long long)seq);
	return differs;
}

int main(int argc, char **argv)
{
	struct pingpong p = {0};
	unsigned long warmup = 100, iters;
	time_t start = 0;
	double *lat, t0 = 0, t1;
	int opt, ret;

	while ((opt = getopt(argc, argv, "w:t:")) != -1) {
		if (opt == 'w')
			warmup = strtoul(optarg, NULL, 10);
		else if (opt == 't')
			start = (time_t)strtoll(optarg, NULL, 10);
		else
			goto usage;
	}
	if (argc - optind != 4)
		goto usage;
	p.size = strtoul(argv[optind + 2], NULL, 10);
	iters = strtoul(argv[optind + 3], NULL, 10);
	if (p.size == 0 || p.size > (1u << 30) || iters == 0)
		goto usage;
	lat = calloc(iters, sizeof(*lat));
	if (!lat)
		return fail("calloc", errno);
	ret = connect_to(&p, argv[optind], argv[optind + 1]);
	/* Every byte differs from its neighbours, and the pattern is not the echo's stamp. */
	for (size_t j = 0; !ret && j < p.size; j++)
		p.out[j] = (uint8_t)(j * 7u + (j >> 8) + 1u);
	for (unsigned long i = 0; !ret && i < warmup + iters; i++) {
		double us;

		if (i == warmup) {
			if (start)
				wait_until(start);
			t0 = now_us();
		}
		ret = round_trip(&p, i + 1, &us);
		if (!ret)
			ret = check(&p, i + 1, i % 16 == 0);
		if (!ret && i >= warmup)
			lat[i - warmup] = us;
	}
	t1 = now_us();
	if (!ret) {
		percentile_sort(lat, iters);
		printf("pingpong size %zu iters %lu p50_us %.1f p99_us %.1f rps %.1f t0 %.6f t1 "
		       "%.6f\n",
		       p.size, iters, percentile(lat, iters, 0.50), percentile(lat, iters, 0.99),
		       (double)iters / ((t1 - t0) / 1e6), t0 / 1e6, t1 / 1e6);
	}
	teardown(&p);
	free(lat);
	return ret;
usage:
	fprintf(stderr, "usage: rdma-pingpong [-w WARMUP] [-t START] ADDR PORT SIZE ITERS\n");
	return 2;
}
