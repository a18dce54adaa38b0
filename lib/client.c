/* SPDX-License-Identifier: MIT */
/*
 * librdq's public API: connecting to rdqd (the default path and its
 * fallback to the system service), sending requests, reading replies and
 * events. The bytes on the socket, the FIFO of messages read ahead and
 * rdqd's last word before a close are the stream's (lib/stream.c); what a
 * message says is read by lib/message_read.c.
 */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "protocol/defaults.h"
#include "protocol/errname.h"
#include "protocol/message.h"
#include "protocol/socket_path.h"

/*
 * Why the last rdq_client_connect*() of this thread failed, when librdq has
 * more to say than the errno; rdq_client_error(NULL) returns it. A failed
 * connect has no client to hold its error, and a global would mix threads.
 */
static _Thread_local char connect_error[ERROR_MAX];

/*
 * connect() bounded by the deadline. A Unix socket's connect() blocks while
 * the listener's backlog is full (rdqd stopped, or not accepting). Made
 * non-blocking it fails at once with EAGAIN instead of EINPROGRESS, and
 * poll() cannot wait for room in the backlog; but a blocking connect() waits
 * no longer than the socket's send timeout, and wakes as soon as there is
 * room. Returns 0 or a negative errno, -ETIMEDOUT at the deadline.
 */
