/* SPDX-License-Identifier: MIT */
/*
 * Direct endpoints over real rxe: this process owns the QP (its own verbs
 * context, PD, CQ, RC QP on the device rdqd names), rdqd holds the
 * rdma_cm id and connects it with the QP's number; messages go over the
 * process's QP only.
 *
 *   direct-check SOCK connect ADDR PORT   against an echo listener: messages
 *                                         of several sizes, each echoed back
 *   direct-check SOCK serve ADDR PORT N   a direct listener: N peers (e.g.
 *                                         rdma_client), each message answered
 *   direct-check SOCK steal ADDR PORT     ep.attach with another process's
 *                                         QP (EPERM) and a QP that does not
 *                                         exist (ENOENT): nothing connects
 *   direct-check SOCK hold ADDR PORT      connects, says so, receives until
 *                                         rdqd ends the connection (ep.flush),
 *                                         says how, and waits to be killed
 *   direct-check SOCK deaf ADDR PORT      connects and never reads rdqd again
 *   direct-check SOCK release ADDR PORT   as hold, but once the connection
 *                                         ended it closes it (its verbs
 *                                         context too) and exits 0
 *   direct-check SOCK ignore ADDR PORT    a direct listener (1 s for each
 *                                         request) whose requests are never taken
 * Prints one line per finding; exits 0 when all hold.
 */
#include <errno.h>
#include <poll.h>
#include <rdq/direct.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	failures += !ok;
}

static void die(struct rdq_client *c, const char *what, int err)
{
	fprintf(stderr, "direct-check: %s: %s (%s)\n", what, strerror(-err),
		c ? rdq_client_error(c) : "");
	exit(1);
}

/* A string member, or "" when it is missing. */
static const char *text(const json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s ? s : "";
}

/* ep.show's row for ep: its mode, the QP's owner and number as rdqd records them. */
static void check_row(struct rdq_client *c, struct rdq_direct *conn)
{
	json_t *result = NULL, *row;
	int ret = rdq_call(c, "ep.show", json_pack("{s:I}", "ep", (json_int_t)rdq_direct_ep(conn)),
			   &result);

	row = json_array_get(json_object_get(result, "endpoints"), 0);
	check(ret == 0 && json_is_object(row), "ep.show lists the direct endpoint");
	check(json_integer_value(json_object_get(row, "client_pid")) == getpid(),
	      "its client_pid is this process");
	check((uint32_t)json_integer_value(json_object_get(row, "qp_num")) ==
		      rdq_direct_qp(conn)->qp_num,
	      "its qp_num is this process's QP");
	check(strcmp(text(row, "state"), "connected") == 0, "it is connected");
	json_decref(result);
}

/*
 * Receives without waiting until there is nothing: the echoes of 64 bytes
 * taken (-1 when something else came), and after it, as after any -EAGAIN,
 * the completion fd wakes for the next completion.
 */
static int drain(struct rdq_direct *conn, void *buf, size_t size)
{
	int n, echoes = 0;

	while ((n = rdq_direct_recv(conn, buf, size, 0)) != -EAGAIN)
		echoes = n == 64 && echoes >= 0 ? echoes + 1 : -1;
	return echoes;
}

static int do_connect(struct rdq_client *c, const char *addr, int port)
{
	static const size_t sizes[] = {1, 64, 4096, 65536};
	static uint8_t out[65536], in[65536];
	struct rdq_direct *conn;
	int ret = rdq_direct_connect(c, addr, port, NULL, &conn);

	if (ret < 0)
		die(c, "rdq_direct_connect", ret);
	check(1, "connected with this process's QP");
	check_row(c, conn);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char what[80];

		for (size_t b = 0; b < sizes[i]; b++)
			out[b] = (uint8_t)(b * 7 + i);
		ret = rdq_direct_send(conn, out, sizes[i]);
		if (ret == 0)
			ret = rdq_direct_recv(conn, in, sizeof(in), 10000);
		snprintf(what, sizeof(what), "%zu bytes sent and echoed back, byte for byte",
			 sizes[i]);
		check(ret == (int)sizes[i] && memcmp(in, out, sizes[i]) == 0, what);
	}
	/*
	 * A program's loop: poll() on the fd, then receive until -EAGAIN. Each
	 * round leaves an event on the channel that the drain's last receive
	 * takes: the CQ must then be asked again, or the next poll() sleeps.
	 */
	ret = drain(conn, in, sizeof(in)) < 0 ? -EPROTO : 64;
	for (int round = 0; round < 4 && ret == 64; round++) {
		struct pollfd p = {.fd = rdq_direct_fd(conn), .events = POLLIN};

		ret = rdq_direct_send(conn, out, 64);
		if (ret == 0 && poll(&p, 1, 5000) != 1)
			ret = -ETIMEDOUT;
		usleep(100000); /* the echo is back, its event on the channel */
		if (ret == 0)
			ret = drain(conn, in, sizeof(in)) == 1 ? 64 : -EPROTO;
		if (ret != 64)
			printf("round %d: %s\n", round, strerror(-ret));
	}
	check(ret == 64, "after each -EAGAIN the completion fd wakes for the next message");
	rdq_direct_close(conn);
	return 0;
}

