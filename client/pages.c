/* SPDX-License-Identifier: MIT */
/*
 * Lists that come in pages (docs/protocol.md, "Lists come in pages"): rdqctl
 * asks for page after page, following the cursor, and shows the whole list.
 */
#include <jansson.h>

#include "cmds.h"

int ctl_call_pages(struct ctl *ctl, const char *op, json_t *args, const char *key, json_t **result)
{
	json_t *all = json_array(), *page, *next;
	json_int_t after = 0;
	int ret;

	if (!args)
		args = json_object();
	for (;;) {
		json_object_set_new(args, "after", json_integer(after));
		ret = ctl_call(ctl, op, json_incref(args), -1, &page);
		if (ret) {
			json_decref(all);
			json_decref(args);
			return ret;
		}
		json_array_extend(all, json_object_get(page, key));
		next = json_object_get(page, "next");
		after = json_is_integer(next) ? json_integer_value(next) : 0;
		json_decref(page);
		if (!after)
			break;
	}
	json_decref(args);
	*result = json_pack("{s:o}", key, all);
	return RDQCTL_OK;
}
