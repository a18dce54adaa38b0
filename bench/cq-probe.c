/* SPDX-License-Identifier: MIT */
/*
 * cq-probe: what a CQ and a QP cost in this process's memory on a device,
 * the figures behind rdqd's choice of one CQ per device. Opens the first
 * RDMA device, then makes N objects of one kind and prints the growth of
 * the resident set per object:
 *
 *   cq  DEPTH    a CQ of DEPTH entries on a shared completion channel
 *                (what a CQ per QP would cost)
 *   qp  DEPTH    an RC QP with DEPTH send work requests on a shared CQ
 *                and SRQ (what rdqd's QP costs in provider memory)
 *
 * Usage: cq-probe [-n N] cq|qp DEPTH
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_comp_channel *channel;
	struct ibv_pd *pd;
	struct ibv_cq *shared_cq;
	struct ibv_srq *srq;
	int n = 1000, opt, depth, made = 0;
	long before, after;
	bool cqs;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n')
			goto usage;
		n = atoi(optarg);
	}
	if (argc - optind != 2 || n <= 0)
		goto usage;
	cqs = !strcmp(argv[optind], "cq");
	if (!cqs && strcmp(argv[optind], "qp"))
		goto usage;
	depth = atoi(argv[optind + 1]);
	list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "cq-probe: no RDMA device\n");
		return 1;
	}
	ctx = ibv_open_device(list[0]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	channel = ctx ? ibv_create_comp_channel(ctx) : NULL;
	shared_cq = channel ? ibv_create_cq(ctx, 4096, NULL, channel, 0) : NULL;
	srq = pd ? ibv_create_srq(
			   pd, &(struct ibv_srq_init_attr){.attr = {.max_wr = 256, .max_sge = 1}})
		 : NULL;
	if (!srq || !shared_cq) {
		fprintf(stderr, "cq-probe: cannot set up on %s\n", ibv_get_device_name(list[0]));
		return 1;
	}
	before = rss_kib();
	for (int i = 0; i < n; i++) {
		if (cqs) {
			if (!ibv_create_cq(ctx, depth, NULL, channel, 0))
				break;
		} else {
			struct ibv_qp_init_attr attr = {
				.send_cq = shared_cq,
				.recv_cq = shared_cq,
				.srq = srq,
				.cap = {.max_send_wr = (uint32_t)depth, .max_send_sge = 1},
				.qp_type = IBV_QPT_RC,
			};

			if (!ibv_create_qp(pd, &attr))
				break;
		}
		made++;
	}
	after = rss_kib();
	printf("cq-probe: %s: %d %s of depth %d: %d made, %.1f KiB resident each (%ld KiB in "
	       "all)\n",
	       ibv_get_device_name(list[0]), n, cqs ? "CQs" : "QPs", depth, made,
	       made ? (double)(after - before) / made : 0.0, after - before);
	/* The process exits: the kernel frees what it made. */
	return made == n ? 0 : 1;

usage:
	fprintf(stderr, "usage: cq-probe [-n N] cq|qp DEPTH\n");
	return 2;
}
