/* SPDX-License-Identifier: MIT */
/*
 * rdq-direct-storm: the connection storm of direct endpoints, for comparison
 * with rdma-core's cmtime and with rdq-storm. rdqd runs each connection on a
 * QP-less rdma_cm id; this program makes the QPs, as a program with many
 * connections would: one verbs context, PD and CQ shared by all of them.
 *
 * Connects N direct endpoints to a listener, at most --window connections
 * in flight, each through its own steps:
 *   ep.resolve -> ibv_create_qp -> INIT -> ep.attach -> RTR, RTS (ibv_modify_qp)
 *   -> ep.establish
 * then disconnects them all the same way (ep.disconnect with wait, which
 * completes once this program has answered rdqd's ep.flush for the
 * endpoint: its QP moved to error, then ep.flushed), and prints the time of
 * each phase: total and per connection. Every reply is checked; the first
 * error ends the run with a message that names the step and the connection.
 *
 * A second line says where the time went: each request's mean time from
 * sent to answered, the time spent in ibv_create_qp and ibv_modify_qp, this
 * program's CPU time per phase and, with -p (rdqd's pid), rdqd's, in its own
 * code and in the kernel for it.
 *
 * Usage: rdq-direct-storm [-s SOCKET] [-n N] [-w WINDOW] [-d DEPTH] [-p PID] ADDR[:PORT]
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <rdq/client.h>
#include <rdq/direct.h>

#define STEP_TIMEOUT_MS 30000
#define NEXT_TIMEOUT_MS 60000
/*
 * A connection being disconnected may have two requests pending at once (its
 * ep.disconnect and its ep.flushed): the window is bounded so that they stay
 * under rdqd's default --max-pending (256) and are never refused with EBUSY.
 */
#define MAX_WINDOW 128

/* Request owners that are not connections. */
#define FOR_NONE (-1)
#define UNSENT	 (-2)

/* Where one connection is; each state but IDLE, UP and DOWN waits for one reply. */
enum conn_state {
	IDLE,	       /* not begun */
	RESOLVING,     /* ep.resolve sent */
	ATTACHING,     /* QP made, ep.attach sent: the reply comes once the peer accepted */
	ESTABLISHING,  /* steps applied, ep.establish sent */
	UP,	       /* connected */
	DISCONNECTING, /* ep.disconnect sent; ep.flush is answered meanwhile */
	DOWN,	       /* disconnected */
	DESTROYING,    /* ep.destroy sent */
	GONE,	       /* endpoint destroyed */
};

struct conn {
	enum conn_state state;
	uint64_t ep;
	struct ibv_qp *qp;
	int flushed;	/* ep.flush came and the QP is in error */
	double sent_at; /* when its pending request was sent (ms) */
};

/* The verbs objects all connections share, opened on the first device rdqd names. */
struct verbs {
	/*
	 * Read before the clock starts, as cmtime's rdma_cm reads it when its
	 * event channel is made: loading the providers is a program's start-up,
	 * not a connection's cost. Opening the device stays in the storm.
	 */
	struct ibv_device **list;
	char device[64];
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint32_t depth;
};

struct storm {
	struct rdq_client *client;
	const char *addr;
	int port;
	struct conn *conns;
	int n;
	struct verbs v;

	/*
	 * Which connection each request id belongs to (FOR_NONE: an ep.flushed;
	 * UNSENT: no request has that id). Ids count up
	 * from 1 on the client, and each connection makes a bounded number of
	 * requests, so a plain array covers the whole run.
	 */
	int *owner;
	int64_t owner_size;

	/* Endpoint handle -> connection, for ep.flush: open addressing, twice N slots. */
	uint64_t *ep_key;
	int *ep_conn;
	size_t ep_slots;

	int in_flight;	 /* connections of the current phase awaiting their reply */
	int flushed_out; /* ep.flushed sent, not yet answered */

