/* SPDX-License-Identifier: MIT */
#include "message.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errname.h"
#include "frame.h"
#include "json_read.h"
#include "utf8.h"

/*
 * Writes a sentence into err for an error reply. The text must be valid
 * UTF-8 or jansson refuses to put it in the reply, and formatting alone does
 * not ensure that: it may quote bytes from the client (jansson's parse errors
 * do), and a precision or the buffer's size may cut it inside a character.
 */
static void set_err(char err[RDQ_ERRMSG_MAX], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(char err[RDQ_ERRMSG_MAX], const char *fmt, ...)
{
	char text[RDQ_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	rdq_utf8_copy(err, RDQ_ERRMSG_MAX, text, strlen(text));
}

size_t rdq_frame_split(const char *body, size_t len, const uint8_t **data, size_t *data_len)
{
	const char *nul = memchr(body, '\0', len);

	*data = NULL;
	*data_len = 0;
	if (!nul)
		return len;
	*data = (const uint8_t *)nul + 1;
	*data_len = len - (size_t)(nul - body) - 1;
	return (size_t)(nul - body);
}

/* Checks that "attachment" announces exactly the bytes after the NUL (and only in version 2). */
static int check_attachment(json_t *root, int version, const uint8_t *data, size_t data_len,
			    char err[RDQ_ERRMSG_MAX])
{
	json_t *announced = json_object_get(root, "attachment");

	if (!data && !announced)
		return 0;
	if (version < 2) {
		set_err(err, "attachments need protocol version 2");
		return -EBADMSG;
	}
	if (!announced || !json_is_integer(announced) || json_integer_value(announced) < 0) {
		set_err(err, "bytes follow the JSON, but \"attachment\" does not give their count");
		return -EBADMSG;
	}
	if (!data || (uint64_t)json_integer_value(announced) != data_len) {
		set_err(err, "\"attachment\" announces %lld bytes, but %zu follow the JSON",
			(long long)json_integer_value(announced), data ? data_len : 0);
		return -EBADMSG;
	}
	return 0;
}

int rdq_request_decode(const char *body, size_t len, struct rdq_request_msg *out,
		       char err[RDQ_ERRMSG_MAX])
{
	json_error_t jerr;
	json_t *root, *v, *id, *op, *args;
	const uint8_t *data;
	size_t data_len, json_len;
	int ret;

	memset(out, 0, sizeof(*out));
	out->id = RDQ_NO_ID;

	json_len = rdq_frame_split(body, len, &data, &data_len);
	if (json_len > RDQ_MAX_MESSAGE) {
		set_err(err, "the JSON of a frame is %zu bytes, over the limit of %u", json_len,
			RDQ_MAX_MESSAGE);
		return -EMSGSIZE;
	}
	/* The common shapes the fast way; whatever it declines, jansson reads and judges. */
	root = rdq_json_read(body, json_len);
	if (!root)
		root = json_loadb(body, json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		set_err(err, "malformed JSON at byte %d: %.100s", jerr.position, jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		set_err(err, "a request must be a JSON object");
		goto bad;
	}

	/* The id first, so that every later error can name the request. */
	id = json_object_get(root, "id");
	if (!id || !json_is_integer(id) || json_integer_value(id) < 0) {
		set_err(err, "\"id\" must be a non-negative integer");
		goto bad;
	}
	out->id = json_integer_value(id);

	v = json_object_get(root, "v");
	if (!v || !json_is_integer(v)) {
		set_err(err, "\"v\" (the protocol version) must be an integer");
		goto bad;
	}
	if (json_integer_value(v) < 1 || json_integer_value(v) > RDQ_PROTOCOL_VERSION) {
		set_err(err, "protocol version %lld is not supported (this is 1 to %d)",
			(long long)json_integer_value(v), RDQ_PROTOCOL_VERSION);
		json_decref(root);
		return -EPROTONOSUPPORT;
	}
	out->version = (int)json_integer_value(v);
	ret = check_attachment(root, out->version, data, data_len, err);
	if (ret < 0)
		goto bad;

	op = json_object_get(root, "op");
	if (!op || !json_is_string(op)) {
		set_err(err, "\"op\" must be a string");
		goto bad;
	}

	args = json_object_get(root, "args");
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(root, "args", args) < 0) {
			set_err(err, "out of memory");
			json_decref(root);
			return -ENOMEM;
		}
	} else if (!json_is_object(args)) {
		set_err(err, "\"args\" must be an object");
		json_decref(root);
		return -EINVAL;
	}

	out->op = json_string_value(op);
	out->args = args;
	out->data = data;
	out->data_len = data_len;
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
			set_err(err, "args.%s is required", name);
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
		set_err(err, "args.%s must be a handle (a positive integer)", name);
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
		set_err(err, "args.%s must be an integer from %lld to %lld", name, (long long)min,
			(long long)max);
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
		set_err(err, "args.%s must be true or false", name);
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
		set_err(err, "args.%s must be a string", name);
		return -EINVAL;
	}
	*out = json_string_value(value);
	if (out_len)
		*out_len = json_string_length(value);
	return 0;
}

