/* SPDX-License-Identifier: MIT */
/* rdqctl request list and rdqctl cancel: the daemon's pending requests. */
#include <stdio.h>
#include <stdlib.h>

#include "cmds.h"
#include "print.h"

#define LIST_USAGE "list\n"

static const char request_usage[] =
	"Usage: rdqctl request list\n"
	"\n"
	"  " LIST_USAGE
	"        list the pending requests of your uid, on every connection (root: all\n"
	"        of them); the default command\n"
	"\n"
	"RID is rdqd's number for a request; rdqctl cancel RID cancels one. MINE\n"
	"tells whether a request came on the asking connection: for rdqctl, whose\n"
	"only request is this list (left out), it is always no.\n";

static const char cancel_usage[] =
	"Usage: rdqctl cancel RID\n"
	"\n"
	"Cancels the pending request RID (from rdqctl request list), whichever\n"
	"connection of your uid sent it: it completes with ECANCELED. A request\n"
	"already taken up by rdqd (state new or dispatched) cannot be cancelled\n"
	"(EALREADY): it completes on its own.\n";

/* The table's row for one request: EP 0 (none) reads "-", the age gets its unit. */
static json_t *request_row(json_t *req)
{
	json_t *row = json_deep_copy(req);
	json_t *ep = json_object_get(row, "ep");
	json_t *age = json_object_get(row, "age_ms");
	char buf[32];

	if (!row)
		return NULL;
	if (json_is_integer(ep) && json_integer_value(ep) == 0)
		json_object_del(row, "ep");
	if (json_is_integer(age)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT "ms", json_integer_value(age));
		json_object_set_new(row, "age", json_string(buf));
	}
	return row;
}

static int by_rid(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "rid"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "rid"));

	return (x > y) - (x < y);
}

static void list_text(json_t *result)
{
	static const struct print_column cols[] = {
		{"RID", "rid"}, {"ID", "id"},	{"OP", "op"},	  {"STATE", "state"},
		{"EP", "ep"},	{"AGE", "age"}, {"MINE", "mine"},
	};
	json_t *reqs = json_object_get(result, "requests"), *rows = json_array(), *req;
	json_t **sorted;
	size_t i, n = json_array_size(reqs);

	/* rdqd lists by connection, newest first; oldest first (by RID) reads better. */
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (sorted) {
		json_array_foreach(reqs, i, req) sorted[i] = req;
		qsort(sorted, n, sizeof(*sorted), by_rid);
		for (i = 0; i < n; i++)
			json_array_append_new(rows, request_row(sorted[i]));
		free(sorted);
	}
	print_table(cols, sizeof(cols) / sizeof(cols[0]), rows);
	json_decref(rows);
}

static int request_list(struct ctl *ctl, int argc, char **argv)
{
	json_t *result;
	int npos, ret;

	ret = args_parse("rdqctl request list", "Usage: rdqctl request " LIST_USAGE, NULL, argc,
			 argv, NULL, 0, 0, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = ctl_call_pages(ctl, "request.list", NULL, "requests", &result);
	if (ret)
		return ret;
	print_result(result, list_text);
	json_decref(result);
	return RDQCTL_OK;
}

static const struct cmd request_cmds[] = {
	{"list", request_list},
	{NULL, request_list},
};

const struct cmd_level request_level = {
	.path = "rdqctl request",
	.usage = request_usage,
	.cmds = request_cmds,
};

/* The RID the user gave, for the text line: the result only says how many. */
static int64_t cancelled_rid;

static void cancel_text(json_t *result)
{
	printf("cancelled request %lld\n", (long long)cancelled_rid);
}

int cmd_cancel(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl cancel";
	json_t *result;
	char *pos[1];
	int npos, ret;

	ret = args_parse(path, cancel_usage, NULL, argc, argv, pos, 1, 1, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_number(path, "RID", "a request number", pos[0], &cancelled_rid);
	if (ret)
		return ret;
	/* rid, not req: a request id means something only on its own connection. */
	ret = ctl_call(ctl, "cancel", json_pack("{s:I}", "rid", (json_int_t)cancelled_rid), -1,
		       &result);
	if (ret)
		return ret;
	print_result(result, cancel_text);
	json_decref(result);
	return RDQCTL_OK;
}