	/* Where the time goes: per state, the replies' times summed (ms) and counted. */
	double wait_ms[GONE + 1];
	int replies[GONE + 1];
	double create_qp_ms, modify_qp_ms; /* in the verbs calls, all connections */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t ep_slot(const struct storm *s, uint64_t ep)
{
	size_t i = (size_t)(ep * 0x9e3779b97f4a7c15ull) % s->ep_slots;

	while (s->ep_key[i] && s->ep_key[i] != ep)
		i = (i + 1) % s->ep_slots;
	return i;
}

static void ep_add(struct storm *s, uint64_t ep, int conn)
{
	size_t i = ep_slot(s, ep);

	s->ep_key[i] = ep;
	s->ep_conn[i] = conn;
}

static int ep_find(const struct storm *s, uint64_t ep)
{
	size_t i = ep_slot(s, ep);

	return s->ep_key[i] == ep ? s->ep_conn[i] : -1;
}

static const char *state_name(enum conn_state st)
{
	static const char *const names[] = {
		[IDLE] = "idle",
		[RESOLVING] = "ep.resolve",
		[ATTACHING] = "ep.attach",
		[ESTABLISHING] = "ep.establish",
		[UP] = "up",
		[DISCONNECTING] = "ep.disconnect",
		[DOWN] = "down",
		[DESTROYING] = "ep.destroy",
		[GONE] = "gone",
	};

	return names[st];
}

/* Sends op for connection i (or FOR_NONE); steals args. */
static int send_for(struct storm *s, int i, const char *op, json_t *args)
{
	int64_t id;
	int ret;

	if (!args) {
		fprintf(stderr, "rdq-direct-storm: out of memory\n");
		return -ENOMEM;
	}
	ret = rdq_client_send(s->client, op, args, &id);
	if (ret < 0) {
		fprintf(stderr, "rdq-direct-storm: sending %s: %s\n", op, strerror(-ret));
		return ret;
	}
	if (id <= 0 || id >= s->owner_size) {
		fprintf(stderr, "rdq-direct-storm: request id %lld is out of range\n",
			(long long)id);
		return -ERANGE;
	}
	s->owner[id] = i;
	if (i >= 0)
		s->conns[i].sent_at = now_ms();
	return 0;
}

static int open_verbs(struct verbs *v, const char *device)
{
	for (int i = 0; v->list && v->list[i] && !v->ctx; i++)
		if (strcmp(ibv_get_device_name(v->list[i]), device) == 0)
			v->ctx = ibv_open_device(v->list[i]);
	if (!v->ctx) {
		fprintf(stderr, "rdq-direct-storm: cannot open RDMA device %s\n", device);
		return -ENODEV;
	}
	snprintf(v->device, sizeof(v->device), "%s", device);
	/* No work request is ever posted: the CQ only has to exist for the QPs. */
	v->pd = ibv_alloc_pd(v->ctx);
	v->cq = v->pd ? ibv_create_cq(v->ctx, (int)(2 * v->depth), NULL, NULL, 0) : NULL;
	if (!v->pd || !v->cq) {
		fprintf(stderr, "rdq-direct-storm: cannot make a PD and CQ on %s: %s\n", device,
			strerror(errno));
		return -errno;
	}
	return 0;
}

static void close_verbs(struct verbs *v)
{
	if (v->cq)
		ibv_destroy_cq(v->cq);
	if (v->pd)
		ibv_dealloc_pd(v->pd);
	if (v->ctx)
		ibv_close_device(v->ctx);
	if (v->list)
		ibv_free_device_list(v->list);
}

/* Moves connection i's QP by one of rdqd's steps (ibv_modify_qp), timed. */
static int apply_step(struct storm *s, int i, const json_t *step)
{
	struct conn *c = &s->conns[i];
	struct ibv_qp_attr attr;
	int mask, ret = rdq_qp_attr_read(step, &attr, &mask);
	double t;

	if (ret < 0) {
		fprintf(stderr, "rdq-direct-storm: connection %d: a step is not QP attributes\n",
			i);
		return ret;
	}
	t = now_ms();
	ret = ibv_modify_qp(c->qp, &attr, mask) ? -errno : 0;
	s->modify_qp_ms += now_ms() - t;
	if (ret < 0)
		fprintf(stderr, "rdq-direct-storm: connection %d: ibv_modify_qp to state %d: %s\n",
			i, (int)attr.qp_state, strerror(-ret));
	return ret;
}

/* ep.resolve answered: make the connection's QP on the device it named, and attach it. */
static int resolved(struct storm *s, int i, const json_t *result)
{
	const char *device = json_string_value(json_object_get(result, "device"));
	uint64_t ep = (uint64_t)json_integer_value(json_object_get(result, "ep"));
	struct ibv_qp_init_attr init = {.qp_type = IBV_QPT_RC};
	struct conn *c = &s->conns[i];
	double t;
	int ret;

	if (!device || !ep) {
		fprintf(stderr, "rdq-direct-storm: ep.resolve %d: no device or endpoint\n", i);
		return -EBADMSG;
	}
	c->ep = ep;
	ep_add(s, ep, i);
	if (!s->v.ctx) {
		ret = open_verbs(&s->v, device);
		if (ret < 0)
			return ret;
	} else if (strcmp(device, s->v.device) != 0) {
		/* One context for all is the point: a route through another device is not this
		 * storm. */
		fprintf(stderr, "rdq-direct-storm: ep.resolve %d names %s, not %s\n", i, device,
			s->v.device);
		return -EXDEV;
	}
	init.send_cq = init.recv_cq = s->v.cq;
	init.cap.max_send_wr = init.cap.max_recv_wr = s->v.depth;
	init.cap.max_send_sge = init.cap.max_recv_sge = 1;
	t = now_ms();
	c->qp = ibv_create_qp(s->v.pd, &init);
	s->create_qp_ms += now_ms() - t;
	if (!c->qp) {
		ret = -errno;
		fprintf(stderr, "rdq-direct-storm: ibv_create_qp for connection %d: %s\n", i,
			strerror(-ret));
		return ret;
	}
	/* INIT first, as ep.resolve gave it: a QP with its port is what rdqd checks quickest. */
	ret = apply_step(s, i, json_object_get(result, "init"));
	if (ret < 0)
		return ret;
	c->state = ATTACHING;
	return send_for(s, i, "ep.attach",
			json_pack("{s:I, s:I, s:i}", "ep", (json_int_t)ep, "qp_num",
				  (json_int_t)c->qp->qp_num, "timeout_ms", STEP_TIMEOUT_MS));
}

/* ep.attach answered with the steps: move the QP through them, then establish. */
static int attached(struct storm *s, int i, const json_t *result)
{
	const json_t *steps = json_object_get(result, "steps");
	struct conn *c = &s->conns[i];
	int ret;

	if (!json_is_array(steps) || json_array_size(steps) == 0) {
		fprintf(stderr, "rdq-direct-storm: ep.attach %d: no steps\n", i);
		return -EBADMSG;
	}
	for (size_t k = 0; k < json_array_size(steps); k++) {
		ret = apply_step(s, i, json_array_get(steps, k));
		if (ret < 0)
			return ret;
	}
	c->state = ESTABLISHING;
	return send_for(
		s, i, "ep.establish",
		json_pack("{s:I, s:i}", "ep", (json_int_t)c->ep, "timeout_ms", STEP_TIMEOUT_MS));
}

/* A reply to connection i's pending request: the next step, or the connection's end of the phase.
 */
static int on_reply(struct storm *s, int i, const json_t *result)
{
	struct conn *c = &s->conns[i];

	s->wait_ms[c->state] += now_ms() - c->sent_at;
	s->replies[c->state]++;
	switch (c->state) {
	case RESOLVING:
		return resolved(s, i, result);
	case ATTACHING:
		return attached(s, i, result);
	case ESTABLISHING:
		c->state = UP;
		s->in_flight--;
		return 0;
	case DISCONNECTING:
		/* rdqd completes the disconnect only after our ep.flushed. */
		if (!c->flushed) {
			fprintf(stderr,
				"rdq-direct-storm: ep.disconnect %d answered before its ep.flush\n",
				i);
			return -EPROTO;
		}
		c->state = DOWN;
		s->in_flight--;
		return 0;
	case DESTROYING:
		c->state = GONE;
		s->in_flight--;
		return 0;
	case IDLE:
	case UP:
	case DOWN:
	case GONE:
		break;
	}
	fprintf(stderr, "rdq-direct-storm: a reply for connection %d, which waits for none (%s)\n",
		i, state_name(c->state));
	return -EPROTO;
}

/*
 * ep.flush: the connection is down and its QP is ours to move to error.
 * Only a disconnect this program asked for may bring one.
 */
static int on_flush(struct storm *s, const json_t *msg)
{
	uint64_t ep = (uint64_t)json_integer_value(json_object_get(msg, "ep"));
	int status = (int)json_integer_value(json_object_get(msg, "status"));
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};
	int i = ep_find(s, ep), ret;
	struct conn *c;
	double t;

