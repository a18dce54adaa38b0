/* SPDX-License-Identifier: MIT */
/*
 * librdq's server side: a serve listener, the connections peers make on it
 * (ep.accepted events) and the end of a served endpoint. Receiving and
 * answering are rdq_ep_recv() and rdq_ep_send(), as on any endpoint.
 */
#include <rdq/client.h>

#include <errno.h>

#include "stream.h"

int rdq_ep_serve(struct rdq_client *client, const char *addr, int port, uint64_t *listener)
{
	json_t *args, *result = NULL, *ep;
	int ret;

	if (port < 0 || port > 65535)
		return -EINVAL;
	args = json_pack("{s:s, s:s}", "addr", addr ? addr : "", "mode", "serve");
	if (args && port > 0 && json_object_set_new(args, "port", json_integer(port)) < 0) {
		json_decref(args);
		args = NULL;
	}
	if (!args)
		return -ENOMEM;
	ret = rdq_call(client, "ep.listen", args, &result);
	ep = json_object_get(result, "ep");
	if (ret == 0 && !json_is_integer(ep)) {
		stream_set_error(client, "rdqd's ep.listen reply names no endpoint");
		ret = -EBADMSG;
	}
	if (ret == 0)
		*listener = (uint64_t)json_integer_value(ep);
	json_decref(result);
	return ret;
}

int rdq_accept(struct rdq_client *client, int timeout_ms, struct rdq_accepted *out)
{
	int64_t deadline = stream_deadline_after(timeout_ms);
	json_t *msg = stream_queue_take_accepted(client);
	int ret;

	while (!msg || !rdq_event_accepted(msg, out)) {
		/* Not ours to drop: a reply or another event waits for rdq_client_next(). */
		if (msg) {
			ret = stream_queue_push(client, msg);
			if (ret < 0)
				return ret;
		}
		ret = stream_receive(client, deadline, &msg);
		if (ret < 0)
			return ret;
	}
	json_decref(msg);
	return 0;
}

int rdq_ep_destroy(struct rdq_client *client, uint64_t ep)
{
	json_t *args = json_pack("{s:I}", "ep", (json_int_t)ep);

	if (!args)
		return -ENOMEM;
	return rdq_call(client, "ep.destroy", args, NULL);
}
