/* SPDX-License-Identifier: MIT */
/*
 * qp-owner-check: rdqd's qp_owner_pid against real QPs on an rxe device.
 * Before rdqd drives a client's QP it compares the QP's creator, as RDMA
 * netlink reports it, with the client's pid; each case below is a QP whose
 * creator rdqd must get right, or a name that must not resolve.
 *
 * Usage: qp-owner-check DEVICE [UID]
 * With UID (run as root), one more case reads root's QP as that user, the
 * way rdqd's service user reads its clients' QPs.
 * Prints "ok - CASE" or "FAIL - CASE: WHY" per case; exits 1 if any failed.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "engine/level.h"
#include "qp_owner.h"

static const char *device_name;
static uid_t other_uid;
static bool have_other_uid;

/* This process's verbs objects, shared by the cases. */
static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;

static struct ibv_context *open_device(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *found = NULL;

	for (int i = 0; list && list[i]; i++)
		if (strcmp(ibv_get_device_name(list[i]), name) == 0)
			found = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	return found;
}

static struct ibv_qp *rc_qp(struct ibv_pd *on_pd, struct ibv_cq *on_cq)
{
	struct ibv_qp_init_attr attr = {
		.send_cq = on_cq,
		.recv_cq = on_cq,
		.cap = {.max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};

	return ibv_create_qp(on_pd, &attr);
}

/* The case's verdict: NULL when it passed, else why it failed (static text). */
static char why[256];

static const char *owner_is(uint32_t qp_num, pid_t want)
{
	pid_t got = -1;
	int ret = qp_owner_pid(device_name, qp_num, &got);

	if (ret < 0)
		snprintf(why, sizeof(why), "QP %u: %s, expected pid %d", qp_num, strerror(-ret),
			 (int)want);
	else if (got != want)
		snprintf(why, sizeof(why), "QP %u: pid %d, expected %d", qp_num, (int)got,
			 (int)want);
	else
		return NULL;
	return why;
}

static const char *lookup_fails(const char *dev, uint32_t qp_num, int want)
{
	pid_t got = -1;
	int ret = qp_owner_pid(dev, qp_num, &got);

	if (ret == -want && got == -1)
		return NULL;
	if (ret == 0)
		snprintf(why, sizeof(why), "%s QP %u: pid %d, expected %s", dev, qp_num, (int)got,
			 strerror(want));
	else
		snprintf(why, sizeof(why), "%s QP %u: %s%s, expected %s", dev, qp_num,
			 strerror(-ret), got == -1 ? "" : " (and *pid written)", strerror(want));
	return why;
}

static const char *own_qp(void)
{
	struct ibv_qp *qp = rc_qp(pd, cq);
	const char *verdict;

	if (!qp)
		return "ibv_create_qp failed";
	verdict = owner_is(qp->qp_num, getpid());
	ibv_destroy_qp(qp);
	return verdict;
}

/*
 * A QP at INIT has its port: the kernel answers a request for it by number
 * alone (no dump), the way rdqd asks for a direct client's QP.
 */
static const char *own_qp_at_init(void)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_INIT, .port_num = 1};
	struct ibv_qp *qp = rc_qp(pd, cq);
	const char *verdict;

	if (!qp)
		return "ibv_create_qp failed";
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS)) {
		ibv_destroy_qp(qp);
		return "ibv_modify_qp to INIT failed";
	}
	verdict = owner_is(qp->qp_num, getpid());
	ibv_destroy_qp(qp);
	return verdict;
}

/*
 * The child opens its own context (as a client does), makes a QP, writes its
 * number to the parent and holds it until the parent has looked.
 */
