/* SPDX-License-Identifier: MIT */
/*
 * rdq_request_decode() on any bytes, as rdqd reads a frame's body. A request
 * that decodes has what rdqd relies on; one that does not gets a sentence
 * that can go into an error reply, and the reply has its error object. So
 * does the reply rdqd makes for an op it does not know, which quotes the op
 * and may cut it inside a character.
 */
#include <errno.h>

#include "fuzz.h"
#include "protocol/json_read.h"
#include "protocol/json_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The error reply for an unknown op, quoted as rdqd does it but cut at precision bytes. */
static void quote_op(const struct rdq_request_msg *msg, int precision)
{
	char text[RDQ_ERRMSG_MAX];
	json_t *reply;

	snprintf(text, sizeof(text), "unknown op \"%.*s\" (docs/protocol.md lists them)", precision,
		 msg->op);
	reply = rdq_reply_error(msg->id, EOPNOTSUPP, text);
	fuzz_check_error_reply(reply, msg->id, EOPNOTSUPP);
	json_decref(reply);
}

/* rdqd writes JSON with its own writer: the very bytes jansson's serialiser gives. */
static void check_written_as_jansson(const json_t *value)
{
	static char mine[2 * RDQ_MAX_MESSAGE], theirs[2 * RDQ_MAX_MESSAGE];
	size_t m = json_dumpb(value, theirs, sizeof(theirs), JSON_COMPACT);
	size_t n = rdq_json_write(value, mine, sizeof(mine));

	FUZZ_CHECK(n == m);
	FUZZ_CHECK(n > sizeof(mine) || memcmp(mine, theirs, n) == 0);
}

static void check_decoded(const struct rdq_request_msg *msg)
{
	json_t *reply;

	check_written_as_jansson(msg->root);
	FUZZ_CHECK(json_is_object(msg->root));
	FUZZ_CHECK(msg->id >= 0);
	FUZZ_CHECK(json_integer_value(json_object_get(msg->root, "id")) == msg->id);
	FUZZ_CHECK(json_integer_value(json_object_get(msg->root, "v")) == msg->version);
	FUZZ_CHECK(msg->version >= 1 && msg->version <= RDQ_PROTOCOL_VERSION);
	/* An attachment only in version 2, and exactly as announced. */
	FUZZ_CHECK(!msg->data || msg->version == 2);
	FUZZ_CHECK(!msg->data || json_integer_value(json_object_get(msg->root, "attachment")) ==
					 (json_int_t)msg->data_len);
	FUZZ_CHECK(msg->op != NULL);
	FUZZ_CHECK(msg->op == json_string_value(json_object_get(msg->root, "op")));
	FUZZ_CHECK(json_is_object(msg->args));
	FUZZ_CHECK(msg->args == json_object_get(msg->root, "args"));

	/*
	 * rdqd's answer to an unknown op quotes it cut by a precision, which may fall inside a
	 * character: 60 as rdqd has it, and the cuts inside the op's first characters of more
	 * than one byte, so that every op that has one tries a cut in it.
	 */
	quote_op(msg, 60);
	for (size_t i = 0, cuts = 0; msg->op[i] && cuts < 8; i++) {
		if (((unsigned char)msg->op[i] & 0xC0) == 0x80) {
			quote_op(msg, (int)i);
			cuts++;
		}
	}

	/* A success reply carrying the args back: packs, or is too large and says so. */
	reply = rdq_reply_ok(msg->id, json_deep_copy(msg->args));
	FUZZ_CHECK(reply != NULL);
	fuzz_check_packs(reply);
	json_decref(reply);
}

/*
 * The fast reader may decline any text, but a value it gives must be the
 * value jansson gives for the same text, read as the decoder reads it.
 */
static void check_read_as_jansson(const uint8_t *data, size_t size)
{
	json_t *mine = rdq_json_read((const char *)data, size), *theirs;

	if (!mine)
		return;
	theirs = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(theirs != NULL);
	FUZZ_CHECK(json_equal(mine, theirs));
	check_written_as_jansson(mine);
	json_decref(mine);
	json_decref(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rdq_request_msg msg;
	char err[RDQ_ERRMSG_MAX];
	json_t *reply;
	int ret;

	check_read_as_jansson(data, size);
	/* No NUL anywhere: the decoder must terminate the sentence it writes. */
	memset(err, 'x', sizeof(err));
	ret = rdq_request_decode((const char *)data, size, &msg, err);
	if (ret == 0) {
		check_decoded(&msg);
		rdq_request_msg_clear(&msg);
		FUZZ_CHECK(msg.root == NULL);
		return 0;
	}

	FUZZ_CHECK(ret == -EBADMSG || ret == -EPROTONOSUPPORT || ret == -EINVAL || ret == -ENOMEM);
	FUZZ_CHECK(msg.root == NULL && msg.op == NULL && msg.args == NULL);
	FUZZ_CHECK(msg.id == RDQ_NO_ID || msg.id >= 0);
	fuzz_check_errmsg(err);
	reply = rdq_reply_error(msg.id, -ret, err);
	fuzz_check_error_reply(reply, msg.id, -ret);
	json_decref(reply);
	rdq_request_msg_clear(&msg); /* safe after a failure too */
	return 0;
}