static int connect_bounded(int fd, const struct sockaddr_un *addr, int64_t deadline)
{
	static const struct timeval forever = {0, 0};
	int left, ret;

	for (;;) {
		struct timeval tv = forever;

		left = stream_remaining_ms(deadline);
		if (left >= 0) {
			tv.tv_sec = left / 1000;
			/* 0 means forever: with no time left, wait the shortest time. */
			tv.tv_usec = left == 0 ? 1 : (left % 1000) * 1000;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
		ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
		if (ret == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (stream_remaining_ms(deadline) == 0)
			return -ETIMEDOUT;
	}
	/* Sends never block (MSG_DONTWAIT); the timeout is put back only to leave no surprise. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &forever, sizeof(forever)) < 0)
		return -errno;
	return 0;
}

static int connect_path(const char *path, int64_t deadline, struct rdq_client **out)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct rdq_client *c;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	strcpy(c->path, path);
	c->next_id = 1;
	ret = stream_init(c);
	if (ret < 0)
		goto err;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = -errno;
		goto err;
	}
	ret = connect_bounded(c->fd, &addr, deadline);
	if (ret < 0) {
		close(c->fd);
		goto err;
	}
	*out = c;
	return 0;

err:
	stream_release(c);
	free(c);
	return ret;
}

int rdq_client_connect(const char *path, struct rdq_client **out)
{
	return rdq_client_connect_timeout(path, -1, out);
}

int rdq_client_connect_timeout(const char *path, int timeout_ms, struct rdq_client **out)
{
	char user_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int64_t deadline = stream_deadline_after(timeout_ms);
	int ret, system_ret;

	connect_error[0] = '\0';
	if (path)
		return connect_path(path, deadline, out);
	ret = rdq_default_socket_path(user_path, sizeof(user_path));
	if (ret < 0)
		return ret;
	/*
	 * The user's own folder must be theirs alone, as rdqd requires: in one
	 * another user controls, they could put a socket of their own there, and
	 * we would send our requests to it. The system service's folder is root's
	 * by design and only root writes there.
	 */
	if (strcmp(user_path, RDQ_SYSTEM_SOCKET) != 0) {
		ret = rdq_socket_dir_check(user_path, connect_error, sizeof(connect_error));
		if (ret < 0)
			return ret;
	}
	ret = connect_path(user_path, deadline, out);
	if ((ret != -ENOENT && ret != -ECONNREFUSED) || strcmp(user_path, RDQ_SYSTEM_SOCKET) == 0)
		return ret;
	/* No daemon of this user's own: the system service, if there is one, in the time left. */
	system_ret = connect_path(RDQ_SYSTEM_SOCKET, deadline, out);
	return system_ret == -ENOENT ? ret : system_ret;
}

const char *rdq_client_path(const struct rdq_client *client)
{
	return client->path;
}

void rdq_client_close(struct rdq_client *client)
{
	if (!client)
		return;
	close(client->fd);
	stream_release(client);
	free(client);
}

int rdq_client_fd(const struct rdq_client *client)
{
	return client->fd;
}

/* Sends one request: version 1, or version 2 with data as its attachment (data NULL: none). */
static int send_request(struct rdq_client *client, const char *op, json_t *args, int version,
			const void *data, size_t data_len, int64_t *id)
{
	json_t *req;
	size_t len;
	int ret;

	if (!op) {
		json_decref(args);
		return -EINVAL;
	}
	if (data && data_len > RDQ_MAX_ATTACHMENT) {
		json_decref(args);
		stream_set_error(client, "cannot send %s: %zu bytes of data, more than %u", op,
				 data_len, RDQ_MAX_ATTACHMENT);
		return -EMSGSIZE;
	}
	req = rdq_request_new(client->next_id, op, args);
	if (req && version > 1 &&
	    (json_object_set_new(req, "v", json_integer(version)) < 0 ||
	     (data &&
	      json_object_set_new(req, "attachment", json_integer((json_int_t)data_len)) < 0))) {
		json_decref(req);
		req = NULL;
	}
	if (!req)
		return -ENOMEM;
	/* Serialised once, into the client's buffer; the attachment is sent from where it is. */
	len = json_dumpb(req, (char *)client->wbuf + RDQ_FRAME_HEADER, RDQ_MAX_MESSAGE,
			 JSON_COMPACT);
	json_decref(req);
	if (len == 0 || len > RDQ_MAX_MESSAGE) {
		ret = len ? -EMSGSIZE : -ENOMEM;
		stream_set_error(client, "cannot send %s: %s", op,
				 ret == -EMSGSIZE ? "request too large" : "out of memory");
		return ret;
	}
	rdq_frame_write_header((uint32_t)(data ? len + 1 + data_len : len), client->wbuf);
	len += RDQ_FRAME_HEADER;
	if (data)
		client->wbuf[len++] = '\0';
	ret = stream_send(client, client->wbuf, len, data, data ? data_len : 0);
	if (ret < 0)
		return ret;
	*id = client->next_id++;
	return 0;
}

int rdq_client_send(struct rdq_client *client, const char *op, json_t *args, int64_t *id)
{
	return send_request(client, op, args, 1, NULL, 0, id);
}

int rdq_client_send_data(struct rdq_client *client, const char *op, json_t *args, const void *data,
			 size_t len, int64_t *id)
{
	return send_request(client, op, args, 2, data, len, id);
}

int rdq_client_next(struct rdq_client *client, int timeout_ms, json_t **msg)
{
	*msg = stream_queue_take_any(client);
	if (*msg)
		return 0;
	return stream_receive(client, stream_deadline_after(timeout_ms), msg);
}

/* A call that lost its connection fails with rdqd's reason for closing it, if it gave one. */
static int closed_status(const struct rdq_client *c, int ret)
{
	return ret == -ECONNRESET && c->farewell_err ? -c->farewell_err : ret;
}

int rdq_call(struct rdq_client *client, const char *op, json_t *args, json_t **result)
{
	return rdq_call_timeout(client, op, args, -1, result);
}

/*
 * Sends a request and waits for its reply, which it sets in *reply (the
 * whole message) when it gets one. Returns its status, as rdq_call().
 */
static int call(struct rdq_client *client, const char *op, json_t *args, int version,
		const void *data, size_t data_len, int timeout_ms, json_t **reply)
{
	const char *message;
	int64_t deadline, id;
	json_t *msg;
	int ret;

	*reply = NULL;
	client->error[0] = '\0';
	ret = send_request(client, op, args, version, data, data_len, &id);
	if (ret < 0)
		return closed_status(client, ret);
	deadline = stream_deadline_after(timeout_ms);

	/* A blocked send may already have read the reply into the FIFO. */
	*reply = stream_queue_take_reply(client, id);
	while (!*reply) {
		ret = stream_receive(client, deadline, &msg);
		if (ret < 0) {
			if (ret == -EAGAIN) {
				stream_set_error(client, "no reply from rdqd to %s within %d ms",
						 op, timeout_ms);
				ret = -ETIMEDOUT;
			}
			/* Whatever comes later for this id has nobody to go to. */
			if (ret != -ECONNRESET && stream_discard_add(client, id) < 0)
				return -ENOMEM;
			return closed_status(client, ret);
		}
		if (rdq_message_is_reply(msg, id)) {
			*reply = msg;
		} else {
			ret = stream_queue_push(client, msg);
			if (ret < 0)
				return ret;
		}
	}
	ret = rdq_reply_status(*reply, &message);
	if (ret < 0)
		stream_set_error(client, "%s", message ? message : "");
	return ret;
}

int rdq_call_timeout(struct rdq_client *client, const char *op, json_t *args, int timeout_ms,
		     json_t **result)
{
	json_t *reply;
	int ret;

	if (result)
		*result = NULL;
	ret = call(client, op, args, 1, NULL, 0, timeout_ms, &reply);
	if (ret == 0 && result) {
		json_t *value = json_object_get(reply, "result");

		*result = value ? json_incref(value) : json_object();
		if (!*result)
			ret = -ENOMEM;
	}
	json_decref(reply);
	return ret;
}

int rdq_ep_send(struct rdq_client *client, uint64_t ep, const void *data, size_t len,
		unsigned flags, int timeout_ms)
{
	json_t *args, *reply;
	int ret;

	if (!data && len)
		return -EINVAL;
	args = json_pack("{s:I, s:b}", "ep", (json_int_t)ep, "wait", (flags & RDQ_SEND_WAIT) != 0);
	if (args && timeout_ms != 0 &&
	    /* rdqd's 0 is no limit; here 0 is its default. */
	    json_object_set_new(args, "timeout_ms", json_integer(timeout_ms < 0 ? 0 : timeout_ms)) <
		    0) {
		json_decref(args);
		args = NULL;
	}
	if (!args)
		return -ENOMEM;
	ret = call(client, "ep.send", args, 2, data ? data : "", len, -1, &reply);
	json_decref(reply);
	return ret;
}

/*
 * op (ep.recv, or ep.sendrecv with out_len bytes at out) on endpoint ep, and
 * the message its reply carries, as rdq_ep_recv() gives it.
 */
static int receive(struct rdq_client *client, const char *op, uint64_t ep, const void *out,
		   size_t out_len, int timeout_ms, void **data, size_t *len)
{
	/* No limit is the longest rdqd allows. */
	json_t *args = json_pack("{s:I, s:I}", "ep", (json_int_t)ep, "timeout_ms",
				 (json_int_t)(timeout_ms < 0 ? RDQ_MAX_TIMEOUT_MS : timeout_ms));
	json_t *reply;
	void *bytes;
	int ret;

	*data = NULL;
	*len = 0;
	if (!args)
		return -ENOMEM;
	/*
	 * The reply's bytes go straight into the buffer handed over (the id is
	 * the one send_request gives it). rdqd bounds the wait; the reply comes
	 * whatever happens.
	 */
	stream_want_attachment(client, client->next_id);
	ret = call(client, op, args, 2, out, out_len, -1, &reply);
	bytes = stream_take_attachment(client, len);
	json_decref(reply);
	if (ret == 0 && !bytes) {
		stream_set_error(client, "rdqd's %s reply carries no data", op);
		ret = -EBADMSG;
	}
	if (ret == 0)
		*data = bytes;
	else
		free(bytes);
	return ret;
}

int rdq_ep_recv(struct rdq_client *client, uint64_t ep, int timeout_ms, void **data, size_t *len)
{
	return receive(client, "ep.recv", ep, NULL, 0, timeout_ms, data, len);
}

int rdq_ep_sendrecv(struct rdq_client *client, uint64_t ep, const void *out, size_t out_len,
		    int timeout_ms, void **data, size_t *len)
{
	if (!out && out_len)
		return -EINVAL;
	return receive(client, "ep.sendrecv", ep, out ? out : "", out_len, timeout_ms, data, len);
}

const char *rdq_client_error(const struct rdq_client *client)
{
	return client ? client->error : connect_error;
}

const char *rdq_strerrno(int err)
{
	return rdq_errno_name(err);
}

const char *rdq_version(void)
{
	return RDQ_VERSION;
}
