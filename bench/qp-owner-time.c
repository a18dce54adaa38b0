/* SPDX-License-Identifier: MIT */
/*
 * qp-owner-time: what rdqd's QP owner check (qp_owner_pid) costs for a QP
 * still in RESET, which only a netlink dump of the device's QPs finds (a QP
 * at INIT is asked for by number, at a cost that does not grow), as the QPs
 * on the device grow. Makes QPs on DEVICE up to each COUNT in turn and, at each, times
 * LOOKUPS lookups of its newest QP: wall time per lookup, and this process's
 * CPU time in its own code (the parse) and in the kernel (the dump). QPs of
 * other processes on the device count too: the dump lists them all. Then
 * the same QP is moved to INIT and timed again, asked for by number: the
 * check a direct client's ep.attach makes, on a socket the thread keeps.
 *
 * Usage: qp-owner-time DEVICE LOOKUPS COUNT...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "engine/level.h"
#include "qp_owner.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void cpu_ms(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3;
	*sys = (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
}

static struct ibv_context *open_device(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	for (int i = 0; list && list[i] && !ctx; i++)
		if (strcmp(ibv_get_device_name(list[i]), name) == 0)
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	return ctx;
}

int main(int argc, char **argv)
{
	struct ibv_qp_init_attr init = {.qp_type = IBV_QPT_RC,
					.cap = {.max_send_wr = 16,
						.max_recv_wr = 16,
						.max_send_sge = 1,
						.max_recv_sge = 1}};
	struct ibv_qp_attr to_init = {.qp_state = IBV_QPS_INIT, .port_num = 1};
	struct ibv_context *ctx;
	struct ibv_qp **qps;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	int lookups, made = 0, max = 0;

	if (argc < 4 || (lookups = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: qp-owner-time DEVICE LOOKUPS COUNT...\n");
		return 2;
	}
	for (int a = 3; a < argc; a++)
		max = atoi(argv[a]) > max ? atoi(argv[a]) : max;
	/* The lookup blocks: rdqd calls it on workers only, so this thread is one too. */
	rdq_level_set(RDQ_LEVEL_PASSIVE);
	ctx = open_device(argv[1]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	cq = pd ? ibv_create_cq(ctx, 8, NULL, NULL, 0) : NULL;
	qps = calloc((size_t)max + 1, sizeof(*qps));
	if (!cq || !qps) {
		fprintf(stderr, "qp-owner-time: cannot open %s and make a PD and a CQ\n", argv[1]);
		return 1;
	}
	init.send_cq = init.recv_cq = cq;
	for (int a = 3; a < argc; a++) {
		int count = atoi(argv[a]) > 0 ? atoi(argv[a]) : 1;
		double t0, t1, u0, s0, u1, s1;
		pid_t pid;

		for (; made < count; made++) {
			qps[made] = ibv_create_qp(pd, &init);
			if (!qps[made]) {
				fprintf(stderr, "qp-owner-time: QP %d: %s\n", made,
					strerror(errno));
				return 1;
			}
		}
		for (int at_init = 0; at_init < 2; at_init++) {
			if (at_init && ibv_modify_qp(qps[made - 1], &to_init,
						     IBV_QP_STATE | IBV_QP_PKEY_INDEX |
							     IBV_QP_PORT | IBV_QP_ACCESS_FLAGS)) {
				fprintf(stderr, "qp-owner-time: INIT: %s\n", strerror(errno));
				return 1;
			}
			cpu_ms(&u0, &s0);
			t0 = now_ms();
			for (int k = 0; k < lookups; k++) {
				int ret = qp_owner_pid(argv[1], qps[made - 1]->qp_num, &pid);

				if (ret < 0 || pid != getpid()) {
					fprintf(stderr, "qp-owner-time: lookup of QP %u: %s\n",
						qps[made - 1]->qp_num,
						ret < 0 ? strerror(-ret) : "not ours");
					return 1;
				}
			}
			t1 = now_ms();
			cpu_ms(&u1, &s1);
			printf("qp-owner-time own_qps %d %s lookup_ms %.3f user_ms %.3f sys_ms "
			       "%.3f\n",
			       made, at_init ? "init" : "reset", (t1 - t0) / lookups,
			       (u1 - u0) / lookups, (s1 - s0) / lookups);
			fflush(stdout);
		}
	}
	for (int i = 0; i < made; i++)
		ibv_destroy_qp(qps[i]);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	free(qps);
	return 0;
}
