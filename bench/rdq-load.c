/* SPDX-License-Identifier: MIT */
/*
 * rdq-load: load on rdqd's control socket the way redis-benchmark loads
 * redis: one process, CONNS connections on one poll loop, DEPTH requests in
 * flight on each, every request a frame built once and written as it is,
 * every reply read as a frame and checked for success without building its
 * JSON. So the figure is the daemon's, not a client library's (bench/rdq-calls
 * measures through librdq).
 *
 * Usage: rdq-load [-s SOCKET] [-n N] [-c CONNS] [-P DEPTH] OP
 * Prints "rdq-load OP n=N conns=C depth=P: MS ms, R requests/s".
 * Exit status: 0; 1 a reply was an error or the stream broke; 2 usage;
 * 3 rdqd cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rdq/client.h>

#define IN_SIZE (1u << 16)

struct conn {
	int fd;
	long left;	/* requests still to send */
	long in_flight; /* sent, not answered */
	uint8_t in[IN_SIZE];
	size_t in_len;
};

static uint8_t frame[256]; /* one request, framed */
static size_t frame_len;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int open_conn(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Writes k more requests on c in one write (the socket has room for a few). */
static int send_requests(struct conn *c, long k)
{
	static uint8_t out[64 * 256];
	size_t len = 0;
	ssize_t n;

	if (k > c->left)
		k = c->left;
	if (k > 64)
		k = 64;
	for (long i = 0; i < k; i++, len += frame_len)
		memcpy(out + len, frame, frame_len);
	for (size_t off = 0; off < len; off += (size_t)n) {
		n = write(c->fd, out + off, len - off);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n < 0)
			return -1;
	}
	c->left -= k;
	c->in_flight += k;
	return 0;
}

/*
 * Takes the whole reply frames read so far; each must be a success (rdqd
 * writes "ok":true right after the id). Returns how many, or -1.
 */
static long take_replies(struct conn *c)
{
	size_t off = 0;
	long got = 0;

	while (c->in_len - off >= 4) {
		uint32_t len = (uint32_t)c->in[off] << 24 | (uint32_t)c->in[off + 1] << 16 |
			       (uint32_t)c->in[off + 2] << 8 | c->in[off + 3];

		if (len > IN_SIZE - 4)
			return -1;
		if (c->in_len - off < 4 + len)
			break;
		if (!memmem(c->in + off + 4, len, "\"ok\":true", 9)) {
			fprintf(stderr, "rdq-load: an error reply: %.*s\n", (int)len,
				(const char *)c->in + off + 4);
			return -1;
		}
		off += 4 + len;
		got++;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return got;
}

int main(int argc, char **argv)
{
	char path[108];
	const char *socket_path = NULL;
	long n = 100000, conns = 1, depth = 1, done = 0;
	struct pollfd *pfd;
	struct conn *cs;
	double t0, ms;
	int opt, body;

	while ((opt = getopt(argc, argv, "s:n:c:P:")) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'n':
			n = atol(optarg);
			break;
		case 'c':
			conns = atol(optarg);
			break;
		case 'P':
			depth = atol(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || n <= 0 || conns <= 0 || depth <= 0 || depth > 64 || conns > 1000)
		goto usage;
	if (!socket_path) {
		if (rdq_default_socket_path(path, sizeof(path)) < 0)
			return 3;
		socket_path = path;
	}
	body = snprintf((char *)frame + 4, sizeof(frame) - 4, "{\"v\":1,\"id\":1,\"op\":\"%s\"}",
			argv[optind]);
	if (body <= 0 || (size_t)body >= sizeof(frame) - 4)
		goto usage;
	frame[0] = frame[1] = 0;
	frame[2] = (uint8_t)(body >> 8);
	frame[3] = (uint8_t)body;
	frame_len = 4 + (size_t)body;

	cs = calloc((size_t)conns, sizeof(*cs));
	pfd = calloc((size_t)conns, sizeof(*pfd));
	if (!cs || !pfd)
		return 1;
	for (long i = 0; i < conns; i++) {
		cs[i].fd = open_conn(socket_path);
		if (cs[i].fd < 0) {
			fprintf(stderr, "rdq-load: cannot reach rdqd at %s: %s\n", socket_path,
				strerror(errno));
			return 3;
		}
		cs[i].left = n / conns + (i < n % conns);
		pfd[i] = (struct pollfd){.fd = cs[i].fd, .events = POLLIN};
	}

	t0 = now_ms();
	for (long i = 0; i < conns; i++)
		if (send_requests(&cs[i], depth) < 0)
			return 1;
	while (done < n) {
		if (poll(pfd, (nfds_t)conns, 10000) <= 0) {
			fprintf(stderr, "rdq-load: no reply for 10 s\n");
			return 1;
		}
		for (long i = 0; i < conns; i++) {
			struct conn *c = &cs[i];
			ssize_t r;
			long got;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(c->fd, c->in + c->in_len, IN_SIZE - c->in_len);
			if (r <= 0) {
				fprintf(stderr, "rdq-load: rdqd closed a connection\n");
				return 1;
			}
			c->in_len += (size_t)r;
			got = take_replies(c);
			if (got < 0)
				return 1;
			c->in_flight -= got;
			done += got;
			/* Refill to DEPTH in flight, in one write. */
			if (got && send_requests(c, depth - c->in_flight) < 0)
				return 1;
		}
	}
	ms = now_ms() - t0;
	printf("rdq-load %s n=%ld conns=%ld depth=%ld: %.1f ms, %.0f requests/s\n", argv[optind], n,
	       conns, depth, ms, (double)n * 1e3 / ms);
	for (long i = 0; i < conns; i++)
		close(cs[i].fd);
	free(cs);
	free(pfd);
	return 0;

usage:
	fprintf(stderr, "usage: rdq-load [-s SOCKET] [-n N] [-c CONNS] [-P DEPTH 1..64] OP\n");
	return 2;
}