/* Connections served at once: perftest's clients make two (a control channel and the test's). */
#define SERVE_MAX 8

/* Answers every message conn holds with itself; false once its connection ended (then closed). */
static bool echo_all(struct rdq_direct **conn, unsigned long *echoed)
{
	uint8_t buf[65536];
	int ret, sent = 0;

	while ((ret = rdq_direct_recv(*conn, buf, sizeof(buf), 0)) > 0 &&
	       (sent = rdq_direct_send(*conn, buf, (size_t)ret)) == 0)
		(*echoed)++;
	if (ret == -EAGAIN && sent == 0)
		return true;
	check(*echoed > 0, "the peer's messages arrived on this process's QP, each answered");
	printf("echoed %lu, then: %s\n", *echoed, strerror(-(sent < 0 ? sent : ret)));
	check(ret == -ECONNRESET, "the peer's disconnect ended the connection (ep.flush)");
	rdq_direct_close(*conn);
	*conn = NULL;
	return false;
}

/*
 * A direct listener whose n connections, up to SERVE_MAX at once, are each
 * answered with every message they send until their peer disconnects: one
 * thread, polling rdqd's socket and each connection's completion channel.
 */
static int do_serve(struct rdq_client *c, const char *addr, int port, int n)
{
	struct rdq_direct *conns[SERVE_MAX] = {0};
	unsigned long echoed[SERVE_MAX] = {0};
	int accepted = 0, open = 0;
	uint64_t listener;
	int ret = rdq_direct_listen(c, addr, port, 10000, &listener);

	if (ret < 0)
		die(c, "rdq_direct_listen", ret);
	printf("listening %llu\n", (unsigned long long)listener);
	fflush(stdout);
	while (accepted < n || open > 0) {
		struct pollfd p[SERVE_MAX + 1] = {{.fd = rdq_client_fd(c), .events = POLLIN}};
		int np = 1;

		for (int i = 0; i < SERVE_MAX; i++)
			if (conns[i])
				p[np++] = (struct pollfd){.fd = rdq_direct_fd(conns[i]),
							  .events = POLLIN};
		/* Bounded: news may wait in librdq's queue, which no descriptor announces. */
		poll(p, (nfds_t)np, 100);
		for (int i = 0; accepted < n && i < SERVE_MAX; i++) {
			if (conns[i])
				continue;
			ret = rdq_direct_accept(c, 0, NULL, &conns[i]);
			if (ret == -EAGAIN)
				break;
			if (ret < 0)
				die(c, "rdq_direct_accept", ret);
			check_row(c, conns[i]);
			echoed[i] = 0;
			accepted++;
			open++;
		}
		for (int i = 0; i < SERVE_MAX; i++)
			if (conns[i] && !echo_all(&conns[i], &echoed[i]))
				open--;
	}
	return 0;
}

/* A QP made by a child process on device: its number, read through a pipe. */
static uint32_t foreign_qp(const char *device, pid_t *child)
{
	int fds[2];
	uint32_t qpn = 0;

	if (pipe(fds) < 0)
		exit(1);
	*child = fork();
	if (*child == 0) {
		struct ibv_device **list = ibv_get_device_list(NULL);
		struct ibv_context *ctx = NULL;
		struct ibv_qp_init_attr init = {.qp_type = IBV_QPT_RC,
						.cap = {.max_send_wr = 1,
							.max_recv_wr = 1,
							.max_send_sge = 1,
							.max_recv_sge = 1}};
		struct ibv_pd *pd;
		struct ibv_qp *qp;

		for (int i = 0; list && list[i]; i++)
			if (strcmp(ibv_get_device_name(list[i]), device) == 0)
				ctx = ibv_open_device(list[i]);
		pd = ctx ? ibv_alloc_pd(ctx) : NULL;
		init.send_cq = init.recv_cq = ctx ? ibv_create_cq(ctx, 2, NULL, NULL, 0) : NULL;
		qp = pd && init.send_cq ? ibv_create_qp(pd, &init) : NULL;
		qpn = qp ? qp->qp_num : 0;
		if (write(fds[1], &qpn, sizeof(qpn)) != sizeof(qpn))
			_exit(1);
		pause(); /* keeps the QP until killed */
		_exit(0);
	}
	if (read(fds[0], &qpn, sizeof(qpn)) != sizeof(qpn))
		qpn = 0;
	close(fds[0]);
	close(fds[1]);
	return qpn;
}