static const char *child_qp(void)
{
	int up[2], down[2];
	uint32_t qp_num = 0;
	const char *verdict;
	pid_t child;
	char done = 0;

	if (pipe(up) || pipe(down))
		return "pipe failed";
	child = fork();
	if (child < 0)
		return "fork failed";
	if (child == 0) {
		struct ibv_context *c = open_device(device_name);
		struct ibv_pd *p = c ? ibv_alloc_pd(c) : NULL;
		struct ibv_cq *q = p ? ibv_create_cq(c, 4, NULL, NULL, 0) : NULL;
		struct ibv_qp *qp = q ? rc_qp(p, q) : NULL;

		qp_num = qp ? qp->qp_num : 0;
		if (write(up[1], &qp_num, sizeof(qp_num)) != sizeof(qp_num) ||
		    read(down[0], &done, 1) != 1)
			_exit(1);
		_exit(0); /* the kernel destroys the child's verbs objects */
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &qp_num, sizeof(qp_num)) != sizeof(qp_num) || !qp_num)
		verdict = "the child made no QP";
	else
		verdict = owner_is(qp_num, child);
	if (write(down[1], &done, 1) != 1)
		verdict = "the child went away";
	close(up[0]);
	close(down[1]);
	waitpid(child, NULL, 0);
	return verdict;
}

/* A second thread of this process makes a QP and stays until the main thread has looked. */
struct maker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ibv_qp *qp;
	pid_t tid;
	bool made, looked;
};

static void *maker_run(void *arg)
{
	struct maker *m = arg;

	pthread_mutex_lock(&m->lock);
	m->qp = rc_qp(pd, cq);
	m->tid = gettid();
	m->made = true;
	pthread_cond_signal(&m->cond);
	while (!m->looked)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/*
 * The kernel records the creating thread: the QP names its thread id, which
 * is not the process's pid, so a comparison with a client's pid fails closed.
 */
static const char *thread_qp(void)
{
	struct maker m = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	const char *verdict;
	pthread_t thread;

	if (pthread_create(&thread, NULL, maker_run, &m))
		return "pthread_create failed";
	pthread_mutex_lock(&m.lock);
	while (!m.made)
		pthread_cond_wait(&m.cond, &m.lock);
	verdict = m.qp ? owner_is(m.qp->qp_num, m.tid) : "ibv_create_qp failed";
	if (!verdict && m.tid == getpid())
		verdict = "the thread's id is the process's pid";
	m.looked = true;
	pthread_cond_signal(&m.cond);
	pthread_mutex_unlock(&m.lock);
	pthread_join(thread, NULL);
	if (m.qp)
		ibv_destroy_qp(m.qp);
	return verdict;
}

static const char *destroyed_qp(void)
{
	struct ibv_qp *qp = rc_qp(pd, cq);
	uint32_t qp_num;

	if (!qp)
		return "ibv_create_qp failed";
	qp_num = qp->qp_num;
	ibv_destroy_qp(qp);
	return lookup_fails(device_name, qp_num, ENOENT);
}

/* QP numbers are 24 bits, and rxe hands out small ones: this one is never there. */
static const char *missing_qp(void)
{
	return lookup_fails(device_name, 0xffffff, ENOENT);
}

/* The kernel's MAD layer owns QP 1 (GSI) on every RoCE port: a kernel QP. */
static const char *kernel_qp(void)
{
	return lookup_fails(device_name, 1, ESRCH);
}

static const char *unknown_device(void)
{
	return lookup_fails("rdq-no-such-dev", 1, ENODEV);
}

static int rename_device(const char *from, const char *to)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rdma dev set %s name %s", from, to);
	return system(cmd);
}

/*
 * The lookup remembers the device's index from the cases before: once the
 * index has another name, the old name must not find the QP there, and the
 * new one must.
 */