	if (i < 0) {
		fprintf(stderr, "rdq-direct-storm: ep.flush for endpoint %llu, not one of ours\n",
			(unsigned long long)ep);
		return -EPROTO;
	}
	c = &s->conns[i];
	if (c->state != DISCONNECTING || status != 0) {
		fprintf(stderr,
			"rdq-direct-storm: connection %d (endpoint %llu) flushed in %s: %s\n", i,
			(unsigned long long)ep, state_name(c->state),
			status ? rdq_strerrno(-status) : "unasked");
		return -EPROTO;
	}
	t = now_ms();
	ret = ibv_modify_qp(c->qp, &attr, IBV_QP_STATE) ? -errno : 0;
	s->modify_qp_ms += now_ms() - t;
	if (ret < 0) {
		fprintf(stderr, "rdq-direct-storm: connection %d: QP to error: %s\n", i,
			strerror(-ret));
		return ret;
	}
	c->flushed = 1;
	/* Its reply belongs to no connection: it is checked, and changes no state. */
	s->flushed_out++;
	return send_for(s, FOR_NONE, "ep.flushed", json_pack("{s:I}", "ep", (json_int_t)ep));
}

/* Reads one message from rdqd and acts on it. */
static int pump(struct storm *s)
{
	const char *why, *event;
	json_t *msg;
	int64_t id;
	int i, status, ret;

	ret = rdq_client_next(s->client, NEXT_TIMEOUT_MS, &msg);
	if (ret < 0) {
		fprintf(stderr, "rdq-direct-storm: reading from rdqd: %s\n",
			ret == -EAGAIN ? "nothing for 60 s" : strerror(-ret));
		return ret;
	}
	if (rdq_message_is_event(msg)) {
		event = json_string_value(json_object_get(msg, "event"));
		ret = event && strcmp(event, "ep.flush") == 0 ? on_flush(s, msg) : 0;
		json_decref(msg);
		return ret;
	}
	id = json_integer_value(json_object_get(msg, "id"));
	if (id <= 0 || id >= s->owner_size || !rdq_message_is_reply(msg, id)) {
		fprintf(stderr, "rdq-direct-storm: a message that is neither event nor reply\n");
		json_decref(msg);
		return -EBADMSG;
	}
	i = s->owner[id];
	if (i == UNSENT) {
		fprintf(stderr, "rdq-direct-storm: a reply to request %lld, never sent\n",
			(long long)id);
		json_decref(msg);
		return -EPROTO;
	}
	s->owner[id] = UNSENT;
	status = rdq_reply_status(msg, &why);
	if (status < 0) {
		if (i >= 0)
			fprintf(stderr, "rdq-direct-storm: %s of connection %d failed: %s: %s\n",
				state_name(s->conns[i].state), i, rdq_strerrno(-status), why);
		else
			fprintf(stderr, "rdq-direct-storm: ep.flushed failed: %s: %s\n",
				rdq_strerrno(-status), why);
		json_decref(msg);
		return status;
	}
	if (i == FOR_NONE)
		s->flushed_out--;
	ret = i >= 0 ? on_reply(s, i, json_object_get(msg, "result")) : 0;
	json_decref(msg);
	return ret;
}

