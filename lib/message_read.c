/* SPDX-License-Identifier: MIT */
/*
 * librdq's readers of the messages rdqd sends: whether one is a reply or an
 * event, a reply's status, the bytes it carries, an ep.accepted
 * announcement. They look at a message and at nothing else, so the stream
 * (lib/stream.c), which sorts messages as they arrive, and the calls above
 * it (lib/client.c, lib/serve.c) all build on them.
 */
#include <rdq/client.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "protocol/errname.h"

int rdq_message_is_reply(const json_t *msg, int64_t id)
{
	json_t *value = json_object_get(msg, "id");

	return json_is_integer(value) && json_integer_value(value) == id;
}

int rdq_message_is_event(const json_t *msg)
{
	return json_is_string(json_object_get(msg, "event"));
}

int rdq_reply_status(const json_t *msg, const char **message)
{
	json_t *ok = json_object_get(msg, "ok");
	json_t *error, *name, *code, *text;
	int err;

	if (message)
		*message = NULL;
	if (json_is_true(ok))
		return 0;
	if (!json_is_false(ok)) {
		if (message)
			*message = "not a reply from rdqd";
		return -EBADMSG;
	}

	error = json_object_get(msg, "error");
	name = json_object_get(error, "errno");
	code = json_object_get(error, "code");
	text = json_object_get(error, "message");

	/* The name is the portable part of the error; the number is a fallback. */
	err = json_is_string(name) ? rdq_errno_from_name(json_string_value(name)) : 0;
	if (err == 0 && json_is_integer(code) && json_integer_value(code) > 0 &&
	    json_integer_value(code) < 4096)
		err = (int)json_integer_value(code);
	if (err == 0)
		err = EPROTO;
	if (message)
		*message = json_is_string(text) ? json_string_value(text) : "";
	return -err;
}

int rdq_message_data(const json_t *msg, const void **data, size_t *len)
{
	json_t *bytes = json_object_get(msg, "attachment");

	/* The stream put the attachment's bytes in place of its count. */
	if (!json_is_string(bytes))
		return 0;
	*data = json_string_value(bytes);
	*len = json_string_length(bytes);
	return 1;
}

/* Copies a string member of event into buf ("" if it has none). */
static void copy_text(const json_t *event, const char *name, char *buf, size_t size)
{
	const char *text = json_string_value(json_object_get(event, name));

	snprintf(buf, size, "%s", text ? text : "");
}

int rdq_event_accepted(const json_t *msg, struct rdq_accepted *out)
{
	const char *name = json_string_value(json_object_get(msg, "event"));
	json_t *ep = json_object_get(msg, "ep"), *listener = json_object_get(msg, "listener");

	if (!name || strcmp(name, RDQ_EVENT_ACCEPTED) != 0 || !json_is_integer(ep) ||
	    !json_is_integer(listener))
		return 0;
	out->ep = (uint64_t)json_integer_value(ep);
	out->listener = (uint64_t)json_integer_value(listener);
	out->qp = (uint64_t)json_integer_value(json_object_get(msg, "qp"));
	copy_text(msg, "peer", out->peer, sizeof(out->peer));
	copy_text(msg, "local", out->local, sizeof(out->local));
	return 1;
}
