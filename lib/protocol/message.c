/* SPDX-License-Identifier: MIT */
#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errname.h"
#include "frame.h"

int rdq_request_decode(const char *body, size_t len, struct rdq_request_msg *out,
		       char err[RDQ_ERRMSG_MAX])
{
	json_error_t jerr;
	json_t *root, *v, *id, *op, *args;

	memset(out, 0, sizeof(*out));
	out->id = RDQ_NO_ID;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, RDQ_ERRMSG_MAX, "malformed JSON at byte %d: %.100s", jerr.position,
			 jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		snprintf(err, RDQ_ERRMSG_MAX, "a request must be a JSON object");
		goto bad;
	}

	/* The id first, so that every later error can name the request. */
	id = json_object_get(root, "id");
	if (!id || !json_is_integer(id) || json_integer_value(id) < 0) {
		snprintf(err, RDQ_ERRMSG_MAX, "\"id\" must be a non-negative integer");
		goto bad;
	}
	out->id = json_integer_value(id);

	v = json_object_get(root, "v");
	if (!v || !json_is_integer(v)) {
		snprintf(err, RDQ_ERRMSG_MAX, "\"v\" (the protocol version) must be an integer");
		goto bad;
	}
	if (json_integer_value(v) != RDQ_PROTOCOL_VERSION) {
		snprintf(err, RDQ_ERRMSG_MAX, "protocol version %lld is not supported (this is %d)",
			 (long long)json_integer_value(v), RDQ_PROTOCOL_VERSION);
		json_decref(root);
		return -EPROTONOSUPPORT;
	}

	op = json_object_get(root, "op");
	if (!op || !json_is_string(op)) {
		snprintf(err, RDQ_ERRMSG_MAX, "\"op\" must be a string");
		goto bad;
	}

	args = json_object_get(root, "args");
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(root, "args", args) < 0) {
			snprintf(err, RDQ_ERRMSG_MAX, "out of memory");
			json_decref(root);
			return -ENOMEM;
		}
	} else if (!json_is_object(args)) {
		snprintf(err, RDQ_ERRMSG_MAX, "\"args\" must be an object");
		json_decref(root);
		return -EINVAL;
	}

	out->op = json_string_value(op);
	out->args = args;
	out->root = root;
	return 0;

bad:
	json_decref(root);
	return -EBADMSG;
}

void rdq_request_msg_clear(struct rdq_request_msg *msg)
{
	json_decref(msg->root);
	msg->root = NULL;
	msg->op = NULL;
	msg->args = NULL;
}

static json_t *arg_get(json_t *args, const char *name, bool required, char err[RDQ_ERRMSG_MAX],
		       int *ret)
{
	json_t *value = json_object_get(args, name);

	*ret = 0;
	if (!value || json_is_null(value)) {
		if (required) {
			snprintf(err, RDQ_ERRMSG_MAX, "args.%s is required", name);
			*ret = -EINVAL;
		}
		return NULL;
	}
	return value;
}

int rdq_arg_handle(json_t *args, const char *name, bool required, uint64_t *out,
		   char err[RDQ_ERRMSG_MAX])
{
	int ret;
	json_t *value = arg_get(args, name, required, err, &ret);

	if (!value)
		return ret;
	if (!json_is_integer(value) || json_integer_value(value) <= 0) {
		snprintf(err, RDQ_ERRMSG_MAX, "args.%s must be a handle (a positive integer)",
			 name);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(value);
	return 0;
}

int rdq_arg_int(json_t *args, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out,
		char err[RDQ_ERRMSG_MAX])
{
	int ret;
	json_t *value = arg_get(args, name, false, err, &ret);

	*out = def;
	if (!value)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < min ||
	    json_integer_value(value) > max) {
		snprintf(err, RDQ_ERRMSG_MAX, "args.%s must be an integer from %lld to %lld", name,
			 (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = json_integer_value(value);
	return 0;
}

int rdq_arg_bool(json_t *args, const char *name, bool def, bool *out, char err[RDQ_ERRMSG_MAX])
{
	int ret;
	json_t *value = arg_get(args, name, false, err, &ret);

	*out = def;
	if (!value)
		return 0;
	if (!json_is_boolean(value)) {
		snprintf(err, RDQ_ERRMSG_MAX, "args.%s must be true or false", name);
		return -EINVAL;
	}
	*out = json_is_true(value);
	return 0;
}

int rdq_arg_string(json_t *args, const char *name, bool required, const char **out, size_t *out_len,
		   char err[RDQ_ERRMSG_MAX])
{
	int ret;
	json_t *value = arg_get(args, name, required, err, &ret);

	if (!value)
		return ret;
	if (!json_is_string(value)) {
		snprintf(err, RDQ_ERRMSG_MAX, "args.%s must be a string", name);
		return -EINVAL;
	}
	*out = json_string_value(value);
	if (out_len)
		*out_len = json_string_length(value);
	return 0;
}

json_t *rdq_request_new(int64_t id, const char *op, json_t *args)
{
	return json_pack("{s:i, s:I, s:s, s:o}", "v", RDQ_PROTOCOL_VERSION, "id", (json_int_t)id,
			 "op", op, "args", args ? args : json_object());
}

static json_t *reply_new(int64_t id, bool ok)
{
	json_t *id_value = id == RDQ_NO_ID ? json_null() : json_integer(id);

	return json_pack("{s:i, s:o, s:b}", "v", RDQ_PROTOCOL_VERSION, "id", id_value, "ok", ok);
}

json_t *rdq_reply_ok(int64_t id, json_t *result)
{
	json_t *reply = reply_new(id, true);

	if (!reply) {
		json_decref(result);
		return NULL;
	}
	json_object_set_new(reply, "result", result ? result : json_object());
	return reply;
}

json_t *rdq_reply_error(int64_t id, int err, const char *message)
{
	json_t *reply = reply_new(id, false);

	if (!reply)
		return NULL;
	json_object_set_new(reply, "error",
			    json_pack("{s:s, s:i, s:s}", "errno", rdq_errno_name(err), "code", err,
				      "message", message ? message : strerror(err)));
	return reply;
}

json_t *rdq_event_new(const char *name)
{
	return json_pack("{s:i, s:s}", "v", RDQ_PROTOCOL_VERSION, "event", name);
}

uint8_t *rdq_message_pack(const json_t *msg, size_t *len)
{
	size_t body = json_dumpb(msg, NULL, 0, JSON_COMPACT);
	uint8_t *buf;

	if (body == 0 || body > RDQ_MAX_MESSAGE)
		return NULL;
	buf = malloc(RDQ_FRAME_HEADER + body);
	if (!buf)
		return NULL;
	if (json_dumpb(msg, (char *)buf + RDQ_FRAME_HEADER, body, JSON_COMPACT) != body) {
		free(buf);
		return NULL;
	}
	rdq_frame_write_header((uint32_t)body, buf);
	*len = RDQ_FRAME_HEADER + body;
	return buf;
}
