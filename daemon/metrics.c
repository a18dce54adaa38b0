/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "clock.h"
#include "control.h"
#include "encode.h"
#include "protocol/frame.h"
#include "log.h"
#include "protocol/prometheus.h"
#include "rdqd.h"
#include "stats.h"

/*
 * A scrape is one short GET: a small request, a quick answer. Anything
 * bigger or slower is not a scraper, and is cut off rather than held.
 */
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY    4096
#define METRICS_TIMEOUT_S   10
#define METRICS_BACKLOG	    16

int metrics_parse_address(const char *arg, struct sockaddr_storage *addr, socklen_t *len, char *err,
			  size_t err_size)
{
	const char *colon = strrchr(arg, ':');
	char host[INET6_ADDRSTRLEN + 2], *end;
	size_t host_len = colon ? (size_t)(colon - arg) : 0;
	unsigned long port = 0;
	bool v6 = host_len >= 2 && arg[0] == '[' && arg[host_len - 1] == ']';

	memset(addr, 0, sizeof(*addr));
	if (colon && host_len < sizeof(host)) {
		/* The brackets of [V6] are not part of the address. */
		memcpy(host, arg + v6, host_len - 2 * v6);
		host[host_len - 2 * v6] = '\0';
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		/* Digits only: strtoul would take a sign or leading spaces too. */
		if (errno || *end || !isdigit((unsigned char)colon[1]))
			port = 0;
	}
	if (port >= 1 && port <= 65535) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

		if (!v6 && inet_pton(AF_INET, host, &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
			in->sin_port = htons((uint16_t)port);
			*len = sizeof(*in);
			return 0;
		}
		if (v6 && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)port);
			*len = sizeof(*in6);
			return 0;
		}
	}
	snprintf(err, err_size,
		 "\"%s\" is not ADDR:PORT with a numeric address and a port from 1 to 65535 "
		 "(127.0.0.1:9464, [::1]:9464)",
		 arg);
	return -EINVAL;
}

int metrics_check_address(const char *arg, char *err, size_t err_size)
{
	struct sockaddr_storage addr;
	socklen_t len;

	return metrics_parse_address(arg, &addr, &len, err, err_size);
}

/* rdq_prometheus_write's text into the reply's body. */
static int buffer_sink(void *ctx, const char *text, size_t len)
{
	return evbuffer_add(ctx, text, len) == 0 ? 0 : -ENOMEM;
}

/*
 * An answer of plain text. (evhttp_send_error would replace the headers
 * given, Allow among them, with its own.)
 */
static void send_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; charset=utf-8");
	if (body)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

/* The answer to GET /metrics: the stats everyone's endpoints count in, as root sees them. */
static void send_metrics(struct rdqd *d, struct evhttp_request *req)
{
	struct evbuffer *body = evbuffer_new();
	struct stats_view stats;
	char *text = control_body(); /* the loop's message buffer, free between messages */
	size_t len;
	int ret = -ENOMEM;

	stats_read(d, 0, &stats);
	len = encode_stats(text, RDQ_MAX_MESSAGE, &stats);
	if (body && len > 0 && len <= RDQ_MAX_MESSAGE)
		ret = rdq_prometheus_write_text(text, len, buffer_sink, body);
	if (ret < 0) {
		send_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  RDQ_PROMETHEUS_CONTENT_TYPE);
		evhttp_send_reply(req, HTTP_OK, "OK", body);
	}
	if (body)
		evbuffer_free(body);
}

/* Every request, whatever its path and method: only GET /metrics has an answer. */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		send_text(req, HTTP_BADMETHOD, "Method Not Allowed", "only GET is served\n");
	} else if (!path || strcmp(path, "/metrics") != 0) {
		send_text(req, HTTP_NOTFOUND, "Not Found", "the metrics are at /metrics\n");
	} else {
		send_metrics(d, req);
	}
	loop_histogram_record(d, start);
}

/* The listening socket, made here so that a bad address or a busy port is said plainly. */
static int metrics_listen(const struct rdqd_options *opt)
{
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char why[160];
	int fd, one = 1;

	/* Checked when the options were read; a failure here would be a bug. */
	if (metrics_parse_address(opt->metrics, &addr, &addr_len, why, sizeof(why)) < 0)
		return -EINVAL;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restart may bind while the last run's connections linger in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&addr, addr_len) < 0 ||
	    listen(fd, METRICS_BACKLOG) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int metrics_start(struct rdqd *d)
{
	int fd;

	if (!d->opt.metrics[0])
		return 0;
	fd = metrics_listen(&d->opt);
	if (fd < 0) {
		log_err("cannot serve metrics on %s: %s", d->opt.metrics, strerror(-fd));
		return fd;
	}
	d->metrics_http = evhttp_new(d->base);
	if (!d->metrics_http)
		close(fd);
	/* Once libevent has the socket it closes it, in evhttp_free() at the latest. */
	if (!d->metrics_http || !evhttp_accept_socket_with_handle(d->metrics_http, fd)) {
		log_err("cannot serve metrics on %s: out of memory", d->opt.metrics);
		return -ENOMEM;
	}
	/* Every method reaches on_request, which answers 405 to all but GET (libevent: 501). */
	evhttp_set_allowed_methods(
		d->metrics_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
					 EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(d->metrics_http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(d->metrics_http, METRICS_MAX_BODY);
	evhttp_set_timeout(d->metrics_http, METRICS_TIMEOUT_S);
	evhttp_set_gencb(d->metrics_http, on_request, d);
	log_info("metrics: http://%s/metrics (no authentication)", d->opt.metrics);
	return 0;
}

void metrics_stop(struct rdqd *d)
{
	if (d->metrics_http)
		evhttp_free(d->metrics_http);
	d->metrics_http = NULL;
}
