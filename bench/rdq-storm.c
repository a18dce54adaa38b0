/* SPDX-License-Identifier: MIT */
/*
 * rdq-storm: the connection storm through rdqd, for comparison with
 * rdma-core's cmtime. Connects N endpoints to a listener (all requests in
 * flight at once, at most --window), then disconnects them all the same
 * way, and prints the time of each phase: total and per connection.
 *
 * With -b BLOCK it connects in blocks of BLOCK and, after each, prints the
 * block's time and (with -p, rdqd's pid) the CPU time rdqd spent in the block,
 * in its own code and in the kernel for it (user_ms, sys_ms), its resident memory and open
 * descriptors: how the cost of a connect and of an endpoint grows with the
 * endpoints already there.
 *
 * Usage: rdq-storm [-s SOCKET] [-n N] [-w WINDOW] [-b BLOCK [-p PID]] ADDR[:PORT]
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rdq/client.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * Sends requests first to first + n - 1, made by make(i), at most window in
 * flight; collects each reply's result in results[i].
 */
static int storm(struct rdq_client *c, int first, int n, int window,
		 json_t *(*make)(int i, void *arg), const char *op, void *arg, json_t **results)
{
	int sent = 0, done = 0;
	int64_t first_id = -1;

	while (done < n) {
		while (sent < n && sent - done < window) {
			int64_t id;
			int ret = rdq_client_send(c, op, make(first + sent, arg), &id);

			if (ret < 0)
				return ret;
			if (first_id < 0)
				first_id = id;
			sent++;
		}
		json_t *msg;
		int ret = rdq_client_next(c, 60000, &msg);

		if (ret < 0)
			return ret;
		if (rdq_message_is_event(msg)) {
			json_decref(msg);
			continue;
		}
		const char *why;
		int status = rdq_reply_status(msg, &why);
		int64_t id = json_integer_value(json_object_get(msg, "id"));

		if (status < 0) {
			fprintf(stderr, "rdq-storm: %s %lld failed: %s: %s\n", op,
				(long long)(id - first_id), rdq_strerrno(-status), why);
			json_decref(msg);
			return status;
		}
		if (results)
			results[first + (id - first_id)] =
				json_incref(json_object_get(msg, "result"));
		json_decref(msg);
		done++;
	}
	return 0;
}

struct target {
	const char *addr;
	int port;
};

static json_t *make_connect(int i, void *arg)
{
	struct target *t = arg;

	return json_pack("{s:s, s:i, s:i, s:b}", "addr", t->addr, "port", t->port, "timeout_ms",
			 30000, "tied", 1);
}

static json_t **eps;

static json_t *make_disconnect(int i, void *arg)
{
	return json_pack("{s:O, s:b, s:i}", "ep", json_object_get(eps[i], "ep"), "wait", 1,
			 "timeout_ms", 30000);
}

static json_t *make_destroy(int i, void *arg)
{
	return json_pack("{s:O}", "ep", json_object_get(eps[i], "ep"));
}

/* rdqd's resident set (KiB) and open descriptors, from /proc. */
static void process_usage(int pid, long *rss_kib, int *fds)
{
	char path[64], line[256];
	struct dirent *de;
	FILE *f;
	DIR *dir;

	*rss_kib = -1;
	*fds = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", rss_kib) == 1)
			break;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return;
	*fds = 0;
	while ((de = readdir(dir)))
		*fds += de->d_name[0] != '.';
	closedir(dir);
}

/* rdqd's CPU time so far, in its own code and in the kernel (ms), from /proc/PID/stat. */
static void process_cpu(int pid, double *user_ms, double *sys_ms)
{
	char path[64], line[1024], *p;
	unsigned long utime = 0, stime = 0;
	double tick = (double)sysconf(_SC_CLK_TCK);
	FILE *f;

	*user_ms = *sys_ms = -1;
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

static void print_block(int k, int connections, double ms, int pid)
{
	static double last_user, last_sys;
	double user = -1, sys = -1;
	long rss = -1;
	int fds = -1;

	if (pid > 0) {
		process_usage(pid, &rss, &fds);
		process_cpu(pid, &user, &sys);
	}
	printf("block %d connections %d ms %.1f rss_kib %ld fds %d user_ms %.0f sys_ms %.0f\n", k,
	       connections, ms, rss, fds, user - last_user, sys - last_sys);
	last_user = user;
	last_sys = sys;
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *socket = NULL;
	struct target t = {.port = 7472};
	int n = 100, window = 200, block = 0, pid = 0, opt, ret = 0;
	struct rdq_client *c;
	char addr[64], *colon;
	double t0, t1, t2;

	while ((opt = getopt(argc, argv, "s:n:w:b:p:h")) != -1) {
		switch (opt) {
		case 's':
			socket = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 'b':
			block = atoi(optarg);
			break;
		case 'p':
			pid = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: rdq-storm [-s SOCKET] [-n N] [-w WINDOW] [-b BLOCK "
					"[-p PID]] ADDR[:PORT]\n");
			return 2;
		}
	}
	if (optind >= argc || n <= 0 || window <= 0 || block < 0) {
		fprintf(stderr, "usage: rdq-storm [-s SOCKET] [-n N] [-w WINDOW] [-b BLOCK [-p "
				"PID]] ADDR[:PORT]\n");
		return 2;
	}
	snprintf(addr, sizeof(addr), "%s", argv[optind]);
	colon = strrchr(addr, ':');
	if (colon) {
		*colon = 0;
		t.port = atoi(colon + 1);
	}
	t.addr = addr;
	ret = rdq_client_connect(socket, &c);
	if (ret < 0) {
		fprintf(stderr, "rdq-storm: cannot reach rdqd: %s\n", strerror(-ret));
		return 3;
	}
	eps = calloc((size_t)n, sizeof(*eps));
	if (block)
		print_block(0, 0, 0, pid);
	t0 = now_ms();
	for (int done = 0; ret == 0 && done < n;) {
		int count = block && n - done > block ? block : n - done;
		double start = now_ms();

		ret = storm(c, done, count, window, make_connect, "ep.connect", &t, eps);
		done += count;
		if (block && ret == 0)
			print_block(done / block, done, now_ms() - start, pid);
	}
	t1 = now_ms();
	if (ret == 0)
		ret = storm(c, 0, n, window, make_disconnect, "ep.disconnect", NULL, NULL);
	t2 = now_ms();
	if (ret == 0)
		ret = storm(c, 0, n, window, make_destroy, "ep.destroy", NULL, NULL);
	if (ret < 0)
		return 1;
	printf("rdq-storm n=%d connect %.1f ms (%.0f us/conn) disconnect %.1f ms (%.0f us/conn)\n",
	       n, t1 - t0, (t1 - t0) * 1e3 / n, t2 - t1, (t2 - t1) * 1e3 / n);
	for (int i = 0; i < n; i++)
		json_decref(eps[i]);
	free(eps);
	rdq_client_close(c);
	return 0;
}
