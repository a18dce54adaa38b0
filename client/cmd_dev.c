/* SPDX-License-Identifier: MIT */
/* rdqctl dev: the RDMA devices rdqd sees. */
#include <stdio.h>

#include "cmds.h"
#include "print.h"

static const char dev_usage[] = "Usage: rdqctl dev show\n"
				"\n"
				"  show    list RDMA devices, one line per port (the default)\n";

/* One row per port: the device's name and transport repeated on each. */
static void dev_text(json_t *result)
{
	static const struct print_column cols[] = {
		{"NAME", "name"}, {"TRANSPORT", "transport"},
		{"PORT", "port"}, {"STATE", "state"},
		{"MTU", "mtu"},	  {"GID", "gid"},
	};
	json_t *rows = json_array(), *dev, *port, *row;
	size_t i, j;

	json_array_foreach(json_object_get(result, "devices"), i, dev)
	{
		json_array_foreach(json_object_get(dev, "ports"), j, port)
		{
			row = json_deep_copy(port);
			if (!row)
				continue;
			/* The first GID stands for the port; -j shows them all. */
			json_object_set(row, "gid",
					json_array_get(json_object_get(port, "gids"), 0));
			json_object_set(row, "name", json_object_get(dev, "name"));
			json_object_set(row, "transport", json_object_get(dev, "transport"));
			json_array_append_new(rows, row);
		}
		/* A device without ports still gets its line. */
		if (json_array_size(json_object_get(dev, "ports")) == 0)
			json_array_append_new(rows,
					      json_pack("{s:O?, s:O?}", "name",
							json_object_get(dev, "name"), "transport",
							json_object_get(dev, "transport")));
	}
	print_table(cols, sizeof(cols) / sizeof(cols[0]), rows);
	json_decref(rows);
}

/*
 * A device rdqd could not open or query is listed without ports; its error
 * goes to stderr and the exit status says it (a device policy or missing
 * permissions must not look like a device without ports).
 */
static int dev_errors(json_t *result)
{
	json_t *dev;
	size_t i;
	int ret = RDQCTL_OK;

	json_array_foreach(json_object_get(result, "devices"), i, dev)
	{
		const char *error = json_string_value(json_object_get(dev, "error"));
		const char *name = json_string_value(json_object_get(dev, "name"));
		const char *errname = json_string_value(json_object_get(dev, "errno"));

		if (!error)
			continue;
		fprintf(stderr, "rdqctl: %s: %s: cannot query: %s\n", errname ? errname : "E?",
			name ? name : "?", error);
		ret = RDQCTL_EDAEMON;
	}
	return ret;
}

static int dev_show(struct ctl *ctl, int argc, char **argv)
{
	json_t *result;
	int npos, ret;

	ret = args_parse("rdqctl dev show", dev_usage, NULL, argc, argv, NULL, 0, 0, &npos);
	if (ret)
		return ret < 0 ? RDQCTL_OK : ret;
	ret = ctl_call(ctl, "dev.show", NULL, -1, &result);
	if (ret)
		return ret;
	print_result(result, dev_text);
	ret = dev_errors(result);
	json_decref(result);
	return ret;
}

static const struct cmd dev_cmds[] = {
	{"show", dev_show},
	{NULL, dev_show},
};

const struct cmd_level dev_level = {
	.path = "rdqctl dev",
	.usage = dev_usage,
	.cmds = dev_cmds,
};