json_t *rdq_request_new(int64_t id, const char *op, json_t *args)
{
	return json_pack("{s:i, s:I, s:s, s:o}", "v", RDQ_PROTOCOL_V1, "id", (json_int_t)id, "op",
			 op, "args", args ? args : json_object());
}

static json_t *reply_new(int64_t id, bool ok)
{
	json_t *id_value = id == RDQ_NO_ID ? json_null() : json_integer(id);

	return json_pack("{s:i, s:o, s:b}", "v", RDQ_PROTOCOL_V1, "id", id_value, "ok", ok);
}

json_t *rdq_reply_ok(int64_t id, json_t *result)
{
	json_t *reply = reply_new(id, true);

	if (!result)
		result = json_object();
	if (!reply || !result || json_object_set_new(reply, "result", result) < 0) {
		json_decref(reply);
		json_decref(result);
		return NULL;
	}
	return reply;
}

int rdq_message_set_text(json_t *obj, const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *bytes = data;
	json_t *text = json_stringn(data, len);
	char *hex;

	if (text)
		return json_object_set_new(obj, "data", text) < 0 ? -ENOMEM : 0;
	hex = malloc(2 * len + 1);
	if (!hex)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 15];
	}
	hex[2 * len] = '\0';
	text = json_stringn_nocheck(hex, 2 * len);
	free(hex);
	return text && json_object_set_new(obj, "hex", text) == 0 ? 0 : -ENOMEM;
}

size_t rdq_error_text(char text[RDQ_REPLY_MESSAGE_MAX], int err, const char *message)
{
	size_t len = 0;

	/*
	 * The message comes from anywhere (a cut snprintf, a client's op quoted back, strerror
	 * in some locale): made valid UTF-8 and bounded here, it can always go in the reply.
	 */
	if (message)
		len = rdq_utf8_copy(text, RDQ_REPLY_MESSAGE_MAX, message, strlen(message));
	if (len == 0) {
		/* Once: for a number it does not know, strerror() frees its previous text. */
		const char *why = strerror(err);

		len = rdq_utf8_copy(text, RDQ_REPLY_MESSAGE_MAX, why, strlen(why));
	}
	return len;
}

json_t *rdq_reply_error(int64_t id, int err, const char *message)
{
	char text[RDQ_REPLY_MESSAGE_MAX];
	json_t *reply, *error;

	rdq_error_text(text, err, message);

	/* A reply without its error object would be worse than none: on failure, NULL. */
	error = json_pack("{s:s, s:i, s:s}", "errno", rdq_errno_name(err), "code", err, "message",
			  text);
	reply = reply_new(id, false);
	if (!error || !reply || json_object_set_new(reply, "error", error) < 0) {
		json_decref(reply);
		json_decref(error);
		return NULL;
	}
	return reply;
}

json_t *rdq_event_new(const char *name)
{
	return json_pack("{s:i, s:s}", "v", RDQ_PROTOCOL_V1, "event", name);
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