static const char *renamed_device(void)
{
	static const char other[] = "rdqrenamed0";
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_INIT, .port_num = 1};
	struct ibv_qp *qp = rc_qp(pd, cq);
	const char *verdict = NULL;
	pid_t got = -1;
	int ret;

	if (!qp)
		return "ibv_create_qp failed";
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		verdict = "ibv_modify_qp to INIT failed";
	if (!verdict)
		verdict = owner_is(qp->qp_num, getpid());
	if (!verdict && rename_device(device_name, other) != 0)
		verdict = "rdma dev set ... name failed";
	if (!verdict) {
		verdict = lookup_fails(device_name, qp->qp_num, ENODEV);
		ret = verdict ? 0 : qp_owner_pid(other, qp->qp_num, &got);
		if (!verdict && (ret < 0 || got != getpid())) {
			snprintf(why, sizeof(why), "as %s: %s, pid %d", other,
				 ret < 0 ? strerror(-ret) : "found", (int)got);
			verdict = why;
		}
		if (rename_device(other, device_name) != 0 && !verdict)
			verdict = "renaming the device back failed";
	}
	if (!verdict)
		verdict = owner_is(qp->qp_num, getpid());
	ibv_destroy_qp(qp);
	return verdict;
}

/* rdqd runs as its own user: it must read other users' QPs without privileges. */
static const char *unprivileged(void)
{
	struct ibv_qp *qp = rc_qp(pd, cq);
	const char *verdict = NULL;
	pid_t parent = getpid(), child;
	int status;

	if (!qp)
		return "ibv_create_qp failed";
	child = fork();
	if (child == 0) {
		if (setgroups(0, NULL) || setgid(other_uid) || setuid(other_uid))
			_exit(2);
		verdict = owner_is(qp->qp_num, parent);
		if (verdict)
			fprintf(stderr, "as uid %u: %s\n", (unsigned)other_uid, verdict);
		_exit(verdict ? 1 : 0);
	}
	if (child < 0 || waitpid(child, &status, 0) != child)
		verdict = "fork failed";
	else if (!WIFEXITED(status) || WEXITSTATUS(status) == 2)
		verdict = "could not become the other user";
	else if (WEXITSTATUS(status) != 0)
		verdict = "the other user did not read the owner (above)";
	ibv_destroy_qp(qp);
	return verdict;
}

static const struct check_case {
	const char *name;
	const char *(*run)(void);
	bool needs_uid;
} cases[] = {
	{"a QP this process made names this process", own_qp, false},
	{"a QP at INIT (with its port) names this process, asked for by number", own_qp_at_init,
	 false},
	{"a QP a forked child made names the child, not its parent", child_qp, false},
	{"a QP a second thread made names that thread, not the process", thread_qp, false},
	{"a destroyed QP's number gives ENOENT", destroyed_qp, false},
	{"a QP number the device never had gives ENOENT", missing_qp, false},
	{"the kernel's GSI QP (QP 1) has no owning process: ESRCH", kernel_qp, false},
	{"an unknown device gives ENODEV", unknown_device, false},
	{"a device renamed since the last lookup is not found by its old name", renamed_device,
	 false},
	{"another user reads the owner of root's QP", unprivileged, true},
};

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: qp-owner-check DEVICE [UID]\n");
		return 2;
	}
	device_name = argv[1];
	if (argc == 3) {
		other_uid = (uid_t)strtoul(argv[2], NULL, 10);
		have_other_uid = true;
	}
	/* The lookup blocks: rdqd calls it on workers only, so this thread is one too. */
	rdq_level_set(RDQ_LEVEL_PASSIVE);
	ctx = open_device(device_name);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	cq = pd ? ibv_create_cq(ctx, 8, NULL, NULL, 0) : NULL;
	if (!cq) {
		fprintf(stderr, "qp-owner-check: cannot open %s and make a PD and a CQ\n",
			device_name);
		return 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *verdict;

		if (cases[i].needs_uid && !have_other_uid)
			continue;
		verdict = cases[i].run();
		if (verdict) {
			printf("FAIL - %s: %s\n", cases[i].name, verdict);
			failed++;
		} else {
			printf("ok - %s\n", cases[i].name);
		}
		fflush(stdout);
	}
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return failed ? 1 : 0;
}
