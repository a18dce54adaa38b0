/* SPDX-License-Identifier: MIT */
/*
 * Prints the stats table (lib/protocol/stats_fields.h), one line per
 * field in wire order, for the test that checks the documentation against
 * it:
 *   GROUP FIELD
 * with "-" for the group of a field at the top.
 */
#include <stdio.h>

#include "protocol/stats_fields.h"

#define PRINT_FIELD(group, field, kind, metric, label, help)                                       \
	printf("%s %s\n", #group[0] ? #group : "-", #field);

int main(void)
{
	RDQ_STATS_FIELDS(PRINT_FIELD)
	return 0;
}