static int do_steal(struct rdq_client *c, const char *addr, int port)
{
	json_t *result = NULL;
	uint64_t ep;
	uint32_t qpn;
	pid_t child;
	int ret = rdq_call(c, "ep.resolve", json_pack("{s:s, s:i}", "addr", addr, "port", port),
			   &result);

	if (ret < 0)
		die(c, "ep.resolve", ret);
	ep = (uint64_t)json_integer_value(json_object_get(result, "ep"));
	qpn = foreign_qp(json_string_value(json_object_get(result, "device")), &child);
	json_decref(result);
	check(qpn != 0, "a child process made a QP");
	ret = rdq_call(c, "ep.attach", json_pack("{s:I, s:i}", "ep", (json_int_t)ep, "qp_num", qpn),
		       NULL);
	printf("ep.attach with the child's QP: %s\n", rdq_client_error(c));
	check(ret == -EPERM, "ep.attach with another process's QP gets EPERM");
	ret = rdq_call(c, "ep.attach",
		       json_pack("{s:I, s:i}", "ep", (json_int_t)ep, "qp_num", 0xfffff0), NULL);
	printf("ep.attach with no such QP: %s\n", rdq_client_error(c));
	check(ret == -ENOENT, "ep.attach with a QP that does not exist gets ENOENT");
	ret = rdq_call(c, "ep.show", json_pack("{s:I}", "ep", (json_int_t)ep), &result);
	check(ret == 0 &&
		      strcmp(text(json_array_get(json_object_get(result, "endpoints"), 0), "state"),
			     "resolved") == 0,
	      "the endpoint is still resolved: nothing was connected");
	json_decref(result);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}

/*
 * Connects, says so, and receives until the connection ends (rdqd's
 * ep.flush, acted on inside rdq_direct_recv), then says how and waits to be
 * killed. deaf: never reads again after connecting, so never confirms a flush.
 * release: closes the connection once it ended and returns, as a program
 * does that lets the device go (a removal waits for every verbs context on it).
 */
enum hold_mode { HOLD, DEAF, RELEASE };

static void do_hold(struct rdq_client *c, const char *addr, int port, enum hold_mode mode)
{
	struct rdq_direct *conn;
	uint8_t buf[65536];
	int ret = rdq_direct_connect(c, addr, port, NULL, &conn);

	if (ret < 0)
		die(c, "rdq_direct_connect", ret);
	printf("connected ep %llu qp %u\n", (unsigned long long)rdq_direct_ep(conn),
	       rdq_direct_qp(conn)->qp_num);
	fflush(stdout);
	while (mode != DEAF && (ret = rdq_direct_recv(conn, buf, sizeof(buf), -1)) >= 0)
		;
	if (mode != DEAF) {
		printf("ended: %s\n", strerror(-ret));
		fflush(stdout);
	}
	if (mode == RELEASE) {
		rdq_direct_close(conn);
		printf("closed\n");
		fflush(stdout);
		return;
	}
	for (;;)
		pause();
}

/* A direct listener whose client never takes a request: its peers must be rejected in time. */
static _Noreturn void do_ignore(struct rdq_client *c, const char *addr, int port)
{
	uint64_t listener;
	int ret = rdq_direct_listen(c, addr, port, 1000, &listener);

	if (ret < 0)
		die(c, "rdq_direct_listen", ret);
	printf("listening %llu\n", (unsigned long long)listener);
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct rdq_client *c;
	int ret, port;

	if (argc < 5) {
		fprintf(stderr, "usage: direct-check SOCK connect|serve|steal|hold|deaf|release|"
				"ignore ADDR PORT [N]\n");
		return 2;
	}
	ret = rdq_client_connect(argv[1], &c);
	if (ret < 0)
		die(NULL, "rdq_client_connect", ret);
	port = atoi(argv[4]);
	if (strcmp(argv[2], "connect") == 0)
		do_connect(c, argv[3], port);
	else if (strcmp(argv[2], "serve") == 0)
		do_serve(c, argv[3], port, argc > 5 ? atoi(argv[5]) : 1);
	else if (strcmp(argv[2], "steal") == 0)
		do_steal(c, argv[3], port);
	else if (strcmp(argv[2], "hold") == 0)
		do_hold(c, argv[3], port, HOLD);
	else if (strcmp(argv[2], "deaf") == 0)
		do_hold(c, argv[3], port, DEAF);
	else if (strcmp(argv[2], "release") == 0)
		do_hold(c, argv[3], port, RELEASE);
	else if (strcmp(argv[2], "ignore") == 0)
		do_ignore(c, argv[3], port);
	rdq_client_close(c);
	return failures ? 1 : 0;
}
