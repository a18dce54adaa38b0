/* SPDX-License-Identifier: MIT */
/*
 * Control messages: decoding requests, reading their arguments, building
 * replies and events. Shared by rdqd and librdq's client. See
 * docs/protocol.md for the wire format.
 */
#ifndef RDQ_PROTOCOL_MESSAGE_H
#define RDQ_PROTOCOL_MESSAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The newest protocol version. Version 2 adds attachments: bytes after the
 * JSON of a frame (docs/protocol.md). A request says its version, and its
 * reply comes in the same one.
 */
#define RDQ_PROTOCOL_VERSION 2
/* What the builders below write: a version 2 message says so itself. */
#define RDQ_PROTOCOL_V1 1

/* Room for the human part of an error: "args.ep: expected an integer handle". */
#define RDQ_ERRMSG_MAX 160

/* No request id could be read (the "id" of an error reply is then null). */
#define RDQ_NO_ID (-1)

struct rdq_request_msg {
	int64_t id;	     /* the client's id, or RDQ_NO_ID */
	int version;	     /* the request's "v": 1 or 2 */
	const char *op;	     /* borrowed from root */
	json_t *args;	     /* borrowed from root; an empty object if absent */
	const uint8_t *data; /* the attachment, borrowed from the body; NULL if none */
	size_t data_len;
	json_t *root; /* owned: json_decref() it, or call rdq_request_msg_clear() */
};

/*
 * Splits a frame body into its JSON text and its attachment: JSON text
 * never holds a raw NUL byte (a NUL in a string is escaped), so the first
 * one ends it. Returns the JSON's length and sets *data (NULL when there is
 * no NUL) and *data_len to what follows the NUL.
 */
size_t rdq_frame_split(const char *body, size_t len, const uint8_t **data, size_t *data_len);

/*
 * Decodes one request body: its JSON, and in version 2 the attachment after
 * it. On success returns 0 and fills *out (the caller owns out->root). On
 * failure returns -EBADMSG (not JSON, not an object, no op, an attachment
 * that is not announced as it is), -EMSGSIZE (JSON over RDQ_MAX_MESSAGE),
 * -EPROTONOSUPPORT (wrong "v") or -EINVAL (a field of the wrong type),
 * writes a sentence into err, and sets out->id if it could be read;
 * out->root is then NULL.
 */
int rdq_request_decode(const char *body, size_t len, struct rdq_request_msg *out,
		       char err[RDQ_ERRMSG_MAX]);

/* Releases what rdq_request_decode() gave; safe on a zeroed or failed msg. */
void rdq_request_msg_clear(struct rdq_request_msg *msg);

/*
 * Argument readers. Each returns 0 and sets *out, or -EINVAL with a sentence
 * in err naming the argument. A missing optional argument leaves *out at the
 * default given.
 */
int rdq_arg_handle(json_t *args, const char *name, bool required, uint64_t *out,
		   char err[RDQ_ERRMSG_MAX]);
int rdq_arg_int(json_t *args, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out,
		char err[RDQ_ERRMSG_MAX]);
int rdq_arg_bool(json_t *args, const char *name, bool def, bool *out, char err[RDQ_ERRMSG_MAX]);
/* *out is borrowed from args; *out_len excludes the terminating NUL. */
int rdq_arg_string(json_t *args, const char *name, bool required, const char **out, size_t *out_len,
		   char err[RDQ_ERRMSG_MAX]);

/* Builds {"v":1,"op":op,"id":id,"args":args}; steals args (may be NULL). */
json_t *rdq_request_new(int64_t id, const char *op, json_t *args);

/*
 * Sets in obj len bytes of a message as protocol version 1 carries them:
 * "data" when they are UTF-8 text, else "hex", two lowercase hex digits a
 * byte. Returns 0 or -ENOMEM.
 */
int rdq_message_set_text(json_t *obj, const void *data, size_t len);

/* Builds a success reply; steals result (may be NULL: an empty object). NULL when out of memory. */
json_t *rdq_reply_ok(int64_t id, json_t *result);

/* The longest message an error reply carries, in bytes: a longer one is cut. */
#define RDQ_REPLY_MESSAGE_MAX 1024

/*
 * The message of an error reply for a positive errno value: message (NULL or
 * empty: strerror's) made valid UTF-8 (ill-formed bytes become U+FFFD, a
 * character cut at the end is dropped) and cut after the last whole
 * character within RDQ_REPLY_MESSAGE_MAX - 1 bytes, into text. Returns its
 * length. rdqd's encoder and rdq_reply_error() both write it.
 */
size_t rdq_error_text(char text[RDQ_REPLY_MESSAGE_MAX], int err, const char *message);

/*
 * Builds an error reply for a positive errno value and a message (NULL or
 * empty: strerror's). Any message will do: it is made valid UTF-8 (ill-formed
 * bytes become U+FFFD, a character cut at the end is dropped) and cut after
 * the last whole character within RDQ_REPLY_MESSAGE_MAX - 1 bytes, so the
 * reply always has its error object. NULL only when out of memory.
 */
json_t *rdq_reply_error(int64_t id, int err, const char *message);

/* Builds an event {"v":1,"event":name}; add its fields with json_object_set_new. */
json_t *rdq_event_new(const char *name);

/*
 * Serializes msg into a new buffer holding the frame header and the compact
 * JSON. Returns the buffer (free() it) and sets *len, or NULL when out of
 * memory or when the message would exceed RDQ_MAX_MESSAGE.
 */
uint8_t *rdq_message_pack(const json_t *msg, size_t *len);

#endif