/* Connects every connection, at most window at once. */
static int connect_all(struct storm *s, int window)
{
	int next = 0, ret;

	while (next < s->n || s->in_flight > 0) {
		while (next < s->n && s->in_flight < window) {
			json_t *args = json_pack("{s:s, s:i, s:i}", "addr", s->addr, "port",
						 s->port, "timeout_ms", STEP_TIMEOUT_MS);

			s->conns[next].state = RESOLVING;
			ret = send_for(s, next, "ep.resolve", args);
			if (ret < 0)
				return ret;
			next++;
			s->in_flight++;
		}
		ret = pump(s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Sends op (ep.disconnect or ep.destroy) for every connection, at most window
 * at once. The phase ends with the last reply, ep.flushed's included.
 */
static int each(struct storm *s, int window, enum conn_state state, const char *op)
{
	int next = 0, ret;

	while (next < s->n || s->in_flight > 0 || s->flushed_out > 0) {
		while (next < s->n && s->in_flight < window) {
			struct conn *c = &s->conns[next];
			json_t *args =
				state == DISCONNECTING
					? json_pack("{s:I, s:b, s:i}", "ep", (json_int_t)c->ep,
						    "wait", 1, "timeout_ms", STEP_TIMEOUT_MS)
					: json_pack("{s:I}", "ep", (json_int_t)c->ep);

			c->state = state;
			ret = send_for(s, next, op, args);
			if (ret < 0)
				return ret;
			next++;
			s->in_flight++;
		}
		ret = pump(s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* CPU time (ms) of a process, in its own code and in the kernel for it, from /proc/PID/stat. */
static void process_cpu(int pid, double *user_ms, double *sys_ms)
{
	char path[64], line[1024], *p;
	unsigned long utime = 0, stime = 0;
	double tick = (double)sysconf(_SC_CLK_TCK);
	FILE *f;

	*user_ms = *sys_ms = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	/* The name may hold spaces: the fields after it start past its ')'. */
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			 &stime) != 2)
		return;
	*user_ms = (double)utime * 1000.0 / tick;
	*sys_ms = (double)stime * 1000.0 / tick;
}

/* CPU time so far (ms): this program's (user, sys), and rdqd's when pid > 0. */
struct cpu {
	double self_user, self_sys, rdqd_user, rdqd_sys;
};

static struct cpu cpu_now(int pid)
{
	struct cpu c = {0};
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		c.self_user = (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3;
		c.self_sys = (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
	}
	if (pid > 0)
		process_cpu(pid, &c.rdqd_user, &c.rdqd_sys);
	return c;
}

static double mean(const struct storm *s, enum conn_state st)
{
	return s->replies[st] ? s->wait_ms[st] / s->replies[st] : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rdq-direct-storm [-s SOCKET] [-n N] [-w WINDOW (1..%d)] [-d DEPTH] "
		"[-p PID] ADDR[:PORT]\n",
		MAX_WINDOW);
}

int main(int argc, char **argv)
{
	struct storm s = {.port = 7472, .n = 100, .v = {.depth = 16}};
	const char *socket = NULL;
	int window = 64, depth = 16, pid = 0, opt, ret;
	char addr[64], *colon;
	struct cpu c0, c1, c2;
	double t0, t1, t2;

	while ((opt = getopt(argc, argv, "s:n:w:d:p:h")) != -1) {
		switch (opt) {
		case 's':
			socket = optarg;
			break;
		case 'n':
			s.n = atoi(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 'd':
			depth = atoi(optarg);
			break;
		case 'p':
			pid = atoi(optarg);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc || s.n <= 0 || window <= 0 || window > MAX_WINDOW || depth <= 0) {
		usage();
		return 2;
	}
	s.v.depth = (uint32_t)depth;
	snprintf(addr, sizeof(addr), "%s", argv[optind]);
	colon = strrchr(addr, ':');
	if (colon) {
		*colon = 0;
		s.port = atoi(colon + 1);
	}
	s.addr = addr;

	/* Per connection: resolve, attach, establish, disconnect, flushed, destroy. */
	s.owner_size = 6 * (int64_t)s.n + 16;
	s.owner = malloc((size_t)s.owner_size * sizeof(*s.owner));
	s.conns = calloc((size_t)s.n, sizeof(*s.conns));
	s.ep_slots = 2 * (size_t)s.n + 1;
	s.ep_key = calloc(s.ep_slots, sizeof(*s.ep_key));
	s.ep_conn = calloc(s.ep_slots, sizeof(*s.ep_conn));
	if (!s.owner || !s.conns || !s.ep_key || !s.ep_conn) {
		fprintf(stderr, "rdq-direct-storm: out of memory\n");
		return 1;
	}
	for (int64_t k = 0; k < s.owner_size; k++)
		s.owner[k] = UNSENT;

	ret = rdq_client_connect(socket, &s.client);
	if (ret < 0) {
		fprintf(stderr, "rdq-direct-storm: cannot reach rdqd: %s\n", strerror(-ret));
		return 3;
	}
	s.v.list = ibv_get_device_list(NULL);
	c0 = cpu_now(pid);
	t0 = now_ms();
	ret = connect_all(&s, window);
	t1 = now_ms();
	c1 = cpu_now(pid);
	if (ret == 0)
		ret = each(&s, window, DISCONNECTING, "ep.disconnect");
	t2 = now_ms();
	c2 = cpu_now(pid);
	if (ret == 0)
		ret = each(&s, window, DESTROYING, "ep.destroy");
	if (ret == 0) {
		printf("rdq-direct-storm n=%d connect %.1f ms (%.0f us/conn) disconnect %.1f ms "
		       "(%.0f us/conn)\n",
		       s.n, t1 - t0, (t1 - t0) * 1e3 / s.n, t2 - t1, (t2 - t1) * 1e3 / s.n);
		printf("rdq-direct-storm where n=%d window %d: mean wait (ms) resolve %.2f attach "
		       "%.2f establish %.2f disconnect %.2f; verbs total (ms) create_qp %.1f "
		       "modify_qp %.1f; cpu (ms) connecting self %.0f+%.0f rdqd %.0f+%.0f, "
		       "disconnecting self %.0f+%.0f rdqd %.0f+%.0f (user+sys)\n",
		       s.n, window, mean(&s, RESOLVING), mean(&s, ATTACHING),
		       mean(&s, ESTABLISHING), mean(&s, DISCONNECTING), s.create_qp_ms,
		       s.modify_qp_ms, c1.self_user - c0.self_user, c1.self_sys - c0.self_sys,
		       c1.rdqd_user - c0.rdqd_user, c1.rdqd_sys - c0.rdqd_sys,
		       c2.self_user - c1.self_user, c2.self_sys - c1.self_sys,
		       c2.rdqd_user - c1.rdqd_user, c2.rdqd_sys - c1.rdqd_sys);
	}
	for (int i = 0; i < s.n; i++)
		if (s.conns[i].qp)
			ibv_destroy_qp(s.conns[i].qp);
	close_verbs(&s.v);
	rdq_client_close(s.client);
	free(s.owner);
	free(s.conns);
	free(s.ep_key);
	free(s.ep_conn);
	return ret == 0 ? 0 : 1;
}
