/* SPDX-License-Identifier: MIT */
/* rdqctl qp: an endpoint's queue pair, apart from the endpoint. */
#include <stdio.h>

#include "cmds.h"
#include "print.h"

#define DESTROY_USAGE "destroy QP\n"

static const char qp_usage[] =
	"Usage: rdqctl qp destroy QP\n"
	"\n"
	"  " DESTROY_USAGE
	"        destroy an endpoint's QP; the endpoint stays, but sends fail with\n"
	"        ENOTCONN and a later \"ep disconnect --wait\" with ENOENT\n"
	"\n"
	"QP is the QP's handle, as rdqctl ep show and ep connect print it.\n";

static int qp_destroy(struct ctl *ctl, int argc, char **argv)
{
	static const char path[] = "rdqctl qp destroy";
	json_t *result;
	char *pos[1];
	int npos, ret;
	int64_t qp;

	ret = args_parse(path, "Usage: rdqctl qp " DESTROY_USAGE, NULL, argc, argv, pos, 1, 1,
			 &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = arg_handle(path, "QP", pos[0], &qp);
	if (ret)
		return ret;
	ret = ctl_call(ctl, "qp.destroy", json_pack("{s:I}", "qp", (json_int_t)qp), -1, &result);
	if (ret)
		return ret;
	/* Silent on success, like ep destroy; -j shows {}. */
	print_result(result, NULL);
	json_decref(result);
	return RDQCTL_OK;
}

/* There is nothing to show about QPs on their own (ep show has them): no default command. */
static int qp_missing(struct ctl *ctl, int argc, char **argv)
{
	fputs(qp_usage, stderr);
	return RDQCTL_EUSAGE;
}

static const struct cmd qp_cmds[] = {
	{"destroy", qp_destroy},
	{NULL, qp_missing},
};

const struct cmd_level qp_level = {
	.path = "rdqctl qp",
	.usage = qp_usage,
	.cmds = qp_cmds,
};
